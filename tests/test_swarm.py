"""The split layout on a real cluster engine: a one-node Docker Swarm, app2 at
two replicas, the gateway spreading requests over both and riding out a kill."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.container import IMAGE, docker
from tests.stack import ROOT, free_port

pytestmark = pytest.mark.timeout(1500)

FILES = ["--compose-file", str(ROOT / "compose.yaml")]
FILES += ["--compose-file", str(ROOT / "compose.swarm.yaml")]


class Swarm:
    """A stack deployed on a swarm this test made, and the swarm left again after."""

    def __init__(self) -> None:
        self.stack = f"onebox{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.joined = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
        if state != "active":
            docker("swarm", "init", "--advertise-addr", "127.0.0.1")
            self.joined = True
        docker(
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            *FILES,
            self.stack,
            env={"ONEBOX_IMAGE": IMAGE, "PORT": str(self.port)},
            timeout=120,
        )

    def stop(self) -> None:
        docker("stack", "rm", self.stack, check=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace={self.stack}")
            if not left.stdout.strip():
                break
            time.sleep(1)
        if self.joined:
            docker("swarm", "leave", "--force", check=False)

    def containers(self, service: str) -> list[str]:
        found = docker(
            "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.stack}_{service}"
        )
        return found.stdout.split()

    def wait_until(self, path: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + path, timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        tasks = docker("stack", "ps", "--no-trunc", self.stack, check=False).stdout
        raise AssertionError(f"{path} never answered 200 on the swarm:\n{tasks}")


@pytest.fixture(scope="module")
def swarm(image: None) -> Iterator[Swarm]:
    cluster = Swarm()
    try:
        cluster.start()
        cluster.wait_until("/readyz")
        yield cluster
    finally:
        cluster.stop()


def replicas_answering(swarm: Swarm, requests: int = 30) -> set[str]:
    hosts = set()
    for _ in range(requests):
        response = httpx.get(swarm.url + "/app2", timeout=10)
        assert response.status_code == 200, response.text
        hosts.add(response.json()["host"])
    return hosts


def test_proof_case_through_the_swarm(swarm: Swarm) -> None:
    app1 = httpx.get(swarm.url + "/app1", timeout=10)

    assert app1.status_code == 500
    assert app1.json()["numpy"] == "1.20.0"
    assert httpx.get(swarm.url + "/app2", timeout=10).json()["numpy"] == "1.24.0"


def test_requests_spread_over_both_replicas(swarm: Swarm) -> None:
    assert len(swarm.containers("app2")) == 2

    assert len(replicas_answering(swarm)) == 2


def test_app2_keeps_answering_when_a_replica_is_killed(swarm: Swarm) -> None:
    victim = swarm.containers("app2")[0]

    docker("kill", victim)
    statuses = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses.append(httpx.get(swarm.url + "/app2", timeout=10).status_code)
        time.sleep(0.1)

    assert set(statuses) == {200}, f"{statuses.count(200)} of {len(statuses)} answered 200"
    swarm.wait_until("/readyz")
    deadline = time.monotonic() + 120
    while len(swarm.containers("app2")) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    assert victim not in swarm.containers("app2")
    assert len(swarm.containers("app2")) == 2
    time.sleep(5)
    assert len(replicas_answering(swarm)) == 2
