"""The container's health check: is what `onebox serve` runs here ready?"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from onebox.config import Box


def served_here() -> str | None:
    """The app this container serves alone, or None for the whole box.

    The health check runs beside the served process, not under it, so it
    reads the container's command line (PID 1's) for what `serve` was given.
    """
    named = os.environ.get("ONEBOX_SERVE")
    if named:
        return named
    try:
        argv = Path("/proc/1/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    if "serve" not in argv:
        return None
    rest = [arg for arg in argv[argv.index("serve") + 1 :] if arg]
    return rest[0] if rest else None


def check(box: Box, name: str | None) -> int:
    """0 when ready: an app alone answers its /healthz, the gateway its /readyz."""
    if name is None or name == "gateway":
        url = f"http://127.0.0.1:{os.environ.get('PORT', box.gateway.port)}/readyz"
    else:
        app = box.app(name)
        port = os.environ.get(f"{app.env_name}_PORT", str(app.port))
        url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            ready = response.status == 200
    except (urllib.error.URLError, OSError):
        ready = False
    print(f"onebox: {url} {'ready' if ready else 'not ready'}")
    return 0 if ready else 1
