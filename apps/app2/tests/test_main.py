"""app2 runs in its own venv, where numpy 1.24.0 has show_runtime()."""

from __future__ import annotations

import sys

from app2.main import app
from fastapi.testclient import TestClient

client = TestClient(app)


def test_root_reports_show_runtime() -> None:
    response = client.get("/")

    assert response.status_code == 200
    body = response.json()
    assert body["app"] == "app2"
    assert body["numpy"] == "1.24.0"
    assert "simd_extensions" in body["show_runtime"]
    assert body["python"].startswith("3.11.")
    assert body["venv"] == sys.prefix


def test_healthz_answers_ok() -> None:
    response = client.get("/healthz")

    assert response.json() == {"status": "ok", "app": "app2"}
