"""One timer for every request in flight: each gets a look every tick, none owns a timer.

A timer per request (or a task per request to watch it) costs more than the
forwarding itself on a small answer; a shared tick costs one call per
in-flight request every `interval` seconds, and nothing while all is quiet.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

TICK_SECONDS = 0.05


class Ticking(Protocol):
    def tick(self, now: float) -> None:
        """Look at the clock (`loop.time()`) and act on any deadline passed."""


class Ticker:
    def __init__(self, interval: float = TICK_SECONDS) -> None:
        self._interval = interval
        self._items: set[Ticking] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, item: Ticking) -> None:
        self._items.add(item)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._interval, self._tick, loop)

    def discard(self, item: Ticking) -> None:
        self._items.discard(item)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for item in list(self._items):
            item.tick(now)
        self._timer = loop.call_later(self._interval, self._tick, loop) if self._items else None
