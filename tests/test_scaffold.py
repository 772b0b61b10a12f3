"""`just new-app` makes a working app in one command; `just remove-app` undoes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.copies import copy_box, onebox
from tests.stack import free_port, running


@pytest.fixture
def box(tmp_path: Path) -> Path:
    return copy_box(tmp_path)


def test_new_app_is_reached_through_the_gateway(box: Path) -> None:
    created = onebox("new-app", "shop", "--python", "3.12", cwd=box)
    assert created.returncode == 0, created.stderr
    assert "[apps.shop]" in (box / "onebox.toml").read_text()
    assert (
        "shop: cd apps/shop && exec .venv/bin/uvicorn shop.main:app"
        in (box / "Procfile").read_text()
    )
    assert "FROM builder AS shop\n" in (box / "Dockerfile").read_text()
    assert onebox("generate", "--check", cwd=box).returncode == 0

    synced = onebox("sync", cwd=box)
    assert synced.returncode == 0, synced.stderr
    own_tests = subprocess.run(
        [".venv/bin/python", "-m", "pytest", "-q"], cwd=box / "apps" / "shop"
    )
    assert own_tests.returncode == 0

    with running(root=box, SHOP_PORT=str(free_port())) as stack:
        stack.wait_until("/readyz")
        body = httpx.get(stack.url + "/shop").json()

    assert body["app"] == "shop"
    assert body["python"].startswith("3.12.")
    assert body["venv"] == str(box / "apps" / "shop" / ".venv")


def test_remove_app_undoes_new_app(box: Path) -> None:
    before = {name: (box / name).read_text() for name in ("onebox.toml", "Procfile", "Dockerfile")}
    assert onebox("new-app", "shop", cwd=box).returncode == 0

    removed = onebox("remove-app", "shop", cwd=box)

    assert removed.returncode == 0, removed.stderr
    for name, text in before.items():
        assert (box / name).read_text() == text, f"{name} differs"
    assert not (box / "apps" / "shop").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Shop", "'Shop' cannot name an app"),
        ("gateway", "'gateway' cannot name an app"),
        ("9lives", "'9lives' cannot name an app"),
        ("app1", "an app named app1 is already in onebox.toml"),
        ("import", "'import' cannot name an app: its package would be 'import'"),
        ("numpy", "'numpy' cannot name an app"),
        ("x;touch", "'x;touch' cannot name an app"),
    ],
)
def test_bad_names_are_refused(box: Path, name: str, message: str) -> None:
    result = onebox("new-app", name, cwd=box)

    assert result.returncode == 1
    assert message in result.stderr


def test_a_failed_new_app_leaves_nothing_behind(box: Path) -> None:
    before = {name: (box / name).read_text() for name in ("onebox.toml", "Procfile", "Dockerfile")}

    result = onebox("new-app", "shop", "--python", "3.99", cwd=box)

    assert result.returncode == 1
    assert "shop needs Python 3.99" in result.stderr
    assert not (box / "apps" / "shop").exists()
    for name, text in before.items():
        assert (box / name).read_text() == text, f"{name} differs"
