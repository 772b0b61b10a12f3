"""Which addresses the gateway sends an app's requests to, checked against real servers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from gateway.errors import NotReady
from gateway.settings import Route, Settings
from gateway.upstreams import Address, Upstreams, resolve

from gateway import health

# Quick enough that a test sees several rounds within a second.
FAST = {"interval": 0.05, "probe_timeout": 0.2, "resolve_every": 0.05}


class App:
    """A real HTTP server on a free loopback port whose /healthz a test can steer."""

    def __init__(self) -> None:
        self.status = 200
        self.unblocked = threading.Event()
        self.unblocked.set()
        self.probes = 0
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.probes += 1
                # A blocked app accepts connections (the kernel does) but answers none.
                app.unblocked.wait(timeout=10)
                self.send_response(app.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address: Address = ("127.0.0.1", self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.unblocked.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def apps() -> Iterator[Callable[[], App]]:
    started: list[App] = []

    def start() -> App:
        started.append(App())
        return started[-1]

    yield start
    for app in started:
        app.close()


def closed_address() -> Address:
    """A loopback address where nothing listens, so a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return ("127.0.0.1", sock.getsockname()[1])


def route(upstream: str, name: str = "app1") -> Route:
    return Route(name=name, prefix=f"/{name}", upstream=upstream)


def at(address: Address) -> str:
    return f"http://{address[0]}:{address[1]}"


