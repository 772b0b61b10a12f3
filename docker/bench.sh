#!/usr/bin/env bash
# Measure the image: its size, the rebuild after a change to one app's code
# (every other layer cached), and the time from `docker run` to /readyz 200.
#
# Usage:  bash docker/bench.sh            (or `just bench-image`)
# Env:    DOCKER (default docker), BASE_IMAGE and PYTHON_DOWNLOADS as for
#         `just build`, RUNS (default 3) start-up measurements.
# Builds from a copy of the checkout, so the working tree is never touched.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
export DOCKER_BUILDKIT=1
TAG=onebox:bench
RUNS="${RUNS:-3}"
NAME="onebox-bench-$$"
COPY="$(mktemp -d /tmp/onebox-bench.XXXXXX)"

# Remove the container, the copy and the tag whatever happens.
cleanup() {
  "$DOCKER" rm --force "$NAME" >/dev/null 2>&1 || true
  "$DOCKER" rmi "$TAG" >/dev/null 2>&1 || true
  rm -rf "$COPY"
}
trap cleanup EXIT

build() {
  "$DOCKER" build --quiet --build-arg BASE_IMAGE --build-arg PYTHON_DOWNLOADS \
    --tag "$TAG" "$1" >/dev/null
}

seconds_since() {
  echo "$(( ($(date +%s%N) - $1) / 1000000 ))" | awk '{ printf "%.2f", $1 / 1000 }'
}

# The checkout's files as git sees them (tracked and new, nothing ignored).
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) \
  | (cd "$ROOT" && tar --null -T - -c) | tar -C "$COPY" -x

# Build once, so the measurements below start from a warm cache.
start=$(date +%s%N)
build "$COPY"
echo "build, cache warm:         $(seconds_since "$start") s"
size=$("$DOCKER" image inspect --format '{{.Size}}' "$TAG")
echo "image size:                $((size / 1000000)) MB"

# Change one app's code, as an edit would, and build again.
echo "# bench $(date +%s%N)" >>"$COPY/apps/app1/src/app1/main.py"
start=$(date +%s%N)
build "$COPY"
echo "rebuild after app1 edit:   $(seconds_since "$start") s"

# Start a container and poll /readyz until it answers 200 (30 s at most).
for run in $(seq 1 "$RUNS"); do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start=$(date +%s%N)
  "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$port:8000" "$TAG" >/dev/null
  ready=""
  for _ in $(seq 1 600); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then ready=yes; break; fi
    sleep 0.05
  done
  [ -n "$ready" ] || { "$DOCKER" logs "$NAME" >&2; echo "bench: never ready" >&2; exit 1; }
  echo "docker run to /readyz 200: $(seconds_since "$start") s (run $run)"
  "$DOCKER" rm --force "$NAME" >/dev/null
done
