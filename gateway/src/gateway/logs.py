"""The gateway's logging: the box's one format, and an access line per WebSocket session.

Importing this module sets up logging for the gateway's process, so it must
be imported before the gateway logs anything (main.py imports it first).
Plain HTTP requests get their access lines from the server protocol
(server.py); WebSocket sessions, which run as ASGI, from the shared
library's middleware, as in every app.
"""

from __future__ import annotations

from onebox_service import logs
from starlette.types import ASGIApp

NAME = "gateway"

logs.setup(NAME)


def with_access_log(app: ASGIApp) -> ASGIApp:
    return logs.AccessLog(app)
