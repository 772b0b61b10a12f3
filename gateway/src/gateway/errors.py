"""Every error the gateway answers itself: one JSON shape, no tracebacks.

Low-level failures (a refused connection, a timeout, an app that answers
garbage) become the gateway's own errors in one place: `from_upstream`.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.types import Scope, Send


class GatewayError(Exception):
    """A failure the gateway reports to the client as JSON."""

    status = 500
    error = "gateway_error"

    def __init__(self, detail: str, app: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.app = app

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Headers this error adds to its response."""
        return []


class BadRequest(GatewayError):
    status = 400
    error = "bad_request"


class NotFound(GatewayError):
    status = 404
    error = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    error = "method_not_allowed"

    def __init__(self, detail: str, allow: bytes = b"GET, HEAD") -> None:
        super().__init__(detail)
        self.allow = allow

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"allow", self.allow)]


class RequestTimeout(GatewayError):
    status = 408
    error = "request_timeout"


class PayloadTooLarge(GatewayError):
    status = 413
    error = "payload_too_large"


class HeadersTooLarge(GatewayError):
    status = 431
    error = "headers_too_large"


class VersionNotSupported(GatewayError):
    status = 505
    error = "http_version_not_supported"


class UpstreamUnavailable(GatewayError):
    status = 502
    error = "bad_gateway"


class NotReady(GatewayError):
    """The app has no ready address yet; the client should retry shortly."""

    status = 503
    error = "not_ready"

    def __init__(self, detail: str, app: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail, app)
        self.retry_after = retry_after

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", str(self.retry_after).encode())]


class UpstreamTimeout(GatewayError):
    status = 504
    error = "gateway_timeout"


def from_upstream(exc: BaseException, app: str, where: str) -> GatewayError:
    """What the client hears when talking to app `app` at `where` failed with `exc`.

    The forwarding code's own exceptions subclass TimeoutError and
    ConnectionError and carry a sentence fragment saying what the app did.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"{app} at {where} {exc}", app)
    if isinstance(exc, ConnectionRefusedError):
        return UpstreamUnavailable(f"{app} refused the connection at {where}; is it running?", app)
    if isinstance(exc, ConnectionError) and str(exc):
        return UpstreamUnavailable(f"{app} at {where} {exc}", app)
    return UpstreamUnavailable(
        f"{app} cannot be reached at {where} ({exc.__class__.__name__})", app
    )


_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


def reason(status: int) -> bytes:
    """The standard reason phrase for `status`, for a status line that needs one."""
    return _REASONS.get(status, b"Unknown")


def body(error: GatewayError, request_id: str) -> bytes:
    return json.dumps(
        {
            "error": error.error,
            "detail": error.detail,
            "app": error.app,
            "request_id": request_id,
        }
    ).encode()


async def send_websocket_error(
    scope: Scope, send: Send, error: GatewayError, request_id: str
) -> None:
    """Refuse a WebSocket handshake with `error` as JSON, where the server lets the gateway."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        # The server then answers the handshake with a bare 403.
        await send({"type": "websocket.close", "code": 1011})
        return
    content = body(error, request_id)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"x-request-id", request_id.encode()),
        *error.headers,
    ]
    await send(
        {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
    )
    await send({"type": "websocket.http.response.body", "body": content})
