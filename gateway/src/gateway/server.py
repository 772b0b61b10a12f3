"""The gateway's HTTP server protocol: uvicorn's httptools one, corked, refusing in JSON.

uvicorn writes a response's head and its body separately, two system calls
and two packets for every small answer; the gateway's protocol joins the
writes made in one pass of the event loop into one.

uvicorn answers a request its parser rejects (both Content-Length and
Transfer-Encoding, a repeated length, a control character in the path)
with a plain-text 400 before any ASGI code runs. The Procfile starts the
gateway with `--http gateway.server:GatewayHttpProtocol`, so those
refusals share the shape of every other error the gateway makes.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import errors

# A write this large goes out at once: joining it to others saves nothing.
WRITE_NOW = 1 << 16


class CorkedTransport:
    """A transport that sends the writes of one event-loop pass in one piece."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is not None:
            pending.append(data)
            if len(data) >= WRITE_NOW:
                self.flush()
        elif len(data) >= WRITE_NOW:
            self.transport.write(data)
        else:
            self._pending = [data]
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = CorkedTransport(transport, self.loop)
        super().connection_made(cast(asyncio.Transport, corked))

    def on_response_complete(self) -> None:
        # The whole answer is written: it goes out now, before the access line is made.
        cast(CorkedTransport, self.transport).flush()
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        # The websocket protocol writes frames as they come: it gets the socket itself.
        corked = cast(CorkedTransport, self.transport)
        corked.flush()
        self.transport = corked.transport
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        request_id = uuid.uuid4().hex
        content = errors.body(
            errors.BadRequest(f"the request is not valid HTTP/1.1: {msg}"), request_id
        )
        head = (
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\n"
            b"x-request-id: %s\r\n"
            b"connection: close\r\n\r\n" % (len(content), request_id.encode())
        )
        self.transport.write(head + content)
        self.transport.close()
