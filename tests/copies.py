"""Copies of the box in a temporary folder, for tests that change it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.stack import ONEBOX, ROOT


def copy_box(destination: Path) -> Path:
    """A copy of the box's sources, without venvs or caches."""
    ignore = shutil.ignore_patterns(".venv", "__pycache__", ".*_cache", ".git")
    files = (
        "onebox.toml",
        "Procfile",
        "Dockerfile",
        "pyproject.toml",
        "uv.lock",
        ".python-version",
    )
    for name in files:
        shutil.copy(ROOT / name, destination / name)
    for folder in ("apps", "gateway", "libs", "src"):
        shutil.copytree(ROOT / folder, destination / folder, ignore=ignore)
    return destination


def onebox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the tooling's command in `cwd`, capturing what it says."""
    return subprocess.run([str(ONEBOX), *args], cwd=cwd, capture_output=True, text=True)
