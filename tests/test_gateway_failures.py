"""When an app is slow, down or abandoned, the client hears a clear JSON answer, fast."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_box import GatewayBox, running, start_upstream
from tests.stack import free_port

SHAPE = {"error", "detail", "app", "request_id"}


@pytest.fixture(scope="module")
def slow_box() -> Iterator[GatewayBox]:
    with running("/up", read_timeout=1) as (gateway, _):
        yield gateway


def established_to(port: int) -> int:
    """Open TCP connections to 127.0.0.1:`port`, counted from the kernel's table."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def test_a_read_timeout_before_headers_is_a_json_504(slow_box: GatewayBox) -> None:
    started = time.monotonic()
    response = httpx.get(slow_box.url + "/up/slow?delay=4", timeout=10)

    assert response.status_code == 504
    assert time.monotonic() - started < 3
    body = response.json()
    assert set(body) == SHAPE
    assert body["error"] == "gateway_timeout"
    assert "1 s" in body["detail"]


def test_a_read_timeout_after_headers_closes_the_stream(slow_box: GatewayBox) -> None:
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", slow_box.url + "/up/silent-then-stream?pause=3", timeout=10) as r,
    ):
        assert r.status_code == 200
        for _ in r.iter_raw():
            pass
    assert "Traceback" not in slow_box.gateway.output


def test_streams_that_keep_talking_outlive_the_read_timeout(slow_box: GatewayBox) -> None:
    with httpx.stream("GET", slow_box.url + "/up/sse?events=4&gap=0.6", timeout=10) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]

    assert len(lines) == 4


def test_without_a_read_timeout_a_long_poll_waits() -> None:
    with running("/up") as (box, _):
        response = httpx.get(box.url + "/up/slow?delay=2.5", timeout=10)

    assert response.json() == {"slow": True}


def test_an_app_that_is_down_answers_fast() -> None:
    app_port = free_port()
    upstream = start_upstream(app_port, "/up")
    try:
        with running_behind(app_port) as box:
            upstream.kill()
            started = time.monotonic()
            response = httpx.get(box.url + "/up/healthz", timeout=10)
            assert time.monotonic() - started < 0.5
            assert response.status_code in (502, 503)
            assert set(response.json()) == SHAPE
            assert response.json()["app"] == "up"

            # Once the gateway knows, it says so and when to ask again.
            response = httpx.get(box.url + "/up/healthz", timeout=10)
            assert response.status_code == 503
            assert response.headers["retry-after"]
    finally:
        upstream.stop()


@contextlib.contextmanager
def running_behind(app_port: int) -> Iterator[GatewayBox]:
    """The gateway alone, routing /up to whatever listens on `app_port`."""
    box = GatewayBox({"up": {"prefix": "/up", "path": "tests/upstream", "port": app_port}})
    try:
        box.wait_ready()
        yield box
    finally:
        box.stop()


def test_clients_that_leave_cancel_the_app_request_and_leak_nothing() -> None:
    with running("/up") as (box, app_port):
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", box.port), timeout=5) as sock:
                sock.sendall(b"GET /up/slow?delay=30 HTTP/1.1\r\nHost: b\r\n\r\n")
                time.sleep(0.1)
        for _ in range(10):
            with httpx.stream("GET", box.url + "/up/stream?size=1073741824", timeout=10) as r:
                next(r.iter_raw())

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running_now = httpx.get(box.url + "/up/slow-running").json()
            if running_now == 0 and established_to(app_port) <= 8:
                break
            time.sleep(0.2)
        assert running_now == 0
        assert established_to(app_port) <= 8

        started = time.monotonic()
        for _ in range(20):
            assert httpx.get(box.url + "/up/healthz").status_code == 200
        assert time.monotonic() - started < 2
        time.sleep(0.2)
        assert box.gateway.output.count(" 499 ") >= 30
        assert "client disconnected" in box.gateway.output
        assert "Traceback" not in box.gateway.output
