"""Write the Procfile from onebox.toml, and tell when the two have drifted."""

from __future__ import annotations

from onebox.config import Box
from onebox.errors import OneboxError

HEADER = "# Written by `just generate` from onebox.toml; edit that file, not this one.\n"

# Seconds the gateway lets in-flight requests (a long stream, say) finish after
# SIGTERM. `onebox up` stops the apps only after the gateway, and gives both
# phases together less than Docker's default 10 s stop timeout.
GATEWAY_DRAIN_SECONDS = 5

# Every process writes its own access line per request (onebox_service.logs),
# so uvicorn's would be a second one.
ACCESS_LOG_OFF = "--no-access-log"


def render(box: Box) -> str:
    """One line per app, then the gateway; each line execs its own venv's server."""
    lines = [HEADER]
    for app in box.apps:
        lines.append(
            f"{app.name}: cd {app.path} && exec .venv/bin/uvicorn {app.module}"
            f" --host 127.0.0.1 --port ${{{app.env_name}_PORT:-{app.port}}}"
            f" --root-path {app.prefix}{_workers(app.workers)} {ACCESS_LOG_OFF}\n"
        )
    gateway = box.gateway
    lines.append(
        f"gateway: cd {gateway.path} && exec .venv/bin/uvicorn gateway.main:app"
        f" --host 0.0.0.0 --port ${{PORT:-{gateway.port}}}"
        # The gateway passes on the app's own Server and Date headers, and is
        # the edge: it trusts no client's X-Forwarded-* headers.
        " --no-server-header --no-date-header --no-proxy-headers"
        # Its own protocol class: requests the parser refuses get the gateway's JSON 400.
        " --http gateway.server:GatewayHttpProtocol"
        f" --timeout-graceful-shutdown {GATEWAY_DRAIN_SECONDS} {ACCESS_LOG_OFF}\n"
    )
    return "".join(lines)


def _workers(count: int) -> str:
    # uvicorn's workers share the app's one port; one worker needs no flag.
    return f" --workers {count}" if count > 1 else ""


def write(box: Box) -> bool:
    """Rewrite the Procfile; return whether it changed."""
    path = box.root / "Procfile"
    wanted = render(box)
    if path.is_file() and path.read_text() == wanted:
        return False
    path.write_text(wanted)
    return True


def check(box: Box) -> None:
    path = box.root / "Procfile"
    current = path.read_text() if path.is_file() else ""
    if current != render(box):
        raise OneboxError("Procfile does not match onebox.toml; run `just generate` and commit it")
