"""Run the Procfile under honcho: one output stream, and all stop when one stops."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message
from honcho.process import Popen, Process

from onebox import environment, printer, procfile
from onebox.config import Box
from onebox.errors import OneboxError

# prctl's option that names the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1

# honcho's exit status when it was asked to stop by SIGINT or SIGTERM.
ASKED_TO_STOP = {130, 143}

# How much of a process's output one read takes, and how long a watcher waits
# after a read so that the next one finds many lines, not one.
READ_BYTES = 1 << 16
READ_PAUSE = 0.005

# The process that drains first when the box stops; the apps follow once it has.
DRAINS_FIRST = "gateway"

# Seconds an app has for its shutdown once asked; after the gateway's drain and
# this, whatever still runs is killed.
APP_STOP_SECONDS = 3


class _StopRecorder:
    """Passes honcho's events through and remembers which process stopped first."""

    def __init__(self, events: Any, before_wait: Callable[[], None]) -> None:
        self._events = events
        self._before_wait = before_wait
        self.first_stop: Message | None = None

    def put(self, message: Message) -> None:
        self._events.put(message)

    def get(self, timeout: float) -> Message:
        self._before_wait()
        message: Message = self._events.get(timeout=timeout)
        if message.type == "stop" and self.first_stop is None:
            self.first_stop = message
        return message


def _die_with_parent(signum: int) -> None:
    """Ask Linux to send `signum` to this process when its parent dies.

    honcho runs each command under a watcher process of its own. Should
    `onebox up` itself be killed outright, the watchers and the servers they
    watch would live on, holding their ports; with this they end with it.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signum)


class _ChildPopen(Popen):  # type: ignore[misc]
    """honcho's Popen, but the server ends (gracefully) when its watcher does."""

    def __init__(self, cmd: str, **kwargs: Any) -> None:
        super().__init__(cmd, preexec_fn=lambda: _die_with_parent(signal.SIGTERM), **kwargs)


