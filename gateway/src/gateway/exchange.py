"""One WebSocket session as the gateway's access log sees it: its id and its status.

Plain HTTP requests never pass through here; the gateway's server protocol
(server.py) logs those itself.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from gateway import headers

# Where the access wrapper leaves the exchange in the ASGI scope.
SCOPE_KEY = "gateway.exchange"


class Exchange:
    __slots__ = ("_send", "request_id", "status")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.request_id = headers.request_id(scope["headers"])
        self.status: int | None = None
        self._send = send

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.http.response.start":
            self.status = message["status"]
        elif kind == "websocket.close" and self.status is None:
            # A handshake refused without a response of its own: the server answers 403.
            self.status = 403
        await self._send(message)
