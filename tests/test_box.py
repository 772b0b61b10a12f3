"""The whole box, run from the real Procfile: the proof case and how it fails."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.stack import ROOT, Stack, running


@pytest.fixture(scope="module")
def box() -> Iterator[Stack]:
    with running() as stack:
        stack.wait_until("/readyz")
        yield stack


def test_app1_fails_show_runtime_on_numpy_1_20(box: Stack) -> None:
    response = httpx.get(box.url + "/app1")

    assert response.status_code == 500
    body = response.json()
    assert body["app"] == "app1"
    assert body["numpy"] == "1.20.0"
    assert body["python"].startswith("3.9.")
    assert body["error"] == "AttributeError"
    assert "1.20.0" in body["detail"]
    assert "show_runtime" in body["detail"]


def test_app2_reports_show_runtime_on_numpy_1_24(box: Stack) -> None:
    response = httpx.get(box.url + "/app2")

    assert response.status_code == 200
    body = response.json()
    assert body["app"] == "app2"
    assert body["numpy"] == "1.24.0"
    assert body["python"].startswith("3.11.")
    assert "simd_extensions" in body["show_runtime"]


def test_each_app_runs_in_its_own_venv(box: Stack) -> None:
    app1 = httpx.get(box.url + "/app1").json()
    app2 = httpx.get(box.url + "/app2").json()

    assert app1["venv"] == str(ROOT / "apps" / "app1" / ".venv")
    assert app2["venv"] == str(ROOT / "apps" / "app2" / ".venv")
    assert app1["interpreter"] != app2["interpreter"]
    assert app1["pid"] != app2["pid"]


def test_prefix_matches_whole_segments_only(box: Stack) -> None:
    response = httpx.get(box.url + "/app10")

    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert "/app1, /app2" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_subpaths_reach_the_app_with_prefix_stripped(box: Stack) -> None:
    response = httpx.get(box.url + "/app2/healthz")

    assert response.json() == {"status": "ok", "app": "app2"}


def test_gateway_answers_its_own_health(box: Stack) -> None:
    assert httpx.get(box.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(box.url + "/readyz").json() == {"status": "ready"}


def test_output_is_one_prefixed_stream(box: Stack) -> None:
    httpx.get(box.url + "/app2/healthz")

    names = {line.split("|")[0].split()[-1] for line in box.lines if "|" in line}
    assert {"system", "app1", "app2", "gateway"} <= names


def test_apps_listen_on_loopback_only(box: Stack) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
    for port in box.app_ports.values():
        listening = [line for line in _listeners() if line.endswith(f":{port}")]
        assert listening == [f"127.0.0.1:{port}"]


def _listeners() -> list[str]:
    found = []
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            octets = [str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)]
            found.append(f"{'.'.join(octets)}:{int(port, 16)}")
    return found


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_one_process_ending_stops_the_whole_box(how: signal.Signals) -> None:
    with running() as stack:
        stack.wait_until("/readyz")
        app1 = stack.pids()["app1"]

        os.kill(app1, how)
        returncode = stack.wait_exit()

    assert returncode != 0
    assert f"app1 was killed by {how.name}" in stack.lines[-1]
    for port in [stack.port, *stack.app_ports.values()]:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_gateway_endpoints_answer_in_the_gateways_shape(box: Stack) -> None:
    refused = httpx.post(box.url + "/healthz")
    head = httpx.head(box.url + "/readyz")
    alive = httpx.get(box.url + "/healthz", headers={"X-Request-ID": "probe-7"})

    assert refused.status_code == 405
    assert set(refused.json()) == {"error", "detail", "app", "request_id"}
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert head.status_code == 200
    assert alive.headers["x-request-id"] == "probe-7"


def test_health_probes_do_not_flood_the_log(box: Stack) -> None:
    time.sleep(3)

    probe_lines = [line for line in box.lines if "GET /app1/healthz 200" in line]

    assert probe_lines == []
