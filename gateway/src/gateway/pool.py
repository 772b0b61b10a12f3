"""Keep-alive connections to one app address, the most recently used first.

The pool never holds a connection longer than `IDLE_SECONDS`, which stays
under the 5 s uvicorn keeps an idle connection open, so the app rarely
closes one under the gateway's feet (forwarding retries the rare case).
There is no cap on connections in use: the app's server decides how many
requests it takes at once, as it would without the gateway.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.connection import UpstreamConnection

IDLE_SECONDS = 4.0
MAX_IDLE = 64

Address = tuple[str, int]


class ConnectTimeout(TimeoutError):
    """The app's address did not accept a connection in time."""


class Pool:
    def __init__(self, address: Address, connect_timeout: float) -> None:
        self.address = address
        self._connect_timeout = connect_timeout
        self._idle: deque[UpstreamConnection] = deque()

    def take_idle(self, now: float) -> UpstreamConnection | None:
        """The most recently used connection still fit to carry a request, if any."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def connect(self) -> UpstreamConnection:
        """A new connection, or ConnectTimeout / the OSError that refused it."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: UpstreamConnection(loop), *self.address
                )
        except TimeoutError:
            raise ConnectTimeout(
                f"did not accept a connection within {self._connect_timeout:g} s"
            ) from None
        return connection

    def release(self, connection: UpstreamConnection, *, reusable: bool, now: float) -> None:
        """Take `connection` back: kept for the next request when `reusable`, else closed."""
        if not reusable or connection.closed or len(self._idle) >= MAX_IDLE:
            connection.close()
            return
        connection.reused = True
        connection.idle_since = now
        self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
