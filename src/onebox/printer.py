"""Print the box's combined output: honcho's prefixed lines, or one JSON object a line.

With LOG_FORMAT=json every line on stdout is a JSON object and nothing else:
a process's own JSON lines pass through as they are, any other line it prints
(a crash before its logging was set up, say) is wrapped into one with the
process's name, and honcho's and onebox's own lines become objects too.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from honcho.printer import Message, Printer

from onebox.errors import OneboxError

FORMATS = ("text", "json")
# The name on the lines of honcho ("system") and of onebox itself.
OWN_NAME = "onebox"
SYSTEM_NAME = "system"


class LinePrinter(Protocol):
    """What honcho's Manager needs of a printer."""

    width: int

    def write(self, message: Message) -> None: ...


def log_format() -> str:
    """LOG_FORMAT, checked: 'text' (the default) or 'json'."""
    value = (os.environ.get("LOG_FORMAT") or "text").lower()
    if value not in FORMATS:
        raise OneboxError(f"LOG_FORMAT={value!r} is not known; set it to 'text' or 'json'")
    return value


def for_environment(output: TextIO) -> LinePrinter:
    """The printer LOG_FORMAT asks for: honcho's own for text, JSON lines for json."""
    if log_format() == "json":
        return JsonPrinter(output)
    return TextPrinter(output)


def say(text: str, *, level: str = "INFO", output: TextIO | None = None) -> None:
    """Print one line of onebox's own, in the format of the box's output."""
    output = sys.stdout if output is None else output
    if log_format() == "json":
        line = _object(OWN_NAME, level, text, datetime.now(UTC))
    else:
        line = f"{OWN_NAME}: {text}"
    print(line, file=output, flush=True)


class TextPrinter(Printer):  # type: ignore[misc]
    """honcho's own format, `HH:MM:SS name | line`, with a message's lines in one write.

    A message holds every whole line its watcher read at once; they share
    the time it was read, so the prefix is made once for all of them.
    """

    def write(self, message: Message) -> None:
        if message.type != "line":
            raise RuntimeError(f"a printer takes line messages, not {message.type!r}")

        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        prefix = ""
        if self.prefix:
            name = (message.name or "").ljust(self.width)
            prefix = f"{message.time.strftime(self.time_format)} {name + ' ' if name else ''}| "
            if self.colour and self._colours_supported and message.colour:
                prefix = f"\033[0m\033[{message.colour}m{prefix}\033[0m"
        self.output.write("".join(f"{prefix}{line}\n" for line in text.splitlines()))
        self.output.flush()


class JsonPrinter:
    """Writes each line as one JSON object, with no prefix and no colour."""

    def __init__(self, output: TextIO) -> None:
        self.output = output
        # Set by honcho's Manager for its column layout; unused here.
        self.width = 0

    def write(self, message: Message) -> None:
        if message.type != "line":
            raise RuntimeError(f"a printer takes line messages, not {message.type!r}")

        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        # A message holds one line or several (onebox's watchers read many at once).
        lines = []
        for line in text.splitlines():
            if message.name == SYSTEM_NAME:
                line = _object(OWN_NAME, "INFO", line, message.time)
            elif not _is_log_object(line):
                line = _object(message.name, "INFO", line, message.time)
            lines.append(line + "\n")

        self.output.write("".join(lines))
        self.output.flush()


def _is_log_object(line: str) -> bool:
    """Whether the line is already one JSON object naming its app."""
    if not line.startswith("{"):
        return False
    try:
        parsed = json.loads(line)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "app" in parsed


def _object(app: str, level: str, message: str, when: datetime) -> str:
    # honcho stamps its messages with naive local time.
    time_utc = when.astimezone(UTC).isoformat(timespec="milliseconds")
    line: dict[str, Any] = {
        "time": time_utc.replace("+00:00", "Z"),
        "level": level,
        "app": app,
        "request_id": None,
        "message": message,
    }
    return json.dumps(line)
