"""Write the Dockerfile's per-app parts from onebox.toml, and tell when they drifted.

Each app builds in its own stage, so a change to one app's code rebuilds only
that stage's last layers. Those stages, and the lines of the final stage that
copy each app's venv and interpreter, sit between marker comments; everything
else in the Dockerfile is written by hand.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from onebox.config import App, Box
from onebox.errors import OneboxError

BEGIN = "# >>> {block}: written by `just generate` from onebox.toml\n"
END = "# <<< {block}\n"
BLOCK = re.compile(
    r"(# >>> (?P<block>[a-z ]+): written by .*?\n)(?P<body>.*?)(# <<< (?P=block)\n)", re.S
)

STAGE = """\
# Stage {name}: dependencies (cached until its lockfile changes), then its code.
FROM builder AS {name}
# Laid out as in the repository, so path dependencies resolve as they do there.
WORKDIR /srv/onebox/{path}
# What decides {name}'s dependencies.
COPY {path}/pyproject.toml {path}/uv.lock {path}/.python-version ./
# Third-party dependencies only, on the interpreter .python-version pins.
RUN --mount=type=cache,target=/root/.cache/uv \\
    uv sync --locked --no-dev --no-editable \\
        --no-install-project{skip_libs}
# The shared libraries' code and the app's own code.
{copy_libs}
COPY {path}/src src
# Install them into the venv as wheels, not links back to the source.
RUN --mount=type=cache,target=/root/.cache/uv \\
    uv sync --locked --no-dev --no-editable

"""


def libraries(root: Path) -> list[tuple[str, str]]:
    """Each shared library as (package name, folder relative to the root)."""
    found = []
    for pyproject in sorted((root / "libs").glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found.append((name, str(pyproject.parent.relative_to(root))))
    return found


def _stage(app: App, libs: list[tuple[str, str]]) -> str:
    return STAGE.format(
        name=app.name,
        path=app.path,
        skip_libs="".join(f" --no-install-package {name}" for name, _ in libs),
        copy_libs="\n".join(f"COPY {folder}/src /srv/onebox/{folder}/src" for _, folder in libs),
    )


def _venvs(box: Box) -> str:
    lines = ["# Interpreters uv downloaded for each app (empty where the base had them).\n"]
    lines += [f"COPY --from={app.name} /opt/onebox/python /opt/onebox/python\n" for app in box.apps]
    lines.append("# Each app's venv.\n")
    for app in box.apps:
        venv = f"/srv/onebox/{app.path}/.venv"
        lines.append(f"COPY --from={app.name} {venv} {venv}\n")
    return "".join(lines)


def blocks(box: Box) -> dict[str, str]:
    libs = libraries(box.root)
    return {
        "app stages": "".join(_stage(app, libs) for app in box.apps),
        "app venvs": _venvs(box),
    }


def render(box: Box, current: str) -> str:
    wanted = blocks(box)
    missing = set(wanted) - {match["block"] for match in BLOCK.finditer(current)}
    if missing:
        raise OneboxError(
            f"the Dockerfile has lost its {', '.join(sorted(missing))} markers; "
            "restore them from version control"
        )
    return BLOCK.sub(lambda m: m[1] + wanted[m["block"]] + m[4], current)


def write(box: Box) -> bool:
    path = box.root / "Dockerfile"
    current = path.read_text()
    wanted = render(box, current)
    if wanted == current:
        return False
    path.write_text(wanted)
    return True


def check(box: Box) -> None:
    current = (box.root / "Dockerfile").read_text()
    if render(box, current) != current:
        raise OneboxError(
            "the Dockerfile's app stages do not match onebox.toml; "
            "run `just generate` and commit it"
        )
