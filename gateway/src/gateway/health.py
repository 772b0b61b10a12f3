"""The gateway's own endpoints: liveness, and readiness of every app.

Readiness answers from what the background checks in upstreams.py last
saw, so /readyz is as quick as /healthz and never waits on a slow app.
"""

from __future__ import annotations

import json

from gateway.settings import Settings
from gateway.upstreams import Upstreams

# The status, JSON body and extra headers of an answer.
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]

_OK = json.dumps({"status": "ok"}).encode()
_READY = json.dumps({"status": "ready"}).encode()


def healthz() -> Answer:
    return 200, _OK, []


def readyz(settings: Settings, upstreams: Upstreams) -> Answer:
    ready = upstreams.ready()
    waiting = [route.name for route in settings.routes if not ready[route.name]]
    if not waiting:
        return 200, _READY, []
    content = {
        "status": "not ready",
        "not_ready": waiting,
        "detail": {name: upstreams.detail(name) for name in waiting},
    }
    return 503, json.dumps(content).encode(), [(b"retry-after", b"1")]
