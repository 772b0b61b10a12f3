"""Endpoints that misbehave on purpose, to see how the box reports a broken app.

GET /boom raises: the client gets a 500, and app2 logs the traceback once.
GET /block?seconds=N blocks app2's event loop for N seconds, so even its
/healthz goes unanswered and the gateway takes app2 out until it recovers.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

router = APIRouter()


class Boom(RuntimeError):
    """The failure GET /boom raises."""


@router.get("/boom", include_in_schema=False)
def boom() -> None:
    raise Boom("GET /boom fails on purpose")


@router.get("/block", include_in_schema=False)
async def block(seconds: Annotated[float, Query(gt=0, le=30)] = 5) -> dict[str, float]:
    # A blocking call inside `async def` stalls the whole loop, which is the point.
    time.sleep(seconds)
    return {"blocked": seconds}
