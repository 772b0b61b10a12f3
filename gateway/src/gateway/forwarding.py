"""Forward one HTTP request to its app and pass the answer back, both ways, as it comes.

A `Forward` sits between the client's connection (server.py) and a
keep-alive connection to the app (connection.py). It is driven by their
callbacks, with no task of its own unless a new connection to the app must
be opened: request body bytes go to the app as the client sends them, and
the answer goes back in whatever pieces the app sends, so a stream is
never held back. Each side's flow control reaches the other: a client that
reads slowly pauses reading from the app, and an app that reads slowly
pauses reading from the client.

Path and query reach the app byte for byte, status, reason and headers
come back as the app wrote them, bar the hop-by-hop ones, and only the
gateway says who asked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loguru import logger

from gateway import errors, headers, redirects
from gateway.connection import UpstreamClosed, UpstreamConnection
from gateway.pool import Address, ConnectTimeout, Pool
from gateway.routing import Match
from gateway.settings import Route, Settings
from gateway.ticker import Ticker
from gateway.upstreams import Upstreams

if TYPE_CHECKING:
    from gateway.server import Request

# Methods the gateway may send twice when a kept-alive connection turns out closed.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


class Client:
    """What a forward needs from the client's connection (server.py implements it)."""

    loop: asyncio.AbstractEventLoop
    # False while the client's socket buffer is full: reading from the app pauses.
    writable = True
    # False once the connection ends after the answer in hand (the server stops, say).
    keep_alive = True

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def body_paused(self, paused: bool) -> None:
        """Stop reading the request body while the app falls behind (True), or go on."""
        raise NotImplementedError

    def answered(self, request: Request, *, keep_alive: bool) -> None:
        """The response is complete; `keep_alive` False closes the client's connection."""
        raise NotImplementedError

    def respond_error(self, request: Request, error: errors.GatewayError) -> None:
        """Answer `error` as the request's whole response."""
        raise NotImplementedError

    def abort(self, request: Request) -> None:
        """Cut a response short: the client sees the connection end mid-answer."""
        raise NotImplementedError


class Forwarder:
    """Holds the keep-alive pools to the apps; one per gateway process."""

    def __init__(self, settings: Settings, upstreams: Upstreams, ticker: Ticker) -> None:
        self.connect_timeout = settings.connect_timeout
        self.upstreams = upstreams
        self.ticker = ticker
        self._pools: dict[Address, Pool] = {}
        self.hosts = {route.name: urlsplit(route.upstream).netloc for route in settings.routes}
        self.host_headers = {name: host.encode() for name, host in self.hosts.items()}
        self._internal: dict[tuple[str, Address], frozenset[bytes]] = {}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def pool(self, address: Address) -> Pool:
        pool = self._pools.get(address)
        if pool is None:
            pool = self._pools[address] = Pool(address, self.connect_timeout)
        return pool

    async def connect(self, route: Route, address: Address) -> tuple[Pool, UpstreamConnection]:
        """A new connection to `address`; if refused or unanswered, once more at another.

        Nothing has reached the app yet, so another replica may safely take
        the request; the one that failed stays out until its probe passes.
        """
        pool = self.pool(address)
        try:
            return pool, await pool.connect()
        except (ConnectionRefusedError, ConnectTimeout) as exc:
            self.upstreams.refused(route, address)
            try:
                other = self.upstreams.address(route)
            except errors.NotReady:
                other = address
            if other == address:
                raise errors.from_upstream(exc, route.name, show(address)) from None
        except OSError as exc:
            raise errors.from_upstream(exc, route.name, show(address)) from None

        pool = self.pool(other)
        try:
            return pool, await pool.connect()
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError | ConnectTimeout):
                self.upstreams.refused(route, other)
            raise errors.from_upstream(exc, route.name, show(other)) from None

    def internal_authorities(self, route: Route, address: Address) -> frozenset[bytes]:
        key = (route.name, address)
        found = self._internal.get(key)
        if found is None:
            found = redirects.internal_authorities(*address, self.hosts[route.name])
            self._internal[key] = found
        return found


