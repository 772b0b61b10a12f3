"""/work does real numpy work and says which process did it."""

from __future__ import annotations

import os

from app2.main import app
from fastapi.testclient import TestClient

client = TestClient(app)


def test_work_sorts_and_reports_the_process() -> None:
    body = client.get("/work", params={"size": 5000}).json()

    assert body["size"] == 5000
    assert body["checksum"] > 0
    assert body["pid"] == os.getpid()


def test_work_refuses_sizes_out_of_range() -> None:
    assert client.get("/work", params={"size": 10}).status_code == 422
