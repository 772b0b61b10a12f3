"""An endpoint that fails on purpose, to see how the box reports an app's error.

GET /boom raises: the client gets a 500, and app2 logs the traceback once.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


class Boom(RuntimeError):
    """The failure GET /boom raises."""


@router.get("/boom", include_in_schema=False)
def boom() -> None:
    raise Boom("GET /boom fails on purpose")
