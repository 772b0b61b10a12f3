"""WebSockets through the real gateway: frames, subprotocols, closes and refusals, both ways."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.gateway_box import GatewayBox, running, start_upstream
from tests.stack import free_port


@pytest.fixture(scope="module")
def box() -> Iterator[GatewayBox]:
    with running("/up") as (gateway, _):
        yield gateway


def ws_url(box: GatewayBox, path: str) -> str:
    return f"ws://127.0.0.1:{box.port}{path}"


def test_text_and_binary_frames_go_both_ways(box: GatewayBox) -> None:
    with connect(
        ws_url(box, "/up/ws/echo?room=a%20b&x=1"),
        subprotocols=["chat.v1", "chat.v2"],  # type: ignore[list-item]
        additional_headers={"Cookie": "session=abc; theme=dark"},
        open_timeout=5,
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.response is not None
        assert ws.response.headers["x-request-id"]
        hello = json.loads(ws.recv(timeout=5))
        assert hello["path"] == "/up/ws/echo"
        assert hello["query"] == "room=a%20b&x=1"
        assert hello["cookies"] == {"session": "abc", "theme": "dark"}
        assert ["x-forwarded-prefix", "/up"] in hello["headers"]

        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=5) == b"\x00\x01\xff"
        big = "x" * 1_000_000
        ws.send(big)
        assert ws.recv(timeout=5) == big


def test_the_clients_close_code_and_reason_reach_the_app(box: GatewayBox) -> None:
    with connect(ws_url(box, "/up/ws/echo"), open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.close(code=4002, reason="bye now")

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        last = httpx.get(box.url + "/up/last-close").json()
        if last is not None:
            break
        time.sleep(0.1)
    assert last == {"code": 4002, "reason": "bye now"}


def test_the_apps_close_code_and_reason_reach_the_client(box: GatewayBox) -> None:
    with connect(ws_url(box, "/up/ws/echo"), open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "asked to")


def test_a_refused_handshake_stays_refused(box: GatewayBox) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(box, "/up/ws/refuse"), open_timeout=5)

    response = refused.value.response
    assert response.status_code == 403
    assert response.headers["x-why"] == "not-allowed"
    assert json.loads(response.body or b"") == {"refused": True}


def test_an_unknown_prefix_is_refused_with_json(box: GatewayBox) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(box, "/nope/ws"), open_timeout=5)

    response = refused.value.response
    assert response.status_code == 404
    assert json.loads(response.body or b"")["error"] == "not_found"


def test_an_app_that_vanishes_leaves_the_client_a_close_frame() -> None:
    app_port = free_port()
    upstream = start_upstream(app_port, "/up")
    box = GatewayBox({"up": {"prefix": "/up", "path": "tests/upstream", "port": app_port}})
    try:
        box.wait_ready()
        with connect(ws_url(box, "/up/ws/echo"), open_timeout=5) as ws:
            ws.recv(timeout=5)
            upstream.kill()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        assert "up" in closed.value.rcvd.reason
    finally:
        box.stop()
        upstream.stop()