def resolving_to(addresses: list[Address]) -> Callable[[str, int], Awaitable[list[Address]]]:
    """A resolver that answers whatever `addresses` holds at the time it is asked."""

    async def resolver(host: str, port: int) -> list[Address]:
        return list(addresses)

    return resolver


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> float:
    """Seconds until `check()` holds; fails the test after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "the condition never held"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def test_upstreams_ready_once_healthz_answers_200(apps: Callable[[], App]) -> None:
    app = apps()
    app1 = route(at(app.address))

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), **FAST)
        await upstreams.start()
        try:
            assert upstreams.ready() == {"app1": True}
            assert upstreams.address(app1) == app.address
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_not_ready_when_nothing_listens() -> None:
    app1 = route(at(closed_address()))

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), **FAST)
        await upstreams.start()
        try:
            assert upstreams.ready() == {"app1": False}
            with pytest.raises(NotReady) as raised:
                upstreams.address(app1)
        finally:
            await upstreams.close()

        assert raised.value.status == 503
        assert raised.value.app == "app1"
        assert "app1 is not ready" in raised.value.detail
        assert "refused a connection" in raised.value.detail

    asyncio.run(scenario())


def test_upstreams_not_ready_while_healthz_answers_503(apps: Callable[[], App]) -> None:
    app = apps()
    app.status = 503
    app1 = route(at(app.address))

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), **FAST)
        await upstreams.start()
        try:
            await eventually(lambda: app.probes >= 3)
            assert upstreams.ready() == {"app1": False}
            assert "answered /healthz with 503" in upstreams.detail("app1")

            app.status = 200
            await eventually(lambda: upstreams.ready()["app1"])
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_blocked_app_turns_not_ready_then_recovers(apps: Callable[[], App]) -> None:
    app = apps()
    app1 = route(at(app.address))

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), **FAST)
        await upstreams.start()
        try:
            assert upstreams.ready() == {"app1": True}

            app.unblocked.clear()
            seconds = await eventually(lambda: not upstreams.ready()["app1"])
            # Two probe timeouts in a row, give or take one interval.
            assert seconds < 1.0
            assert "did not answer /healthz within 0.2 s" in upstreams.detail("app1")

            app.unblocked.set()
            await eventually(lambda: upstreams.ready()["app1"])
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_one_slow_probe_keeps_the_app_in(apps: Callable[[], App]) -> None:
    app = apps()
    app1 = route(at(app.address))

    async def scenario() -> None:
        upstreams = Upstreams(
            Settings(routes=(app1,)), interval=0.3, probe_timeout=0.2, failures_allowed=2
        )
        await upstreams.start()
        try:
            probes = app.probes
            app.unblocked.clear()
            await eventually(lambda: app.probes > probes)
            await asyncio.sleep(0.25)  # that probe has timed out by now
            assert upstreams.ready() == {"app1": True}
            app.unblocked.set()
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_take_turns_over_every_ready_address(apps: Callable[[], App]) -> None:
    first, second = apps(), apps()
    app1 = route("http://app1.internal:8001")

    async def scenario() -> None:
        resolver = resolving_to([first.address, second.address])
        upstreams = Upstreams(Settings(routes=(app1,)), resolver=resolver, **FAST)
        await upstreams.start()
        try:
            picked = [upstreams.address(app1) for _ in range(4)]
        finally:
            await upstreams.close()

        assert set(picked) == {first.address, second.address}
        assert picked[0] != picked[1]
        assert picked[0::2] == [picked[0]] * 2

    asyncio.run(scenario())


def test_upstreams_leave_out_refusing_and_unready_addresses(apps: Callable[[], App]) -> None:
    good, unready = apps(), apps()
    unready.status = 500
    app1 = route("http://app1.internal:8001")

    async def scenario() -> None:
        resolver = resolving_to([closed_address(), good.address, unready.address])
        upstreams = Upstreams(Settings(routes=(app1,)), resolver=resolver, **FAST)
        await upstreams.start()
        try:
            await eventually(lambda: unready.probes >= 3)
            picked = {upstreams.address(app1) for _ in range(6)}
        finally:
            await upstreams.close()

        assert picked == {good.address}

    asyncio.run(scenario())


def test_upstreams_follow_replicas_as_they_come_and_go(apps: Callable[[], App]) -> None:
    first, second = apps(), apps()
    app1 = route("http://app1.internal:8001")
    addresses = [first.address]

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), resolver=resolving_to(addresses), **FAST)
        await upstreams.start()
        try:
            assert {upstreams.address(app1) for _ in range(4)} == {first.address}

            addresses.append(second.address)
            await eventually(lambda: {upstreams.address(app1) for _ in range(4)} == set(addresses))

            addresses.remove(first.address)
            await eventually(
                lambda: {upstreams.address(app1) for _ in range(4)} == {second.address}
            )

            addresses.clear()
            await eventually(lambda: not upstreams.ready()["app1"])
            assert "has no addresses" in upstreams.detail("app1")
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_refused_leaves_an_address_out_until_a_probe_passes(
    apps: Callable[[], App],
) -> None:
    first, second = apps(), apps()
    app1 = route("http://app1.internal:8001")

    async def scenario() -> None:
        resolver = resolving_to([first.address, second.address])
        upstreams = Upstreams(
            Settings(routes=(app1,)), resolver=resolver, interval=0.5, resolve_every=60
        )
        await upstreams.start()
        try:
            upstreams.refused(app1, first.address)
            assert {upstreams.address(app1) for _ in range(4)} == {second.address}

            await eventually(lambda: upstreams.address(app1) == first.address)
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_keep_the_last_addresses_when_a_lookup_fails(apps: Callable[[], App]) -> None:
    app = apps()
    app1 = route("http://app1.internal:8001")
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[Address]:
        lookups.append(host)
        if len(lookups) > 1:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [app.address]

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), resolver=resolver, **FAST)
        await upstreams.start()
        try:
            await eventually(lambda: len(lookups) >= 3)
            assert upstreams.address(app1) == app.address
        finally:
            await upstreams.close()

    asyncio.run(scenario())


def test_upstreams_name_the_host_that_does_not_resolve() -> None:
    app1 = route("http://app1.internal:8001")

    async def resolver(host: str, port: int) -> list[Address]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), resolver=resolver, **FAST)
        await upstreams.start()
        try:
            with pytest.raises(NotReady) as raised:
                upstreams.address(app1)
        finally:
            await upstreams.close()

        assert "app1.internal does not resolve" in raised.value.detail

    asyncio.run(scenario())


def test_upstreams_close_stops_the_checks(apps: Callable[[], App]) -> None:
    app = apps()
    app1 = route(at(app.address))

    async def scenario() -> None:
        upstreams = Upstreams(Settings(routes=(app1,)), **FAST)
        await upstreams.start()
        await upstreams.close()
        probes = app.probes
        await asyncio.sleep(0.3)
        assert app.probes == probes

    asyncio.run(scenario())


def test_resolve_lists_each_address_once() -> None:
    assert asyncio.run(resolve("127.0.0.1", 8001)) == [("127.0.0.1", 8001)]
    assert ("127.0.0.1", 8001) in asyncio.run(resolve("localhost", 8001))


async def readyz(settings: Settings) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """/readyz's status, body and extra headers after one round of checks."""
    upstreams = Upstreams(settings, **FAST)
    await upstreams.start()
    await upstreams.close()

    status, content, headers = health.readyz(settings, upstreams)
    return status, json.loads(content), headers


def test_readyz_names_the_apps_not_ready(apps: Callable[[], App]) -> None:
    settings = Settings(routes=(route(at(apps().address)), route(at(closed_address()), "app2")))

    status, body, headers = asyncio.run(readyz(settings))

    assert status == 503
    assert (b"retry-after", b"1") in headers
    assert body["status"] == "not ready"
    assert body["not_ready"] == ["app2"]
    assert "refused a connection" in body["detail"]["app2"]


def test_readyz_answers_ready_when_every_app_is(apps: Callable[[], App]) -> None:
    settings = Settings(routes=(route(at(apps().address)), route(at(apps().address), "app2")))

    status, body, _ = asyncio.run(readyz(settings))

    assert status == 200
    assert body == {"status": "ready"}
