"""WebSocket plumbing for subscriptions (graphql-transport-ws and the legacy graphql-ws)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected

from graph.encoding import encode_json


class TextFrameWebSocket(ASGIWebSocketAdapter):
    """Sends every message as a text frame: both protocols require text, and browser and
    Node clients (graphql-ws, GraphiQL) fail on the binary frames JSON bytes would make."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(encode_json(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
