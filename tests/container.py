"""Build the onebox image and run containers of it on this machine's Docker engine."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from tests.stack import ROOT, free_port

# Debian's docker client builds with BuildKit itself (the Dockerfile's cache
# mounts need it); a newer client on PATH may lack the buildx plugin it wants.
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
DOCKER_ENV = {**os.environ, "DOCKER_BUILDKIT": "1"}

IMAGE = "onebox:test"
STARTED = re.compile(r"(\w[\w-]*) started \(pid=(\d+)\)")

# Build arguments taken from the environment when set there, e.g. an offline
# base image: BASE_IMAGE=onebox-base:bookworm PYTHON_DOWNLOADS=never.
BUILD_ARGS = ("BASE_IMAGE", "PYTHON_DOWNLOADS")


def docker(
    *args: str, timeout: float = 60, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [DOCKER, *args],
        env={**DOCKER_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result


def engine_problem() -> str | None:
    """Why no image can be built here, or None when the engine answers."""
    if not Path(DOCKER).exists():
        return f'{DOCKER} does not exist; run `eval "$(bash docker/engine.sh)"` first'
    if docker("info", check=False).returncode != 0:
        return 'the Docker engine does not answer; run `eval "$(bash docker/engine.sh)"` first'
    return None


def build(tag: str = IMAGE) -> None:
    args = []
    for name in BUILD_ARGS:
        if os.environ.get(name):
            args += ["--build-arg", f"{name}={os.environ[name]}"]
    result = docker("build", "--tag", tag, *args, str(ROOT), timeout=1200, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-30:])
        raise AssertionError(
            f"building the image failed (BASE_IMAGE={os.environ.get('BASE_IMAGE', 'default')}):"
            f"\n{tail}"
        )


class Container:
    """One running container of the image, removed again by remove()."""

    def __init__(
        self,
        *run_args: str,
        image: str = IMAGE,
        publish: bool = True,
        command: tuple[str, ...] = (),
        container_port: int = 8000,
        ready_path: str = "/readyz",
    ) -> None:
        self.name = f"onebox-test-{uuid.uuid4().hex[:12]}"
        self.port = free_port() if publish else 0
        self.ready_path = ready_path
        ports = ["--publish", f"127.0.0.1:{self.port}:{container_port}"] if publish else []
        docker("run", "--detach", "--name", self.name, *ports, *run_args, image, *command)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def is_running(self) -> bool:
        result = docker("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def exit_code(self) -> int:
        return int(docker("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)

    def wait_ready(self, timeout: float = 30) -> None:
        """Poll the ready path through the published port until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise AssertionError(f"{self.name} exited early:\n{self.logs()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} never became ready:\n{self.logs()}")

    def python(self, code: str, timeout: float = 30) -> str:
        """Run Python inside the container (the tooling venv's) and return its output."""
        result = docker("exec", self.name, "python", "-c", code, timeout=timeout, check=False)
        if result.returncode != 0:
            raise AssertionError(f"python in {self.name} failed:\n{result.stderr}")
        return result.stdout.strip()

    def pids(self) -> dict[str, int]:
        """Each process's pid inside the container, as honcho announced it."""
        return {m[1]: int(m[2]) for m in STARTED.finditer(self.logs())}

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still runs after {timeout} s:\n{self.logs()}")
            time.sleep(0.1)
        return self.exit_code()

    def remove(self) -> None:
        docker("rm", "--force", self.name, check=False)
