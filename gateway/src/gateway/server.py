"""The gateway's HTTP server protocol: a client's connection, parsed and forwarded without ASGI.

uvicorn runs the gateway process (workers, signals, lifespan, graceful
shutdown), and the Procfile names this class with `--http
gateway.server:GatewayHttpProtocol`. Plain HTTP requests never become
ASGI scopes and messages: httptools' parser calls in here, a `Forward`
(forwarding.py) carries each request to its app, and the answer comes
back through the same callbacks, with no task per request. On a small
answer that ASGI layer cost more than the forwarding itself.

A WebSocket handshake is handed to uvicorn's WebSocket protocol, which
runs the gateway's ASGI app (main.py) and its relay, as uvicorn's own
HTTP protocol would.

The rules a client's connection lives by:

- requests are answered in order; pipelined ones wait their turn, and
  reading pauses while one waits;
- the request line and headers must arrive within `HEADER_SECONDS` of
  their first byte, and may hold at most 64 KiB, else 408 or 431;
- an idle connection closes after uvicorn's keep-alive timeout;
- every refusal is JSON in the gateway's one error shape.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from typing import Any, cast
from urllib.parse import unquote

import httptools
from loguru import logger
from onebox_service import logs

from gateway import errors, headers
from gateway.forwarding import Client, Forward
from gateway.routing import InvalidPath
from gateway.ticker import Ticker

# The request line and headers must be in this long after their first byte.
HEADER_SECONDS = 10.0
# Bytes of an answer held for a slow client before reading from the app pauses:
# enough that a stream moves in large pieces, not so much that memory grows.
WRITE_BUFFER = 1 << 18
# How often idle connections and slow headers are looked at.
SWEEP_SECONDS = 1.0
# What a Host header may hold: a name or IPv4 address or [IPv6], maybe a port.
SAFE_HOST = re.compile(rb"^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
# What a 405 for CONNECT names as allowed.
FORWARDED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# Headers whose values the server notes as it reads them.
_NOTED = frozenset({b"host", b"x-request-id", b"expect", b"content-length", b"transfer-encoding"})
# Reasons to stop reading from the client, as bits.
_WAITING = 1  # a pipelined request waits for the one before it
_APP_BEHIND = 2  # the app reads the request body slower than the client sends it

_sweeper: Ticker | None = None


def _connections_ticker() -> Ticker:
    global _sweeper
    if _sweeper is None:
        _sweeper = Ticker(SWEEP_SECONDS)
    return _sweeper


class TooLarge(Exception):
    """The request's line and headers are over the size the gateway reads."""


class Request:
    """One request as parsed from the client, and what became of it."""

    __slots__ = (
        "body_done",
        "client_id",
        "error",
        "expect_continue",
        "forward",
        "framed",
        "header_bytes",
        "headers",
        "headers_done",
        "host",
        "http_11",
        "hung_up",
        "keep_alive",
        "method",
        "path",
        "pending",
        "query",
        "request_id",
        "started",
        "status",
        "url",
    )

    def __init__(self) -> None:
        self.url = b""
        self.method = b""
        self.path = b""
        self.query = b""
        self.headers: headers.Headers = []
        self.header_bytes = 0
        self.headers_done = False
        self.http_11 = True
        self.keep_alive = True
        self.expect_continue = False
        # What the headers said, noted as they were read.
        self.framed = False
        self.host = b""
        self.client_id: bytes | None = None
        # Why the request cannot be served, found while it was read.
        self.error: errors.GatewayError | None = None
        self.body_done = False
        self.pending: list[bytes] = []
        self.forward: Forward | None = None
        self.request_id = ""
        self.status: int | None = None
        self.hung_up = False
        self.started = 0.0


