"""WebSocket delivery with durable per-client queues (contract C3)."""
