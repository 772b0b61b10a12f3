"""Sync and lock every project's own venv with uv, one project at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from onebox import interpreters
from onebox.config import Box
from onebox.errors import OneboxError
from onebox.interpreters import UV

STALE_LOCK_HINT = "needs to be updated"


def sync(box: Box, *, dev: bool = True) -> None:
    """Make each project's .venv match its own uv.lock exactly."""
    for name, folder in box.projects():
        python = interpreters.find(interpreters.pinned_version(folder), name)
        _say(f"syncing {name} ({folder.relative_to(box.root)}) with {python}")
        command = [UV, "sync", "--locked", "--python", str(python)]
        if not dev:
            command.append("--no-dev")
        result = _uv(command, folder)
        if result.returncode == 0:
            continue
        if STALE_LOCK_HINT in result.stderr:
            raise OneboxError(
                f"{name}: {folder.relative_to(box.root)}/uv.lock is out of date with its "
                "pyproject.toml; run `just lock` and commit the lockfile"
            )
        raise OneboxError(f"{name}: uv sync failed:\n{result.stderr.strip()}")


def lock(box: Box, *, check: bool = False) -> None:
    """Resolve each project's uv.lock (or, with check, fail if one is stale)."""
    stale = []
    for name, folder in box.projects():
        python = interpreters.find(interpreters.pinned_version(folder), name)
        command = [UV, "lock", "--python", str(python)]
        if check:
            command.append("--check")
        result = _uv(command, folder)
        if result.returncode == 0:
            _say(f"{name}: uv.lock is {'current' if check else 'written'}")
            continue
        if check:
            stale.append(name)
            continue
        raise OneboxError(f"{name}: uv lock failed:\n{result.stderr.strip()}")
    if stale:
        raise OneboxError(f"stale lockfiles: {', '.join(stale)}; run `just lock` and commit them")


def test(box: Box) -> int:
    """Run each project's tests with that project's own interpreter; the worst status wins.

    A shared library has no venv of its own: its tests run in every app's venv,
    so they run on each Python an app pins.
    """
    runs = [(name, folder, folder) for name, folder in box.projects()]
    for library in sorted((box.root / "libs").glob("*/tests")):
        for app in box.apps:
            name = f"{library.parent.name} on {app.name}"
            runs.append((name, library.parent, box.root / app.path))

    failed = []
    for name, folder, venv_owner in runs:
        if not (folder / "tests").is_dir():
            continue
        python = venv_owner / ".venv" / "bin" / "python"
        if not python.exists():
            raise OneboxError(f"{venv_owner.name} has no venv yet; run `just sync` first")
        _say(f"testing {name} ({python})")
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        result = subprocess.run([str(python), "-m", "pytest", "-q", "tests"], cwd=folder, env=env)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        _say(f"tests failed in: {', '.join(failed)}")
        return 1
    return 0


def _uv(command: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    # A venv the caller has activated must not leak into another project's sync.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def _say(line: str) -> None:
    print(f"onebox: {line}", file=sys.stderr, flush=True)
