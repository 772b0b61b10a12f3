# onebox: many FastAPI apps, one box. `just` lists the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Sync every app's and the gateway's venv from its own uv.lock.
sync:
    uv run onebox sync

# Resolve every lockfile again, after a pyproject.toml changed.
lock:
    uv lock
    uv run onebox lock

# Fail if any lockfile is stale.
lock-check:
    uv lock --check
    uv run onebox lock --check

# Write the Procfile from onebox.toml.
procfile:
    uv run onebox procfile

# Sync, then run the box on port ${PORT:-8000}, reloading an app when its code changes.
dev: sync
    UVICORN_RELOAD=true uv run onebox up

# Sync, then run the box as it runs in production.
up: sync
    uv run onebox up

# Run each project's tests in its own venv, then the end-to-end tests.
test: sync
    uv run onebox test
    uv run pytest

# Check formatting, lint rules and types in every project (ruff's py39 target covers 3.9 syntax).
lint:
    uv run ruff format --check .
    uv run ruff check .
    uv run mypy
    uv run mypy --python-executable gateway/.venv/bin/python gateway/src
    uv run mypy --python-executable apps/app1/.venv/bin/python apps/app1/src libs/onebox-service/src
    uv run mypy --python-executable apps/app2/.venv/bin/python apps/app2/src

# Format the code in place.
fmt:
    uv run ruff format .
    uv run ruff check --fix .
