"""A slow streaming response, to see long requests survive a graceful stop.

GET /stream?seconds=N answers one line per second, "1" to "N", then ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

router = APIRouter()


@router.get("/stream")
async def stream(seconds: Annotated[int, Query(ge=1, le=60)] = 5) -> StreamingResponse:
    return StreamingResponse(_count(seconds), media_type="text/plain")


async def _count(seconds: int) -> AsyncIterator[str]:
    for second in range(1, seconds + 1):
        await asyncio.sleep(1)
        yield f"{second}\n"
