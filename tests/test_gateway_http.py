"""What a client sees through the real gateway: bytes as sent, headers as the app wrote them."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway_box import GatewayBox, raw_request, running


@pytest.fixture(scope="module")
def box() -> Iterator[GatewayBox]:
    with running("/up") as (gateway, _):
        yield gateway


def echo(box: GatewayBox, path: str, **kwargs: object) -> dict[str, object]:
    response = httpx.get(box.url + path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def sent_headers(seen: dict[str, object]) -> list[tuple[str, str]]:
    pairs = seen["headers"]
    assert isinstance(pairs, list)
    return [(name, value) for name, value in pairs]


def test_path_and_query_reach_the_app_byte_for_byte(box: GatewayBox) -> None:
    request = b"GET /up/echo/a%2Fb%20c/%7e/%C3%A9?x=1&y=%2F+z&x=2&e=%e2%82%ac HTTP/1.1\r\n"
    answer = raw_request(box.port, request + b"Host: box\r\nConnection: close\r\n\r\n")

    seen = json.loads(answer.partition(b"\r\n\r\n")[2])
    # The app runs with --root-path /up, so its server puts the prefix back in front.
    assert seen["raw_path"] == "/up/echo/a%2Fb%20c/%7e/%C3%A9"
    assert seen["query"] == "x=1&y=%2F+z&x=2&e=%e2%82%ac"


def test_repeated_headers_stay_repeated_and_in_order(box: GatewayBox) -> None:
    response = httpx.get(box.url + "/up/cookies")

    raw = response.headers.raw
    assert [v for k, v in raw if k.lower() == b"set-cookie"] == [
        b"first=1; Path=/; SameSite=lax",
        b"second=2; Path=/; SameSite=lax",
    ]
    assert [v for k, v in raw if k.lower() == b"x-multi"] == [b"a", b"b"]
    assert [k.lower() for k, _ in raw].count(b"server") == 1
    assert [k.lower() for k, _ in raw].count(b"date") == 1


def test_compressed_bodies_stay_compressed(box: GatewayBox) -> None:
    answer = raw_request(
        box.port,
        b"GET /up/gzip HTTP/1.1\r\nHost: box\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )

    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\ncontent-encoding: gzip\r\n" in head
    assert gzip.decompress(body) == b"squeezed " * 1000


def test_exactly_one_framing(box: GatewayBox) -> None:
    for path, framing in [
        (b"/up/stream?size=100000", b"content-length: 100000"),
        (b"/up/stream?size=100000&chunked=1", b"transfer-encoding: chunked"),
    ]:
        answer = raw_request(box.port, b"GET " + path + b" HTTP/1.1\r\nHost: box\r\n\r\n")
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert framing in head
        assert head.count(b"content-length") + head.count(b"transfer-encoding") == 1


def test_head_204_and_304_carry_no_body_and_keep_their_headers(box: GatewayBox) -> None:
    head = raw_request(box.port, b"HEAD /up/stream?size=5000 HTTP/1.1\r\nHost: box\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\ncontent-length: 5000\r\n" in head
    assert head.endswith(b"\r\n\r\n")

    for path, status, kept in [
        (b"/up/no-content", b"204", b"x-kept: 204"),
        (b"/up/not-modified", b"304", b'etag: "v1"'),
    ]:
        answer = raw_request(
            box.port, b"GET " + path + b" HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 " + status)
        assert kept in answer
        assert answer.endswith(b"\r\n\r\n")
        assert b"transfer-encoding" not in answer.lower()


def test_a_kept_alive_connection_serves_head_then_get(box: GatewayBox) -> None:
    with httpx.Client(base_url=box.url) as client:
        assert client.head("/up/stream?size=10").headers["content-length"] == "10"
        assert client.get("/up/stream?size=10").content == b"x" * 10
        assert client.get("/up/no-content").status_code == 204
        assert client.get("/up/stream?size=3").content == b"xxx"


def test_hop_by_hop_headers_are_dropped_both_ways(box: GatewayBox) -> None:
    seen = echo(
        box,
        "/up/echo",
        headers={
            "Connection": "keep-alive, x-drop",
            "X-Drop": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "x-after",
            "Proxy-Authorization": "Basic eDp5",
            "X-Stays": "yes",
        },
    )
    names = {name for name, _ in sent_headers(seen)}
    for dropped in ("connection", "x-drop", "keep-alive", "te", "trailer", "proxy-authorization"):
        assert dropped not in names
    assert "x-stays" in names

    response = httpx.get(box.url + "/up/hop-by-hop")
    assert response.text == "ok"
    assert "x-private" not in response.headers
    assert "keep-alive" not in response.headers


def test_forwarding_headers_cannot_be_forged(box: GatewayBox) -> None:
    seen = echo(
        box,
        "/up/echo",
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Prefix": "/evil",
            "X-Real-IP": "6.6.6.6",
            "Forwarded": "for=6.6.6.6;proto=https",
        },
    )
    headers = dict(sent_headers(seen))
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{box.port}"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-prefix"] == "/up"
    assert "forwarded" not in headers
    assert "x-real-ip" not in headers
    # The app's server believes the gateway, and only the gateway.
    assert seen["client"] == "127.0.0.1"
    assert seen["scheme"] == "http"


def test_request_id_is_kept_when_well_formed_and_made_otherwise(box: GatewayBox) -> None:
    response = httpx.get(box.url + "/up/echo", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert dict(sent_headers(response.json()))["x-request-id"] == "req-42"

    response = httpx.get(box.url + "/up/echo", headers={"X-Request-ID": "bad id!"})
    made = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert dict(sent_headers(response.json()))["x-request-id"] == made
    assert response.headers.get_list("x-request-id") == [made]


@pytest.mark.parametrize(
    ("kind", "location"),
    [
        ("relative", "../target"),
        ("root", "/up/target?x=%2F"),
        ("prefixed", "/up/target"),
        ("internal", "{public}/up/target"),
        ("internal-prefixed", "{public}/up/target"),
        ("public", "{public}/up/target"),
        ("elsewhere", "http://elsewhere.invalid/target"),
    ],
)
def test_redirects_inside_the_app_come_back_under_its_prefix(
    box: GatewayBox, kind: str, location: str
) -> None:
    response = httpx.get(box.url + f"/up/redirect/{kind}")

    assert response.status_code == 302
    assert response.headers["location"] == location.format(public=box.url)
    if kind != "elsewhere":
        landed = httpx.get(box.url + f"/up/redirect/{kind}", follow_redirects=True)
        assert landed.json() == {"arrived": True}
        assert str(landed.url).startswith(box.url + "/up/target")


def test_fastapi_slash_redirect_names_the_public_prefix_once(box: GatewayBox) -> None:
    response = httpx.get(box.url + "/up/items")

    assert response.status_code == 307
    assert response.headers["location"] == f"{box.url}/up/items/"


def test_docs_and_openapi_work_under_the_prefix(box: GatewayBox) -> None:
    spec = httpx.get(box.url + "/up/openapi.json").json()
    assert spec["servers"] == [{"url": "/up"}]

    docs = httpx.get(box.url + "/up/docs")
    assert docs.status_code == 200
    assert "/up/openapi.json" in docs.text


def test_unknown_prefix_is_a_json_404(box: GatewayBox) -> None:
    response = httpx.get(box.url + "/upper/x", headers={"X-Request-ID": "four-oh-four"})

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "no app serves /upper/x; known prefixes: /up",
        "app": None,
        "request_id": "four-oh-four",
    }
