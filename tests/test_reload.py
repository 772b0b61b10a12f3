"""`just dev` reloads an app when its code changes, and every app when libs/ does."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.copies import copy_box, onebox
from tests.stack import Stack, running

NEW_ENDPOINT = """

@app.get("/added")
def added() -> dict[str, str]:
    return {"added": "yes"}
"""


def reloaded_by(stack: Stack, changed: str, names: set[str], timeout: float = 30) -> None:
    """Wait until each named process has said it reloads for a change to `changed`."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        lines = [line for line in stack.lines if changed in line and "Reloading" in line]
        seen = {line.split("|")[0].split()[-1] for line in lines}
        if names <= seen:
            return
        time.sleep(0.2)
    raise AssertionError(f"only {seen} reloaded for {changed}:\n{stack.output}")


def test_code_and_library_changes_reload_the_apps(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    assert onebox("sync", cwd=box).returncode == 0
    dev = {"UVICORN_RELOAD": "true", "UVICORN_RELOAD_DIRS": f".:{box / 'libs'}"}

    with running(root=box, **dev) as stack:
        stack.wait_until("/readyz")
        assert httpx.get(stack.url + "/app2/added").status_code == 404

        main = box / "apps" / "app2" / "src" / "app2" / "main.py"
        main.write_text(main.read_text() + NEW_ENDPOINT)
        stack.wait_until("/app2/added")

        library = box / "libs" / "onebox-service" / "src" / "onebox_service" / "health.py"
        library.write_text(library.read_text() + "\n")
        reloaded_by(stack, "health.py", {"app1", "app2", "gateway"})
        stack.wait_until("/readyz")
