"""The slow stream answers one line per second, then ends."""

from __future__ import annotations

from app2.main import app
from fastapi.testclient import TestClient

client = TestClient(app)


def test_stream_sends_one_line_per_second() -> None:
    response = client.get("/stream", params={"seconds": 2})

    assert response.status_code == 200
    assert response.text == "1\n2\n"


def test_stream_refuses_more_than_a_minute() -> None:
    assert client.get("/stream", params={"seconds": 61}).status_code == 422
