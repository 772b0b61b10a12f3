"""The box's combined output under `onebox up`: one format, one line per event.

Every process logs through onebox_service.logs. As text, each line keeps
honcho's prefix; with LOG_FORMAT=json, every line of stdout is one JSON object.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.stack import Stack, running

PROCESSES = ("app1", "app2", "gateway")
# honcho's prefix, then the process's own line.
PREFIXED = re.compile(r"^\d\d:\d\d:\d\d (\S+)\s*\| (.*)$")
# A text access line after the prefix: time, level, app, [request id], logger, message.
TEXT_ACCESS = re.compile(
    r"^\S+ \S+ INFO +(?P<app>\S+) \[(?P<rid>[^]]+)\] onebox_service\.logs: "
    r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) [\d.]+ ms"
)
# The last line of the traceback of app2's GET /boom.
BOOM = "app2.probes.Boom: GET /boom fails on purpose"


@pytest.fixture(scope="module")
def text_box() -> Iterator[Stack]:
    with running() as stack:
        stack.wait_until("/readyz")
        yield stack


@pytest.fixture(scope="module")
def json_box() -> Iterator[Stack]:
    with running(LOG_FORMAT="json") as stack:
        stack.wait_until("/readyz")
        yield stack


def wait_for(found: Callable[[], bool], stack: Stack, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found():
            return
        time.sleep(0.1)
    raise AssertionError(f"the expected lines never came:\n{stack.output}")


# Text.


def prefixed(stack: Stack) -> list[tuple[str, str]]:
    """(process, line) for every line with honcho's prefix."""
    return [(m[1], m[2]) for line in list(stack.lines) if (m := PREFIXED.match(line))]


def text_access(stack: Stack, rid: str) -> list[tuple[str, re.Match[str]]]:
    """(process, access line) for every access line of the request `rid`."""
    found = []
    for process, line in prefixed(stack):
        match = TEXT_ACCESS.match(line)
        if match and match["rid"] == rid:
            found.append((process, match))
    return found


def test_text_lines_keep_the_prefix_and_share_one_format(text_box: Stack) -> None:
    for process in PROCESSES:
        started = [
            line
            for name, line in prefixed(text_box)
            if name == process and "Started server process [" in line
        ]
        assert len(started) == 1, text_box.output
        assert f" INFO     {process} uvicorn.server: Started server process [" in started[0]
    # uvicorn's own format ("INFO:     ...") never shows: its handlers are gone.
    assert not any(line.startswith(("INFO:", "ERROR:")) for _, line in prefixed(text_box))
    assert "\x1b[" not in text_box.output


def test_text_access_lines_share_the_request_id(text_box: Stack) -> None:
    response = httpx.get(text_box.url + "/app1/healthz")
    rid = response.headers["x-request-id"]

    wait_for(lambda: len(text_access(text_box, rid)) == 2, text_box)
    lines = text_access(text_box, rid)
    assert sorted(process for process, _ in lines) == ["app1", "gateway"]
    for process, match in lines:
        assert match["app"] == process
        assert (match["method"], match["status"]) == ("GET", "200")
        assert match["path"] == "/app1/healthz"


def test_text_traceback_is_logged_once_by_the_app(text_box: Stack) -> None:
    response = httpx.get(text_box.url + "/app2/boom", headers={"X-Request-ID": "text-boom"})

    assert response.status_code == 500
    wait_for(lambda: len(text_access(text_box, "text-boom")) == 2, text_box)
    wait_for(lambda: any(BOOM in line for line in text_box.lines), text_box)
    tracebacks = [
        (process, line)
        for process, line in prefixed(text_box)
        if line.startswith("Traceback (most recent call last)")
    ]
    assert [process for process, _ in tracebacks] == ["app2"]
    assert sum(BOOM in line for line in text_box.lines) == 1


# JSON.


def records(stack: Stack) -> list[dict[str, Any]]:
    """Every line of the output as a JSON object; fails on any line that is not one."""
    parsed = []
    for line in list(stack.lines):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict), line
        parsed.append(record)
    return parsed


def access(stack: Stack, rid: str) -> list[dict[str, Any]]:
    return [r for r in records(stack) if r.get("request_id") == rid and "status" in r]


def test_json_every_line_is_one_object_with_the_common_fields(json_box: Stack) -> None:
    httpx.get(json_box.url + "/app2/healthz")

    found = records(json_box)
    for record in found:
        assert {"time", "level", "app", "request_id", "message"} <= record.keys(), record
        assert record["time"].endswith("Z")
        assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)
    assert {"app1", "app2", "gateway", "onebox"} <= {record["app"] for record in found}
    assert "\x1b[" not in json_box.output


def test_json_honchos_own_lines_are_objects(json_box: Stack) -> None:
    started = [
        r for r in records(json_box) if re.fullmatch(r"\S+ started \(pid=\d+\)", r["message"])
    ]

    assert {r["app"] for r in started} == {"onebox"}
    assert set(json_box.pids()) == set(PROCESSES)


def test_json_access_lines_share_the_request_id(json_box: Stack) -> None:
    response = httpx.get(json_box.url + "/app2/healthz", headers={"X-Request-ID": "json-1"})

    assert response.headers["x-request-id"] == "json-1"
    wait_for(lambda: len(access(json_box, "json-1")) == 2, json_box)
    lines = {r["app"]: r for r in access(json_box, "json-1")}
    assert set(lines) == {"app2", "gateway"}
    for record in lines.values():
        assert (record["method"], record["path"], record["status"]) == ("GET", "/app2/healthz", 200)
        assert record["duration_ms"] >= 0


