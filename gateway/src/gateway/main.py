"""The gateway: its routes, its pools and its own endpoints, and its ASGI application.

Plain HTTP requests are served by the gateway's server protocol
(server.py), which asks `Gateway` where each goes. The ASGI application
runs what uvicorn runs itself: the lifespan (the readiness checks start
and stop with the process) and WebSocket sessions, relayed to the apps.
"""

from __future__ import annotations

import gc

from loguru import logger
from starlette.types import Receive, Scope, Send

from gateway import errors, headers, health, logs, memory, settings
from gateway.forwarding import Forwarder
from gateway.routing import InvalidPath, Router
from gateway.ticker import Ticker
from gateway.upstreams import Upstreams
from gateway.websocket_relay import WebSocketRelay

OWN_PATHS = frozenset({b"/healthz", b"/readyz"})
READ_METHODS = frozenset({b"GET", b"HEAD"})


class Gateway:
    def __init__(self, config: settings.Settings) -> None:
        self.settings = config
        self.router = Router(config.routes)
        self.ticker = Ticker()
        self.upstreams = Upstreams(config)
        self.forwarder = Forwarder(config, self.upstreams, self.ticker)
        self.relay = WebSocketRelay(config, self.upstreams)

    def own_endpoint(self, method: bytes, path: bytes) -> health.Answer | None:
        """The answer of one of the gateway's own endpoints, or None for an app's path."""
        if path not in OWN_PATHS:
            return None
        if method not in READ_METHODS:
            raise errors.MethodNotAllowed(f"{path.decode()} answers GET and HEAD only")
        if path == b"/healthz":
            return health.healthz()
        return health.readyz(self.settings, self.upstreams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The access log middleware leaves the session's id as the one X-Request-ID.
        request_id = headers.request_id(scope["headers"])
        try:
            match = self.router.match(scope.get("raw_path") or scope["path"].encode())
            if match is None:
                raise errors.NotFound(f"no app serves {scope['path']}")
            await self.relay.relay(scope, receive, send, match, request_id)
        except InvalidPath as exc:
            error = errors.BadRequest(str(exc))
            await errors.send_websocket_error(scope, send, error, request_id)
        except errors.GatewayError as exc:
            if exc.status >= 500:
                logger.warning("{} ({})", exc.detail, exc.status)
            await errors.send_websocket_error(scope, send, exc, request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstreams.start()
                # What exists now lives as long as the process: the collector
                # need not look at it again on every pass.
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.forwarder.close()
                await self.upstreams.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _load() -> settings.Settings:
    try:
        return settings.load()
    except settings.SettingsError as exc:
        # A bad route table is the operator's to fix: one line, then stop.
        raise SystemExit(f"gateway: error: {exc}") from None


memory.keep_stream_buffers()
gateway = Gateway(_load())
app = logs.with_access_log(gateway)
