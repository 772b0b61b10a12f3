"""The apps' API docs behind the gateway: offline, under the prefix, used in a browser.

The browser is Debian's headless chromium driven by Playwright. It may load
only what the box on 127.0.0.1 serves: every other request is refused and
fails the test, and the browser's own background traffic is switched off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

from tests.stack import Stack, running
from tests.tools import require

# How long one browser step may wait for the page: ample for 2 shared cores.
STEP_MS = 20_000

# Headless chromium as root, with nothing phoning home. Playwright gives each
# launch a fresh profile folder of its own, so no --user-data-dir is passed.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No name resolves, so a request for any other host fails before it is sent.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

ASSET_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.fixture(scope="module")
def box() -> Iterator[Stack]:
    with running() as stack:
        stack.wait_until("/readyz")
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require("chromium", "run tests/prepare.sh, or apt-get install chromium")
    expect.set_options(timeout=STEP_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS, timeout=STEP_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that refuses, and fails the test on, any request not for 127.0.0.1."""
    context = browser.new_context()
    context.set_default_timeout(STEP_MS)
    refused: list[str] = []
    errors: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()

    assert refused == [], f"the page asked for other hosts: {refused}"
    assert errors == [], f"the page's scripts failed: {errors}"


# Over plain HTTP.


@pytest.mark.parametrize("app", ["app1", "app2"])
def test_openapi_names_the_prefix_as_its_server(box: Stack, app: str) -> None:
    response = httpx.get(f"{box.url}/{app}/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.json()["servers"] == [{"url": f"/{app}"}]


@pytest.mark.parametrize("page_path", ["docs", "redoc"])
def test_docs_pages_load_only_their_own_assets_under_the_prefix(box: Stack, page_path: str) -> None:
    html = httpx.get(f"{box.url}/app1/{page_path}", timeout=10).text
    links = ASSET_LINK.findall(html)

    assert links, f"/app1/{page_path} links no assets:\n{html}"
    for link in links:
        assert link.startswith("/app1/"), f"/app1/{page_path} links {link}"
        asset = httpx.get(box.url + link, timeout=10)
        assert asset.status_code == 200, f"{link} answered {asset.status_code}"
    assert "/app1/openapi.json" in html


# In the browser.


def test_swagger_ui_lists_the_operations(box: Stack, page: Page) -> None:
    page.goto(f"{box.url}/app2/docs")

    expect(page.locator(".info .title")).to_contain_text("app2")
    expect(operation(page, "/")).to_be_visible()
    expect(page.locator(".opblock")).not_to_have_count(0)


def test_redoc_shows_the_api(box: Stack, page: Page) -> None:
    page.goto(f"{box.url}/app2/redoc")

    expect(page.locator("h1")).to_contain_text("app2")
    expect(page.get_by_text("Root", exact=True).first).to_be_visible()


@pytest.mark.parametrize(
    ("app", "status", "body"),
    [
        ("app2", 200, '"app": "app2"'),
        ("app1", 500, '"error": "AttributeError"'),
    ],
)
def test_try_it_out_goes_through_the_gateway(
    box: Stack, page: Page, app: str, status: int, body: str
) -> None:
    page.goto(f"{box.url}/{app}/docs")
    root = operation(page, "/")
    root.locator(".opblock-summary").click()
    root.get_by_role("button", name="Try it out").click()

    with page.expect_response(f"{box.url}/{app}/") as sent:
        root.get_by_role("button", name="Execute").click()

    assert sent.value.status == status
    shown = root.locator(".live-responses-table .response")
    code = re.compile(rf"^{status}\b")
    expect(shown.locator(".response-col_status")).to_have_text(code)
    expect(shown.locator(".response-col_description")).to_contain_text(body)
    expect(root.locator(".request-url")).to_contain_text(f"{box.url}/{app}/")


def operation(page: Page, path: str) -> Locator:
    """The GET operation on `path` in a Swagger UI page."""
    return page.locator(".opblock-get").filter(
        has=page.locator(f".opblock-summary-path[data-path='{path}']")
    )
