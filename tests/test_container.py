"""The image: built once, then run the way production runs it, seen from outside."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.container import Container, docker

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the image and its engine need Linux"),
    # The first test also waits for the image to build.
    pytest.mark.timeout(1500),
]

# `docker stop` waits this long before it kills; the box must be gone well before.
STOP_TIMEOUT = 10

EVERY_PROCESS_UID = """
import json, os
uids = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        continue
    uids[lines["Name"].strip()] = int(lines["Uid"].split()[0])
print(json.dumps(uids))
"""


@pytest.fixture
def container(image: None) -> Iterator[Container]:
    """A fresh container for a test that stops or breaks it."""
    box = Container()
    try:
        box.wait_ready()
        yield box
    finally:
        box.remove()


@pytest.fixture(scope="module")
def shared(image: None) -> Iterator[Container]:
    """One container for the tests that only look; health checked every second."""
    box = Container("--health-interval", "1s")
    try:
        box.wait_ready()
        yield box
    finally:
        box.remove()


def test_app1_fails_show_runtime_on_numpy_1_20(shared: Container) -> None:
    response = httpx.get(shared.url + "/app1")

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "AttributeError"
    assert body["numpy"] == "1.20.0"
    assert body["python"].startswith("3.9.")
    assert body["venv"] == "/srv/onebox/apps/app1/.venv"


def test_app2_reports_show_runtime_on_numpy_1_24(shared: Container) -> None:
    response = httpx.get(shared.url + "/app2")

    assert response.status_code == 200
    body = response.json()
    assert body["numpy"] == "1.24.0"
    assert body["python"].startswith("3.11.")
    assert "simd_extensions" in body["show_runtime"]


def test_gateway_reports_ready_and_docker_sees_healthy(shared: Container) -> None:
    assert httpx.get(shared.url + "/readyz").json() == {"status": "ready"}

    deadline = time.monotonic() + 20
    status = ""
    while time.monotonic() < deadline and status != "healthy":
        time.sleep(0.5)
        status = docker("inspect", "--format", "{{.State.Health.Status}}", shared.name).stdout
        status = status.strip()
    assert status == "healthy"


def test_every_process_runs_as_non_root_under_tini(shared: Container) -> None:
    uids = json.loads(shared.python(EVERY_PROCESS_UID))

    assert {"tini", "uvicorn"} <= set(uids), uids
    assert all(uid != 0 for uid in uids.values()), uids
    assert shared.python("print(open('/proc/1/comm').read().strip())") == "tini"


def test_every_venv_python_resolves_to_its_pinned_version(shared: Container) -> None:
    pinned = {"apps/app1": "3.9", "apps/app2": "3.11", "gateway": "3.11", ".": "3.11"}
    code = "import platform; print(platform.python_version())"

    for project, version in pinned.items():
        python = f"/srv/onebox/{project}/.venv/bin/python"
        result = docker("exec", shared.name, python, "-c", code)
        assert result.stdout.startswith(version + "."), (project, result.stdout)


def test_image_holds_venvs_and_the_box_files_only(shared: Container) -> None:
    found = json.loads(shared.python(_IMAGE_CONTENTS))

    assert found["/srv/onebox"] == [".venv", "Procfile", "apps", "gateway", "onebox.toml"]
    for project in ("apps/app1", "apps/app2", "gateway"):
        assert found[project] == [".venv"], project
    assert found["uv"] is None
    assert found["caches"] == []


_IMAGE_CONTENTS = """
import glob, json, os, shutil
found = {
    path: sorted(os.listdir(path))
    for path in ("/srv/onebox", "apps/app1", "apps/app2", "gateway")
}
found["uv"] = shutil.which("uv")
found["caches"] = glob.glob("/root/.cache/*") + glob.glob("/home/onebox/.cache/*")
print(json.dumps(found))
"""


@pytest.mark.parametrize("target", ["app1", "watcher of app1"])
def test_a_killed_process_stops_the_container(container: Container, target: str) -> None:
    pid = container.pids()["app1"]
    if target.startswith("watcher"):
        stat = container.python(f"print(open('/proc/{pid}/stat').read())")
        pid = int(stat.rsplit(")", 1)[1].split()[1])

    container.python(f"import os, signal; os.kill({pid}, signal.SIGKILL)")
    started = time.monotonic()
    returncode = container.wait_exit(timeout=15)
    elapsed = time.monotonic() - started

    assert returncode != 0
    assert elapsed < STOP_TIMEOUT
    last_lines = container.logs().strip().splitlines()[-3:]
    assert any("app1" in line and "SIGKILL" in line for line in last_lines), last_lines


def test_restart_on_failure_brings_the_whole_box_back(image: None) -> None:
    box = Container("--restart", "on-failure")
    try:
        box.wait_ready()
        first = box.pids()["app1"]

        box.python(f"import os, signal; os.kill({first}, signal.SIGKILL)")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _restarts(box) == 0:
            time.sleep(0.2)
        box.wait_ready()

        assert _restarts(box) == 1
        assert httpx.get(box.url + "/app2").json()["numpy"] == "1.24.0"
        assert httpx.get(box.url + "/app1").json()["numpy"] == "1.20.0"
    finally:
        box.remove()


def _restarts(box: Container) -> int:
    return int(docker("inspect", "--format", "{{.RestartCount}}", box.name).stdout)


def test_docker_stop_lets_a_stream_finish_then_exits_0(container: Container) -> None:
    lines: list[str] = []
    first_line = threading.Event()

    def read_stream() -> None:
        url = container.url + "/app2/stream?seconds=4"
        with httpx.stream("GET", url, timeout=15) as response:
            for line in response.iter_lines():
                lines.append(line)
                first_line.set()

    reader = threading.Thread(target=read_stream)
    reader.start()
    assert first_line.wait(timeout=10)

    stopper = threading.Thread(
        target=docker, args=("stop", "--time", str(STOP_TIMEOUT), container.name), daemon=True
    )
    started = time.monotonic()
    stopper.start()
    _wait_for(container, "sending SIGTERM to gateway")
    refused = container.python(_CONNECT_TO_GATEWAY)
    reader.join(timeout=15)
    stopper.join(timeout=15)
    elapsed = time.monotonic() - started

    assert lines == ["1", "2", "3", "4"]
    assert refused == "refused"
    assert container.exit_code() == 0
    assert 2 < elapsed < STOP_TIMEOUT - 1
    logs = container.logs()
    assert "SIGKILL" not in logs
    for app in ("app1", "app2"):
        said = [line for line in logs.splitlines() if app in line and "shutdown complete" in line]
        assert len(said) == 1, (app, logs)
    assert logs.index("sending SIGTERM to gateway") < logs.index("sending SIGTERM to app")


_CONNECT_TO_GATEWAY = """
import socket
try:
    socket.create_connection(("127.0.0.1", 8000), timeout=2).close()
    print("accepted")
except ConnectionRefusedError:
    print("refused")
"""


def _wait_for(container: Container, text: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while text not in container.logs():
        assert time.monotonic() < deadline, f"never logged {text!r}:\n{container.logs()}"
        time.sleep(0.05)


def test_read_only_without_network_serves_on_loopback(image: None) -> None:
    box = Container("--read-only", "--network", "none", publish=False)
    try:
        answers = box.python(_ASK_FROM_INSIDE, timeout=40)
    finally:
        logs = box.logs()
        box.remove()

    statuses = json.loads(answers)
    assert statuses == {"/readyz": 200, "/app1": 500, "/app2": 200}, logs


_ASK_FROM_INSIDE = """
import json, time, urllib.error, urllib.request

def status(path):
    try:
        return urllib.request.urlopen("http://127.0.0.1:8000" + path, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None

deadline = time.monotonic() + 30
while status("/readyz") != 200 and time.monotonic() < deadline:
    time.sleep(0.2)
print(json.dumps({path: status(path) for path in ("/readyz", "/app1", "/app2")}))
"""
