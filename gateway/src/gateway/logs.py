"""The gateway's logging: the box's one format, and one access line per request.

Importing this module sets up logging for the gateway's process, so it must
be imported before the gateway logs anything (main.py imports it first).
"""

from __future__ import annotations

from onebox_service import logs
from starlette.types import ASGIApp

from gateway.headers import request_id

NAME = "gateway"

logs.setup(NAME)


def with_access_log(app: ASGIApp) -> ASGIApp:
    """`app` behind one access line per request, logged under the request's id.

    The id is the one the gateway forwards: the client's X-Request-ID when it
    is well formed, else a new one. It is written back into the scope as the
    request's only X-Request-ID, so `headers.request_id()` read downstream
    returns this same id and the app's lines carry it too.
    """
    return logs.AccessLog(app, request_id=request_id)
