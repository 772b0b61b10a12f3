"""Where each app answers: its addresses, which of them are ready, and whose turn it is.

One background task keeps this current, so a request never waits for a
probe. Every `interval` seconds it asks each address of every app for
`/healthz` (all at once, each with a short timeout); every `resolve_every`
seconds it first resolves each app's upstream host name again, because in
a split layout the name stands for every replica, and replicas come and go.

An address is ready once its `/healthz` answers 200. It stops being ready
when a connection to it is refused (at once: nothing listens there) or
after `failures_allowed` probes in a row fail otherwise (a timeout or a
bad answer), so one slow answer on a busy machine does not take it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from loguru import logger

from gateway.errors import NotReady
from gateway.settings import Route, Settings

Address = tuple[str, int]
# Turns an upstream's host name and port into the addresses it stands for.
Resolver = Callable[[str, int], Awaitable[list[Address]]]

REFUSED = "refused a connection"


async def resolve(host: str, port: int) -> list[Address]:
    """Every TCP address `host` resolves to, in the resolver's order, without repeats."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = (str(sockaddr[0]), int(sockaddr[1]))
        if address not in found:
            found.append(address)
    return found


@dataclass
class _Probe:
    """What the gateway last learned about one address."""

    ready: bool = False
    checked: bool = False
    failures: int = 0
    reason: str = "no answer to /healthz yet"


class _Upstream:
    """One app's upstream: its host name, its current addresses, and the round-robin turn."""

    def __init__(self, route: Route) -> None:
        parts = urlsplit(route.upstream)
        assert parts.hostname is not None, f"settings let through {route.upstream!r}"
        self.route = route
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc
        self.probes: dict[Address, _Probe] = {}
        self.resolved = False
        self.resolve_error = ""
        self.turn = 0

        # An address needs no resolver; the box's own apps all have one.
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(self.host)
            self.probes = {(self.host, self.port): _Probe()}
            self.resolved = True

    @property
    def fixed(self) -> bool:
        return self.resolved and list(self.probes) == [(self.host, self.port)]

    def ready_addresses(self) -> list[Address]:
        return [address for address, probe in self.probes.items() if probe.ready]

    def not_ready_detail(self) -> str:
        name = self.route.name
        if not self.resolved:
            reason = self.resolve_error or "not resolved yet"
            return f"{name} is not ready: its upstream host {self.host} {reason}"
        if not self.probes:
            return f"{name} is not ready: its upstream host {self.host} has no addresses"
        if not any(probe.checked for probe in self.probes.values()):
            return f"{name} is starting: no answer to /healthz yet"
        reasons = "; ".join(
            f"{_show(address)} {probe.reason}" for address, probe in self.probes.items()
        )
        return f"{name} is not ready: {reasons}"


