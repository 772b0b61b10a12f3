"""An app may run several worker processes behind its one port: `workers = N`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from onebox import config, procfile
from onebox.errors import OneboxError
from tests.copies import copy_box, onebox
from tests.stack import ROOT, running

APP2 = "[apps.app2]\n"


def with_app2_workers(folder: Path, value: str) -> Path:
    """onebox.toml of the box in `folder`, with `workers = value` for app2."""
    toml = (ROOT / "onebox.toml").read_text()
    assert APP2 in toml
    (folder / "onebox.toml").write_text(toml.replace(APP2, f"{APP2}workers = {value}\n"))
    return folder


def procfile_line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{name}:"))


def test_workers_default_to_one_and_add_no_flag() -> None:
    box = config.load(ROOT)
    text = procfile.render(box)

    assert {app.workers for app in box.apps} == {1}
    assert "--workers" not in text


def test_workers_above_one_reach_only_that_apps_line(tmp_path: Path) -> None:
    box = config.load(with_app2_workers(tmp_path, "3"))
    text = procfile.render(box)

    assert box.app("app2").workers == 3
    assert "--workers 3 " in procfile_line(text, "app2")
    assert "--workers" not in procfile_line(text, "app1")
    assert "--workers" not in procfile_line(text, "gateway")


@pytest.mark.parametrize("value", ["0", "65", '"2"', "true", "1.5"])
def test_bad_workers_are_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(OneboxError, match=r"\[apps\.app2\] workers = .* from 1 to 64"):
        config.load(with_app2_workers(tmp_path, value))


def test_two_workers_share_the_apps_port(tmp_path: Path) -> None:
    box = copy_box(tmp_path)
    with_app2_workers(box, "2")
    generated = onebox("generate", cwd=box)
    assert generated.returncode == 0, generated.stderr
    assert "--workers 2" in procfile_line((box / "Procfile").read_text(), "app2")
    synced = onebox("sync", cwd=box)
    assert synced.returncode == 0, synced.stderr

    with running(root=box) as stack:
        stack.wait_until("/readyz")

        # Concurrent requests need several connections, which the workers share.
        pids: set[int] = set()
        deadline = time.monotonic() + 20
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(pids) < 2 and time.monotonic() < deadline:
                answers = pool.map(lambda _: httpx.get(stack.url + "/app2", timeout=10), range(8))
                pids.update(answer.json()["pid"] for answer in answers)

    assert len(pids) == 2, stack.output
