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

# Write the Procfile and the Dockerfile's app stages from onebox.toml.
generate:
    uv run onebox generate

# Sync, then run the box on port ${PORT:-8000}; a process reloads when its code or libs/ changes.
dev: sync
    UVICORN_RELOAD=true UVICORN_RELOAD_DIRS=".:{{justfile_directory()}}/libs" uv run onebox up

# Sync, then run the box as it runs in production.
up: sync
    uv run onebox up

# Run each project's tests in its own venv, then the end-to-end and container tests.
test: sync
    bash tests/prepare.sh
    uv run onebox test
    BASE_IMAGE="${BASE_IMAGE:-onebox-base:bookworm}" PYTHON_DOWNLOADS="${PYTHON_DOWNLOADS:-never}" \
        uv run pytest

# Check formatting, lint rules and types in every project (ruff's py39 target covers 3.9 syntax).
lint: sync
    uv run ruff format --check .
    uv run ruff check .
    uv run mypy
    uv run mypy --python-executable gateway/.venv/bin/python gateway/src
    uv run mypy --python-executable apps/app1/.venv/bin/python apps/app1/src libs/onebox-service/src libs/onebox-service/tests
    uv run mypy --python-executable apps/app2/.venv/bin/python apps/app2/src

# Format the code in place.
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# Build the image, tagged onebox; BASE_IMAGE and PYTHON_DOWNLOADS are passed on when set.
build:
    DOCKER_BUILDKIT=1 "${DOCKER:-docker}" build --build-arg BASE_IMAGE --build-arg PYTHON_DOWNLOADS --tag onebox .

# Build the image where no registry answers: local engine and offline base image first.
build-offline:
    eval "$(bash docker/engine.sh)" && bash docker/base-image.sh && BASE_IMAGE=onebox-base:bookworm PYTHON_DOWNLOADS=never DOCKER="$DOCKER" {{just_executable()}} build

# Run the image on this machine's port ${PORT:-8000} (loopback only); Ctrl-C stops it gracefully.
run:
    "${DOCKER:-docker}" run --rm --publish "127.0.0.1:${PORT:-8000}:8000" onebox

# Measure the gateway against the app direct and nginx: req/s, latency, 1 GiB stream, websockets, errors.
bench:
    uv run python bench/gateway.py

# Measure the image: size, rebuild after one app's code changed, docker run to /readyz 200.
bench-image:
    bash docker/bench.sh

# Create apps/NAME as a working app and list it in onebox.toml and the Procfile.
new-app name python="3.11":
    uv run onebox new-app {{quote(name)}} --python {{quote(python)}}

# Take apps/NAME out of the box and delete its folder.
remove-app name:
    uv run onebox remove-app {{quote(name)}}

# Requests/s of app2's CPU-bound /work at one and two workers (box) and replicas (swarm).
bench-replicas:
    uv run python bench/replicas.py