class _GuardedProcess(Process):  # type: ignore[misc]
    """honcho's Process, whose watcher ends when `onebox up` does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._child_ctor = _ChildPopen

    def run(self, events: Any = None, ignore_signals: bool = False) -> None:
        """honcho's watcher loop, but handing on many lines per message.

        honcho reads a line and sends a message for it, through a queue
        between processes; under load that costs more CPU than the request
        that logged the line. Here each read takes all the whole lines that
        are there, and after one the watcher waits `READ_PAUSE` so that the
        next read finds more. A line waits at most that long; none is lost.
        """
        if sys.platform == "linux":
            _die_with_parent(signal.SIGKILL)
        self._events = events
        self._child = self._child_ctor(self.cmd, env=self.env, cwd=self.cwd)
        self._send_message({"pid": self._child.pid}, type="start")
        if ignore_signals:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for lines in _whole_lines(self._child.stdout.fileno()):
            if not self.quiet:
                self._send_message(lines)
        self._child.stdout.close()
        self._child.wait()
        self._send_message({"returncode": self._child.returncode}, type="stop")


def _whole_lines(descriptor: int) -> Iterator[bytes]:
    """The output read from `descriptor`, in pieces that end at line ends, until it closes."""
    pending = b""
    while data := os.read(descriptor, READ_BYTES):
        pending += data
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
        time.sleep(READ_PAUSE)
    if pending:
        yield pending


class _OrderedManager(Manager):  # type: ignore[misc]
    """honcho's Manager, but stopping the gateway before the apps.

    honcho signals every process at once, so an app would end under a response
    the gateway is still streaming. Here the gateway is asked to stop first and
    the apps only once it has drained and exited, or its drain time is up.
    """

    events: Any

    def __init__(self, output: printer.LinePrinter) -> None:
        super().__init__(output)
        if sys.platform == "linux":
            self._process_ctor = _GuardedProcess
        self.recorder = _StopRecorder(self.events, before_wait=self._advance)
        self.events = self.recorder
        self._stop_asked_at: float | None = None
        self._apps_asked = False

    def terminate(self) -> None:
        if self._stop_asked_at is not None:
            return
        self._stop_asked_at = time.monotonic()
        self._terminating = True
        self._signal(DRAINS_FIRST)
        self._advance()

    def kill(self) -> None:
        # honcho kills KILL_WAIT seconds after the first process ended; a
        # draining gateway and then the apps' own shutdown may take longer.
        deadline = procfile.GATEWAY_DRAIN_SECONDS + APP_STOP_SECONDS
        if self._stop_asked_at is None or time.monotonic() - self._stop_asked_at < deadline:
            return
        super().kill()

    def _advance(self) -> None:
        """Take a stop to its next step; runs before each wait in honcho's loop."""
        self._notice_lost_watchers()
        if self._stop_asked_at is None or self._apps_asked:
            return
        if not self._has_stopped(DRAINS_FIRST):
            waited = time.monotonic() - self._stop_asked_at
            if waited < procfile.GATEWAY_DRAIN_SECONDS + 1:
                return
        self._apps_asked = True
        self._killall()

    def _has_stopped(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is None or process.get("returncode") is not None

    def _signal(self, name: str) -> None:
        pid = self._processes.get(name, {}).get("pid")
        if pid is None or self._has_stopped(name):
            return
        self._system_print(f"sending SIGTERM to {name} (pid {pid})\n")
        self._procmgr.terminate(pid)

    def _notice_lost_watchers(self) -> None:
        """Report a process whose watcher was killed: nothing else would.

        honcho reads each process's output in a watcher process that reports
        the end; when that watcher itself is killed, the process is stopped
        and its end reported here, so the box stops as for any other end.
        """
        for name, process in self._processes.items():
            watcher = process.get("process")
            if watcher is None or watcher.exitcode in (None, 0) or "lost" in process:
                continue
            process["lost"] = True
            self._system_print(f"the watcher of {name} ended (rc={watcher.exitcode})\n")
            if "pid" in process:
                self._procmgr.terminate(process["pid"])
            stop = {"returncode": watcher.exitcode}
            self.events.put(Message("stop", stop, self._clock.now(), name, None))


LOOPBACK_ONLY = " --host 127.0.0.1 "


def run(box: Box, names: list[str], *, alone: bool = False) -> int:
    """Start the named processes (all when none are named) and wait for them.

    With `alone`, the one named app is the whole container (split layouts):
    it listens on every interface instead of loopback, for a gateway elsewhere.
    """
    procfile.check(box)
    processes = parse_procfile((box.root / "Procfile").read_text()).processes
    unknown = [name for name in names if name not in processes]
    if unknown:
        raise OneboxError(
            f"no process named {', '.join(unknown)} in the Procfile; known: {', '.join(processes)}"
        )
    selected = {name: processes[name] for name in names or processes}
    _check_venvs(box, selected)
    environment.check(box, list(selected), os.environ)
    if alone:
        selected = {
            name: command.replace(LOOPBACK_ONLY, " --host 0.0.0.0 ")
            for name, command in selected.items()
        }

    env = dict(os.environ)
    # Lines must reach honcho as they are written, not when a buffer fills.
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("VIRTUAL_ENV", None)

    manager = _OrderedManager(printer.for_environment(sys.stdout))
    for name, command in selected.items():
        manager.add_process(name, command, env=env, cwd=str(box.root))
    manager.loop()
    return _exit_status(manager.returncode, manager.recorder.first_stop)


def _check_venvs(box: Box, selected: dict[str, str]) -> None:
    for name, folder in box.projects():
        if name in selected and not (folder / ".venv" / "bin" / "uvicorn").exists():
            raise OneboxError(
                f"{name} has no synced venv in {folder.relative_to(box.root)}/.venv; "
                "run `just sync` first"
            )


def _exit_status(returncode: int | None, first_stop: Message | None) -> int:
    """Zero only when the box was asked to stop; any process ending alone is a failure."""
    if returncode in ASKED_TO_STOP:
        return 0
    if first_stop is None:
        return 1
    status: int = first_stop.data["returncode"]
    if status < 0:
        reason = f"was killed by {signal.Signals(-status).name}"
        code = 128 - status
    else:
        reason = f"exited with status {status}"
        code = status or 1
    printer.say(
        f"{first_stop.name} {reason}, so every process was stopped; exiting {code}",
        level="ERROR",
    )
    return code
