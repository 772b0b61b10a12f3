"""The same image outside the box: one app alone, and the box split by compose."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from onebox import config
from tests.container import DOCKER_ENV, IMAGE, Container, docker
from tests.stack import ROOT, free_port
from tests.tools import require

pytestmark = pytest.mark.timeout(1500)

COMPOSE = ROOT / "compose.yaml"


def test_compose_file_agrees_with_onebox_toml() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    gateway = services["gateway"]

    for app in config.load(ROOT).apps:
        assert services[app.name]["command"] == [app.name]
        upstream = gateway["environment"][f"{app.env_name}_UPSTREAM"]
        assert upstream == f"http://{app.name}:{app.port}"
    assert gateway["command"] == ["gateway"]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_one_app_alone_serves_on_all_interfaces(image: None, how: str) -> None:
    if how == "argument":
        alone = Container(command=("app1",), container_port=8001, ready_path="/healthz")
    else:
        alone = Container("--env", "ONEBOX_SERVE=app1", container_port=8001, ready_path="/healthz")
    try:
        alone.wait_ready()
        response = httpx.get(alone.url + "/")

        assert response.status_code == 500
        assert response.json()["numpy"] == "1.20.0"
        lines = [json.loads(line) for line in alone.logs().splitlines() if line]
        assert {line["app"] for line in lines} <= {"app1", "onebox"}
        assert any(line.get("status") == 500 for line in lines)
        assert _health(alone) == "healthy"
    finally:
        alone.remove()


def _health(container: Container, timeout: float = 40) -> str:
    """Docker's verdict from the image's HEALTHCHECK, once it has one."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = docker(
            "inspect", "--format", "{{.State.Health.Status}}", container.name
        ).stdout.strip()
        if status != "starting":
            return status
        time.sleep(1)
    return status


class Split:
    """The box as compose.yaml lays it out: one container per app and the gateway."""

    def __init__(self) -> None:
        self.compose = require("docker-compose", "install it with `apt-get install docker-compose`")
        self.project = f"onebox-split-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.env: dict[str, Any] = {
            **DOCKER_ENV,
            "ONEBOX_IMAGE": IMAGE,
            "PORT": str(self.port),
        }

    def run(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [self.compose, "--project-name", self.project, "--file", str(COMPOSE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until(self, path: str, status: int, timeout: float = 60) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: httpx.Response | None = None
        while time.monotonic() < deadline:
            try:
                last = httpx.get(self.url + path, timeout=3)
                if last.status_code == status:
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        logs = self.run("logs", "--no-color", "--tail", "30")
        seen = None if last is None else (last.status_code, last.text)
        raise AssertionError(f"{path} never answered {status} (last: {seen}):\n{logs}")


@pytest.fixture
def split(image: None) -> Iterator[Split]:
    layout = Split()
    try:
        layout.run("up", "--detach")
        layout.wait_until("/readyz", 200)
        yield layout
    finally:
        layout.run("down", "--volumes", "--timeout", "5")


def test_split_layout_serves_the_proof_case(split: Split) -> None:
    app1 = httpx.get(split.url + "/app1").json()
    app2 = httpx.get(split.url + "/app2").json()

    assert (app1["numpy"], app1["error"]) == ("1.20.0", "AttributeError")
    assert app2["numpy"] == "1.24.0"
    assert app1["host"] != app2["host"]


def test_a_stopped_app_answers_503_while_the_other_serves(split: Split) -> None:
    split.run("stop", "--timeout", "5", "app1")

    refused = split.wait_until("/app1", 503)

    assert refused.json()["app"] == "app1"
    assert "retry-after" in refused.headers
    assert httpx.get(split.url + "/app2").status_code == 200
    assert "app1" in httpx.get(split.url + "/readyz").json()["not_ready"]
