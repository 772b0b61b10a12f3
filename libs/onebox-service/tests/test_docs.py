"""The offline docs pages, run on the oldest Python an app pins."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onebox_service import docs

ASSET_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def docs_app(docs_url: str | None = "/docs", redoc_url: str | None = "/redoc") -> FastAPI:
    app = FastAPI(title="demo", docs_url=docs_url, redoc_url=redoc_url)
    docs.install(app)
    return app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_link_assets_the_app_serves_under_its_root_path(page: str) -> None:
    client = TestClient(docs_app(), root_path="/demo")

    response = client.get(page)

    assert response.status_code == 200
    assert "'self'" in response.headers["content-security-policy"]
    links = ASSET_LINK.findall(response.text)
    assert links
    for link in links:
        assert link.startswith(f"/demo{docs.ASSETS_PATH}/")
        assert client.get(link).status_code == 200
    assert "/demo/openapi.json" in response.text


def test_pages_without_a_root_path_link_from_the_top() -> None:
    client = TestClient(docs_app())

    html = client.get("/docs").text

    assert f'"{docs.ASSETS_PATH}/{docs.SWAGGER_CSS}"' in html
    assert "'/openapi.json'" in html


def test_pages_keep_the_paths_the_app_chose() -> None:
    client = TestClient(docs_app(docs_url="/api/docs", redoc_url=None))

    assert client.get("/api/docs").status_code == 200
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_swagger_ui_sends_nothing_to_a_public_validator() -> None:
    html = TestClient(docs_app()).get("/docs").text

    assert '"validatorUrl": null' in html
