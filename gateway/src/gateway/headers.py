"""Which headers cross the gateway, the forwarding headers it adds, and the request id."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterable

Headers = list[tuple[bytes, bytes]]

# Hop-by-hop headers belong to one connection and never cross the gateway.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Only the gateway may say where a request came from. Expect is answered by
# the gateway's own server, so the app never needs to see it.
FROM_CLIENT_DROPPED = HOP_BY_HOP | {
    b"expect",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-prefix",
    b"x-forwarded-proto",
    b"x-real-ip",
    b"x-request-id",
}
REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# Seeded from the system at start, and again in a forked child, so no two processes agree.
_generator = random.Random()
os.register_at_fork(after_in_child=_generator.seed)

# A request body's framing, as `body_length` reports it.
NO_BODY = 0
CHUNKED = -1

# The most header bytes (names and values) a request may carry, and any one value;
# the server refuses more as it reads them.
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_VALUE = 16 * 1024


_NONE: frozenset[bytes] = frozenset()


class BadFraming(ValueError):
    """The request's Content-Length and Transfer-Encoding cannot be trusted."""


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is well formed, else a new one.

    A new one is 32 random hex digits, as long as a UUID's, from the
    process's own generator (seeded from the system's at start): an id
    must be unique, not secret, and a system call per request costs.
    """
    for name, value in headers:
        if name == b"x-request-id":
            return request_id_of(value)
    return request_id_of(None)


def request_id_of(value: bytes | None) -> str:
    """`value` (a client's X-Request-ID) when it is well formed, else a new id."""
    if value is not None and REQUEST_ID.match(value):
        return value.decode()
    return f"{_generator.getrandbits(128):032x}"


def body_length(headers: Headers) -> int:
    """The request body's length in bytes, NO_BODY, or CHUNKED.

    Anything a server behind the gateway could read another way is refused:
    both framings at once, a repeated or malformed length, or a transfer
    coding other than plain chunked.
    """
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            if length is not None:
                raise BadFraming("the request has more than one Content-Length")
            if not value.isdigit() or len(value) > 18:
                raise BadFraming("the request's Content-Length is not a number")
            length = int(value)
        elif name == b"transfer-encoding":
            if chunked or value.strip().lower() != b"chunked":
                raise BadFraming("only one 'Transfer-Encoding: chunked' is accepted")
            chunked = True
    if chunked:
        if length is not None:
            raise BadFraming("the request has both Content-Length and Transfer-Encoding")
        return CHUNKED
    return length or NO_BODY


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes] | frozenset[bytes]:
    named: set[bytes] | frozenset[bytes] = _NONE
    for name, value in headers:
        if name.lower() == b"connection":
            named = {*named, *(token.strip().lower() for token in value.split(b","))}
    return named


def end_to_end(headers: Headers) -> Headers:
    """Headers without hop-by-hop ones, including those Connection names; names lowercased."""
    named = _named_by_connection(headers)
    kept = []
    for name, value in headers:
        name = name.lower()
        if name not in HOP_BY_HOP and name not in named:
            kept.append((name, value))
    return kept


def _for_the_app(headers: Headers, upstream_host: bytes) -> Headers:
    """The client's headers an app may see, with a Host, and X-Forwarded-Host for the client's."""
    named = _named_by_connection(headers)
    kept = []
    host = b""
    for name, value in headers:
        if name in FROM_CLIENT_DROPPED or name in named or name == b"content-length":
            continue
        if name == b"host":
            host = value
        kept.append((name, value))
    if host:
        kept.append((b"x-forwarded-host", host))
    else:
        # HTTP/1.0 clients may leave Host out; HTTP/1.1 to the app needs one.
        kept.append((b"host", upstream_host))
    return kept


def upstream_request(
    headers: Headers,
    *,
    client: str,
    scheme: str,
    prefix: str,
    request_id: str,
    upstream_host: str,
) -> Headers:
    """The headers an app receives: the client's own, and the gateway's word on the rest.

    The client's X-Forwarded-* are dropped rather than extended: the gateway
    is the edge, so the peer it sees is the only address worth passing on.
    """
    kept = _for_the_app(headers, upstream_host.encode())
    kept += [
        (b"x-forwarded-for", client.encode()),
        (b"x-forwarded-proto", scheme.encode()),
        (b"x-forwarded-prefix", prefix.encode()),
        (b"x-request-id", request_id.encode()),
    ]
    return kept


def upstream_head(
    method: bytes,
    target: bytes,
    headers: Headers,
    *,
    forwarded: bytes,
    upstream_host: bytes,
    body_length: int,
) -> bytes:
    """An HTTP request's head as the app receives it; `upstream_request` says which headers.

    `forwarded` holds the gateway's own header lines (`forwarded_lines`):
    built once per request, they are the same bytes `upstream_request` adds.
    The body's framing is the gateway's own, from `body_length` (as
    `body_length()` read it): whatever the client's Connection header names,
    the app reads exactly the body the gateway read.
    """
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in _for_the_app(headers, upstream_host):
        parts += (name, b": ", value, b"\r\n")
    parts.append(forwarded)
    if body_length == CHUNKED:
        parts.append(b"transfer-encoding: chunked\r\n")
    elif body_length:
        parts.append(b"content-length: %d\r\n" % body_length)
    parts.append(b"\r\n")
    return b"".join(parts)


def forwarded_lines(*, client: str, scheme: str, prefix: str, request_id: str) -> bytes:
    """The header lines by which the gateway tells an app who asked, how, and under what prefix."""
    return (
        f"x-forwarded-for: {client}\r\nx-forwarded-proto: {scheme}\r\n"
        f"x-forwarded-prefix: {prefix}\r\nx-request-id: {request_id}\r\n"
    ).encode("latin-1")


def host(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"host":
            return value
    return b""


def client_response(
    upstream_headers: Headers, *, location: Callable[[bytes], bytes]
) -> tuple[list[bytes], bool]:
    """The app's response headers as the client gets them, and whether they give a length.

    The headers come as the pieces of `name: value` lines, to be joined
    into the response head after the gateway's own (its X-Request-ID and
    the framing). Repeated headers stay repeated and in order, and the
    app's Location passes through `location`.
    """
    named = _named_by_connection(upstream_headers)
    parts: list[bytes] = []
    has_length = False
    for name, value in upstream_headers:
        name = name.lower()
        if name in HOP_BY_HOP or name in named or name == b"x-request-id":
            continue
        if name == b"location":
            value = location(value)
        elif name == b"content-length":
            has_length = True
        parts += (name, b": ", value, b"\r\n")
    return parts, has_length
