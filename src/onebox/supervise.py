"""Run the Procfile under honcho: one output stream, and all stop when one stops."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer

from onebox import procfile
from onebox.config import Box
from onebox.errors import OneboxError

# honcho's exit status when it was asked to stop by SIGINT or SIGTERM.
ASKED_TO_STOP = {130, 143}


class _StopRecorder:
    """Passes honcho's events through and remembers which process stopped first."""

    def __init__(self, events: Any) -> None:
        self._events = events
        self.first_stop: Message | None = None

    def put(self, message: Message) -> None:
        self._events.put(message)

    def get(self, timeout: float) -> Message:
        message: Message = self._events.get(timeout=timeout)
        if message.type == "stop" and self.first_stop is None:
            self.first_stop = message
        return message


def run(box: Box, names: list[str]) -> int:
    """Start the named processes (all when none are named) and wait for them."""
    procfile.check(box)
    processes = parse_procfile((box.root / "Procfile").read_text()).processes
    unknown = [name for name in names if name not in processes]
    if unknown:
        raise OneboxError(
            f"no process named {', '.join(unknown)} in the Procfile; known: {', '.join(processes)}"
        )
    selected = {name: processes[name] for name in names or processes}
    _check_venvs(box, selected)

    env = dict(os.environ)
    # Lines must reach honcho as they are written, not when a buffer fills.
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("VIRTUAL_ENV", None)

    json_logs = os.environ.get("LOG_FORMAT", "").lower() == "json"
    manager = Manager(Printer(sys.stdout, colour=not json_logs, prefix=not json_logs))
    recorder = _StopRecorder(manager.events)
    manager.events = recorder
    for name, command in selected.items():
        manager.add_process(name, command, env=env, cwd=str(box.root))
    manager.loop()
    return _exit_status(manager.returncode, recorder.first_stop)


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
    print(
        f"onebox: {first_stop.name} {reason}, so every process was stopped; exiting {code}",
        file=sys.stdout,
        flush=True,
    )
    return code
