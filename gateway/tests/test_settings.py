"""The route table comes from onebox.toml; the environment may move an upstream."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway.settings import SettingsError, load

CONFIG = """
[gateway]
path = "gateway"
port = 8000

[apps.app1]
prefix = "/app1"
path = "apps/app1"
port = 8001

[apps.my-app]
prefix = "/mine"
path = "apps/my-app"
port = 8002
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "onebox.toml"
    path.write_text(CONFIG)
    return path


def test_routes_follow_the_file(config: Path) -> None:
    settings = load({"ONEBOX_CONFIG": str(config)})

    assert [(r.name, r.prefix, r.upstream) for r in settings.routes] == [
        ("app1", "/app1", "http://127.0.0.1:8001"),
        ("my-app", "/mine", "http://127.0.0.1:8002"),
    ]


def test_environment_overrides_port_and_upstream(config: Path) -> None:
    settings = load(
        {"ONEBOX_CONFIG": str(config), "APP1_PORT": "9001", "MY_APP_UPSTREAM": "http://mine:80"}
    )

    assert [r.upstream for r in settings.routes] == ["http://127.0.0.1:9001", "http://mine:80"]


def test_config_is_found_above_the_working_folder(config: Path) -> None:
    nested = config.parent / "gateway"
    nested.mkdir()

    assert len(load({}, cwd=nested).routes) == 2


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"APP1_PORT": "eighty"}, "APP1_PORT"),
        ({"APP1_UPSTREAM": "ftp://x"}, "APP1_UPSTREAM"),
        ({"GATEWAY_CONNECT_TIMEOUT": "-1"}, "GATEWAY_CONNECT_TIMEOUT"),
    ],
)
def test_bad_environment_is_named(config: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load({"ONEBOX_CONFIG": str(config), **env})


def test_read_timeout_and_body_limit_are_per_app(tmp_path: Path) -> None:
    path = tmp_path / "onebox.toml"
    path.write_text(
        CONFIG.replace("port = 8000\n", "port = 8000\nmax_body_size = 5000\n").replace(
            "port = 8001\n", "port = 8001\nread_timeout = 2.5\nmax_body_size = 0\n"
        )
    )

    app1, mine = load({"ONEBOX_CONFIG": str(path)}).routes

    assert (app1.read_timeout, app1.max_body_size) == (2.5, 0)
    assert (mine.read_timeout, mine.max_body_size) == (None, 5000)


@pytest.mark.parametrize(
    ("line", "named"),
    [("read_timeout = 0", "read_timeout"), ("max_body_size = -1", "max_body_size")],
)
def test_bad_limits_are_named(tmp_path: Path, line: str, named: str) -> None:
    path = tmp_path / "onebox.toml"
    path.write_text(CONFIG.replace("port = 8001\n", f"port = 8001\n{line}\n"))

    with pytest.raises(SettingsError, match=named):
        load({"ONEBOX_CONFIG": str(path)})
