"""Describe the process an app runs in: interpreter, venv and numpy."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import socket
import sys
import threading
from types import ModuleType
from typing import Any

from fastapi.responses import JSONResponse

# show_runtime() prints to sys.stdout, which redirect_stdout swaps for the whole
# process: two requests redirecting at once in the threadpool would leave a
# capture buffer in place of stdout, and a report printed to the real one.
_stdout_capture = threading.Lock()


def describe(name: str) -> dict[str, Any]:
    """Which app answered, on which Python, from which venv, in which process."""
    return {
        "app": name,
        "python": platform.python_version(),
        "interpreter": sys.executable,
        "venv": sys.prefix,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def numpy_report(name: str, numpy: ModuleType) -> JSONResponse:
    """Call numpy.show_runtime() and answer what it said, or why it could not.

    show_runtime() exists from numpy 1.24 on, so an app pinned to an older
    numpy answers 500 with the AttributeError it met.
    """
    body = describe(name)
    body["numpy"] = numpy.__version__

    output = io.StringIO()
    try:
        with _stdout_capture, contextlib.redirect_stdout(output):
            numpy.show_runtime()
    except AttributeError as exc:
        body["error"] = "AttributeError"
        body["detail"] = f"numpy {numpy.__version__}: {exc}"
        return JSONResponse(body, status_code=500)

    body["show_runtime"] = output.getvalue().strip()
    return JSONResponse(body)
