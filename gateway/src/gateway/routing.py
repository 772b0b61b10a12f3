"""Match a request path to an app's prefix, on whole segments, after normalising it.

The one normalisation: percent-encoded dots are read as dots, "." segments
are dropped, ".." segments remove the segment before them, and repeated
slashes count as one. A path that climbs above the root is refused. The
matched app receives the rest of the path in its original encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.settings import Route

UNSAFE_BYTES = re.compile(rb"[\x00-\x20\x7f]")
# What a path needs before normalising can change it: a dot, an escape, a
# backslash or an empty segment. Most paths have none and are only split.
NEEDS_NORMALISING = re.compile(rb"[.%\\]|//")


class InvalidPath(Exception):
    """The path cannot be routed safely."""


@dataclass(frozen=True)
class Match:
    route: Route
    raw_path: bytes  # what the app receives, e.g. b"/items/a%20b"


def normalise(raw_path: bytes) -> list[bytes]:
    """The path's segments after the normalisation described above."""
    if not raw_path.startswith(b"/"):
        raise InvalidPath("the path must start with '/'")
    if UNSAFE_BYTES.search(raw_path):
        raise InvalidPath("the path holds spaces or control characters")
    if not NEEDS_NORMALISING.search(raw_path):
        return [segment for segment in raw_path.split(b"/") if segment]

    segments: list[bytes] = []
    for segment in raw_path.split(b"/"):
        dotted = segment.replace(b"%2e", b".").replace(b"%2E", b".")
        if segment == b"" or dotted == b".":
            continue
        if dotted == b"..":
            if not segments:
                raise InvalidPath("the path climbs above the root")
            segments.pop()
            continue
        if _hides_dot_segment(dotted):
            raise InvalidPath("the path hides a dot-segment behind an encoded slash")
        segments.append(segment)
    return segments


def _hides_dot_segment(segment: bytes) -> bool:
    lowered = segment.lower()
    if b"%2f" not in lowered and b"%5c" not in lowered and b"\\" not in segment:
        return False
    decoded = lowered.replace(b"%2f", b"/").replace(b"%5c", b"/").replace(b"\\", b"/")
    return any(part in (b".", b"..") for part in decoded.split(b"/"))


# Paths routed recently, and where they went: most requests repeat a few paths.
CACHE_SIZE = 1024


class Router:
    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._by_segment = {route.prefix[1:].encode(): route for route in routes}
        self._cache: dict[bytes, Match | None] = {}

    def match(self, raw_path: bytes) -> Match | None:
        """The app `raw_path` goes to and the path it gets, or None; InvalidPath if unsafe."""
        cache = self._cache
        try:
            return cache[raw_path]
        except KeyError:
            pass
        found = self._match(raw_path)
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[raw_path] = found
        return found

    def _match(self, raw_path: bytes) -> Match | None:
        segments = normalise(raw_path)
        if not segments or segments[0] not in self._by_segment:
            return None
        rest = b"/" + b"/".join(segments[1:])
        if raw_path.endswith(b"/") and len(segments) > 1:
            rest += b"/"
        return Match(route=self._by_segment[segments[0]], raw_path=rest)
