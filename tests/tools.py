"""Outside programs some tests need: skipped where absent, required in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, install: str) -> str:
    """The path of `program`; a skip on a developer's machine without it, a failure in CI."""
    path = shutil.which(program)
    if path is not None:
        return path
    message = f"{program} is not installed; {install}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
