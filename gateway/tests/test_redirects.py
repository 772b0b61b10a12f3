"""An app's Location headers point at its public address, prefixed exactly once."""

from __future__ import annotations

import pytest
from gateway.redirects import internal_authorities, public_location

INTERNAL = internal_authorities("127.0.0.1", 8001, "127.0.0.1:8001")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (b"next", b"next"),
        (b"../up", b"../up"),
        (b"/login", b"/app1/login"),
        (b"/login?next=%2Fx", b"/app1/login?next=%2Fx"),
        (b"/app1", b"/app1"),
        (b"/app1/login", b"/app1/login"),
        (b"/app10/login", b"/app1/app10/login"),
        (b"http://127.0.0.1:8001/x", b"https://box.example/app1/x"),
        (b"http://localhost:8001", b"https://box.example/app1/"),
        (b"http://127.0.0.1:8001/app1/x", b"https://box.example/app1/x"),
        (b"//127.0.0.1:8001/x", b"https://box.example/app1/x"),
        (b"https://box.example/app1/x", b"https://box.example/app1/x"),
        (b"https://elsewhere.example/x", b"https://elsewhere.example/x"),
        (b"mailto:someone@example.com", b"mailto:someone@example.com"),
    ],
)
def test_public_location(location: bytes, expected: bytes) -> None:
    found = public_location(
        location, prefix=b"/app1", internal=INTERNAL, public_origin=b"https://box.example"
    )

    assert found == expected
