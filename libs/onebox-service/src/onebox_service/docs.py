"""API docs pages that work offline and behind the gateway's prefix.

FastAPI's own /docs and /redoc pages load their JavaScript and CSS from a
public CDN, so where the browser cannot reach it they stay blank. `install`
serves those assets from the app itself, shipped by the fastapi-offline
package, and writes every URL in the pages under the root path the request
came in on: an app run with `--root-path /app1` behind the gateway serves
/app1/docs, which loads /app1/static/docs/... and /app1/openapi.json.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

# Where the assets are served, below the app's root path. A mount of the
# app's own at /static, made before `install`, would hide this one.
ASSETS_PATH = "/static/docs"
# The folder inside the fastapi-offline package that holds the assets.
ASSETS_PACKAGE = ("fastapi_offline", "static")

SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"

# Swagger UI would otherwise offer to send the spec to a public validator.
SWAGGER_DEFAULTS: dict[str, Any] = {"validatorUrl": None}

# The pages load scripts, styles, images and fonts from the app alone: the
# browser refuses anything else, such as the logo ReDoc links from its CDN.
# Requests the page makes ("Try it out") go wherever the spec's servers say.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src *",
    ]
)


def install(app: FastAPI) -> None:
    """Replace `app`'s /docs and /redoc with pages whose assets the app serves itself.

    The paths are the app's own `docs_url` and `redoc_url`; a page the app
    turned off (set to None) stays off.
    """
    if app.openapi_url is None:
        return
    openapi_url = app.openapi_url
    pages = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [
        route
        for route in app.router.routes
        if not (isinstance(route, Route) and route.path in pages)
    ]

    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    if app.docs_url is not None:

        @app.get(app.docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            root = _root_path(request)
            oauth2_redirect = app.swagger_ui_oauth2_redirect_url
            parameters = {**SWAGGER_DEFAULTS, **(app.swagger_ui_parameters or {})}
            page = get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_PATH}/{SWAGGER_JS}",
                swagger_css_url=f"{root}{ASSETS_PATH}/{SWAGGER_CSS}",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/{FAVICON}",
                oauth2_redirect_url=root + oauth2_redirect if oauth2_redirect else None,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=parameters,
            )
            return _same_origin_only(page)

    if app.redoc_url is not None:

        @app.get(app.redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            root = _root_path(request)
            page = get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_PATH}/{REDOC_JS}",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/{FAVICON}",
                with_google_fonts=False,
            )
            return _same_origin_only(page)


def _root_path(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
