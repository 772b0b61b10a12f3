"""Fixtures shared by the tests that build and run the image."""

from __future__ import annotations

import os

import pytest

from tests.container import build, engine_problem


@pytest.fixture(scope="session")
def image() -> None:
    """The image, built once per run: a skip without an engine, a failure in CI."""
    problem = engine_problem()
    if problem and os.environ.get("CI"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)
    build()
