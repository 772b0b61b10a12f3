"""Hop-by-hop headers stop at the gateway; only the gateway says who asked."""

from __future__ import annotations

import pytest
from gateway.headers import (
    CHUNKED,
    NO_BODY,
    BadFraming,
    body_length,
    end_to_end,
    forwarded_lines,
    request_id,
    upstream_head,
)


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = [
        (b"connection", b"keep-alive, x-secret"),
        (b"x-secret", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]

    assert end_to_end(headers) == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]


def test_forged_forwarding_headers_are_replaced() -> None:
    headers = [
        (b"host", b"public.example"),
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-forwarded-host", b"evil.example"),
        (b"forwarded", b"for=6.6.6.6"),
        (b"connection", b"x-secret"),
        (b"x-secret", b"1"),
    ]

    head = upstream_head(
        b"GET",
        b"/items?q=1",
        headers,
        forwarded=forwarded_lines(
            client="10.0.0.7", scheme="http", prefix="/app1", request_id="abc"
        ),
        upstream_host=b"127.0.0.1:8001",
        body_length=NO_BODY,
    )

    line, *fields = head.removesuffix(b"\r\n\r\n").split(b"\r\n")
    assert line == b"GET /items?q=1 HTTP/1.1"
    sent = [tuple(field.split(b": ", 1)) for field in fields]
    assert (b"host", b"public.example") in sent
    assert (b"x-forwarded-for", b"10.0.0.7") in sent
    assert (b"x-forwarded-host", b"public.example") in sent
    assert (b"x-forwarded-prefix", b"/app1") in sent
    assert (b"x-request-id", b"abc") in sent
    assert b"6.6.6.6" not in head
    assert b"x-secret" not in head
    assert not any(name == b"forwarded" for name, _ in sent)


def test_a_request_without_host_gets_the_apps() -> None:
    head = upstream_head(
        b"GET", b"/", [], forwarded=b"", upstream_host=b"127.0.0.1:8001", body_length=CHUNKED
    )

    assert head == (b"GET / HTTP/1.1\r\nhost: 127.0.0.1:8001\r\ntransfer-encoding: chunked\r\n\r\n")


def test_request_id_is_kept_when_well_formed() -> None:
    assert request_id([(b"x-request-id", b"req-42")]) == "req-42"
    made = request_id([(b"x-request-id", b"bad id\n")])
    assert made != "bad id\n"
    assert len(made) == 32


def test_body_length_reads_one_framing() -> None:
    assert body_length([(b"host", b"x")]) == NO_BODY
    assert body_length([(b"content-length", b"12")]) == 12
    assert body_length([(b"transfer-encoding", b"Chunked ")]) == CHUNKED


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")],
        [(b"content-length", b"1"), (b"content-length", b"1")],
        [(b"content-length", b"-1")],
        [(b"transfer-encoding", b"gzip, chunked")],
    ],
)
def test_body_length_refuses_ambiguous_framing(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(BadFraming):
        body_length(headers)


def test_the_body_framing_is_the_gateways_whatever_connection_names() -> None:
    headers = [
        (b"host", b"a"),
        (b"connection", b"content-length, transfer-encoding"),
        (b"content-length", b"70"),
    ]

    head = upstream_head(
        b"POST", b"/echo", headers, forwarded=b"", upstream_host=b"x", body_length=70
    )

    assert head.lower().count(b"content-length") == 1
    assert b"\r\ncontent-length: 70\r\n" in head
    assert b"transfer-encoding" not in head
