"""A CPU-bound endpoint: numpy work that keeps one core busy, for scaling measurements."""

from __future__ import annotations

from typing import Any

import numpy
from fastapi import APIRouter, Query
from onebox_service import runtime

router = APIRouter()


@router.get("/work")
def work(size: int = Query(200_000, ge=1_000, le=2_000_000)) -> dict[str, Any]:
    """Sort `size` random numbers and sum their running totals.

    numpy's sort runs on one thread whatever BLAS is installed, so the cost
    scales with worker processes and replicas, not with hidden threads.
    """
    values = numpy.random.default_rng(size).random(size)
    checksum = float(numpy.cumsum(numpy.sort(values))[-1])
    body = runtime.describe("app2")
    body.update(size=size, checksum=checksum)
    return body
