"""Bodies stream through the real gateway both ways, and a body limit answers 413 at once."""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway_box import GatewayBox, peak_rss_kib, raw_request, running

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def box() -> Iterator[GatewayBox]:
    with running("/up") as (gateway, _):
        yield gateway


def test_a_300_mb_upload_streams_through_without_sitting_in_memory(box: GatewayBox) -> None:
    piece = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    for _ in range(300):
        digest.update(piece)

    def pieces() -> Iterator[bytes]:
        for _ in range(300):
            yield piece

    response = httpx.post(
        box.url + "/up/echo",
        content=pieces(),
        headers={"content-length": str(300 * MIB)},
        timeout=120,
    )

    seen = response.json()
    assert seen["body_bytes"] == 300 * MIB
    assert seen["body_sha256"] == digest.hexdigest()
    assert peak_rss_kib(box.pid) < 100 * 1024


def test_a_chunked_upload_reaches_the_app_as_it_is_sent(box: GatewayBox) -> None:
    def slowly() -> Iterator[bytes]:
        for number in range(5):
            yield b"piece %d\n" % number
            time.sleep(0.2)

    seen = httpx.post(box.url + "/up/echo", content=slowly(), timeout=30).json()

    assert seen["body_bytes"] == 40
    assert seen["body_reads"] >= 3
    assert ["transfer-encoding", "chunked"] in seen["headers"]


def test_server_sent_events_arrive_one_by_one(box: GatewayBox) -> None:
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    with httpx.stream("GET", box.url + "/up/sse?events=4&gap=0.4", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, line))

    assert [line for _, line in arrivals] == [
        text for n in range(4) for text in (": heartbeat", f"data: event {n}")
    ]
    events = [at for at, line in arrivals if line.startswith("data:")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(events)]
    assert all(gap > 0.25 for gap in gaps), gaps


def test_a_big_response_streams_with_its_length(box: GatewayBox) -> None:
    size = 50 * MIB
    received = 0
    with httpx.stream("GET", box.url + f"/up/stream?size={size}", timeout=60) as response:
        assert response.headers["content-length"] == str(size)
        for chunk in response.iter_raw():
            received += len(chunk)

    assert received == size


def test_body_limit_answers_413_before_reading_the_body() -> None:
    with running("/up", max_body_size=1000) as (box, _):
        with socket.create_connection(("127.0.0.1", box.port), timeout=5) as sock:
            # Headers only: the body is never sent, and the answer comes anyway.
            sock.sendall(b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: 5000000\r\n\r\n")
            answer = b""
            while b"}" not in answer:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ")
        assert json.loads(body)["error"] == "payload_too_large"

        def pieces() -> Iterator[bytes]:
            for _ in range(10):
                yield b"x" * 500

        response = httpx.post(box.url + "/up/echo", content=pieces(), timeout=10)
        assert response.status_code == 413
        assert response.json()["app"] == "up"

        small = raw_request(
            box.port, b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello"
        )
        assert small.startswith(b"HTTP/1.1 200 ")
