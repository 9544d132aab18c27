"""MCP: the ai_memory server (on a standardized base), its gateway, and the backend's client."""
