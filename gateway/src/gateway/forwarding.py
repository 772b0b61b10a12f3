"""Forward one HTTP request to its app and stream the answer back, both ways.

The request body goes to the app as the client sends it, through a task of
its own (an app may answer before reading it all); the response goes back
in whatever pieces the app sends, so a stream is never held back. Path and
query reach the app byte for byte, status and headers come back as the app
wrote them, bar the hop-by-hop ones, and only the gateway says who asked.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from loguru import logger
from starlette.types import Receive, Scope, Send

from gateway import errors, headers, redirects
from gateway.connection import UpstreamClosed, UpstreamConnection, request_head
from gateway.pool import Address, ConnectTimeout, Pool
from gateway.routing import Match
from gateway.settings import Route, Settings
from gateway.ticker import Ticker
from gateway.upstreams import Upstreams

# Methods the gateway may send twice when a kept-alive connection turns out closed.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class Forwarder:
    """Holds the keep-alive pools to the apps; one per gateway process."""

    def __init__(self, settings: Settings, upstreams: Upstreams, ticker: Ticker) -> None:
        self._connect_timeout = settings.connect_timeout
        self._upstreams = upstreams
        self._ticker = ticker
        self._pools: dict[Address, Pool] = {}
        self._hosts = {route.name: urlsplit(route.upstream).netloc for route in settings.routes}
        self._internal: dict[tuple[str, Address], frozenset[bytes]] = {}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match,
        request_id: str,
        body_length: int,
    ) -> None:
        route = match.route
        method: str = scope["method"]

        # Request.
        limit = route.max_body_size
        if limit and body_length > limit:
            raise errors.PayloadTooLarge(
                f"the request body is {body_length} bytes; {route.name} accepts at most {limit}",
                route.name,
            )
        query = scope["query_string"]
        target = match.raw_path + b"?" + query if query else match.raw_path
        client = scope.get("client")
        sent_headers = headers.upstream_request(
            scope["headers"],
            client=client[0] if client else "",
            scheme=scope["scheme"],
            prefix=route.prefix,
            request_id=request_id,
            upstream_host=self._hosts[route.name],
        )
        chunked = body_length == headers.CHUNKED
        if chunked:
            sent_headers.append((b"transfer-encoding", b"chunked"))
        head = request_head(method, target, sent_headers)
        bodyless = method == "HEAD"

        pool, connection = await self._connect(route)
        address = pool.address
        pump: asyncio.Task[bool] | None = None
        started = False
        reusable = False
        self._ticker.add(connection)
        try:
            connection.send_request(head, bodyless=bodyless, read_timeout=route.read_timeout)
            if body_length != headers.NO_BODY:
                pump = asyncio.ensure_future(
                    _send_body(connection, receive, chunked=chunked, limit=limit, app=route.name)
                )
            try:
                await connection.response_head()
            except UpstreamClosed:
                if connection.received_any or not connection.reused or pump is not None:
                    raise
                if method not in IDEMPOTENT:
                    raise
                # The app closed this kept-alive connection while it sat idle:
                # nothing reached it, so once more on a new connection.
                self._ticker.discard(connection)
                pool.release(connection, reusable=False)
                connection = await pool.acquire(fresh=True)
                self._ticker.add(connection)
                connection.send_request(head, bodyless=bodyless, read_timeout=route.read_timeout)
                await connection.response_head()

            # Response.
            await send(
                {
                    "type": "http.response.start",
                    "status": connection.status,
                    "headers": self._response_headers(
                        scope, route, address, connection, request_id
                    ),
                }
            )
            started = True
            if connection.complete:
                await send({"type": "http.response.body", "body": connection.take()})
            else:
                await _stream_body(connection, send)
            reusable = connection.keep_alive and (pump is None or _body_sent(pump))
        except errors.GatewayError:
            if started:
                return
            raise
        except OSError as exc:
            # TimeoutError and ConnectionError, the connection's own included.
            if started:
                # The status line is out: all that is left is to cut the stream short.
                logger.warning("{} stopped mid-response: {}", route.name, exc)
                return
            raise errors.from_upstream(exc, route.name, _show(address)) from None
        finally:
            self._ticker.discard(connection)
            if pump is not None and not pump.done():
                pump.cancel()
            pool.release(connection, reusable=reusable)

    async def _connect(self, route: Route) -> tuple[Pool, UpstreamConnection]:
        """A connection to a ready address; if refused or unanswered, once more at another.

        Nothing has reached the app yet, so another replica may safely take
        the request; the one that failed stays out until its probe passes.
        """
        address = self._upstreams.address(route)
        pool = self._pool(address)
        try:
            return pool, await pool.acquire()
        except (ConnectionRefusedError, ConnectTimeout) as exc:
            self._upstreams.refused(route, address)
            try:
                other = self._upstreams.address(route)
            except errors.NotReady:
                other = address
            if other == address:
                raise errors.from_upstream(exc, route.name, _show(address)) from None
        except OSError as exc:
            raise errors.from_upstream(exc, route.name, _show(address)) from None

        pool = self._pool(other)
        try:
            return pool, await pool.acquire()
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError | ConnectTimeout):
                self._upstreams.refused(route, other)
            raise errors.from_upstream(exc, route.name, _show(other)) from None

    def _pool(self, address: Address) -> Pool:
        pool = self._pools.get(address)
        if pool is None:
            pool = self._pools[address] = Pool(address, self._connect_timeout)
        return pool

    def _response_headers(
        self,
        scope: Scope,
        route: Route,
        address: Address,
        connection: UpstreamConnection,
        request_id: str,
    ) -> headers.Headers:
        def location(value: bytes) -> bytes:
            return redirects.public_location(
                value,
                prefix=route.prefix.encode(),
                internal=self._internal_authorities(route, address),
                public_origin=_public_origin(scope),
            )

        return headers.client_response(
            connection.headers,
            status=connection.status,
            request_id=request_id.encode(),
            location=location,
        )

    def _internal_authorities(self, route: Route, address: Address) -> frozenset[bytes]:
        key = (route.name, address)
        found = self._internal.get(key)
        if found is None:
            found = redirects.internal_authorities(*address, self._hosts[route.name])
            self._internal[key] = found
        return found


async def _send_body(
    connection: UpstreamConnection, receive: Receive, *, chunked: bool, limit: int, app: str
) -> bool:
    """Pass the request body on as it arrives; whether all of it reached the app."""
    sent = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        body: bytes = message.get("body", b"")
        try:
            if body:
                sent += len(body)
                if limit and sent > limit:
                    connection.fail(
                        errors.PayloadTooLarge(
                            f"the request body is over the {limit} bytes {app} accepts", app
                        )
                    )
                    return False
                await connection.write(b"%x\r\n%b\r\n" % (len(body), body) if chunked else body)
            if not message.get("more_body", False):
                if chunked:
                    await connection.write(b"0\r\n\r\n")
                return True
        except OSError:
            # The app closed the connection; the response side reports why.
            return False


async def _stream_body(connection: UpstreamConnection, send: Send) -> None:
    while True:
        await connection.wait_body()
        data = connection.take()
        if connection.complete:
            await send({"type": "http.response.body", "body": data})
            return
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})


def _body_sent(pump: asyncio.Task[bool]) -> bool:
    return pump.done() and not pump.cancelled() and pump.exception() is None and pump.result()


def _public_origin(scope: Scope) -> bytes:
    host = headers.host(scope["headers"])
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0].encode() if server[1] is None else f"{server[0]}:{server[1]}".encode()
    scheme: str = scope["scheme"]
    return scheme.encode() + b"://" + host


def _show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
