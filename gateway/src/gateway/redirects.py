"""Point an app's Location headers at its public address: the public host, under its prefix.

An app behind the gateway may name a place inside itself four ways:

- relative (`next`, `../up`): the client resolves it against the public URL,
  which already holds the prefix, so it passes unchanged;
- root-relative (`/login`): the prefix goes in front, unless the path
  already starts with it (an app told its root path writes `/app1/login`);
- absolute at the app's internal address (`http://127.0.0.1:8001/login`):
  the public scheme and host replace the internal ones, and the prefix goes
  in front of the path under the same rule;
- absolute anywhere else, the public host included: unchanged.
"""

from __future__ import annotations

from collections.abc import Collection


def public_location(
    location: bytes,
    *,
    prefix: bytes,
    internal: Collection[bytes],
    public_origin: bytes,
) -> bytes:
    """`location` as the client must see it; `internal` holds lowercased host:port pairs."""
    if location.startswith(b"//"):
        authority, path = _split_authority(location[2:])
        if authority.lower() not in internal:
            return location
        return public_origin + _prefixed(path, prefix)
    if location.startswith(b"/"):
        return _prefixed(location, prefix)

    scheme, sep, rest = location.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https") or not rest:
        return location
    authority, path = _split_authority(rest)
    if authority.lower() not in internal:
        return location
    return public_origin + _prefixed(path, prefix)


def internal_authorities(host: str, port: int, upstream_netloc: str) -> frozenset[bytes]:
    """The host:port forms an app may use for its own internal address."""
    names = {f"{host}:{port}", upstream_netloc}
    if host in ("127.0.0.1", "::1", "localhost"):
        names.update({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})
    if port == 80:
        names.update(name.rsplit(":", 1)[0] for name in list(names))
    return frozenset(name.lower().encode() for name in names)


def _split_authority(rest: bytes) -> tuple[bytes, bytes]:
    """`host:port/path?q` -> (b"host:port", b"/path?q")."""
    for index, byte in enumerate(rest):
        if byte in b"/?#":
            path = rest[index:]
            return rest[:index], path if path.startswith(b"/") else b"/" + path
    return rest, b"/"


def _prefixed(path: bytes, prefix: bytes) -> bytes:
    if path == prefix:
        return path
    if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in (b"/", b"?", b"#"):
        return path
    return prefix + path
