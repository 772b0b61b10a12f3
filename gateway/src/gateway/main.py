"""The gateway's ASGI application: its own endpoints, or a forward to an app."""

from __future__ import annotations

from loguru import logger
from starlette.types import Message, Receive, Scope, Send

from gateway import errors, headers, settings
from gateway.exchange import SCOPE_KEY, Exchange
from gateway.forwarding import Forwarder
from gateway.health import create_api
from gateway.logs import with_access_log
from gateway.routing import InvalidPath, Router
from gateway.ticker import Ticker
from gateway.upstreams import Upstreams
from gateway.websocket_relay import WebSocketRelay

OWN_PATHS = frozenset({"/healthz", "/readyz"})


class Gateway:
    """Plain ASGI in front, so a forwarded request costs no framework routing."""

    def __init__(self, config: settings.Settings) -> None:
        self.settings = config
        self.router = Router(config.routes)
        self.ticker = Ticker()
        self.upstreams = Upstreams(config)
        self.forwarder = Forwarder(config, self.upstreams, self.ticker)
        self.relay = WebSocketRelay(config, self.upstreams)
        self.api = create_api(config, self.upstreams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange: Exchange = scope[SCOPE_KEY]
        if scope["path"] in OWN_PATHS:
            await self._own(scope, receive, send, exchange.request_id)
            return

        try:
            body_length = headers.body_length(scope["headers"])
            match = self.router.match(scope.get("raw_path") or scope["path"].encode())
            if match is None:
                known = ", ".join(self.settings.prefixes())
                raise errors.NotFound(f"no app serves {scope['path']}; known prefixes: {known}")
            await self.forwarder.forward(
                scope, receive, send, match, exchange.request_id, body_length
            )
        except (InvalidPath, headers.BadFraming) as exc:
            await errors.send_error(send, errors.BadRequest(str(exc)), exchange.request_id)
        except headers.HeadersTooLarge as exc:
            await errors.send_error(send, errors.HeadersTooLarge(str(exc)), exchange.request_id)
        except errors.GatewayError as exc:
            _log(exc)
            await errors.send_error(send, exc, exchange.request_id)
        except Exception:
            # A bug of the gateway's own: logged with its traceback, never shown to the client.
            logger.exception("forwarding {} failed", scope["path"])
            if exchange.status is None:
                error = errors.GatewayError("the gateway failed to forward this request")
                await errors.send_error(send, error, exchange.request_id)

    async def _own(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """The gateway's own endpoints, answering in its error shape and with the id."""
        if scope["method"] not in ("GET", "HEAD"):
            error = errors.MethodNotAllowed(f"{scope['path']} answers GET and HEAD only")
            await errors.send_error(send, error, request_id, [(b"allow", b"GET, HEAD")])
            return

        tag = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), tag]}
            await send(message)

        await self.api(scope, receive, send_with_id)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange: Exchange = scope[SCOPE_KEY]
        try:
            match = self.router.match(scope.get("raw_path") or scope["path"].encode())
            if match is None:
                raise errors.NotFound(f"no app serves {scope['path']}")
            await self.relay.relay(scope, receive, send, match, exchange.request_id)
        except InvalidPath as exc:
            error = errors.BadRequest(str(exc))
            await errors.send_websocket_error(scope, send, error, exchange.request_id)
        except errors.GatewayError as exc:
            _log(exc)
            await errors.send_websocket_error(scope, send, exc, exchange.request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstreams.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.forwarder.close()
                await self.upstreams.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _log(error: errors.GatewayError) -> None:
    if error.status >= 500:
        logger.warning("{} ({})", error.detail, error.status)


def _load() -> settings.Settings:
    try:
        return settings.load()
    except settings.SettingsError as exc:
        # A bad route table is the operator's to fix: one line, then stop.
        raise SystemExit(f"gateway: error: {exc}") from None


gateway = Gateway(_load())
app = with_access_log(gateway, gateway.ticker)
