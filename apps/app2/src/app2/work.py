"""A CPU-bound endpoint: numpy work that keeps one core busy, for scaling measurements."""

from __future__ import annotations

from typing import Any

import numpy
from fastapi import APIRouter, Query
from onebox_service import runtime

router = APIRouter()


@router.get("/work")
def work(size: int = Query(50_000, ge=1_000, le=2_000_000)) -> dict[str, Any]:
    """Walk `size` random numbers one numpy scalar at a time.

    The walk holds the GIL all along, as most Python request handlers do, so
    one process uses one core at most and the rate grows only with worker
    processes and replicas. (A single big numpy call would release the GIL
    and let one process's thread pool take every core by itself.)
    """
    values = numpy.random.default_rng(size).random(size)
    checksum = numpy.float64(0.0)
    for value in values:
        checksum += value * value
    body = runtime.describe("app2")
    body.update(size=size, checksum=float(checksum))
    return body
