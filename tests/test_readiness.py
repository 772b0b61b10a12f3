"""The gateway knows which apps are ready, answers for those that are not, and recovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from tests.stack import Stack, running

# The gateway checks every app once a second and gives up on one after two
# probes in a row go unanswered for a second each: a few seconds in all.
NOTICED_WITHIN = 6.0


def wait_for(check: Callable[[], bool], stack: Stack, timeout: float) -> float:
    """Seconds until `check()` holds; fails with the box's output after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"never happened:\n{stack.output}"
        time.sleep(0.1)
    return time.monotonic() - started


def assert_not_ready(response: httpx.Response, app: str) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["error"] == "not_ready"
    assert body["app"] == app
    assert app in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


def test_readyz_names_the_app_that_is_not_up() -> None:
    with running(["app2", "gateway"]) as stack:
        stack.wait_until("/app2/healthz")

        response = httpx.get(stack.url + "/readyz")

        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["not_ready"] == ["app1"]
        assert "refused a connection" in body["detail"]["app1"]


def test_an_app_that_is_down_answers_503_with_retry_after() -> None:
    with running(["app2", "gateway"]) as stack:
        stack.wait_until("/app2/healthz")

        response = httpx.get(stack.url + "/app1/anything")

        assert_not_ready(response, "app1")
        assert "refused a connection" in response.json()["detail"]


def test_a_blocked_app_turns_readyz_red_then_green_again() -> None:
    with running() as stack:
        stack.wait_until("/readyz")
        blocked: list[httpx.Response] = []

        # app2's event loop stops for 8 s, its /healthz with it.
        def block() -> None:
            blocked.append(httpx.get(stack.url + "/app2/block?seconds=8", timeout=30))

        blocker = threading.Thread(target=block)
        blocker.start()
        try:
            seconds = wait_for(
                lambda: httpx.get(stack.url + "/readyz").status_code == 503,
                stack,
                timeout=NOTICED_WITHIN,
            )
            assert seconds < NOTICED_WITHIN

            # The gateway answers from what it knows; it does not wait on app2.
            started = time.monotonic()
            readyz = httpx.get(stack.url + "/readyz", timeout=5)
            assert time.monotonic() - started < 0.5
            assert readyz.json()["not_ready"] == ["app2"]
            assert "did not answer /healthz" in readyz.json()["detail"]["app2"]
            assert_not_ready(httpx.get(stack.url + "/app2/", timeout=5), "app2")
            assert httpx.get(stack.url + "/app1/healthz", timeout=5).status_code == 200

            wait_for(
                lambda: httpx.get(stack.url + "/readyz").status_code == 200,
                stack,
                timeout=20,
            )
        finally:
            blocker.join(timeout=30)

        assert [response.status_code for response in blocked] == [200]
        assert httpx.get(stack.url + "/app2/healthz").status_code == 200
        assert "app2 at 127.0.0.1" in stack.output
