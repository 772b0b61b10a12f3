"""The gateway's ASGI application: its own endpoints, or a forward to an app."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from gateway import errors, headers, settings
from gateway.forwarding import Forwarder
from gateway.health import create_api
from gateway.logs import with_access_log
from gateway.routing import InvalidPath, Router

OWN_PATHS = frozenset({"/healthz", "/readyz"})


class Gateway:
    """Plain ASGI in front, so a forwarded request costs no framework routing."""

    def __init__(self, config: settings.Settings) -> None:
        self.settings = config
        self.router = Router(config.routes)
        self.forwarder = Forwarder(config.connect_timeout)
        self.api = create_api(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http" or scope["path"] in OWN_PATHS:
            await self.api(scope, receive, send)
            return

        request_id = headers.request_id(scope["headers"])
        try:
            match = self.router.match(scope.get("raw_path") or scope["path"].encode())
            if match is None:
                known = ", ".join(self.settings.prefixes())
                raise errors.NotFound(f"no app serves {scope['path']}; known prefixes: {known}")
            await self.forwarder.forward(scope, receive, send, match, request_id)
        except InvalidPath as exc:
            await errors.send_error(send, errors.BadRequest(str(exc)), request_id)
        except errors.GatewayError as exc:
            await errors.send_error(send, exc, request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.forwarder.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.forwarder.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _load() -> settings.Settings:
    try:
        return settings.load()
    except settings.SettingsError as exc:
        # A bad route table is the operator's to fix: one line, then stop.
        raise SystemExit(f"gateway: error: {exc}") from None


app = with_access_log(Gateway(_load()))
