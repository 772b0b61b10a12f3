"""One client request as the gateway sees it: its id, its status, and whether the client left.

A client that hangs up is only noticed by asking the server (`receive()`)
once the request body is in. Doing that in a task for every request costs
more than forwarding a small answer, so the ticker starts that watch only
for a request still running `WATCH_AFTER` seconds in; fast answers never
need one. When the watch sees the client leave before the response is
complete, it cancels the request's task: forwarding then closes the
connection to the app (the app sees its client leave too) and the access
line says 499.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from gateway import headers
from gateway.ticker import Ticker

# Where the access wrapper leaves the exchange in the ASGI scope.
SCOPE_KEY = "gateway.exchange"
WATCH_AFTER = 0.05

_EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}
_DISCONNECT: Message = {"type": "http.disconnect"}


class Exchange:
    __slots__ = (
        "_body_done",
        "_closed",
        "_gone",
        "_owes_empty_body",
        "_receive",
        "_send",
        "_started",
        "_task",
        "_ticker",
        "_watcher",
        "finished",
        "hung_up",
        "request_id",
        "status",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, ticker: Ticker) -> None:
        self.request_id = headers.request_id(scope["headers"])
        self.status: int | None = None
        # The final body message has gone to the server: a disconnect now is no hang-up.
        self.finished = False
        self.hung_up = False

        self._receive = receive
        self._send = send
        self._ticker = ticker
        self._task = asyncio.current_task()
        self._started = asyncio.get_running_loop().time()
        has_body = scope["type"] == "http" and _has_body(scope["headers"])
        self._body_done = not has_body
        self._owes_empty_body = not has_body
        self._watcher: asyncio.Task[None] | None = None
        self._gone: asyncio.Event | None = None
        self._closed = False
        if scope["type"] == "http":
            ticker.add(self)

    async def receive(self) -> Message:
        if not self._body_done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._client_left()
            elif not message.get("more_body", False):
                self._body_done = True
            return message
        if self._owes_empty_body:
            # A request without a body: its empty body message is made here,
            # so the watch can take the server's own whenever it starts.
            self._owes_empty_body = False
            return _EMPTY_BODY
        self._watch()
        if self._gone is None:
            self._gone = asyncio.Event()
        await self._gone.wait()
        return _DISCONNECT

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body":
            if not message.get("more_body", False):
                self.finished = True
        elif kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.http.response.start":
            self.status = message["status"]
        elif kind == "websocket.close" and self.status is None:
            # A handshake refused without a response of its own: the server answers 403.
            self.status = 403
        await self._send(message)

    def tick(self, now: float) -> None:
        if self._watcher is None and self._body_done and now - self._started >= WATCH_AFTER:
            self._watch()

    def close(self) -> None:
        self._closed = True
        self._ticker.discard(self)
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()

    def _watch(self) -> None:
        if self._watcher is not None or self._closed:
            return
        self._ticker.discard(self)
        self._watcher = asyncio.ensure_future(self._wait_for_disconnect())
        self._watcher.add_done_callback(_ignore_outcome)

    async def _wait_for_disconnect(self) -> None:
        message = await self._receive()
        if message["type"] == "http.request":
            # The empty body of a request without one.
            message = await self._receive()
        self._client_left()

    def _client_left(self) -> None:
        if self._gone is not None:
            self._gone.set()
        # The server also reports "disconnect" once the response is complete.
        if self.finished or self._closed or self.hung_up:
            return
        self.hung_up = True
        if self._task is not None:
            self._task.cancel()


def _has_body(request_headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in request_headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


def _ignore_outcome(task: asyncio.Task[None]) -> None:
    # A watch is cancelled, or its server refuses a receive once the request
    # is done; either way there is nothing left to learn from it.
    if not task.cancelled():
        task.exception()