class Upstreams:
    """The ready addresses of every app, kept current by one background task."""

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float = 1.0,
        probe_timeout: float = 1.0,
        resolve_every: float = 5.0,
        failures_allowed: int = 2,
        resolver: Resolver = resolve,
    ) -> None:
        self._upstreams = {route.name: _Upstream(route) for route in settings.routes}
        self._interval = interval
        self._probe_timeout = probe_timeout
        self._resolve_every = resolve_every
        self._failures_allowed = failures_allowed
        self._resolver = resolver

        self._task: asyncio.Task[None] | None = None
        self._resolved_at = float("-inf")

    async def start(self) -> None:
        """Check every app once, then keep checking in the background.

        The first round is awaited so a gateway that starts next to running
        apps serves them at once; it takes at most one probe timeout (plus
        one name lookup).
        """
        await self._round()
        self._task = asyncio.create_task(self._poll(), name="upstreams")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def address(self, route: Route) -> Address:
        """The next ready address of `route`'s app, taking turns; NotReady when none is."""
        upstream = self._upstreams[route.name]
        probes = upstream.probes
        if len(probes) == 1:
            # One address (every app in the box): no list, no turns.
            for address, probe in probes.items():
                if probe.ready:
                    return address
        ready = upstream.ready_addresses()
        if not ready:
            raise NotReady(upstream.not_ready_detail(), route.name)
        upstream.turn += 1
        return ready[upstream.turn % len(ready)]

    def refused(self, route: Route, address: Address) -> None:
        """A connection to `address` was refused: leave it out until a probe passes."""
        probe = self._upstreams[route.name].probes.get(address)
        if probe is None or not probe.ready:
            return
        probe.ready = False
        probe.reason = REFUSED
        logger.warning("{} at {} refused a connection; left out", route.name, _show(address))

    def ready(self) -> dict[str, bool]:
        """Each app's name, and whether at least one of its addresses is ready."""
        return {name: bool(up.ready_addresses()) for name, up in self._upstreams.items()}

    def detail(self, name: str) -> str:
        """Why app `name` is not ready, in one sentence (empty when it is)."""
        upstream = self._upstreams[name]
        return "" if upstream.ready_addresses() else upstream.not_ready_detail()

    async def _poll(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._round()
            except Exception:
                # The task must outlive any one bad round, or readiness would freeze.
                logger.exception("checking the apps failed; trying again")
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def _round(self) -> None:
        if time.monotonic() - self._resolved_at >= self._resolve_every:
            self._resolved_at = time.monotonic()
            pending = [up for up in self._upstreams.values() if not up.fixed]
            await asyncio.gather(*(self._resolve(up) for up in pending))

        checks = [
            self._check(upstream, address, probe)
            for upstream in self._upstreams.values()
            for address, probe in upstream.probes.items()
        ]
        await asyncio.gather(*checks)

    async def _resolve(self, upstream: _Upstream) -> None:
        try:
            addresses = await asyncio.wait_for(
                self._resolver(upstream.host, upstream.port), self._probe_timeout
            )
        except (TimeoutError, OSError) as exc:
            # Keep the addresses known so far: a lookup that fails once says
            # nothing about the replicas behind them.
            upstream.resolve_error = f"does not resolve ({exc.__class__.__name__})"
            if upstream.resolved:
                logger.warning("{} {}; keeping its last addresses", upstream.host, exc)
            return

        old = upstream.probes
        upstream.probes = {address: old.get(address) or _Probe() for address in addresses}
        upstream.resolved = True
        upstream.resolve_error = ""
        if old and set(old) != set(upstream.probes):
            shown = ", ".join(_show(address) for address in addresses) or "none"
            logger.info("{} now resolves to {}", upstream.host, shown)

    async def _check(self, upstream: _Upstream, address: Address, probe: _Probe) -> None:
        status, reason = await self._probe(upstream.host_header, address)
        was_ready = probe.ready
        probe.checked = True

        if status == 200:
            probe.ready, probe.failures, probe.reason = True, 0, "is ready"
        else:
            probe.failures += 1
            probe.reason = reason
            if reason == REFUSED or probe.failures >= self._failures_allowed:
                probe.ready = False

        if probe.ready != was_ready:
            name = upstream.route.name
            if probe.ready:
                logger.info("{} at {} is ready", name, _show(address))
            else:
                logger.warning("{} at {} is not ready: {}", name, _show(address), reason)

    async def _probe(self, host_header: str, address: Address) -> tuple[int | None, str]:
        """GET /healthz at `address`: the status, or None and what went wrong."""
        request = (
            f"GET /healthz HTTP/1.1\r\nHost: {host_header}\r\n"
            # The agent apps log at DEBUG rather than INFO (onebox_service.logs).
            "User-Agent: onebox-gateway\r\nConnection: close\r\n\r\n"
        ).encode()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._probe_timeout):
                reader, writer = await asyncio.open_connection(*address)
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
        except ConnectionRefusedError:
            return None, REFUSED
        except TimeoutError:
            return None, f"did not answer /healthz within {self._probe_timeout:g} s"
        except OSError as exc:
            return None, f"cannot be reached ({exc.__class__.__name__})"
        finally:
            if writer is not None:
                writer.close()

        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return None, "answered /healthz with something other than HTTP"
        status = int(parts[1])
        return status, f"answered /healthz with {status}"


def _show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
