"""The real gateway process in front of the real test app, on free ports, for tests.

The gateway runs from its own venv with the flags its Procfile line gives
it (bar the host, which stays on loopback), reading a temporary onebox.toml
that routes /up (and any more prefixes a test asks for) to the test app in
tests/upstream, served by uvicorn as the box serves an app.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.stack import ROOT, Process, free_port

GATEWAY_VENV = ROOT / "gateway" / ".venv"
TOOLING_BIN = Path(sys.executable).parent


def gateway_command(port: int) -> list[str]:
    """The Procfile's gateway command, on loopback and `port`."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("gateway:")
    )
    command = line.split("exec ", 1)[1].replace("${PORT:-8000}", str(port))
    words = shlex.split(command)
    words[words.index("--host") + 1] = "127.0.0.1"
    words[0] = str(GATEWAY_VENV / "bin" / "uvicorn")
    return words


def start_upstream(port: int, prefix: str = "/up") -> Process:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return Process(
        [
            str(TOOLING_BIN / "uvicorn"),
            "tests.upstream.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--root-path",
            prefix,
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


class GatewayBox:
    """The gateway on `port`, routing each prefix in `apps` to its app's port."""

    def __init__(self, apps: dict[str, dict[str, object]], gateway: str = "") -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="onebox-gateway-"))
        config = [f'[gateway]\npath = "gateway"\nport = {self.port}\n{gateway}\n']
        for name, table in apps.items():
            config.append(f"[apps.{name}]\n")
            config += [f"{key} = {_toml(value)}\n" for key, value in table.items()]
        (self.folder / "onebox.toml").write_text("".join(config))
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        env.update(ONEBOX_CONFIG=str(self.folder / "onebox.toml"), LOG_FORMAT="text")
        self.gateway = Process(gateway_command(self.port), ROOT / "gateway", env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.gateway.process.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway.process.poll() is not None:
                raise AssertionError(f"the gateway exited early:\n{self.gateway.output}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"the gateway never became ready:\n{self.gateway.output}")

    def stop(self) -> None:
        self.gateway.stop()


@contextlib.contextmanager
def running(prefix: str = "/up", **app_settings: object) -> Iterator[tuple[GatewayBox, int]]:
    """The test app behind the gateway at `prefix`; yields the box and the app's port."""
    app_port = free_port()
    upstream = start_upstream(app_port, prefix)
    table: dict[str, object] = {"prefix": prefix, "path": "tests/upstream", "port": app_port}
    table.update(app_settings)
    box = GatewayBox({prefix.strip("/"): table})
    try:
        box.wait_ready()
        yield box, app_port
    finally:
        box.stop()
        upstream.stop()


def raw_request(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send `request` as bytes and read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            received += data
            if _complete(received):
                break
        return received


def _complete(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    if re.match(rb"HTTP/1\.1 (204|304|1\d\d) ", head):
        return True
    match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    if match:
        return len(body) >= int(match.group(1))
    return body.endswith(b"0\r\n\r\n")


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
