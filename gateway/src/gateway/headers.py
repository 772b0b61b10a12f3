"""Which headers cross the gateway, and the forwarding headers it adds."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

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
# Only the gateway may say where a request came from.
FORWARDING = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-prefix",
        b"x-forwarded-port",
        b"x-real-ip",
    }
)
REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is well formed, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return named


def end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers without hop-by-hop ones, including those Connection names."""
    dropped = HOP_BY_HOP | _named_by_connection(headers)
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def upstream_request(
    headers: list[tuple[bytes, bytes]],
    *,
    client: str,
    scheme: str,
    prefix: str,
    request_id: str,
) -> list[tuple[bytes, bytes]]:
    """The headers an app receives: the client's own, and the gateway's word on the rest."""
    kept = [
        (name, value)
        for name, value in end_to_end(headers)
        if name not in FORWARDING and name != b"x-request-id"
    ]
    host = next((value for name, value in headers if name == b"host"), b"")
    kept += [
        (b"x-forwarded-for", client.encode()),
        (b"x-forwarded-proto", scheme.encode()),
        (b"x-forwarded-host", host),
        (b"x-forwarded-prefix", prefix.encode()),
        (b"x-request-id", request_id.encode()),
    ]
    return kept
