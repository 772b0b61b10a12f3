"""One log format for every onebox process, with the request id on request lines.

`setup(name)` sends everything the process logs to one loguru handler on
stdout: loguru's own records, and std logging's (uvicorn's included) through
an intercept handler. `LOG_FORMAT=json` makes each record one JSON object on
one line; `LOG_LEVEL` sets the level. `AccessLog` is the ASGI middleware that
gives each request its id and writes one access line when the request ends.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import inspect
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from datetime import timezone
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMATS = ("text", "json")
LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

# uvicorn configures these loggers with handlers of its own before the app is
# imported; they must hand their records to the root logger instead.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "fastapi")
# The access middleware writes the one access line per request, so uvicorn's
# own access logger is silenced even where `--no-access-log` was not given.
SERVER_ACCESS_LOGGER = "uvicorn.access"
# Libraries that log every outgoing request at INFO; the access lines already
# say what each request did.
CHATTY_LOGGERS = ("httpx", "httpcore")

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# Written into a log line in place of control characters and line separators from a path.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")

# The User-Agent of the gateway's own health probes (gateway/upstreams.py).
HEALTH_PROBE_AGENT = b"onebox-gateway"

# The most bytes a pipe takes in one write without mixing it with another's.
PIPE_ATOMIC_BYTES = 4096

# Nginx's code for "the client closed the connection before the response".
CLIENT_CLOSED = 499

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "onebox_request_id", default=None
)


def setup(
    name: str,
    *,
    log_format: str | None = None,
    level: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send every record of this process, in the one format, to `stream` (stdout).

    `log_format` and `level` default to LOG_FORMAT and LOG_LEVEL. Safe to call
    again: the last call wins.
    """
    log_format = (log_format or os.environ.get("LOG_FORMAT") or "text").lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT={log_format!r} is not known; use 'text' or 'json'")
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    if level not in LEVELS:
        raise ValueError(f"LOG_LEVEL={level!r} is not a level; use one of {', '.join(LEVELS)}")
    stream = sys.stdout if stream is None else stream
    writer = LineWriter(stream)

    # loguru: one handler. Tracebacks never show variable values, which may be secrets.
    json_lines = log_format == "json"
    colorize = not json_lines and _is_terminal(stream)
    # Colour needs loguru's markup; without it the text line is built faster here.
    text_line = _text_line if colorize else _plain_text_line
    global _access_lines
    if _access_lines is not None:
        _access_lines.flush()
    _access_lines = (
        None
        if colorize
        else AccessLines(writer, name, json_lines=json_lines, level_no=logger.level(level).no)
    )
    logger.configure(
        handlers=[
            {
                "sink": writer,
                "level": level,
                "format": _json_line if json_lines else text_line,
                "colorize": colorize,
                "backtrace": False,
                "diagnose": False,
            }
        ],
        extra={"app": name},
        patcher=_add_request_id,
    )

    # std logging: every record goes to loguru, once, through the root logger.
    root = logging.getLogger()
    root.handlers = [InterceptHandler()]
    root.setLevel(logger.level(level).no)
    for logger_name in SERVER_LOGGERS:
        server_logger = logging.getLogger(logger_name)
        server_logger.handlers = []
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)
    access = logging.getLogger(SERVER_ACCESS_LOGGER)
    access.handlers = []
    access.propagate = False
    if logger.level(level).no > logging.DEBUG:
        for logger_name in CHATTY_LOGGERS:
            logging.getLogger(logger_name).setLevel(logging.WARNING)
    logging.captureWarnings(True)


class LineWriter:
    """The handler's sink: each line goes out whole, in one write, at once.

    One write per line keeps lines from different processes from merging
    mid-line in the combined stream, and nothing waits in a buffer, so no
    line is lost when a process is killed. There is deliberately no `flush`
    method: loguru would call it after every line, a second system call.

    Access lines alone may be handed in with `write_soon`: those made in one
    pass of the event loop go out together at the end of that pass (or once
    they fill a pipe's atomic write), one system call for many requests
    under load. Any other line writes them out first, so order is kept.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # Reentrant: a signal handler may log while this thread writes.
        self._lock = threading.RLock()
        self._soon: list[str] = []
        self._soon_bytes = 0

    def write(self, line: str) -> None:
        with self._lock:
            if self._soon:
                line = "".join(self._soon) + line
                self._soon.clear()
                self._soon_bytes = 0
            self._write(line)

    def write_soon(self, line: str) -> None:
        """Write `line` at the end of this pass of the running event loop."""
        with self._lock:
            if not self._soon:
                try:
                    asyncio.get_running_loop().call_soon(self.flush_soon)
                except RuntimeError:
                    # No event loop in this thread: nothing would come back for it.
                    self._write(line)
                    return
            self._soon.append(line)
            self._soon_bytes += len(line)
            if self._soon_bytes >= PIPE_ATOMIC_BYTES:
                self.flush_soon()

    def flush_soon(self) -> None:
        with self._lock:
            if self._soon:
                lines = "".join(self._soon)
                self._soon.clear()
                self._soon_bytes = 0
                self._write(lines)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            # The stream is closed or its reader gone: nowhere is left to say so.
            pass


class InterceptHandler(logging.Handler):
    """Hands std logging records to loguru, under the module that logged them."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno

        # Step out of the logging package's frames to the caller's, so the
        # record names the module that logged it.
        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1

        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage().rstrip())


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


