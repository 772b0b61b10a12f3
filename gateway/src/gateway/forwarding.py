"""Forward one HTTP request to its app and stream the answer back, both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from multidict import CIMultiDict
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway import headers as header_rules
from gateway.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.routing import Match


class Forwarder:
    """Holds the keep-alive pool to the apps; one per gateway process."""

    def __init__(self, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, match: Match, request_id: str
    ) -> None:
        assert self._session is not None, "the gateway's lifespan has not started"
        route = match.route

        # Request.
        query = scope.get("query_string", b"")
        target = match.raw_path + (b"?" + query if query else b"")
        url = URL(route.upstream + target.decode("latin-1"), encoded=True)
        client = scope.get("client") or ("", 0)
        upstream_headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in header_rules.upstream_request(
                scope["headers"],
                client=client[0],
                scheme=scope.get("scheme", "http"),
                prefix=route.prefix,
                request_id=request_id,
            )
        )
        has_body = any(
            name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
        )

        try:
            response = await self._session.request(
                scope["method"],
                url,
                headers=upstream_headers,
                data=_request_body(receive) if has_body else None,
                allow_redirects=False,
                compress=None,
            )
        except asyncio.TimeoutError:
            raise UpstreamTimeout(
                f"{route.name} did not accept a connection in time", route.name
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"{route.name} is not answering at {route.upstream}: {exc.__class__.__name__}",
                route.name,
            ) from None

        # Response.
        async with response:
            response_headers = header_rules.end_to_end(list(response.raw_headers))
            response_headers.append((b"x-request-id", request_id.encode()))
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response_headers,
                }
            )
            try:
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (aiohttp.ClientError, asyncio.TimeoutError):
                # Headers are gone already: closing the stream early is all that is left.
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
