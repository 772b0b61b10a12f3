"""The gateway's own endpoints: liveness, and readiness of every app."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.settings import Route, Settings


def create_api(settings: Settings) -> FastAPI:
    api = FastAPI(title="onebox gateway", docs_url=None, redoc_url=None, openapi_url=None)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz() -> JSONResponse:
        async with httpx.AsyncClient(timeout=2.0) as client:
            answers = await asyncio.gather(*(_is_ready(client, r) for r in settings.routes))
        waiting = [route.name for route, ready in zip(settings.routes, answers) if not ready]
        if waiting:
            return JSONResponse({"status": "not ready", "not_ready": waiting}, status_code=503)
        return JSONResponse({"status": "ready"})

    return api


async def _is_ready(client: httpx.AsyncClient, route: Route) -> bool:
    try:
        response = await client.get(route.health_url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
