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

# The most header bytes (names and values) a request may carry, and any one value.
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_VALUE = 16 * 1024


class BadFraming(ValueError):
    """The request's Content-Length and Transfer-Encoding cannot be trusted."""


class HeadersTooLarge(ValueError):
    """The request's headers are larger than the gateway accepts."""


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is well formed, else a new one.

    A new one is 32 random hex digits, as long as a UUID's, from the
    process's own generator (seeded from the system's at start): an id
    must be unique, not secret, and a system call per request costs.
    """
    for name, value in headers:
        if name == b"x-request-id" and REQUEST_ID.match(value):
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
    total = 0
    for name, value in headers:
        total += len(name) + len(value)
        if len(value) > MAX_HEADER_VALUE:
            raise HeadersTooLarge(f"the {name.decode('latin-1')} header is over 16 KiB")
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
    if total > MAX_HEADER_BYTES:
        raise HeadersTooLarge("the request's headers are over 64 KiB")
    if chunked:
        if length is not None:
            raise BadFraming("the request has both Content-Length and Transfer-Encoding")
        return CHUNKED
    return length or NO_BODY


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
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
    named = _named_by_connection(headers)
    kept = []
    host = b""
    for name, value in headers:
        if name in FROM_CLIENT_DROPPED or name in named:
            continue
        if name == b"host":
            host = value
        kept.append((name, value))
    if host:
        kept.append((b"x-forwarded-host", host))
    else:
        # HTTP/1.0 clients may leave Host out; HTTP/1.1 to the app needs one.
        kept.append((b"host", upstream_host.encode()))
    kept += [
        (b"x-forwarded-for", client.encode()),
        (b"x-forwarded-proto", scheme.encode()),
        (b"x-forwarded-prefix", prefix.encode()),
        (b"x-request-id", request_id.encode()),
    ]
    return kept


def host(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"host":
            return value
    return b""


def client_response(
    upstream_headers: Headers,
    *,
    status: int,
    request_id: bytes,
    location: Callable[[bytes], bytes],
) -> Headers:
    """The app's response headers as the client gets them.

    Repeated headers stay repeated and in order. The app's Location passes
    through `location`, the request's id is the gateway's, and a 304 loses
    its Content-Length: the gateway's server refuses to send a length with
    no body after it, and a 304 needs none.
    """
    named = _named_by_connection(upstream_headers)
    kept = []
    for name, value in upstream_headers:
        name = name.lower()
        if name in HOP_BY_HOP or name in named or name == b"x-request-id":
            continue
        if name == b"location":
            value = location(value)
        elif name == b"content-length" and status == 304:
            continue
        kept.append((name, value))
    kept.append((b"x-request-id", request_id))
    return kept
