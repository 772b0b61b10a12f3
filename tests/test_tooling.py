"""The tooling: onebox.toml is the one source of truth, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from onebox import config, procfile
from onebox.errors import OneboxError
from tests.copies import copy_box, onebox
from tests.stack import ROOT


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
