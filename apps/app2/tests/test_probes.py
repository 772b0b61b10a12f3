"""app2's misbehaving endpoints do what they say, within their bounds."""

from __future__ import annotations

import time

from app2.main import app
from fastapi.testclient import TestClient

client = TestClient(app)


def test_block_holds_the_answer_for_the_seconds_asked() -> None:
    started = time.monotonic()
    response = client.get("/block", params={"seconds": 0.2})

    assert response.status_code == 200
    assert response.json() == {"blocked": 0.2}
    assert time.monotonic() - started >= 0.2


def test_block_refuses_more_than_30_seconds() -> None:
    assert client.get("/block", params={"seconds": 31}).status_code == 422
