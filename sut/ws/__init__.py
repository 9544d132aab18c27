"""WebSocket delivery with durable per-client queues."""
