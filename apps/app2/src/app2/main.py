"""app2's HTTP interface: its root reports the numpy runtime it was given."""

from __future__ import annotations

import numpy
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from onebox_service import docs, health, logs, runtime

from app2 import probes, stream, work

NAME = "app2"

logs.setup(NAME)
app = FastAPI(title=NAME)
app.add_middleware(logs.AccessLog)
health.install(app, NAME)
docs.install(app)
app.include_router(stream.router)
app.include_router(probes.router)
app.include_router(work.router)


@app.get("/")
def root() -> JSONResponse:
    return runtime.numpy_report(NAME, numpy)
