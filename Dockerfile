# The whole box in one image: every app and the gateway in its own venv, synced
# from its own uv.lock, run by `onebox serve` (honcho) under tini.
#
# Build:  docker build -t onebox .       (or `just build`; BuildKit is required)
# Offline (no image registry; see docker/README.md):
#   docker build -t onebox --build-arg BASE_IMAGE=onebox-base:bookworm \
#     --build-arg PYTHON_DOWNLOADS=never .
#
# There is no "# syntax=" line: it would pull a frontend image, and the
# frontend built into BuildKit handles everything below.
#
# Each project is built in its own stage, dependencies before code, so a change
# to one app's code rebuilds only that app's last layers. Adding an app to
# onebox.toml means adding its stage and its COPY below (a test checks this).

# The image everything starts from; the final stage uses it too, because each
# venv links to an interpreter found in it.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Stage uv: the uv release the tooling locks, from the package index.
FROM ${BASE_IMAGE} AS uv
# The uv version the tooling's uv.lock holds.
ARG UV_VERSION=0.13.9
# Into a throwaway venv, pip's downloads cached across builds.
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --disable-pip-version-check "uv==${UV_VERSION}"

# Stage builder: what every project's stage shares.
FROM ${BASE_IMAGE} AS builder
# "automatic": uv downloads interpreters the base lacks; "never": base only.
ARG PYTHON_DOWNLOADS=automatic
# Only the uv binary is carried on; pip and its venv stay behind.
COPY --from=uv /opt/uv/bin/uv /usr/local/bin/uv
# Compile bytecode now (a read-only box cannot write it later); copy out of the
# cache mount, which is another file system; keep downloaded interpreters where
# the final stage can copy them from.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=${PYTHON_DOWNLOADS} \
    UV_PYTHON_INSTALL_DIR=/opt/onebox/python
# The interpreter folder exists even when nothing is downloaded into it.
RUN mkdir -p /opt/onebox/python
# The box's root, laid out as in the repository.
WORKDIR /srv/onebox
# A path dependency's metadata is part of each lock check; its code comes later.
COPY libs/onebox-service/pyproject.toml libs/onebox-service/

# >>> app stages: written by `just generate` from onebox.toml
# Stage app1: dependencies (cached until its lockfile changes), then its code.
FROM builder AS app1
# Laid out as in the repository, so path dependencies resolve as they do there.
WORKDIR /srv/onebox/apps/app1
# What decides app1's dependencies.
COPY apps/app1/pyproject.toml apps/app1/uv.lock apps/app1/.python-version ./
# Third-party dependencies only, on the interpreter .python-version pins.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
        --no-install-project --no-install-package onebox-service
# The shared libraries' code and the app's own code.
COPY libs/onebox-service/src /srv/onebox/libs/onebox-service/src
COPY apps/app1/src src
# Install them into the venv as wheels, not links back to the source.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# Stage app2: dependencies (cached until its lockfile changes), then its code.
FROM builder AS app2
# Laid out as in the repository, so path dependencies resolve as they do there.
WORKDIR /srv/onebox/apps/app2
# What decides app2's dependencies.
COPY apps/app2/pyproject.toml apps/app2/uv.lock apps/app2/.python-version ./
# Third-party dependencies only, on the interpreter .python-version pins.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
        --no-install-project --no-install-package onebox-service
# The shared libraries' code and the app's own code.
COPY libs/onebox-service/src /srv/onebox/libs/onebox-service/src
COPY apps/app2/src src
# Install them into the venv as wheels, not links back to the source.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# <<< app stages

# Stage gateway: the same steps as each app's.
FROM builder AS gateway
# Laid out as in the repository, so the path dependency is at ../libs.
WORKDIR /srv/onebox/gateway
# What decides the gateway's dependencies.
COPY gateway/pyproject.toml gateway/uv.lock gateway/.python-version ./
# Third-party dependencies only, on the interpreter .python-version pins.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
        --no-install-project --no-install-package onebox-service
# The shared library's code and the gateway's own code.
COPY libs/onebox-service/src /srv/onebox/libs/onebox-service/src
COPY gateway/src src
# Install both into the venv as wheels, not links back to the source.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# Stage runtime: the tooling's venv, which only has to run `onebox up`.
FROM builder AS runtime
# What decides the tooling's dependencies.
COPY pyproject.toml uv.lock .python-version ./
# honcho; uv itself is a build tool and stays out of the image.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
        --no-install-project --no-install-package uv
# The tooling's code.
COPY src src
# Install it into the venv as a wheel.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --no-install-package uv

# Final stage: venvs, interpreters and the box's two files; no uv, no caches.
FROM ${BASE_IMAGE}
# tini as PID 1, unless the base image already has it.
RUN command -v tini >/dev/null \
 || { apt-get update && apt-get install -y --no-install-recommends tini \
      && rm -rf /var/lib/apt/lists/*; }
# The user everything runs as, unless the base image already has it.
RUN id -u onebox >/dev/null 2>&1 \
 || { groupadd --gid 10001 onebox \
      && useradd --uid 10001 --gid 10001 --create-home onebox; }
# The gateway's interpreter and the tooling's and gateway's venvs come first:
# the venvs most likely to change, the apps', come last.
COPY --from=gateway /opt/onebox/python /opt/onebox/python
COPY --from=runtime /srv/onebox/.venv /srv/onebox/.venv
COPY --from=gateway /srv/onebox/gateway/.venv /srv/onebox/gateway/.venv
# >>> app venvs: written by `just generate` from onebox.toml
# Interpreters uv downloaded for each app (empty where the base had them).
COPY --from=app1 /opt/onebox/python /opt/onebox/python
COPY --from=app2 /opt/onebox/python /opt/onebox/python
# Each app's venv.
COPY --from=app1 /srv/onebox/apps/app1/.venv /srv/onebox/apps/app1/.venv
COPY --from=app2 /srv/onebox/apps/app2/.venv /srv/onebox/apps/app2/.venv
# <<< app venvs
# What the box holds and how each process starts (`onebox up` checks they agree).
COPY onebox.toml Procfile /srv/onebox/
# Run as the unprivileged user, from the box's root where onebox.toml is.
USER 10001:10001
WORKDIR /srv/onebox
# `python` and `onebox` are the tooling venv's; output is never held in a
# buffer; logs are one JSON object per line, for log shippers.
ENV PATH=/srv/onebox/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json \
    PORT=8000
# The gateway is the only public port.
EXPOSE 8000
# Healthy when what runs here is ready: the box's /readyz, or an app's /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["onebox", "health"]
# tini forwards `docker stop`'s SIGTERM to honcho, which stops the gateway first.
# `docker run onebox` runs the whole box; `docker run onebox app1` runs app1
# alone on all interfaces (or set ONEBOX_SERVE=app1), for split layouts.
ENTRYPOINT ["/usr/bin/tini", "--", "onebox", "serve"]
CMD []
