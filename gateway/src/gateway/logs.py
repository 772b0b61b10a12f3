"""The gateway's logging: the box's one format, and one access line per request.

Importing this module sets up logging for the gateway's process, so it must
be imported before the gateway logs anything (main.py imports it first).
"""

from __future__ import annotations

import asyncio
import time

from onebox_service import logs
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.exchange import SCOPE_KEY, Exchange
from gateway.ticker import Ticker

NAME = "gateway"

logs.setup(NAME)


class AccessLog:
    """`app` behind one access line per request, logged under the request's id.

    This is the one place that decides a request's id (the client's
    X-Request-ID when it is well formed, else a new one): it is kept on the
    request's `Exchange`, which it leaves in the scope for the gateway to
    forward, and every line logged while serving the request carries it.
    """

    def __init__(self, app: ASGIApp, ticker: Ticker) -> None:
        self.app = app
        self.ticker = ticker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        exchange = Exchange(scope, receive, send, self.ticker)
        scope[SCOPE_KEY] = exchange
        http = scope["type"] == "http"
        started = time.perf_counter()
        # The server runs each request in a task with a context of its own,
        # so the id goes no further than this request.
        logs.use_request_id(exchange.request_id)
        try:
            await self.app(scope, exchange.receive if http else receive, exchange.send)
        except asyncio.CancelledError:
            if not exchange.hung_up:
                raise
            # The exchange cancelled the request itself when its client left.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            exchange.close()
            _log_access(scope, exchange, time.perf_counter() - started)


def _log_access(scope: Scope, exchange: Exchange, seconds: float) -> None:
    status = logs.status_to_log(exchange.hung_up, exchange.status)
    method = scope.get("method", "WEBSOCKET")
    logs.log_access(method, scope["path"], status, seconds, hung_up=exchange.hung_up)


def with_access_log(app: ASGIApp, ticker: Ticker) -> ASGIApp:
    return AccessLog(app, ticker)
