"""The tooling checks the gateway's per-app limits in onebox.toml as the gateway reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from onebox.config import load
from onebox.errors import OneboxError

CONFIG = """
[gateway]
path = "gateway"
port = 8000
{gateway}

[apps.app1]
prefix = "/app1"
path = "apps/app1"
port = 8001
{app}
"""


def write(root: Path, gateway: str = "", app: str = "") -> Path:
    (root / "onebox.toml").write_text(CONFIG.format(gateway=gateway, app=app))
    return root


def test_limits_are_read(tmp_path: Path) -> None:
    box = load(write(tmp_path, "max_body_size = 10", "read_timeout = 30\nmax_body_size = 0"))

    assert box.gateway.max_body_size == 10
    assert (box.apps[0].read_timeout, box.apps[0].max_body_size) == (30.0, 0)


@pytest.mark.parametrize(
    ("gateway", "app", "named"),
    [
        ("", "read_timeout = 0", "read_timeout"),
        ("", 'read_timeout = "1s"', "read_timeout"),
        ("", "max_body_size = -5", "max_body_size"),
        ("max_body_size = 1.5", "", "max_body_size"),
    ],
)
def test_bad_limits_are_named(tmp_path: Path, gateway: str, app: str, named: str) -> None:
    with pytest.raises(OneboxError, match=named):
        load(write(tmp_path, gateway, app))
