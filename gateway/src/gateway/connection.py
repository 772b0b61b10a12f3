"""One keep-alive HTTP/1.1 connection to an app: write a request, parse its answer as it comes.

A plain asyncio protocol with httptools' parser (the one the gateway's own
server uses) calling back into it. Per request it costs one write of a
prebuilt head and one future for the response head; the body is handed on
in whatever pieces arrive, so nothing is batched and nothing is buffered
beyond `HIGH_WATER` bytes (reading from the app pauses above it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools

# Pause reading from the app while this many body bytes wait for the client.
HIGH_WATER = 1 << 20


class UpstreamClosed(ConnectionError):
    """The app closed the connection before its response was complete."""


class BadResponse(ConnectionError):
    """The app's answer is not HTTP/1.1 the gateway can pass on."""


class ReadTimeout(TimeoutError):
    """The app sent nothing for longer than its route's read timeout."""


def request_head(method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    parts = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


class UpstreamConnection(asyncio.Protocol):
    """One request in flight at a time; `send_request` starts the next."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self.closed = False
        # Served a request before: the app may have closed it while it sat idle.
        self.reused = False
        self.idle_since = 0.0
        self._can_write = True
        self._write_waiter: asyncio.Future[None] | None = None

        # The response in progress.
        self._parser: httptools.HttpResponseParser | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self._bodyless = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: BaseException | None = None
        self._head: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._read_timeout: float | None = None
        self._last_io = 0.0

    # Requests.

    def send_request(self, head: bytes, *, bodyless: bool, read_timeout: float | None) -> None:
        """Write `head`; `bodyless` when the answer has no body whatever it says (HEAD)."""
        assert self._transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = []
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self._bodyless = bodyless
        self._chunks.clear()
        self._buffered = 0
        self._error = None
        self._head = self._loop.create_future()
        self._waiter = None
        self._read_timeout = read_timeout
        self._last_io = self._loop.time()
        self._transport.write(head)

    async def write(self, data: bytes) -> None:
        """Send request body bytes, waiting while the app reads slower than the client sends."""
        if self.closed or self._transport is None:
            raise UpstreamClosed("closed the connection while the request body was sent")
        self._transport.write(data)
        self._last_io = self._loop.time()
        if not self._can_write:
            self._write_waiter = self._loop.create_future()
            try:
                await self._write_waiter
            finally:
                self._write_waiter = None

    async def response_head(self) -> None:
        """Wait for the status line and headers; raises what went wrong instead."""
        assert self._head is not None
        await self._head

    async def wait_body(self) -> None:
        """Wait until body bytes are ready or the response is complete."""
        if self._chunks or self.complete:
            return
        if self._error is not None:
            raise self._error
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take(self) -> bytes:
        """Every body byte received so far (maybe none), in one piece."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    def fail(self, error: BaseException) -> None:
        """End the request with `error`, raised to whoever waits on it, and close."""
        self._error = error
        self.close()
        for future in (self._head, self._waiter):
            if future is not None and not future.done():
                future.set_exception(error)
                # Retrieved here, so a future nobody awaits any more logs nothing.
                future.exception()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def tick(self, now: float) -> None:
        timeout = self._read_timeout
        if timeout is not None and not self.complete and now - self._last_io >= timeout:
            self.fail(ReadTimeout(f"sent nothing for {timeout:g} s"))

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # Bytes nobody asked for: this connection can never be trusted again.
            self.close()
            return
        self._last_io = self._loop.time()
        self.received_any = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(BadResponse("switched protocols in answer to a plain HTTP request"))
        except httptools.HttpParserError as exc:
            self.fail(BadResponse(f"answered with invalid HTTP ({exc})"))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete:
            if self.status and self._close_delimited():
                # A body without length or chunks ends when the connection does.
                self._finish()
            else:
                self.fail(UpstreamClosed("closed the connection before answering in full"))
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamClosed("closed the connection mid-request"))

    def pause_writing(self) -> None:
        self._can_write = False

    def resume_writing(self) -> None:
        self._can_write = True
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # httptools callbacks.

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self._head is not None
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows.
            self.headers = []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        if not self._head.done():
            self._head.set_result(None)
        if self._bodyless or status in (204, 304):
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status:
            self._finish()

    # Internals.

    def _close_delimited(self) -> bool:
        return not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )

    def _finish(self) -> None:
        if self.complete:
            return
        self.complete = True
        self._parser = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
