"""Read onebox.toml, the one file that says which apps the box holds."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from onebox.errors import OneboxError

CONFIG_NAME = "onebox.toml"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
APP_KEYS = frozenset(
    {"prefix", "path", "port", "module", "workers", "read_timeout", "max_body_size"}
)
MODULE_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class App:
    name: str
    prefix: str
    path: str
    port: int
    module: str
    workers: int = 1
    # Read by the gateway: seconds the app may stay silent mid-answer (None: no limit),
    # and the largest request body it accepts (None: the gateway's default).
    read_timeout: float | None = None
    max_body_size: int | None = None

    @property
    def env_name(self) -> str:
        """The stem of this app's environment variables: app-1 -> APP_1."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())


@dataclass(frozen=True)
class Gateway:
    path: str
    port: int
    max_body_size: int | None = None


@dataclass(frozen=True)
class Box:
    root: Path
    gateway: Gateway
    apps: tuple[App, ...]

    def projects(self) -> list[tuple[str, Path]]:
        """Every uv project in the box, apps first, as (name, folder)."""
        found = [(app.name, self.root / app.path) for app in self.apps]
        found.append(("gateway", self.root / self.gateway.path))
        return found

    def check_paths(self) -> None:
        """Every project folder onebox.toml names holds a pyproject.toml."""
        for name, folder in self.projects():
            if not (folder / "pyproject.toml").is_file():
                where = folder.relative_to(self.root)
                raise OneboxError(
                    f"{CONFIG_NAME}: {name}'s path {str(where)!r} holds no pyproject.toml; "
                    "point it at the project's folder, or create it with `just new-app`"
                )

    def project(self, name: str) -> None:
        """Check that `name` is an app or the gateway."""
        if name != "gateway" and name not in (app.name for app in self.apps):
            known = ", ".join(app.name for app in self.apps)
            raise OneboxError(f"nothing named {name!r} to serve; choose one of {known}, gateway")

    def app(self, name: str) -> App:
        for app in self.apps:
            if app.name == name:
                return app
        known = ", ".join(app.name for app in self.apps)
        raise OneboxError(f"no app named {name!r} in {CONFIG_NAME}; its apps: {known}")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` that holds onebox.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise OneboxError(
        f"no {CONFIG_NAME} found in {here} or above; run this inside a onebox checkout"
    )


def load(root: Path | None = None) -> Box:
    root = find_root() if root is None else root
    source = root / CONFIG_NAME
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise OneboxError(f"{source} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise OneboxError(f"{source} is not valid TOML: {exc}") from None

    gateway_table = _table(data, "gateway", source)
    gateway = Gateway(
        path=_string(gateway_table, "path", "[gateway]", source),
        port=_port(gateway_table, "[gateway]", source),
        max_body_size=_max_body_size(gateway_table, "[gateway]", source),
    )

    apps_table = _table(data, "apps", source)
    apps = tuple(_app(name, table, source) for name, table in apps_table.items())
    if not apps:
        raise OneboxError(f"{source} lists no apps; add an [apps.NAME] table")
    _check_unique(apps, gateway, source)
    return Box(root=root, gateway=gateway, apps=apps)


def _app(name: str, table: object, source: Path) -> App:
    where = f"[apps.{name}]"
    if not NAME_PATTERN.match(name):
        raise OneboxError(
            f"{source}: app name {name!r} is not allowed; use lowercase letters, "
            "digits, '-' or '_', starting with a letter"
        )
    if not isinstance(table, dict):
        raise OneboxError(f"{source}: {where} must be a table")
    unknown = sorted(set(table) - APP_KEYS)
    if unknown:
        raise OneboxError(
            f"{source}: {where} has unknown keys {', '.join(unknown)}; "
            f"known: {', '.join(sorted(APP_KEYS))}"
        )

    prefix = _string(table, "prefix", where, source)
    if not re.match(r"^/[A-Za-z0-9._~-]+$", prefix) or prefix in ("/.", "/.."):
        raise OneboxError(
            f"{source}: {where} prefix {prefix!r} must be one path segment such as '/{name}'"
        )
    module = table.get("module", f"{name.replace('-', '_')}.main:app")
    if not isinstance(module, str) or not MODULE_PATTERN.match(module):
        raise OneboxError(f"{source}: {where} module {module!r} must look like 'package.main:app'")
    return App(
        name=name,
        prefix=prefix,
        path=_string(table, "path", where, source),
        port=_port(table, where, source),
        module=module,
        workers=_workers(table, where, source),
        read_timeout=_read_timeout(table, where, source),
        max_body_size=_max_body_size(table, where, source),
    )


def _read_timeout(table: dict[str, object], where: str, source: Path) -> float | None:
    value = table.get("read_timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise OneboxError(f"{source}: {where} read_timeout must be a number of seconds above 0")
    return float(value)


def _max_body_size(table: dict[str, object], where: str, source: Path) -> int | None:
    value = table.get("max_body_size")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OneboxError(
            f"{source}: {where} max_body_size must be a number of bytes (0: no limit)"
        )
    return value


def _workers(table: dict[str, object], where: str, source: Path) -> int:
    value = table.get("workers", 1)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
        raise OneboxError(f"{source}: {where} workers = {value!r} must be a number from 1 to 64")
    return value


def _check_unique(apps: tuple[App, ...], gateway: Gateway, source: Path) -> None:
    ports: dict[int, str] = {gateway.port: "the gateway"}
    prefixes: dict[str, str] = {}
    paths: dict[str, str] = {gateway.path: "the gateway"}
    for app in apps:
        if app.path in paths:
            raise OneboxError(
                f"{source}: {app.name} and {paths[app.path]} both use path {app.path}"
            )
        paths[app.path] = app.name
        if app.port in ports:
            raise OneboxError(
                f"{source}: {app.name} and {ports[app.port]} both use port {app.port}"
            )
        ports[app.port] = app.name
        if app.prefix in prefixes:
            raise OneboxError(
                f"{source}: {app.name} and {prefixes[app.prefix]} both use prefix {app.prefix}"
            )
        prefixes[app.prefix] = app.name
        if app.prefix in ("/healthz", "/readyz"):
            raise OneboxError(f"{source}: prefix {app.prefix} is the gateway's own; pick another")


def _table(data: dict[str, object], key: str, source: Path) -> dict[str, object]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise OneboxError(f"{source} needs a [{key}] table")
    return value


def _string(table: dict[str, object], key: str, where: str, source: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise OneboxError(f'{source}: {where} needs {key} = "..."')
    return value


def _port(table: dict[str, object], where: str, source: Path) -> int:
    value = table.get("port")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise OneboxError(f"{source}: {where} needs port = N with N from 1 to 65535")
    return value
