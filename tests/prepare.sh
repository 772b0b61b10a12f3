#!/usr/bin/env bash
# Make this machine able to run every test: kubectl, chromium, a Docker engine, and the
# offline base image the container tests build on (no image registry is needed).
# It installs with apt-get, so it needs root; elsewhere it says what it skipped
# and the tests that need those programs skip too (outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "prepare: not root with apt-get; kubectl, browser and Docker tests may be skipped" >&2
  exit 0
fi

# kubectl renders deploy/k8s with its built-in kustomize.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "prepare: installing kubectl" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >&2
fi

# Debian's chromium, which the browser tests drive through Playwright.
if ! command -v chromium >/dev/null 2>&1; then
  echo "prepare: installing chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

# docker-compose (v1, for compose files of version 3) runs the split layout.
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "prepare: installing docker-compose" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >&2
fi

# A Docker engine, started in the background when none answers.
bash docker/engine.sh >/dev/null

# The base image, built from Debian packages unless it exists already.
bash docker/base-image.sh >&2
