"""The gateway's route table, read once at start from onebox.toml and the environment."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CONFIG_NAME = "onebox.toml"
# The largest request body an app accepts unless onebox.toml says otherwise.
DEFAULT_MAX_BODY_SIZE = 1 << 30


class SettingsError(Exception):
    """onebox.toml or the environment describes routes the gateway cannot serve."""


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    upstream: str  # "http://host:port", no trailing slash
    # Seconds the app may stay silent while answering; None waits as long as it takes,
    # which streams and long polls need.
    read_timeout: float | None = None
    # Bytes of request body the app accepts; 0 turns the limit off.
    max_body_size: int = DEFAULT_MAX_BODY_SIZE

    @property
    def health_url(self) -> str:
        return f"{self.upstream}/healthz"


@dataclass(frozen=True)
class Settings:
    routes: tuple[Route, ...]
    connect_timeout: float = 2.0
    # Seconds a request body may send nothing while the gateway reads it.
    body_timeout: float = 60.0

    def prefixes(self) -> list[str]:
        return [route.prefix for route in self.routes]


def env_stem(name: str) -> str:
    """The stem of an app's environment variables: app-1 -> APP_1."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def find_config(environ: Mapping[str, str], cwd: Path) -> Path:
    explicit = environ.get("ONEBOX_CONFIG")
    if explicit:
        return Path(explicit)
    for folder in (cwd, *cwd.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    raise SettingsError(f"no {CONFIG_NAME} in {cwd} or above; set ONEBOX_CONFIG to its path")


def load(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    path = find_config(environ, (cwd or Path.cwd()).resolve())
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None

    apps = data.get("apps")
    if not isinstance(apps, dict) or not apps:
        raise SettingsError(f"{path} lists no [apps.NAME] tables")
    gateway = data.get("gateway", {})
    if not isinstance(gateway, dict):
        raise SettingsError(f"{path}: [gateway] must be a table")
    max_body_size = _size(gateway, "max_body_size", DEFAULT_MAX_BODY_SIZE, "[gateway]", path)
    routes = tuple(
        _route(name, table, environ, path, max_body_size) for name, table in apps.items()
    )
    return Settings(
        routes=routes,
        connect_timeout=_seconds(environ, "GATEWAY_CONNECT_TIMEOUT", 2.0),
        body_timeout=_seconds(environ, "GATEWAY_BODY_TIMEOUT", 60.0),
    )


def _route(
    name: str, table: object, environ: Mapping[str, str], path: Path, default_max_body: int
) -> Route:
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [apps.{name}] must be a table")
    prefix = table.get("prefix")
    port = table.get("port")
    if not isinstance(prefix, str) or not prefix.startswith("/") or "/" in prefix[1:]:
        raise SettingsError(f"{path}: [apps.{name}] prefix must be one segment such as '/{name}'")
    where = f"[apps.{name}]"
    read_timeout = _timeout(table, where, path)
    max_body_size = _size(table, "max_body_size", default_max_body, where, path)

    stem = env_stem(name)
    upstream = environ.get(f"{stem}_UPSTREAM")
    if upstream:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise SettingsError(
                f"{stem}_UPSTREAM={upstream!r} must look like http://host:port for app {name}"
            )
        return Route(
            name=name,
            prefix=prefix,
            upstream=upstream.rstrip("/"),
            read_timeout=read_timeout,
            max_body_size=max_body_size,
        )

    port_text = environ.get(f"{stem}_PORT")
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"{stem}_PORT={port_text!r} is not a port number for app {name}")
        port = int(port_text)
    if not isinstance(port, int):
        raise SettingsError(f"{path}: [apps.{name}] needs port = N")
    return Route(
        name=name,
        prefix=prefix,
        upstream=f"http://127.0.0.1:{port}",
        read_timeout=read_timeout,
        max_body_size=max_body_size,
    )


def _timeout(table: dict[str, object], where: str, path: Path) -> float | None:
    value = table.get("read_timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError(f"{path}: {where} read_timeout must be a number of seconds above 0")
    return float(value)


def _size(table: dict[str, object], key: str, default: int, where: str, path: Path) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{path}: {where} {key} must be a number of bytes (0: no limit)")
    return value


def _seconds(environ: Mapping[str, str], key: str, default: float) -> float:
    text = environ.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{key}={text!r} is not a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{key} must be more than 0 seconds")
    return value
