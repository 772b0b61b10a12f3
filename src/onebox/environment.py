"""Check the environment `onebox up` passes on, before any process starts.

A bad value found here is one clear line; found by a process, it would be a
traceback or a usage message somewhere in the middle of the combined stream.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

from onebox.config import Box
from onebox.errors import OneboxError

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def check(box: Box, names: list[str], environ: Mapping[str, str]) -> None:
    """LOG_LEVEL and every port the named processes will take."""
    level = (environ.get("LOG_LEVEL") or "INFO").upper()
    if level not in LEVELS:
        raise OneboxError(
            f"LOG_LEVEL={environ['LOG_LEVEL']!r} is not a level; use one of {', '.join(LEVELS)}"
        )
    for name, variable, port, host in ports(box, environ):
        if name in names:
            _check_free(name, variable, port, host)


def ports(box: Box, environ: Mapping[str, str]) -> list[tuple[str, str, int, str]]:
    """(process, variable, port, host) for the gateway and every app."""
    found = [("gateway", "PORT", _port(environ, "PORT", box.gateway.port), "0.0.0.0")]
    for app in box.apps:
        variable = f"{app.env_name}_PORT"
        found.append((app.name, variable, _port(environ, variable, app.port), "127.0.0.1"))
    return found


def _port(environ: Mapping[str, str], variable: str, default: int) -> int:
    text = environ.get(variable)
    if text is None or text == "":
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise OneboxError(f"{variable}={text!r} is not a port; use a number from 1 to 65535")
    return int(text)


def _check_free(name: str, variable: str, port: int, host: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                reason = exc.strerror
                raise OneboxError(f"{name} cannot listen on {host}:{port}: {reason}") from None
            raise OneboxError(
                f"port {port} ({name}) is already in use; stop what holds it, "
                f"or set {variable} to another port"
            ) from None
