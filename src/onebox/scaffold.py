"""Add an app to the box as a working uv project, or take one out again."""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
from pathlib import Path

from onebox import config, dockerfile, interpreters, procfile
from onebox.config import NAME_PATTERN, Box
from onebox.errors import OneboxError

# Files written from onebox.toml, restored as they were when a command fails.
GENERATED = ("Procfile", "Dockerfile")

# Package names an app's own package would clash with.
TAKEN_MODULES = frozenset(
    {
        "fastapi",
        "starlette",
        "pydantic",
        "uvicorn",
        "numpy",
        "httpx",
        "httpx2",
        "pytest",
        "loguru",
        "onebox",
        "onebox_service",
        "fastapi_offline",
        "test",
        "tests",
        "typing",
    }
)

RESERVED = frozenset({"gateway", "system", "onebox", "healthz", "readyz", "libs"})

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
description = "{name}: a onebox app."
requires-python = "=={python}.*"
dependencies = [
    "fastapi>=0.100",
    "onebox-service",
    "uvicorn[standard]>=0.30",
]

[dependency-groups]
# Starlette's test client moved to httpx2 after Python 3.9 support ended.
dev = [
    "httpx2>=2; python_version >= '3.10'",
    "httpx>=0.27; python_version < '3.10'",
    "pytest>=8",
]

[tool.uv.sources]
onebox-service = {{ path = "../../libs/onebox-service", editable = true }}

[build-system]
requires = ["uv_build>=0.8,<0.14"]
build-backend = "uv_build"

[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["error"]
"""

MAIN = '''\
"""{name}'s HTTP interface."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from onebox_service import docs, health, logs, runtime

NAME = "{name}"

logs.setup(NAME)
app = FastAPI(title=NAME)
app.add_middleware(logs.AccessLog)
health.install(app, NAME)
docs.install(app)


@app.get("/")
def root() -> dict[str, Any]:
    return runtime.describe(NAME)
'''

TEST = '''\
"""{name} answers in its own venv."""

from __future__ import annotations

import sys

from fastapi.testclient import TestClient

from {module}.main import app

client = TestClient(app)


def test_root_names_the_app_and_its_venv() -> None:
    body = client.get("/").json()

    assert body["app"] == "{name}"
    assert body["venv"] == sys.prefix


def test_healthz_answers_ok() -> None:
    assert client.get("/healthz").json() == {{"status": "ok", "app": "{name}"}}
'''


def new_app(box: Box, name: str, python: str) -> Path:
    """Create apps/NAME, lock it, and list it in onebox.toml and the Procfile."""
    _check_name(box, name)
    if not interpreters.VERSION_PATTERN.match(python):
        raise OneboxError(f"Python version {python!r} is not a version; write e.g. 3.11")
    python = ".".join(python.split(".")[:2])
    if tuple(int(part) for part in python.split(".")) < (3, 9):
        raise OneboxError(f"apps need Python 3.9 or newer; {python} is too old for FastAPI")
    folder = box.root / "apps" / name
    if folder.exists():
        raise OneboxError(f"{folder.relative_to(box.root)} already exists; pick another name")

    toml_path = box.root / config.CONFIG_NAME
    saved_toml = toml_path.read_text()
    saved = {name: (box.root / name).read_text() for name in GENERATED}
    try:
        _write_project(folder, name, python)
        _lock(folder, name, python)
        port = max([box.gateway.port, *(app.port for app in box.apps)]) + 1
        toml_path.write_text(saved_toml.rstrip("\n") + "\n" + _table(name, port))
        _generate(box.root)
    except BaseException:
        # Leave nothing behind: the box stays as it was before the command.
        shutil.rmtree(folder, ignore_errors=True)
        toml_path.write_text(saved_toml)
        for name, text in saved.items():
            (box.root / name).write_text(text)
        raise
    return folder


def remove_app(box: Box, name: str) -> None:
    """Take apps/NAME out of onebox.toml and the Procfile, and delete its folder."""
    app = box.app(name)
    toml_path = box.root / config.CONFIG_NAME
    text = toml_path.read_text()
    block = re.compile(rf"\n*^\[apps\.{re.escape(name)}\]\n(?:^(?!\[).*\n?)*", re.MULTILINE)
    toml_path.write_text(block.sub("\n", text, count=1).rstrip("\n") + "\n")
    _generate(box.root)
    shutil.rmtree(box.root / app.path, ignore_errors=True)


def _generate(root: Path) -> None:
    """Bring the files derived from onebox.toml up to date with it."""
    box = config.load(root)
    procfile.write(box)
    dockerfile.write(box)


def _check_name(box: Box, name: str) -> None:
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or module in TAKEN_MODULES:
        raise OneboxError(
            f"{name!r} cannot name an app: its package would be {module!r}, which is "
            "a Python keyword or a package every app imports; pick another name"
        )
    if not NAME_PATTERN.match(name) or name in RESERVED:
        raise OneboxError(
            f"{name!r} cannot name an app; use lowercase letters, digits, '-' or '_', "
            f"starting with a letter, and none of: {', '.join(sorted(RESERVED))}"
        )
    if any(app.name == name or app.prefix == f"/{name}" for app in box.apps):
        raise OneboxError(f"an app named {name} is already in onebox.toml")


def _write_project(folder: Path, name: str, python: str) -> None:
    module = name.replace("-", "_")
    (folder / "src" / module).mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / ".python-version").write_text(python + "\n")
    (folder / "pyproject.toml").write_text(PYPROJECT.format(name=name, python=python))
    (folder / "src" / module / "__init__.py").write_text(f'"""{name}: a onebox app."""\n')
    (folder / "src" / module / "main.py").write_text(MAIN.format(name=name))
    (folder / "tests" / "test_main.py").write_text(TEST.format(name=name, module=module))


def _lock(folder: Path, name: str, python: str) -> None:
    interpreter = interpreters.find(python, name)
    result = subprocess.run(
        [interpreters.UV, "lock", "--python", str(interpreter)],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise OneboxError(f"{name}: uv lock failed:\n{result.stderr.strip()}")


def _table(name: str, port: int) -> str:
    module = name.replace("-", "_")
    return (
        f"\n[apps.{name}]\n"
        f'prefix = "/{name}"\n'
        f'path = "apps/{name}"\n'
        f"port = {port}\n"
        f'module = "{module}.main:app"\n'
    )
