"""The tooling: onebox.toml is the one source of truth, and mistakes are named."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from onebox import config, procfile
from onebox.errors import OneboxError
from tests.copies import copy_box, onebox
from tests.stack import ONEBOX, ROOT, free_port, running


def test_procfile_matches_onebox_toml() -> None:
    procfile.check(config.load(ROOT))


def test_procfile_has_one_line_per_app_and_one_for_the_gateway() -> None:
    box = config.load(ROOT)
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line]
    names = [line.split(":")[0] for line in lines if not line.startswith("#")]

    assert names == [app.name for app in box.apps] + ["gateway"]
    for app in box.apps:
        line = next(line for line in lines if line.startswith(f"{app.name}:"))
        assert f"cd {app.path} && exec .venv/bin/uvicorn {app.module}" in line
        assert f"--host 127.0.0.1 --port ${{{app.env_name}_PORT:-{app.port}}}" in line


def test_drifted_procfile_is_refused(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    toml = box / "onebox.toml"
    toml.write_text(toml.read_text().replace("port = 8002", "port = 8012"))

    result = onebox("generate", "--check", cwd=box)

    assert result.returncode == 1
    assert "Procfile does not match onebox.toml; run `just generate`" in result.stderr
    assert onebox("generate", cwd=box).returncode == 0
    assert "8012" in (box / "Procfile").read_text()
    assert onebox("generate", "--check", cwd=box).returncode == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("port = 8002", "port = 8001"), "app2 and app1 both use port 8001"),
        (('prefix = "/app2"', 'prefix = "/app1"'), "both use prefix /app1"),
        (('prefix = "/app2"', 'prefix = "/a/b"'), "must be one path segment"),
        (("[apps.app2]", "[apps.App2]"), "app name 'App2' is not allowed"),
        (("port = 8002", "port = 99999"), "port = N with N from 1 to 65535"),
        (("[apps.app2]", "[apps.app2"), "is not valid TOML"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (tmp_path / "onebox.toml").write_text((ROOT / "onebox.toml").read_text().replace(*change))

    with pytest.raises(OneboxError, match=message.replace("(", r"\(")):
        config.load(tmp_path)


def test_stale_lockfile_names_the_app_and_says_run_just_lock(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    pyproject = box / "apps" / "app2" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy==1.24.0"', '"numpy==1.24.1"'))

    result = onebox("sync", cwd=box)

    assert result.returncode == 1
    assert "app2: apps/app2/uv.lock is out of date" in result.stderr
    assert "run `just lock`" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_interpreter_is_one_clear_line(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    (box / "apps" / "app1" / ".python-version").write_text("3.99\n")

    result = onebox("sync", cwd=box)

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        "onebox: error: app1 needs Python 3.99, which is not installed here and could not "
        "be downloaded; install it (e.g. `pyenv install 3.99`) or put its bin folder on "
        "PATH, then run `just sync` again"
    ]


def test_up_without_synced_venvs_says_run_just_sync(tmp_path: Path) -> None:
    box = copy_box(tmp_path)

    result = onebox("up", cwd=box)

    assert result.returncode == 1
    assert "app1 has no synced venv in apps/app1/.venv; run `just sync` first" in result.stderr


def test_unknown_process_is_named(tmp_path: Path) -> None:
    result = onebox("up", "app3", cwd=ROOT)

    assert result.returncode == 1
    assert "no process named app3 in the Procfile; known: app1, app2, gateway" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "70000"}, "PORT='70000' is not a port; use a number from 1 to 65535"),
        ({"APP1_PORT": "abc"}, "APP1_PORT='abc' is not a port"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL='verbose' is not a level"),
    ],
)
def test_bad_environment_is_refused_before_anything_starts(
    env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [str(ONEBOX), "up"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_busy_port_is_named_with_its_variable() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "APP2_PORT": str(port), "PORT": str(free_port())}

        result = subprocess.run(
            [str(ONEBOX), "up"], cwd=ROOT, env=env, capture_output=True, text=True
        )

    assert result.returncode == 1
    assert f"port {port} (app2) is already in use" in result.stderr
    assert "set APP2_PORT to another port" in result.stderr


def test_unknown_keys_in_an_app_table_are_named(tmp_path: Path) -> None:
    text = (ROOT / "onebox.toml").read_text().replace("port = 8002", "port = 8002\nworkerz = 2")
    (tmp_path / "onebox.toml").write_text(text)

    with pytest.raises(OneboxError, match=r"\[apps.app2\] has unknown keys workerz"):
        config.load(tmp_path)


def test_a_path_without_a_project_is_named(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    toml = box / "onebox.toml"
    toml.write_text(toml.read_text().replace('path = "apps/app2"', 'path = "apps/nope"'))

    result = onebox("sync", cwd=box)

    assert result.returncode == 1
    assert "app2's path 'apps/nope' holds no pyproject.toml" in result.stderr


def test_killing_onebox_up_outright_leaves_no_process_behind() -> None:
    with running() as stack:
        stack.wait_until("/readyz")
        os.kill(stack.process.pid, signal.SIGKILL)
        stack.wait_exit()

        deadline = time.monotonic() + 15
        open_ports = [stack.port, *stack.app_ports.values()]
        while open_ports and time.monotonic() < deadline:
            open_ports = [port for port in open_ports if _listening(port)]
            time.sleep(0.2)

    assert open_ports == []


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
