#!/usr/bin/env bash
# Build the offline base image (default tag onebox-base:bookworm) from Debian
# packages with debootstrap, plus pyenv interpreters Debian lacks. Idempotent.
#
# Usage:  bash docker/base-image.sh [--force] [TAG]
# Env:    PYENV_VERSIONS  pyenv interpreters to copy (default "3.9.18")
#         SUITE           Debian suite (default bookworm)
#         MIRROR          Debian mirror URL (default: read from apt sources)
#
# Contents: Debian minbase + python3 (3.11), python3-venv, ca-certificates,
# tini; this machine's CA bundle; each pyenv interpreter at the same absolute
# path as on this machine ($(pyenv root)/versions/X.Y.Z), because those builds
# are --enable-shared with an absolute rpath; a non-root user "onebox" (10001).
set -euo pipefail

# Arguments and settings.
FORCE=0
TAG=onebox-base:bookworm
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) TAG="$arg" ;;
  esac
done
SUITE="${SUITE:-bookworm}"
PYENV_VERSIONS="${PYENV_VERSIONS:-3.9.18}"
APP_UID=10001
HERE="$(cd "$(dirname "$0")" && pwd)"

log() { echo "base-image.sh: $*" >&2; }
die() { echo "base-image.sh: ERROR: $*" >&2; exit 1; }
trap 'echo "base-image.sh: ERROR: command failed at line $LINENO" >&2' ERR

# Make sure the engine answers and use the BuildKit-capable client.
eval "$(bash "$HERE/engine.sh")"

# Skip when the tag already exists (unless --force).
if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG already exists ($("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | numfmt --to=iec)); use --force to rebuild"
  exit 0
fi

# Find the Debian mirror: the URIs of the apt source that serves $SUITE.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # deb822 stanzas: print URIs of a stanza whose Suites has exactly $SUITE.
    awk -v suite="$SUITE" '
      function flush() { if (ok && uri != "") { print uri; exit } ok = 0; uri = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/   { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { flush() }' "$f"
  done
  # One-line format: "deb URI SUITE COMPONENTS".
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
    | awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2 }'
}
MIRROR="${MIRROR:-$(find_mirror | head -n1)}"
[ -n "$MIRROR" ] || die "no apt source for suite '$SUITE' found in /etc/apt; set MIRROR"

# Check that the pyenv interpreters exist on this machine.
PYENV_ROOT="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo /root/.pyenv)}"
for v in $PYENV_VERSIONS; do
  [ -x "$PYENV_ROOT/versions/$v/bin/python${v%.*}" ] || die "missing interpreter $PYENV_ROOT/versions/$v"
done

# Scratch directory for the root file system; unmount and remove it on exit.
WORK="$(mktemp -d /var/tmp/onebox-rootfs.XXXXXX)"
ROOTFS="$WORK/rootfs"
cleanup() {
  findmnt -rn -o TARGET | grep -F "$ROOTFS" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
START=$SECONDS

# Bootstrap Debian minbase with python3, venv, CA certificates and tini.
log "debootstrap $SUITE (minbase) from the apt mirror into $ROOTFS"
debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates,tini \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

# Trust this machine's CA bundle (needed to reach the package index from containers).
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"

# Copy each pyenv interpreter to the same absolute path, without its
# site-packages (venvs do not use them), test suite, IDLE/Tk and static lib.
for v in $PYENV_VERSIONS; do
  m="${v%.*}"
  log "copying $PYENV_ROOT/versions/$v"
  tar -C / -c \
    --exclude="lib/python$m/site-packages/*" --exclude="lib/python$m/test" \
    --exclude="lib/python$m/idlelib" --exclude="lib/python$m/tkinter" \
    --exclude="lib/python$m/turtledemo" --exclude="*.a" \
    --exclude="bin/pip*" --exclude="bin/idle*" \
    "${PYENV_ROOT#/}/versions/$v" | tar -C "$ROOTFS" -x
  # Keep only the interpreter's own scripts in bin (drop tools of removed packages).
  find "$ROOTFS$PYENV_ROOT/versions/$v/bin" -mindepth 1 \
    ! -name 'python*' ! -name 'pydoc*' ! -name '2to3*' -exec rm -rf {} +
done

# Let a non-root user reach the interpreters: /root traversable (not listable).
d="$PYENV_ROOT"
while [ "$d" != / ]; do
  if [ "$d" = /root ]; then chmod 0711 "$ROOTFS$d"; else chmod 0755 "$ROOTFS$d"; fi
  d="$(dirname "$d")"
done
[ -d "$ROOTFS$PYENV_ROOT" ] && chmod -R a+rX "$ROOTFS$PYENV_ROOT"

# Add the non-root user the apps run as.
chroot "$ROOTFS" groupadd --gid "$APP_UID" onebox
chroot "$ROOTFS" useradd --uid "$APP_UID" --gid "$APP_UID" --create-home --shell /bin/bash onebox

# Drop package caches, indexes, docs and locales (keep copyright files).
rm -rf "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
  "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete

# Interpreter bins go last on PATH: "python3" stays Debian's, uv still finds python3.X.
PY_PATH=""
for v in $PYENV_VERSIONS; do PY_PATH="$PY_PATH:$PYENV_ROOT/versions/$v/bin"; done

# Import the tree as an image with runtime defaults (tini as PID 1).
log "importing as $TAG"
tar -C "$ROOTFS" --numeric-owner -c . | "$DOCKER" import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin$PY_PATH" \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV UV_PYTHON_DOWNLOADS=never" \
  --change "LABEL org.onebox.pyenv-root=$PYENV_ROOT org.onebox.pyenv-versions=\"$PYENV_VERSIONS\"" \
  --change 'ENTRYPOINT ["/usr/bin/tini", "--"]' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null

# Check every interpreter as the non-root user, with no network.
for py in /usr/bin/python3 $(for v in $PYENV_VERSIONS; do echo "$PYENV_ROOT/versions/$v/bin/python${v%.*}"; done); do
  "$DOCKER" run --rm --network none --user "$APP_UID" "$TAG" "$py" -c \
    'import sys, ssl, sqlite3, ctypes, zlib, bz2, lzma, uuid, readline, venv, json, decimal; print(sys.executable, sys.version.split()[0], ssl.OPENSSL_VERSION)' >&2 \
    || die "interpreter $py does not run in $TAG"
done

log "built $TAG in $((SECONDS - START)) s, size $("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | numfmt --to=iec)"