def test_json_traceback_is_logged_once_by_the_app(json_box: Stack) -> None:
    response = httpx.get(json_box.url + "/app2/boom", headers={"X-Request-ID": "json-boom"})

    assert response.status_code == 500
    wait_for(lambda: len(access(json_box, "json-boom")) == 2, json_box)
    wait_for(lambda: BOOM in json_box.output, json_box)
    failures = [r for r in records(json_box) if "exception" in r]
    assert len(failures) == 1, failures
    assert failures[0]["app"] == "app2"
    assert failures[0]["level"] == "ERROR"
    assert failures[0]["request_id"] == "json-boom"
    assert failures[0]["exception"].startswith("Traceback (most recent call last)")
    assert failures[0]["exception"].endswith(BOOM)
    assert {r["app"]: r["status"] for r in access(json_box, "json-boom")} == {
        "app2": 500,
        "gateway": 500,
    }


def test_json_handled_error_logs_no_traceback(json_box: Stack) -> None:
    # app1 answers 500 for numpy 1.20's missing show_runtime(): handled, not raised.
    response = httpx.get(json_box.url + "/app1/", headers={"X-Request-ID": "json-handled"})

    assert response.status_code == 500
    wait_for(lambda: len(access(json_box, "json-handled")) == 2, json_box)
    assert not [r for r in records(json_box) if "exception" in r and r["app"] == "app1"]


def test_json_client_that_hangs_up_is_logged_as_such(json_box: Stack) -> None:
    direct = f"http://127.0.0.1:{json_box.app_ports['app2']}"
    for url, rid in [(json_box.url + "/app2", "gone-gateway"), (direct, "gone-app")]:
        with httpx.stream(
            "GET", url + "/stream?seconds=3", headers={"X-Request-ID": rid}, timeout=10
        ) as response:
            assert next(response.iter_bytes()) == b"1\n"

    wait_for(lambda: len(access(json_box, "gone-gateway")) >= 1, json_box)
    wait_for(lambda: len(access(json_box, "gone-app")) == 1, json_box)
    gateway = [r for r in access(json_box, "gone-gateway") if r["app"] == "gateway"]
    assert [r["status"] for r in gateway] == [499]
    assert "client disconnected" in gateway[0]["message"]
    assert [r["status"] for r in access(json_box, "gone-app")] == [499]


def test_json_lines_stay_whole_and_counted_under_load(json_box: Stack) -> None:
    paths = ["/app1/healthz", "/app2/healthz", "/app1/", "/app2/"]
    requests = [(f"load-{number}", paths[number % len(paths)]) for number in range(200)]

    def get(request: tuple[str, str]) -> int:
        rid, path = request
        with httpx.Client(timeout=30) as client:
            status: int = client.get(json_box.url + path, headers={"X-Request-ID": rid}).status_code
            return status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(get, requests))
    assert set(statuses) <= {200, 500}

    def loaded() -> Counter[tuple[str, str]]:
        return Counter(
            (r["app"], r["request_id"])
            for r in records(json_box)
            if "status" in r and str(r["request_id"]).startswith("load-")
        )

    wait_for(lambda: sum(loaded().values()) >= 2 * len(requests), json_box)
    time.sleep(0.5)
    counts = loaded()
    assert sum(counts.values()) == 2 * len(requests)
    # No process printed past its logger: every line of theirs is a log record.
    assert not [r for r in records(json_box) if r["app"] in PROCESSES and "logger" not in r]
    for rid, path in requests:
        app = path.split("/")[1]
        assert counts[("gateway", rid)] == 1
        assert counts[(app, rid)] == 1


def test_json_level_is_set_for_every_process() -> None:
    with running(LOG_FORMAT="json", LOG_LEVEL="WARNING") as stack:
        stack.wait_until("/readyz")
        httpx.get(stack.url + "/app1/healthz")
        httpx.get(stack.url + "/app2/boom")
        wait_for(lambda: any("exception" in r for r in records(stack)), stack)

    from_processes = [r for r in records(stack) if r["app"] in PROCESSES]
    assert from_processes
    assert {r["level"] for r in from_processes} <= {"WARNING", "ERROR", "CRITICAL"}


def test_json_refusal_before_anything_starts_is_one_object() -> None:
    with running(LOG_FORMAT="json", LOG_LEVEL="LOUD") as stack:
        returncode = stack.wait_exit()

    assert returncode == 1
    found = records(stack)
    assert len(found) == 1
    assert found[0]["app"] == "onebox"
    assert found[0]["level"] == "ERROR"
    assert "LOG_LEVEL='LOUD' is not a level" in found[0]["message"]


def test_json_wraps_lines_a_process_prints_outside_its_logger() -> None:
    # uvicorn refuses a bad setting from the environment in plain words,
    # before any logging of ours is set up; every process stops the box.
    with running(LOG_FORMAT="json", UVICORN_TIMEOUT_KEEP_ALIVE="never") as stack:
        returncode = stack.wait_exit()

    assert returncode != 0
    found = records(stack)
    assert any("timeout-keep-alive" in r["message"] and r["app"] in PROCESSES for r in found)
    assert found[-1]["app"] == "onebox"
    assert found[-1]["level"] == "ERROR"
    assert "so every process was stopped" in found[-1]["message"]