def use_request_id(rid: str) -> None:
    """Carry `rid` on every record logged from here on in this context (this task)."""
    _request_id.set(rid)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's X-Request-ID when it is well formed, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class AccessLog:
    """ASGI middleware: one access line per HTTP request or WebSocket session, under its id.

    The id is taken or made by `request_id` and written back into the scope as
    the only X-Request-ID header, so whatever reads the header downstream sees
    the id the log lines carry. The line says method, path, status and time;
    a client that left before the whole response was sent is logged as 499.
    A WebSocket session's line comes when it ends, with method WEBSOCKET and
    the handshake's status: 101 if accepted, else the refusal's.
    """

    def __init__(
        self,
        app: ASGIApp,
        request_id: Callable[[Iterable[tuple[bytes, bytes]]], str] = request_id,
    ) -> None:
        self.app = app
        self.request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        rid = self.request_id(scope["headers"])
        scope = dict(scope)
        scope["headers"] = [
            *((name, value) for name, value in scope["headers"] if name != b"x-request-id"),
            (b"x-request-id", rid.encode()),
        ]
        # Left set when the request ends: the server logs an exception the app
        # raised after this returns, and that record should carry the id too.
        # Each request runs in its own task, so the id goes no further.
        _request_id.set(rid)
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return

        exchange = _Exchange(receive, send, has_body=_has_body(scope))
        started = time.perf_counter()
        try:
            await self.app(scope, exchange.receive, exchange.send)
        finally:
            exchange.close()
            _log_access(scope, exchange, time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: int | None = None

        async def watched_send(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "websocket.accept":
                status = 101
            elif kind == "websocket.http.response.start":
                status = message["status"]
            elif kind == "websocket.close" and status is None:
                # Refused without a response of its own: the server answers 403.
                status = 403
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            log_access(
                "WEBSOCKET", scope["path"], status_to_log(False, status), seconds, hung_up=False
            )


class _Exchange:
    """One request's receive and send, watched for its status and for a hang-up.

    Once the app has the whole request body, all it could still receive is
    the disconnect, so a watcher task waits for that on the app's behalf:
    a client that leaves is noticed even when the app never calls receive.
    """

    def __init__(self, receive: Receive, send: Send, *, has_body: bool) -> None:
        self._receive = receive
        self._send = send

        self.status: int | None = None
        self.finishing = False
        self.hung_up = False

        self._gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        # A request without a body: the watcher takes the server's empty body
        # message, and the app is handed an equal one when it asks.
        self._empty_body_owed = not has_body
        if not has_body:
            self._watch()

    async def receive(self) -> Message:
        if self._watcher is None:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._disconnected()
            elif not message.get("more_body", False):
                self._watch()
            return message
        if self._empty_body_owed:
            self._empty_body_owed = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finishing = True
        await self._send(message)

    def close(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()

    def _watch(self) -> None:
        self._watcher = asyncio.ensure_future(self._wait_for_disconnect())
        self._watcher.add_done_callback(_ignore_outcome)

    async def _wait_for_disconnect(self) -> None:
        message = await self._receive()
        if message["type"] != "http.disconnect":
            # The empty body of a request without one.
            message = await self._receive()
        if message["type"] == "http.disconnect":
            self._disconnected()

    def _disconnected(self) -> None:
        # The server also answers "disconnect" once the response is complete.
        if not self.finishing:
            self.hung_up = True
        self._gone.set()


def _ignore_outcome(task: asyncio.Task[None]) -> None:
    # A watcher is cancelled, or its server refuses a receive once the app
    # is done; either way there is nothing left to learn from it.
    if not task.cancelled():
        task.exception()


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


def status_to_log(hung_up: bool, status: int | None) -> int:
    """The status an access line shows: 499 for a hang-up, 500 for no answer."""
    if hung_up:
        return CLIENT_CLOSED
    if status is None:
        # The server answers 500 for an app that raised or never answered.
        return 500
    return status


def _log_access(scope: Scope, exchange: _Exchange, seconds: float) -> None:
    status = status_to_log(exchange.hung_up, exchange.status)
    # The gateway asks every app's health once a second; at INFO those lines
    # would drown the requests people make. They stay visible at DEBUG.
    probe = status == 200 and (b"user-agent", HEALTH_PROBE_AGENT) in scope["headers"]
    log_access(
        scope["method"], scope["path"], status, seconds, hung_up=exchange.hung_up, quiet=probe
    )


def log_access(
    method: str,
    path: str,
    status: int,
    seconds: float,
    *,
    hung_up: bool,
    quiet: bool = False,
    request_id: str | None = None,
) -> None:
    """Write one request's access line, in the same words and fields from every process.

    `quiet` lines (health probes that passed) are logged at DEBUG, not INFO.
    `request_id` is for a caller that serves requests outside a task of
    their own; otherwise the id set by `use_request_id` is used.
    """
    if CONTROL_CHARACTERS.search(path):
        path = CONTROL_CHARACTERS.sub(_escape, path)
    note = " (client disconnected)" if hung_up else ""
    level = "DEBUG" if quiet else "INFO"
    duration_ms = round(seconds * 1000, 1)
    lines = _access_lines
    if lines is not None:
        if lines.level_no <= (10 if quiet else 20):
            lines.write(level, method, path, status, duration_ms, note, request_id)
        return
    # The fields are formatted into the message and kept as the record's
    # extra fields in one step; the note holds no braces.
    logger.log(
        level,
        "{method} {path} {status} {duration_ms} ms" + note,
        method=method,
        path=path,
        status=status,
        duration_ms=duration_ms,
        **({"request_id": request_id} if request_id is not None else {}),
    )


class AccessLines:
    """Access lines written straight to the handler's sink, in the handler's own format.

    An access line is the one line every request makes, and building a
    loguru record for it (clock, frame, thread and process lookups) cost
    more than the gateway spends forwarding a small request. The line that
    comes out is the one loguru would write for `logger.log` called here.
    Coloured output (a terminal) still goes through loguru.
    """

    def __init__(self, writer: LineWriter, app: str, *, json_lines: bool, level_no: int) -> None:
        self._writer = writer
        self._app = app
        self._json = json_lines
        self.level_no = level_no
        self._second = -1
        self._stamp = ""

    def flush(self) -> None:
        """Write out the access lines still waiting for the end of a loop pass."""
        self._writer.flush_soon()

    def write(
        self,
        level: str,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        note: str,
        request_id: str | None,
    ) -> None:
        request_id = request_id or _request_id.get()
        message = f"{method} {path} {status} {duration_ms} ms{note}"
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            if self._json:
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        if self._json:
            line: dict[str, Any] = {
                "time": f"{self._stamp}.{millis:03d}Z",
                "level": level,
                "app": self._app,
                "request_id": request_id,
                "logger": __name__,
                "message": message,
            }
            line.update(method=method, path=path, status=status, duration_ms=duration_ms)
            self._writer.write_soon(json.dumps(line, default=str) + "\n")
            return
        tag = f" [{request_id}]" if request_id else ""
        self._writer.write_soon(
            f"{self._stamp}.{millis:03d} {level: <8} {self._app}{tag} {__name__}: {message}\n"
        )


_access_lines: AccessLines | None = None


@atexit.register
def _flush_access_lines() -> None:
    if _access_lines is not None:
        _access_lines.flush()


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _add_request_id(record: Record) -> None:
    record["extra"].setdefault("request_id", _request_id.get())


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _text_line(record: Record) -> str:
    line = "{time:YYYY-MM-DD HH:mm:ss.SSS} <level>{level: <8}</level> {extra[app]}"
    if record["extra"].get("request_id"):
        line += " [{extra[request_id]}]"
    return line + " {name}: {message}\n{exception}"


def _plain_text_line(record: Record) -> str:
    """`_text_line` without colour, built here: loguru's own time format is the slower path."""
    time, extra = record["time"], record["extra"]
    request_id = extra.get("request_id")
    line = (
        f"{time.year:04d}-{time.month:02d}-{time.day:02d} "
        f"{time.hour:02d}:{time.minute:02d}:{time.second:02d}.{time.microsecond // 1000:03d} "
        f"{record['level'].name: <8} {extra['app']}"
    )
    if request_id:
        line += f" [{request_id}]"
    # The line is handed to loguru as a field, so its braces are never read as a template.
    extra["_text"] = f"{line} {record['name']}: {record['message']}"
    return "{extra[_text]}\n{exception}"


# Keys of a JSON line that are not copied from a record's extra fields.
_OWN_KEYS = ("app", "request_id", "_json", "_text")


def _json_line(record: Record) -> str:
    time_utc = record["time"].astimezone(timezone.utc)
    line: dict[str, Any] = {
        "time": time_utc.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record["level"].name,
        "app": record["extra"].get("app"),
        "request_id": record["extra"].get("request_id"),
        "logger": record["name"],
        "message": record["message"],
    }
    line.update((k, v) for k, v in record["extra"].items() if k not in _OWN_KEYS)
    if record["exception"] is not None:
        kind, value, trace = record["exception"]
        line["exception"] = "".join(traceback.format_exception(kind, value, trace)).rstrip()
    # The line is handed to loguru as a field, so its braces are never read as a template.
    record["extra"]["_json"] = json.dumps(line, default=str)
    return "{extra[_json]}\n"
