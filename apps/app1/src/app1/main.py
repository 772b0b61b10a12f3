"""app1's HTTP interface: its root reports the numpy runtime it was given."""

from __future__ import annotations

import numpy
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from onebox_service import health, runtime

NAME = "app1"

app = FastAPI(title=NAME)
health.install(app, NAME)


@app.get("/")
def root() -> JSONResponse:
    return runtime.numpy_report(NAME, numpy)