class GatewayHttpProtocol(asyncio.Protocol, Client):
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # Imported here: main.py builds the gateway, and imports this module's neighbours.
        from gateway.main import gateway

        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.gateway = gateway
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_host = ""
        self.server_origin = b""
        self.writable = True

        self._parsing: Request | None = None
        self._upgrading: Request | None = None
        self._active: Request | None = None
        self._waiting: deque[Request] = deque()
        self.keep_alive = True
        self._closed = False
        self._broken = False
        self._closing = False
        self._starting = False
        self._pauses = 0
        self._last_read = 0.0
        self._idle_since = 0.0
        self._began = 0.0
        self._keep_alive_seconds = float(getattr(config, "timeout_keep_alive", 5))
        self._body_seconds = gateway.settings.body_timeout

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_BUFFER)
        peer = transport.get_extra_info("peername")
        self.client_host = str(peer[0]) if isinstance(peer, tuple) else ""
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            host = f"[{local[0]}]" if ":" in str(local[0]) else str(local[0])
            self.server_origin = f"http://{host}:{local[1]}".encode()
        else:
            self.server_origin = b"http://localhost"
        self._idle_since = self.loop.time()
        self.server_state.connections.add(self)
        _connections_ticker().add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.server_state.connections.discard(self)
        _connections_ticker().discard(self)
        self._waiting.clear()
        request = self._active
        if request is not None:
            self._active = None
            forward = request.forward
            if forward is not None and not forward.done:
                forward.client_left()
                self._log(request)

    def eof_received(self) -> bool:
        # The end of the client's stream is taken as the client leaving, as
        # uvicorn and nginx take it: a request in flight is cancelled.
        return False

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, TooLarge):
                self._refuse(errors.HeadersTooLarge(str(exc.__context__)))
            else:
                logger.opt(exception=exc.__context__).error("reading a request failed")
                self._refuse(errors.GatewayError("the gateway failed to read this request"))
        except httptools.HttpParserError as exc:
            self._refuse(errors.BadRequest(f"the request is not valid HTTP/1.1: {exc}"))

    def pause_writing(self) -> None:
        self.writable = False
        self._tell_writable(False)

    def resume_writing(self) -> None:
        self.writable = True
        self._tell_writable(True)

    # uvicorn's server.

    def shutdown(self) -> None:
        """The server is stopping: finish the request in hand, then close."""
        self.keep_alive = False
        if self._active is None and self._parsing is None:
            self._close()

    def tick(self, now: float) -> None:
        if self._closed or self.transport is None:
            return
        parsing = self._parsing
        if parsing is not None and not parsing.headers_done:
            if now - self._began >= HEADER_SECONDS and self._active is None:
                self._refuse(
                    errors.RequestTimeout(
                        f"the request line and headers took over {HEADER_SECONDS:g} s"
                    )
                )
        elif (
            parsing is not None
            and not parsing.body_done
            and not self._pauses
            and now - self._last_read >= self._body_seconds
        ):
            # A body that stalls while the gateway reads: the client, not the app, is slow.
            forward = parsing.forward
            if forward is not None and not forward.done:
                self._parsing = None
                self._broken = True
                forward.fail(
                    errors.RequestTimeout(
                        f"the request body stalled for over {self._body_seconds:g} s"
                    )
                )
        elif (
            self._active is None
            and parsing is None
            and now - self._idle_since >= self._keep_alive_seconds
        ):
            self._close()

    # httptools callbacks.

    def on_message_begin(self) -> None:
        self._parsing = Request()
        self._began = self.loop.time()

    def on_url(self, url: bytes) -> None:
        request = self._parsing
        assert request is not None
        request.url += url
        request.header_bytes += len(url)
        if request.header_bytes > headers.MAX_HEADER_BYTES:
            raise TooLarge("the request line is over 64 KiB")

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._parsing
        assert request is not None
        request.header_bytes += len(name) + len(value)
        if request.header_bytes > headers.MAX_HEADER_BYTES:
            raise TooLarge("the request's headers are over 64 KiB")
        if len(value) > headers.MAX_HEADER_VALUE:
            raise TooLarge(f"the {name.decode('latin-1')} header is over 16 KiB")
        name = name.lower()
        request.headers.append((name, value))
        if name in _NOTED:
            if name == b"host":
                if request.host:
                    request.error = errors.BadRequest("the request has more than one Host header")
                request.host = value
            elif name == b"x-request-id":
                request.client_id = value
            elif name == b"expect":
                request.expect_continue = value.lower() == b"100-continue"
            else:
                request.framed = True

    def on_headers_complete(self) -> None:
        request = self._parsing
        assert request is not None
        if self._closing or self._broken:
            # The connection ends after the answer in progress: nothing more is served.
            return
        parser = self.parser
        request.headers_done = True
        if not request.framed:
            # No length and no chunks: the request has no body, so it is whole already.
            request.body_done = True
        request.method = parser.get_method()
        version = parser.get_http_version()
        request.http_11 = version == "1.1"
        if not request.http_11:
            # An HTTP/1.0 client cannot expect a 100 Continue; the server ignores the ask.
            request.expect_continue = False
            if version != "1.0":
                request.error = errors.VersionNotSupported(
                    f"the gateway speaks HTTP/1.1 and 1.0, not HTTP/{version}"
                )
        elif not request.host and request.error is None:
            request.error = errors.BadRequest("an HTTP/1.1 request must carry a Host header")
        if request.host and not SAFE_HOST.match(request.host) and request.error is None:
            request.error = errors.BadRequest("the Host header is not a host name or address")
        request.keep_alive = parser.should_keep_alive()
        url = request.url
        if url[:1] != b"/":
            # An absolute form (http://host/path) or "*": only the path is routed.
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                parsed = None
            request.path = (parsed.path if parsed else None) or url
            request.query = (parsed.query if parsed else None) or b""
        else:
            path, _, query = url.partition(b"?")
            request.path = path.partition(b"#")[0]
            request.query = query.partition(b"#")[0]
        if parser.should_upgrade():
            if _upgrade_to(request.headers) == b"websocket":
                self._upgrading = request
                return
            # Another protocol: answered as plain HTTP, and nothing after it can be read.
            request.keep_alive = False
        self._waiting.append(request)
        if self._active is None:
            self._start_waiting()
        else:
            self._pause(_WAITING)

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        assert request is not None
        forward = request.forward
        if forward is not None:
            forward.request_body(body)
        elif request.status is None:
            # Waiting its turn: held until it starts (reading is paused meanwhile).
            request.pending.append(body)

    def on_message_complete(self) -> None:
        request = self._parsing
        assert request is not None
        self._parsing = None
        request.body_done = True
        if request.forward is not None:
            request.forward.request_complete()

    # The request's forward (forwarding.Client).

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    def body_paused(self, paused: bool) -> None:
        if paused:
            self._pause(_APP_BEHIND)
        else:
            self._resume(_APP_BEHIND)

    def answered(self, request: Request, *, keep_alive: bool) -> None:
        self._log(request)
        if self._active is request:
            self._active = None
        self._resume(_APP_BEHIND)
        transport = self.transport
        if self._closed or transport is None:
            return
        if not (keep_alive and request.keep_alive and request.body_done and self.keep_alive):
            self._close()
            return
        if self._broken:
            self._close()
            return
        self._idle_since = self.loop.time()
        if self._waiting:
            self._start_waiting()

    def _start_waiting(self) -> None:
        """Start the waiting requests in turn, until one is in flight.

        A loop, not a call from each answer to the next: many pipelined
        requests the gateway answers itself must not nest calls.
        """
        if self._starting:
            return
        self._starting = True
        try:
            while self._waiting and self._active is None and not self._closing:
                following = self._waiting.popleft()
                self._start(following)
            if not self._waiting:
                self._resume(_WAITING)
        finally:
            self._starting = False

    def _close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    def respond_error(self, request: Request, error: errors.GatewayError) -> None:
        keep_alive = request.body_done and request.keep_alive and self.keep_alive
        self._respond(
            request,
            error.status,
            errors.body(error, request.request_id),
            error.headers,
            keep_alive=keep_alive,
        )
        self.answered(request, keep_alive=keep_alive)

    def abort(self, request: Request) -> None:
        self._log(request)
        if self._active is request:
            self._active = None
        self._close()

    # Internals.

    def _start(self, request: Request) -> None:
        """Answer `request`: one of the gateway's own endpoints, or forwarded to its app."""
        self._active = request
        request.started = time.perf_counter()
        request.request_id = headers.request_id_of(request.client_id)
        try:
            if request.error is not None:
                raise request.error
            if request.method == b"CONNECT":
                raise errors.MethodNotAllowed(
                    "the gateway does not tunnel connections", allow=FORWARDED_METHODS
                )
            own = self.gateway.own_endpoint(request.method, request.path)
            if own is not None:
                status, content, extra = own
                keep_alive = request.body_done and request.keep_alive and self.keep_alive
                self._respond(request, status, content, extra, keep_alive=keep_alive)
                self.answered(request, keep_alive=keep_alive)
                return
            body_length = headers.body_length(request.headers) if request.framed else 0
            match = self.gateway.router.match(request.path)
            if match is None:
                known = ", ".join(self.gateway.settings.prefixes())
                raise errors.NotFound(
                    f"no app serves {_shown(request.path)}; known prefixes: {known}"
                )
            host = request.host
            forward = Forward(
                self.gateway.forwarder,
                self,
                request,
                match,
                body_length,
                client_host=self.client_host,
                public_origin=b"http://" + host if host else self.server_origin,
            )
        except (InvalidPath, headers.BadFraming) as exc:
            self.respond_error(request, errors.BadRequest(str(exc)))
            return
        except errors.GatewayError as exc:
            if exc.status >= 500:
                logger.bind(request_id=request.request_id).warning(
                    "{} ({})", exc.detail, exc.status
                )
            self.respond_error(request, exc)
            return
        except Exception:
            # A bug of the gateway's own: logged with its traceback, never shown to the client.
            logger.bind(request_id=request.request_id).exception(
                "forwarding {} failed", _shown(request.path)
            )
            self.respond_error(
                request, errors.GatewayError("the gateway failed to forward this request")
            )
            return

        request.forward = forward
        forward.start()
        if request.pending:
            for chunk in request.pending:
                forward.request_body(chunk)
            request.pending.clear()
        if request.body_done:
            forward.request_complete()
        if not self.writable:
            forward.client_writable(False)

    def _respond(
        self,
        request: Request,
        status: int,
        content: bytes,
        extra: list[tuple[bytes, bytes]],
        *,
        keep_alive: bool,
    ) -> None:
        """A whole JSON answer from the gateway itself."""
        parts = [
            b"HTTP/1.1 %d %b\r\n" % (status, errors.reason(status)),
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(content),
            b"x-request-id: %b\r\n" % request.request_id.encode(),
        ]
        for name, value in extra:
            parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if request.method != b"HEAD":
            parts.append(content)
        request.status = status
        self.write(b"".join(parts))

    def _refuse(self, error: errors.GatewayError) -> None:
        """Answer a request that could not be read whole, and close the connection."""
        self._broken = True
        active = self._active
        if active is not None:
            forward = active.forward
            if active is self._parsing and forward is not None and not forward.done:
                # The body of the request in flight is what cannot be read.
                self._parsing = None
                forward.fail(error)
            else:
                # The answer in progress comes first; the connection ends after it.
                self.keep_alive = False
            return
        request = self._parsing or Request()
        self._parsing = None
        request.keep_alive = False
        request.request_id = request.request_id or headers.request_id_of(request.client_id)
        if not request.method:
            request.method = b"-"
        request.started = request.started or time.perf_counter()
        self._active = request
        self.respond_error(request, error)

    def _upgrade(self) -> None:
        request = self._upgrading
        if request is None:
            # Not a WebSocket: the request was answered as plain HTTP; nothing after it is read.
            self._broken = True
            return
        self._upgrading = None
        self._parsing = None
        ws_protocol = self.config.ws_protocol_class
        if ws_protocol is None or self._active is not None or self.transport is None:
            request.keep_alive = False
            self._active = self._active or request
            if self._active is request:
                request.started = time.perf_counter()
                request.request_id = headers.request_id_of(request.client_id)
                self.respond_error(
                    request, errors.BadRequest("a WebSocket handshake must come on its own")
                )
            else:
                self._broken = True
                self.keep_alive = False
            return
        # As uvicorn's own HTTP protocol does: the WebSocket protocol gets the
        # socket and the handshake, and runs the gateway's ASGI app.
        self._closed = True
        self.server_state.connections.discard(self)
        _connections_ticker().discard(self)
        head = [request.method, b" ", request.url, b" HTTP/1.1\r\n"]
        for name, value in request.headers:
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        protocol = ws_protocol(
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        protocol.connection_made(self.transport)
        protocol.data_received(b"".join(head))
        self.transport.set_protocol(protocol)

    def _pause(self, reason: int) -> None:
        if not self._pauses and self.transport is not None and not self._closed:
            self.transport.pause_reading()
        self._pauses |= reason

    def _resume(self, reason: int) -> None:
        if not self._pauses & reason:
            return
        self._pauses &= ~reason
        if not self._pauses and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def _tell_writable(self, writable: bool) -> None:
        request = self._active
        if request is not None and request.forward is not None:
            request.forward.client_writable(writable)

    def _log(self, request: Request) -> None:
        status = logs.status_to_log(request.hung_up, request.status)
        logs.log_access(
            request.method.decode("latin-1"),
            _shown(request.path),
            status,
            time.perf_counter() - request.started,
            hung_up=request.hung_up,
            request_id=request.request_id,
        )


def _upgrade_to(request_headers: headers.Headers) -> bytes:
    for name, value in request_headers:
        if name == b"upgrade":
            return value.strip().lower()
    return b""


def _shown(path: bytes) -> str:
    """The path as a log line or an error shows it: percent-escapes decoded."""
    text = path.decode("latin-1")
    return unquote(text) if "%" in text else text