class Forward:
    """One request on its way to an app and its answer on the way back."""

    __slots__ = (
        "_body_sent",
        "_chunked_in",
        "_connecting",
        "_forwarder",
        "_head",
        "_loop",
        "_out",
        "_pending",
        "_public_origin",
        "_sent",
        "address",
        "chunked_out",
        "client",
        "close_after",
        "connection",
        "done",
        "head_sent",
        "pool",
        "request",
        "route",
    )

    def __init__(
        self,
        forwarder: Forwarder,
        client: Client,
        request: Request,
        match: Match,
        body_length: int,
        *,
        client_host: str,
        public_origin: bytes,
    ) -> None:
        self._forwarder = forwarder
        self.client = client
        self.request = request
        self.route = route = match.route
        self._loop = client.loop

        limit = route.max_body_size
        if limit and body_length > limit:
            raise errors.PayloadTooLarge(
                f"the request body is {body_length} bytes; {route.name} accepts at most {limit}",
                route.name,
            )
        query = request.query
        target = match.raw_path + b"?" + query if query else match.raw_path
        forwarded = headers.forwarded_lines(
            client=client_host, scheme="http", prefix=route.prefix, request_id=request.request_id
        )
        self._chunked_in = body_length == headers.CHUNKED
        self._head = headers.upstream_head(
            request.method,
            target,
            request.headers,
            forwarded=forwarded,
            upstream_host=forwarder.host_headers[route.name],
            body_length=body_length,
        )
        self._pending: list[bytes] = []
        self._sent = 0
        self._body_sent = body_length == headers.NO_BODY
        self._out: list[bytes] = []
        self._connecting: asyncio.Task[None] | None = None
        self.address = forwarder.upstreams.address(route)
        self.pool: Pool | None = None
        self.connection: UpstreamConnection | None = None
        self.head_sent = False
        self.chunked_out = False
        self.close_after = False
        self.done = False
        self._public_origin = public_origin

    # Started by the client's connection.

    def start(self) -> None:
        pool = self.pool = self._forwarder.pool(self.address)
        connection = pool.take_idle(self._loop.time())
        if connection is not None:
            self._attach(connection)
        else:
            self._open(fresh=False)

    def request_body(self, data: bytes) -> None:
        """Body bytes from the client, passed on as they come."""
        if self.done:
            return
        limit = self.route.max_body_size
        self._sent += len(data)
        if limit and self._sent > limit:
            app = self.route.name
            self.fail(
                errors.PayloadTooLarge(
                    f"the request body is over the {limit} bytes {app} accepts", app
                )
            )
            return
        chunk = b"%x\r\n%b\r\n" % (len(data), data) if self._chunked_in else data
        if self.connection is None:
            self._pending.append(chunk)
        else:
            self.connection.write(chunk)

    def request_complete(self) -> None:
        """The client has sent the whole body."""
        if self.done or self._body_sent:
            return
        self._body_sent = True
        if self._chunked_in:
            if self.connection is None:
                self._pending.append(LAST_CHUNK)
            else:
                self.connection.write(LAST_CHUNK)
        if self.connection is not None:
            self.connection.request_sent()

    def client_writable(self, writable: bool) -> None:
        connection = self.connection
        if connection is not None:
            if writable:
                connection.resume_reading()
            else:
                connection.pause_reading()

    def client_left(self) -> None:
        """The client hung up before the answer was complete: the app sees it leave too."""
        if self.done:
            return
        self.done = True
        self.request.hung_up = True
        if self._connecting is not None:
            self._connecting.cancel()
        self._release(reusable=False)

    # The app's side (connection.Sink).

    def response_head(self, status: int, reason: bytes, app_headers: headers.Headers) -> None:
        request = self.request
        sent, has_length = headers.client_response(app_headers, location=self._location)
        parts = [b"HTTP/1.1 %d %b\r\n" % (status, reason or errors.reason(status))]
        parts += sent
        parts += (b"x-request-id: ", request.request_id.encode(), b"\r\n")
        if not has_length and request.method != b"HEAD" and status not in (204, 304):
            # Chunked or close-delimited at the app: chunked to an HTTP/1.1 client,
            # and to an HTTP/1.0 one the end of the connection marks the end.
            if request.http_11:
                self.chunked_out = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.close_after = True
        if not self._body_sent:
            # The app answered before the whole body came: the rest cannot be told apart.
            self.close_after = True
        if self.close_after or not request.keep_alive or not self.client.keep_alive:
            parts.append(b"connection: close\r\n\r\n")
        elif not request.http_11:
            parts.append(b"connection: keep-alive\r\n\r\n")
        else:
            parts.append(b"\r\n")
        self._out.append(b"".join(parts))
        request.status = status
        self.head_sent = True

    def _location(self, value: bytes) -> bytes:
        route = self.route
        return redirects.public_location(
            value,
            prefix=route.prefix.encode(),
            internal=self._forwarder.internal_authorities(route, self.address),
            public_origin=self._public_origin,
        )

    def response_body(self, data: bytes) -> None:
        if self.chunked_out:
            self._out.append(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self._out.append(data)

    def flush(self) -> None:
        out = self._out
        if out:
            self.client.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def response_complete(self) -> None:
        if self.chunked_out:
            self._out.append(LAST_CHUNK)
        self.flush()
        if self.done:
            return
        self.done = True
        connection = self.connection
        reusable = connection is not None and connection.keep_alive and self._body_sent
        self._release(reusable=reusable)
        self.client.answered(self.request, keep_alive=not self.close_after)

    def response_failed(self, error: BaseException) -> None:
        if self.done:
            return
        connection = self.connection
        if (
            isinstance(error, UpstreamClosed)
            and connection is not None
            and not connection.received_any
            and connection.reused
            and not self.head_sent
            and self.request.method in IDEMPOTENT
            and self._sent == 0
            and self._body_sent
        ):
            # The app closed this kept-alive connection while it sat idle:
            # nothing reached it, so once more on a new connection.
            self._release(reusable=False)
            self._open(fresh=True)
            return
        self.fail(errors.from_upstream(error, self.route.name, show(self.address)))

    def upstream_writable(self, writable: bool) -> None:
        self.client.body_paused(not writable)

    # Internals.

    def _open(self, *, fresh: bool) -> None:
        self._connecting = asyncio.ensure_future(self._connect(fresh=fresh))

    async def _connect(self, *, fresh: bool) -> None:
        try:
            if fresh:
                assert self.pool is not None
                pool, connection = self.pool, await self.pool.connect()
            else:
                pool, connection = await self._forwarder.connect(self.route, self.address)
        except asyncio.CancelledError:
            return
        except OSError as exc:
            self.fail(errors.from_upstream(exc, self.route.name, show(self.address)))
            return
        except errors.GatewayError as exc:
            self.fail(exc)
            return
        except Exception:
            logger.bind(request_id=self.request.request_id).exception(
                "connecting to {} failed", self.route.name
            )
            self.fail(errors.GatewayError("the gateway failed to forward this request"))
            return
        finally:
            self._connecting = None
        if self.done:
            pool.release(connection, reusable=True, now=self._loop.time())
            return
        self.pool = pool
        self.address = pool.address
        self._attach(connection)

    def _attach(self, connection: UpstreamConnection) -> None:
        self.connection = connection
        if self.route.read_timeout is not None:
            self._forwarder.ticker.add(connection)
        connection.begin(
            self,
            self._head,
            bodyless=self.request.method == b"HEAD",
            read_timeout=self.route.read_timeout,
        )
        if not self.client.writable:
            connection.pause_reading()
        if self.request.expect_continue and not self._body_sent:
            self.client.write(CONTINUE)
        if self._pending:
            connection.write(b"".join(self._pending))
            self._pending.clear()
        if self._body_sent:
            connection.request_sent()

    def _release(self, *, reusable: bool) -> None:
        connection = self.connection
        if connection is None:
            return
        self.connection = None
        self._forwarder.ticker.discard(connection)
        connection.detach()
        assert self.pool is not None
        self.pool.release(connection, reusable=reusable, now=self._loop.time())

    def fail(self, error: errors.GatewayError) -> None:
        """The request ends with `error`: a JSON answer if none began, else a cut stream."""
        if self.done:
            return
        self.done = True
        self._release(reusable=False)
        if self.head_sent:
            # The status line is out: all that is left is to cut the stream short.
            logger.bind(request_id=self.request.request_id).warning(
                "{} stopped mid-response: {}", self.route.name, error.detail
            )
            self.flush()
            self.client.abort(self.request)
            return
        if error.status >= 500:
            logger.bind(request_id=self.request.request_id).warning(
                "{} ({})", error.detail, error.status
            )
        self._out.clear()
        self.client.respond_error(self.request, error)


def show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
