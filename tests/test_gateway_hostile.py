"""Requests built to confuse a proxy are refused, in the gateway's one JSON shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.gateway_box import GatewayBox, raw_request, running

SHAPE = {"error", "detail", "app", "request_id"}


@pytest.fixture(scope="module")
def box() -> Iterator[GatewayBox]:
    with running("/up") as (gateway, _):
        yield gateway


def refused(box: GatewayBox, request: bytes) -> tuple[int, dict[str, object]]:
    answer = raw_request(box.port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert b"content-type: application/json" in head, answer
    error: dict[str, object] = json.loads(body)
    assert set(error) == SHAPE
    assert f"x-request-id: {error['request_id']}".encode() in head
    assert b"Traceback" not in answer
    return status, error


@pytest.mark.parametrize(
    "request_bytes",
    [
        # Both framings: which one ends the body is the smuggler's question.
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n"
        b"Content-Length: 6\r\n\r\nhello!",
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nContent-Length: +5\r\n\r\nhello",
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST /up/echo HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /up/echo HTTP/1.1\r\nHost: b\r\nX-A: 1\r\n  folded\r\n\r\n",
        b"GET /up/echo HTTP/1.1\nHost: b\n\n",
        b"GET /up/echo HTTP/1.1\r\nHost: b\r\nX Bad: 1\r\n\r\n",
    ],
)
def test_smuggling_shapes_are_refused(box: GatewayBox, request_bytes: bytes) -> None:
    status, error = refused(box, request_bytes)

    assert status == 400
    assert error["error"] == "bad_request"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /up/echo HTTP/1.1\r\nHost: b\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /up/echo HTTP/1.1\r\nHost: b\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
        + b"\r\n",
    ],
)
def test_oversized_headers_are_refused(box: GatewayBox, request_bytes: bytes) -> None:
    status, error = refused(box, request_bytes)

    assert status == 431
    assert error["error"] == "headers_too_large"


@pytest.mark.parametrize(
    "path",
    [
        b"/up/../../etc/passwd",
        b"/up/%2e%2e/%2e%2e/x",
        b"/up/..%2f..%2fx",
        b"/up/a%5c..%5c..%5cx",
        b"/up/\x01",
        b"/up/a b",
    ],
)
def test_invalid_paths_are_refused(box: GatewayBox, path: bytes) -> None:
    status, error = refused(box, b"GET " + path + b" HTTP/1.1\r\nHost: b\r\n\r\n")

    assert status == 400
    assert error["error"] == "bad_request"


def test_prefix_matches_whole_segments_after_normalising(box: GatewayBox) -> None:
    for path, status in [
        (b"/up/healthz", 200),
        (b"//up//healthz", 200),
        (b"/x/../up/healthz", 200),
        (b"/upx/healthz", 404),
        (b"/u/healthz", 404),
    ]:
        answer = raw_request(box.port, b"GET " + path + b" HTTP/1.1\r\nHost: b\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 %d " % status), (path, answer[:200])
