"""Prefixes match whole segments, after the one documented normalisation."""

from __future__ import annotations

import pytest
from gateway.routing import InvalidPath, Router, normalise
from gateway.settings import Route

ROUTES = (
    Route(name="app1", prefix="/app1", upstream="http://127.0.0.1:1"),
    Route(name="app2", prefix="/app2", upstream="http://127.0.0.1:2"),
)
router = Router(ROUTES)


def routed(path: bytes) -> tuple[str, bytes] | None:
    match = router.match(path)
    return None if match is None else (match.route.name, match.raw_path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/app1", ("app1", b"/")),
        (b"/app1/", ("app1", b"/")),
        (b"/app1/items/a%20b", ("app1", b"/items/a%20b")),
        (b"/app1/docs/", ("app1", b"/docs/")),
        (b"//app1//items", ("app1", b"/items")),
        (b"/app1/../app2/x", ("app2", b"/x")),
        (b"/app1/%2e%2e/app2/x", ("app2", b"/x")),
        (b"/app1/./x", ("app1", b"/x")),
        (b"/app10", None),
        (b"/app", None),
        (b"/", None),
        (b"/healthz", None),
    ],
)
def test_match_on_whole_segments(path: bytes, expected: tuple[str, bytes] | None) -> None:
    assert routed(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        b"/app1/../..",
        b"/../app1",
        b"/app1/%2E%2E/%2e%2e/etc",
        b"/app1/..%2f..%2fapp2",
        b"/app1/a%5c..%5c..",
        b"app1",
        b"/app1/a b",
        b"/app1/\x00",
    ],
)
def test_unsafe_paths_are_refused(path: bytes) -> None:
    with pytest.raises(InvalidPath):
        normalise(path)
