"""app1 runs in its own venv, where numpy 1.20.0 has no show_runtime()."""

from __future__ import annotations

import sys

from fastapi.testclient import TestClient

from app1.main import app

client = TestClient(app)


def test_root_reports_show_runtime_missing() -> None:
    response = client.get("/")

    assert response.status_code == 500
    body = response.json()
    assert body["app"] == "app1"
    assert body["numpy"] == "1.20.0"
    assert body["error"] == "AttributeError"
    assert "1.20.0" in body["detail"]
    assert body["python"].startswith("3.9.")
    assert body["venv"] == sys.prefix


def test_healthz_answers_ok() -> None:
    response = client.get("/healthz")

    assert response.json() == {"status": "ok", "app": "app1"}
