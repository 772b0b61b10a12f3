"""One keep-alive HTTP/1.1 connection to an app: write a request, hand on its answer as it comes.

A plain asyncio protocol with httptools' parser calling back into it, and
no futures or tasks per request: what the app sends goes to the request's
`Sink` as it is parsed (head, body pieces, the end), and the sink writes
it on to the client. A read of the app's socket ends with one `flush`, so
a small answer read in one piece leaves the gateway in one write.

The end of an answer, and any failure, reach the sink only after the
parser is done with the bytes it was fed, so the sink may hand this
connection to the next request from there.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

import httptools


class UpstreamClosed(ConnectionError):
    """The app closed the connection before its response was complete."""


class BadResponse(ConnectionError):
    """The app's answer is not HTTP/1.1 the gateway can pass on."""


class ReadTimeout(TimeoutError):
    """The app sent nothing for longer than its route's read timeout."""


class Sink(Protocol):
    """Where a connection sends the answer to the request it carries."""

    def response_head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """The final status line and headers (interim 1xx answers are dropped)."""

    def response_body(self, data: bytes) -> None:
        """A piece of the body, as the app sent it."""

    def response_complete(self) -> None:
        """The answer is all in; the connection carries nothing more for this sink."""

    def response_failed(self, error: BaseException) -> None:
        """The answer cannot be completed: the app closed, timed out or spoke garbage."""

    def flush(self) -> None:
        """The bytes of one read of the app's socket have all been handed on."""

    def upstream_writable(self, writable: bool) -> None:
        """The app reads the request body slower than it comes (False), or catches up (True)."""


class UpstreamConnection(asyncio.Protocol):
    """One request in flight at a time; `begin` starts the next."""

    # The request in flight, all set again by `begin`.
    _sink: Sink | None = None
    _reason = b""
    _headers: list[tuple[bytes, bytes]]
    _bodyless = False
    status = 0
    complete = False
    keep_alive = False
    received_any = False
    _ended = False
    _error: BaseException | None = None
    _read_timeout: float | None = None
    _last_io = 0.0
    # The whole request is sent: the app's silence from here on is the app's.
    _awaiting = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._reading_paused = False
        self.closed = False
        # Served a request before: the app may have closed it while it sat idle.
        self.reused = False
        self.idle_since = 0.0

    # Requests.

    def begin(self, sink: Sink, head: bytes, *, bodyless: bool, read_timeout: float | None) -> None:
        """Write a request's `head`; `bodyless` when its answer has none whatever it says (HEAD)."""
        self._sink = sink
        if self._parser is None:
            self._parser = httptools.HttpResponseParser(self)
        self._reason = b""
        self._headers = []
        self._bodyless = bodyless
        self.status = 0
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self._ended = False
        self._error = None
        self._read_timeout = read_timeout
        self._last_io = self._loop.time()
        self._awaiting = False
        if self._reading_paused:
            self.resume_reading()
        self.write(head)

    def write(self, data: bytes) -> None:
        """Send request bytes; the sink hears when the app falls behind reading them."""
        if self._transport is not None and not self.closed:
            self._transport.write(data)
            self._last_io = self._loop.time()

    def request_sent(self) -> None:
        """The whole request is written; the read timeout runs from now."""
        self._awaiting = True
        self._last_io = self._loop.time()

    def detach(self) -> None:
        """The sink wants nothing more from this connection (its client left)."""
        self._sink = None

    def pause_reading(self) -> None:
        if self._transport is not None and not self.closed and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self.closed and self._reading_paused:
            self._reading_paused = False
            self._last_io = self._loop.time()
            self._transport.resume_reading()

    def fail(self, error: BaseException) -> None:
        """End the request with `error`, told to its sink, and close."""
        self.close()
        self._end(error)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def tick(self, now: float) -> None:
        timeout = self._read_timeout
        if (
            timeout is not None
            and self._sink is not None
            and self._awaiting
            and not self._reading_paused
            and not self.complete
            and now - self._last_io >= timeout
        ):
            self.fail(ReadTimeout(f"sent nothing for {timeout:g} s"))

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._sink is None:
            # Bytes nobody asked for: this connection can never be trusted again.
            self.close()
            return
        self._last_io = self._loop.time()
        self.received_any = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._error = BadResponse("switched protocols in answer to a plain HTTP request")
        except httptools.HttpParserError as exc:
            self._error = BadResponse(f"answered with invalid HTTP ({exc})")
        sink = self._sink
        if self._error is not None:
            self.fail(self._error)
        elif self.complete:
            self._end(None)
        elif sink is not None:
            sink.flush()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._sink is not None and not self.complete:
            if self.status and _close_delimited(self._headers):
                # A body without length or chunks ends when the connection does.
                self.complete = True
                self._end(None)
            else:
                self._end(UpstreamClosed("closed the connection before answering in full"))

    def pause_writing(self) -> None:
        if self._sink is not None:
            self._sink.upstream_writable(False)

    def resume_writing(self) -> None:
        if self._sink is not None:
            self._sink.upstream_writable(True)

    # httptools callbacks.

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        if self.complete:
            # A second answer to one request: the connection cannot be trusted again.
            self.keep_alive = False
            return
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows.
            self._headers = []
            self._reason = b""
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        if self._sink is not None:
            self._sink.response_head(status, self._reason, self._headers)
        if self._bodyless or status in (204, 304):
            self.complete = True

    def on_body(self, body: bytes) -> None:
        if not self.complete and self.status and self._sink is not None:
            self._sink.response_body(body)

    def on_message_complete(self) -> None:
        if self.status:
            self.complete = True

    # Internals.

    def _end(self, error: BaseException | None) -> None:
        sink = self._sink
        if self._ended:
            return
        self._ended = True
        if error is not None or self._bodyless or not self.keep_alive:
            # The parser would read the next answer wrongly (a HEAD's length
            # promises a body that never comes); the next request gets a new one.
            self._parser = None
        self._sink = None
        if sink is None:
            return
        if error is None:
            sink.response_complete()
        else:
            sink.response_failed(error)


def _close_delimited(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer's body ends only when its connection does (no length, no chunks)."""
    return not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)
