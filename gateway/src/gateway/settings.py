"""The gateway's route table, read once at start from onebox.toml and the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import tomllib

CONFIG_NAME = "onebox.toml"


class SettingsError(Exception):
    """onebox.toml or the environment describes routes the gateway cannot serve."""


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    upstream: str  # "http://host:port", no trailing slash

    @property
    def health_url(self) -> str:
        return f"{self.upstream}/healthz"


@dataclass(frozen=True)
class Settings:
    routes: tuple[Route, ...]
    connect_timeout: float = 2.0

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
    routes = tuple(_route(name, table, environ, path) for name, table in apps.items())
    return Settings(
        routes=routes,
        connect_timeout=_seconds(environ, "GATEWAY_CONNECT_TIMEOUT", 2.0),
    )


def _route(name: str, table: object, environ: Mapping[str, str], path: Path) -> Route:
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [apps.{name}] must be a table")
    prefix = table.get("prefix")
    port = table.get("port")
    if not isinstance(prefix, str) or not prefix.startswith("/") or "/" in prefix[1:]:
        raise SettingsError(f"{path}: [apps.{name}] prefix must be one segment such as '/{name}'")

    stem = env_stem(name)
    upstream = environ.get(f"{stem}_UPSTREAM")
    if upstream:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise SettingsError(
                f"{stem}_UPSTREAM={upstream!r} must look like http://host:port for app {name}"
            )
        return Route(name=name, prefix=prefix, upstream=upstream.rstrip("/"))

    port_text = environ.get(f"{stem}_PORT")
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"{stem}_PORT={port_text!r} is not a port number for app {name}")
        port = int(port_text)
    if not isinstance(port, int):
        raise SettingsError(f"{path}: [apps.{name}] needs port = N")
    return Route(name=name, prefix=prefix, upstream=f"http://127.0.0.1:{port}")


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
