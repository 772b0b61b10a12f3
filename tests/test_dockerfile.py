"""The Dockerfile builds every project onebox.toml lists, each from its own lockfile."""

from __future__ import annotations

from onebox import config, dockerfile
from tests.stack import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_project_has_its_stage_and_its_venv_in_the_image() -> None:
    for name, folder in config.load(ROOT).projects():
        path = folder.relative_to(ROOT)

        assert f"FROM builder AS {name}\n" in DOCKERFILE, f"no stage for {name}"
        assert f"COPY {path}/pyproject.toml {path}/uv.lock {path}/.python-version" in DOCKERFILE
        assert f"COPY {path}/src src\n" in DOCKERFILE
        venv = f"/srv/onebox/{path}/.venv"
        assert f"COPY --from={name} {venv} {venv}\n" in DOCKERFILE, f"{name}'s venv not copied"


def test_every_shared_library_is_in_the_dependency_layer() -> None:
    for library in sorted((ROOT / "libs").iterdir()):
        if (library / "pyproject.toml").is_file():
            path = library.relative_to(ROOT)
            assert f"COPY {path}/pyproject.toml {path}/\n" in DOCKERFILE
            assert f"COPY {path}/src /srv/onebox/{path}/src\n" in DOCKERFILE


def test_app_stages_match_onebox_toml() -> None:
    dockerfile.check(config.load(ROOT))
