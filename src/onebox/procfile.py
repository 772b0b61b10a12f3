"""Write the Procfile from onebox.toml, and tell when the two have drifted."""

from __future__ import annotations

from onebox.config import Box
from onebox.errors import OneboxError

HEADER = "# Written by `just procfile` from onebox.toml; edit that file, not this one.\n"


def render(box: Box) -> str:
    """One line per app, then the gateway; each line execs its own venv's server."""
    lines = [HEADER]
    for app in box.apps:
        lines.append(
            f"{app.name}: cd {app.path} && exec .venv/bin/uvicorn {app.module}"
            f" --host 127.0.0.1 --port ${{{app.env_name}_PORT:-{app.port}}}"
            f" --root-path {app.prefix}\n"
        )
    gateway = box.gateway
    lines.append(
        f"gateway: cd {gateway.path} && exec .venv/bin/uvicorn gateway.main:app"
        f" --host 0.0.0.0 --port ${{PORT:-{gateway.port}}}"
        # The gateway passes on the app's own Server and Date headers, and is
        # the edge: it trusts no client's X-Forwarded-* headers.
        " --no-server-header --no-date-header --no-proxy-headers\n"
    )
    return "".join(lines)


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
        raise OneboxError("Procfile does not match onebox.toml; run `just procfile` and commit it")
