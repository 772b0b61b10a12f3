"""The gateway's logging: the box's one format, and one access line per WebSocket session.

Importing this module sets up logging for the gateway's process, so it must
be imported before the gateway logs anything (main.py imports it first).
Plain HTTP requests get their access lines from the server protocol.
"""

from __future__ import annotations

import time

from onebox_service import logs
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.exchange import SCOPE_KEY, Exchange

NAME = "gateway"

logs.setup(NAME)


class AccessLog:
    """`app` behind one access line per WebSocket session, logged under the session's id.

    The id (the client's X-Request-ID when it is well formed, else a new
    one) is kept on the session's `Exchange`, which it leaves in the scope
    for the relay to forward, and every line logged meanwhile carries it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        exchange = Exchange(scope, send)
        scope[SCOPE_KEY] = exchange
        started = time.perf_counter()
        # The server runs each session in a task with a context of its own,
        # so the id goes no further than this session.
        logs.use_request_id(exchange.request_id)
        try:
            await self.app(scope, receive, exchange.send)
        finally:
            status = logs.status_to_log(False, exchange.status)
            seconds = time.perf_counter() - started
            logs.log_access("WEBSOCKET", scope["path"], status, seconds, hung_up=False)


def with_access_log(app: ASGIApp) -> ASGIApp:
    return AccessLog(app)
