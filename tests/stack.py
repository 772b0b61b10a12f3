"""Start the real Procfile under `onebox up` (honcho) on free ports, for tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ONEBOX = Path(sys.executable).parent / "onebox"
# How long the output reader waits between reads of a process's output.
READ_PAUSE = 0.01
# honcho's line, as text ("system | app1 started ...") or as JSON ("message": "app1 started ...").
STARTED = re.compile(r"(?:system\s*\| |\"message\": \")(\S+) started \(pid=(\d+)\)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A child process whose combined output is kept, stopped with SIGTERM then SIGKILL."""

    # How long SIGTERM has before SIGKILL.
    stop_seconds = 15

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Keep every line, reading what has come every `READ_PAUSE` seconds.

        Reading as each line is written would wake this thread once a line,
        and that costs the box under test as much as the line itself.
        """
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        pending = b""
        while data := os.read(descriptor, 1 << 16):
            *whole, pending = (pending + data).split(b"\n")
            self.lines.extend(line.decode("utf-8", "replace") for line in whole)
            time.sleep(READ_PAUSE)
        if pending:
            self.lines.append(pending.decode("utf-8", "replace"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Stack(Process):
    """A running box: its ports, its combined output, and its process ids."""

    # The box drains the gateway before it stops the apps.
    stop_seconds = 20

    def __init__(self, root: Path, processes: Sequence[str], extra_env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.app_ports = {"app1": free_port(), "app2": free_port()}
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        env.update(
            PORT=str(self.port),
            APP1_PORT=str(self.app_ports["app1"]),
            APP2_PORT=str(self.app_ports["app2"]),
        )
        env.update(extra_env)
        super().__init__([str(ONEBOX), "up", *processes], root, env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> dict[str, int]:
        return {m[1]: int(m[2]) for line in self.lines if (m := STARTED.search(line))}

    def wait_until(self, path: str, status: int = 200, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the box exited early:\n{self.output}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == status:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{path} never answered {status}:\n{self.output}")

    def wait_exit(self, timeout: float = 30) -> int:
        returncode = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return returncode


@contextmanager
def running(processes: Sequence[str] = (), root: Path = ROOT, **extra_env: str) -> Iterator[Stack]:
    stack = Stack(root, processes, extra_env)
    try:
        yield stack
    finally:
        stack.stop()
