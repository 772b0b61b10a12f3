"""Find a CPython for a project's pinned version, installed or downloaded by uv."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from uv import find_uv_bin

from onebox.errors import OneboxError

# The uv that came with the tooling: a bare `uv` may be a version manager's shim
# that resolves differently inside each project's folder.
UV = find_uv_bin()

VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


def pinned_version(project: Path) -> str:
    """The version in the project's .python-version, e.g. '3.9' or '3.11.7'."""
    path = project / ".python-version"
    try:
        version = path.read_text().strip()
    except FileNotFoundError:
        raise OneboxError(
            f"{path} is missing; write the Python version the project needs, e.g. 3.11"
        ) from None
    if not VERSION_PATTERN.match(version):
        raise OneboxError(f"{path} says {version!r}; write a plain version such as 3.11 or 3.11.7")
    return version


def find(version: str, project_name: str) -> Path:
    """An interpreter of `version`: one on this machine first, else one uv downloads.

    uv already looks on PATH and among the interpreters it manages. Version
    managers such as pyenv keep theirs off PATH unless selected, so their
    folders are searched by hand before anything is downloaded.
    """
    found = _uv_find(version) or _search_folders(version) or _uv_install(version)
    if found is None:
        raise OneboxError(
            f"{project_name} needs Python {version}, which is not installed here and could "
            f"not be downloaded; install it (e.g. `pyenv install {version}`) or put its "
            "bin folder on PATH, then run `just sync` again"
        )
    return found


def _uv_find(version: str) -> Path | None:
    # Version managers' shims answer by the working folder's .python-version;
    # asking from one fixed folder gives every project the same answer.
    result = subprocess.run(
        [UV, "python", "find", "--system", "--no-python-downloads", "--no-project", version],
        cwd=Path.home(),
        capture_output=True,
        text=True,
    )
    path = result.stdout.strip()
    if result.returncode != 0 or not path:
        return None
    return Path(path)


def _search_folders(version: str) -> Path | None:
    major_minor = ".".join(version.split(".")[:2])
    for candidate in _candidates(major_minor):
        if _reports_version(candidate, version):
            return candidate
    return None


def _candidates(major_minor: str) -> Iterator[Path]:
    roots = [
        os.environ.get("PYENV_ROOT", ""),
        str(Path.home() / ".pyenv"),
        os.environ.get("ASDF_DATA_DIR", ""),
        str(Path.home() / ".asdf" / "installs" / "python"),
    ]
    for root in filter(None, roots):
        versions = Path(root) / "versions" if "pyenv" in root else Path(root)
        if not versions.is_dir():
            continue
        # Newest patch release first.
        for folder in sorted(versions.glob(f"{major_minor}*"), key=_patch, reverse=True):
            yield folder / "bin" / f"python{major_minor}"
    for prefix in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin"):
        yield Path(prefix) / f"python{major_minor}"


def _patch(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name))


def _reports_version(executable: Path, version: str) -> bool:
    if not os.access(executable, os.X_OK):
        return False
    result = subprocess.run(
        [str(executable), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    )
    actual = result.stdout.strip()
    return result.returncode == 0 and (actual == version or actual.startswith(version + "."))


def _uv_install(version: str) -> Path | None:
    result = subprocess.run([UV, "python", "install", version], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return _uv_find(version)
