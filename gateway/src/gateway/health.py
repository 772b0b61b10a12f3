"""The gateway's own endpoints: liveness, and readiness of every app.

Readiness answers from what the background checks in upstreams.py last
saw, so /readyz is as quick as /healthz and never waits on a slow app.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.settings import Settings
from gateway.upstreams import Upstreams


def create_api(settings: Settings, upstreams: Upstreams) -> FastAPI:
    api = FastAPI(title="onebox gateway", docs_url=None, redoc_url=None, openapi_url=None)

    @api.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.api_route("/readyz", methods=["GET", "HEAD"])
    async def readyz() -> JSONResponse:
        ready = upstreams.ready()
        waiting = [route.name for route in settings.routes if not ready[route.name]]
        if not waiting:
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {
                "status": "not ready",
                "not_ready": waiting,
                "detail": {name: upstreams.detail(name) for name in waiting},
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )

    return api
