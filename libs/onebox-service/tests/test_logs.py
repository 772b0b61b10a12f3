"""The shared log setup and access middleware, run on the oldest Python an app pins."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from loguru import logger
from starlette.websockets import WebSocketDisconnect

from onebox_service import logs


class Output(io.StringIO):
    def records(self) -> list[dict[str, Any]]:
        """The records written, less the test client's own (some log each request)."""
        found = [json.loads(line) for line in self.getvalue().splitlines()]
        return [record for record in found if not record["logger"].startswith("httpx")]


@pytest.fixture
def output() -> Iterator[Output]:
    stream = Output()
    logs.setup("demo", log_format="json", level="INFO", stream=stream)
    yield stream
    logger.remove()


def demo_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(logs.AccessLog)

    @app.get("/echo")
    def echo(request: Request) -> dict[str, Any]:
        logger.info("echoing")
        return {"header": request.headers.get("x-request-id")}

    @app.get("/fail")
    def fail() -> None:
        raise RuntimeError("fails on purpose")

    @app.websocket("/talk")
    async def talk(websocket: WebSocket) -> None:
        if websocket.query_params.get("refuse"):
            await websocket.close()
            return
        await websocket.accept()
        await websocket.send_text(websocket.headers["x-request-id"])
        await websocket.close()

    return app


def test_std_logging_reaches_the_one_handler_under_its_module(output: Output) -> None:
    logging.getLogger("some.library").warning("careful: %s", "hot")

    [record] = output.records()
    assert record["app"] == "demo"
    assert record["level"] == "WARNING"
    assert record["message"] == "careful: hot"
    assert record["logger"] == __name__
    assert record["request_id"] is None
    assert record["time"].endswith("Z")


def test_exception_is_one_record_with_its_traceback(output: Output) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("some.library").exception("it failed")

    [record] = output.records()
    assert record["level"] == "ERROR"
    assert record["exception"].startswith("Traceback (most recent call last)")
    assert record["exception"].endswith("ValueError: bad value")


def test_level_below_the_setting_is_dropped(output: Output) -> None:
    logging.getLogger("some.library").debug("noise")
    logger.debug("more noise")

    assert output.getvalue() == ""


def test_uvicorn_access_logger_is_silent(output: Output) -> None:
    logging.getLogger("uvicorn.access").info("GET / 200")

    assert output.getvalue() == ""


def test_access_line_carries_the_clients_request_id(output: Output) -> None:
    client = TestClient(demo_app())

    response = client.get("/echo", headers={"X-Request-ID": "abc-123"})

    assert response.json() == {"header": "abc-123"}
    inside, access = output.records()
    assert inside["message"] == "echoing"
    assert inside["request_id"] == "abc-123"
    assert access["request_id"] == "abc-123"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/echo", 200)
    assert access["message"].startswith("GET /echo 200 ")


def test_malformed_request_id_is_replaced_everywhere(output: Output) -> None:
    client = TestClient(demo_app())

    response = client.get("/echo", headers={"X-Request-ID": "no spaces allowed"})

    made = response.json()["header"]
    assert made != "no spaces allowed"
    assert [record["request_id"] for record in output.records()] == [made, made]


def test_failing_request_is_logged_as_500(output: Output) -> None:
    client = TestClient(demo_app(), raise_server_exceptions=False)

    response = client.get("/fail")

    assert response.status_code == 500
    access = [record for record in output.records() if "status" in record]
    assert [record["status"] for record in access] == [500]


def test_text_lines_have_no_colour_off_a_terminal() -> None:
    stream = io.StringIO()
    logs.setup("demo", log_format="text", level="INFO", stream=stream)
    try:
        logger.info("plain")
    finally:
        logger.remove()

    line = stream.getvalue()
    assert line.endswith(f" INFO     demo {__name__}: plain\n")
    assert "\x1b[" not in line


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT='xml' is not known"):
        logs.setup("demo", log_format="xml")


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL='LOUD' is not a level"):
        logs.setup("demo", level="loud")


def test_websocket_sessions_get_an_access_line(output: Output) -> None:
    client = TestClient(demo_app())

    with client.websocket_connect("/talk", headers={"X-Request-ID": "ws-1"}) as websocket:
        assert websocket.receive_text() == "ws-1"
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/talk?refuse=1"):
        pass

    access = [record for record in output.records() if "status" in record]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [
        ("WEBSOCKET", "/talk", 101),
        ("WEBSOCKET", "/talk", 403),
    ]
    assert access[0]["request_id"] == "ws-1"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_access_lines_are_written_as_loguru_would_write_them(log_format: str) -> None:
    stream = io.StringIO()
    logs.setup("demo", log_format=log_format, level="DEBUG", stream=stream)
    try:
        logs.log_access("GET", "/a\x01b", 200, 0.0012, hung_up=False, request_id="r1")
        logs.log_access("POST", "/c", 499, 1.5, hung_up=True, quiet=True)
        fast = stream.getvalue().splitlines()
        lines, logs._access_lines = logs._access_lines, None
        logs.log_access("GET", "/a\x01b", 200, 0.0012, hung_up=False, request_id="r1")
        logs.log_access("POST", "/c", 499, 1.5, hung_up=True, quiet=True)
        logs._access_lines = lines
    finally:
        logger.remove()

    by_loguru = stream.getvalue().splitlines()[len(fast) :]
    assert len(fast) == len(by_loguru) == 2

    def without_time(line: str) -> str:
        if log_format == "json":
            record = json.loads(line)
            del record["time"]
            return json.dumps(record)
        return line.split(" ", 2)[2]

    assert [without_time(line) for line in fast] == [without_time(line) for line in by_loguru]


def test_a_path_cannot_start_a_line_of_its_own(output: Output) -> None:
    logs.log_access("GET", "/a\u2028forged\x85line\nend", 404, 0.001, hung_up=False)

    [record] = output.records()
    assert "\u2028" not in record["path"] and "\x85" not in record["path"]
    assert len(output.getvalue().splitlines()) == 1
