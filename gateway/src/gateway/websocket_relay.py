"""Relay a WebSocket between a client and its app, message for message, both ways.

The gateway opens the app's side first, with the client's subprotocols,
cookies and path, and only then answers the client: with the app's accept
(and its chosen subprotocol), or with the app's own refusal. Close codes
and reasons cross in both directions; an app that vanishes without a close
frame leaves the client with 1011 and a reason naming the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Response
from websockets.typing import Subprotocol

from gateway import errors, headers
from gateway.routing import Match
from gateway.settings import Settings
from gateway.upstreams import Upstreams

# The handshake headers the WebSocket client writes itself, or that belong to one side.
HANDSHAKE_REQUEST = frozenset(
    {
        b"host",
        b"sec-websocket-extensions",
        b"sec-websocket-key",
        b"sec-websocket-protocol",
        b"sec-websocket-version",
    }
)
HANDSHAKE_RESPONSE = frozenset(
    {
        "connection",
        "content-length",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "transfer-encoding",
        "upgrade",
        "x-request-id",
    }
)
# The same limit the gateway's server puts on a client's message.
MAX_MESSAGE = 16 * 1024 * 1024
# A host header safe to put in a URI: name or IPv4 or [IPv6], and maybe a port.
SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
# Close codes that say something happened but may not be sent in a close frame.
NOT_SENDABLE = {1005: 1000, 1006: 1001, 1015: 1011}
# What the client hears when its app drops the connection without a close frame.
APP_VANISHED = 1011


class WebSocketRelay:
    def __init__(self, settings: Settings, upstreams: Upstreams) -> None:
        self._connect_timeout = settings.connect_timeout
        self._upstreams = upstreams

    async def relay(
        self, scope: Scope, receive: Receive, send: Send, match: Match, request_id: str
    ) -> None:
        route = match.route
        message = await receive()
        if message["type"] != "websocket.connect":
            return

        # The app's side.
        address = self._upstreams.address(route)
        query = scope["query_string"]
        target = match.raw_path + b"?" + query if query else match.raw_path
        forwarded = headers.upstream_request(
            scope["headers"],
            client=(scope.get("client") or ("",))[0],
            scheme="https" if scope["scheme"] == "wss" else "http",
            prefix=route.prefix,
            request_id=request_id,
            upstream_host=f"{address[0]}:{address[1]}",
        )
        host = headers.host(scope["headers"]).decode("latin-1")
        if not SAFE_HOST.match(host):
            host = f"{address[0]}:{address[1]}"
        try:
            upstream = await connect(
                f"ws://{host}{target.decode('latin-1')}",
                host=address[0],
                port=address[1],
                additional_headers=[
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in forwarded
                    if name not in HANDSHAKE_REQUEST
                ],
                subprotocols=_subprotocols(scope["subprotocols"]) or None,
                compression=None,
                open_timeout=self._connect_timeout,
                user_agent_header=None,
                proxy=None,
                max_size=MAX_MESSAGE,
            )
        except InvalidStatus as exc:
            await _refuse(scope, send, exc.response, request_id)
            return
        except InvalidHandshake as exc:
            raise errors.UpstreamUnavailable(
                f"{route.name} failed the WebSocket handshake: {exc}", route.name
            ) from None
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                self._upstreams.refused(route, address)
            raise errors.from_upstream(exc, route.name, f"{address[0]}:{address[1]}") from None

        # The client's side, then both directions until one side closes.
        async with upstream:
            await send(
                {
                    "type": "websocket.accept",
                    "subprotocol": upstream.subprotocol,
                    "headers": _accept_headers(upstream, request_id),
                }
            )
            to_app = asyncio.ensure_future(_client_to_app(receive, upstream))
            to_client = asyncio.ensure_future(_app_to_client(upstream, send, route.name))
            try:
                await asyncio.wait((to_app, to_client), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (to_app, to_client):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task


async def _client_to_app(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            try:
                await upstream.send(text if text is not None else message.get("bytes") or b"")
            except ConnectionClosed:
                # The app's side closed; the other direction tells the client.
                return
        elif message["type"] == "websocket.disconnect":
            code: int = message.get("code") or 1000
            reason: str = message.get("reason") or ""
            await upstream.close(NOT_SENDABLE.get(code, code), reason)
            return


async def _app_to_client(upstream: ClientConnection, send: Send, app: str) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass
    except OSError:
        # The client is gone: its direction closes the app's side.
        return

    received = upstream.protocol.close_rcvd
    if received is None:
        code, reason = APP_VANISHED, f"{app} closed the connection without a close frame"
    else:
        code, reason = NOT_SENDABLE.get(received.code, received.code), received.reason
    with contextlib.suppress(OSError):
        await send({"type": "websocket.close", "code": code, "reason": reason})


def _subprotocols(offered: list[str]) -> list[Subprotocol]:
    return [Subprotocol(name) for name in offered if name]


def _accept_headers(upstream: ClientConnection, request_id: str) -> list[tuple[bytes, bytes]]:
    response = upstream.response
    kept = [] if response is None else _app_headers(response)
    kept.append((b"x-request-id", request_id.encode()))
    return kept


def _app_headers(response: Response) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.raw_items()
        if name.lower() not in HANDSHAKE_RESPONSE
    ]


async def _refuse(scope: Scope, send: Send, response: Response, request_id: str) -> None:
    """Pass the app's refusal of the handshake on to the client, as the app wrote it."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = response.body or b""
    response_headers = _app_headers(response)
    response_headers += [
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    start: Message = {
        "type": "websocket.http.response.start",
        "status": response.status_code,
        "headers": response_headers,
    }
    await send(start)
    await send({"type": "websocket.http.response.body", "body": body})
