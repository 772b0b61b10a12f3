"""The health endpoint every app serves, for the gateway and for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def install(app: FastAPI, name: str) -> None:
    """Serve GET /healthz on `app`, answering 200 while the process can serve."""
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "app": name}

    app.include_router(router)
