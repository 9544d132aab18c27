"""`/ws/{client_id}` and `POST /api/ws/{client_id}/messages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, WebSocket

from sut.ws.manager import ResilientWebSocketManager

router = APIRouter(tags=["websocket"])


@router.websocket("/ws/{client_id}")
async def websocket_endpoint(websocket: WebSocket, client_id: str) -> None:
    manager: ResilientWebSocketManager = websocket.app.state.ws_manager
    await manager.handle(websocket, client_id)


@router.post("/api/ws/{client_id}/messages", status_code=202)
async def post_message(
    client_id: str, request: Request, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, str]:
    manager: ResilientWebSocketManager = request.app.state.ws_manager
    return {"id": await manager.enqueue(client_id, payload)}
