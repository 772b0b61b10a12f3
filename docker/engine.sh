#!/usr/bin/env bash
# Make a Docker engine answer on this machine (idempotent).
#
# Usage:  eval "$(bash docker/engine.sh)"
#   Progress goes to stderr; stdout is only shell exports for the caller:
#     DOCKER=/usr/bin/docker  DOCKER_BUILDKIT=1
#   Then build with:  "$DOCKER" build ...   (BuildKit, RUN --mount works)
#
# Why /usr/bin/docker: Debian's docker.io client (20.10) carries BuildKit
# support itself. A newer client found first on PATH (e.g. /usr/local/bin/docker
# 28.x) delegates builds to the buildx plugin, which is not installed here, so
# DOCKER_BUILDKIT=1 fails with it and the legacy builder rejects RUN --mount.
set -euo pipefail

# Settings (overridable from the environment).
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/onebox-dockerd.log}"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
BUILDKIT_DOCKER=/usr/bin/docker

log() { echo "engine.sh: $*" >&2; }
die() { echo "engine.sh: ERROR: $*" >&2; exit 1; }

# Install docker.io (engine + BuildKit client) and debootstrap when missing.
missing=()
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -x "$BUILDKIT_DOCKER" ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >&2 \
    || die "apt-get install ${missing[*]} failed"
fi

# Start dockerd in the background unless an engine already answers.
if ! "$BUILDKIT_DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  setsid nohup /usr/sbin/dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  # Wait for the engine to answer.
  for _ in $(seq 1 "$DOCKER_WAIT_SECONDS"); do
    "$BUILDKIT_DOCKER" info >/dev/null 2>&1 && break
    sleep 1
  done
  "$BUILDKIT_DOCKER" info >/dev/null 2>&1 \
    || die "dockerd did not answer 'docker info' within ${DOCKER_WAIT_SECONDS}s; see $DOCKERD_LOG"
fi

# Report versions and hand the caller the BuildKit-capable client.
log "engine $("$BUILDKIT_DOCKER" version --format '{{.Server.Version}}'), client $BUILDKIT_DOCKER $("$BUILDKIT_DOCKER" version --format '{{.Client.Version}}')"
echo "export DOCKER=$BUILDKIT_DOCKER"
echo "export DOCKER_BUILDKIT=1"
