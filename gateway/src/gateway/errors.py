"""Every error the gateway answers itself: one JSON shape, no tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import Send


class GatewayError(Exception):
    """A failure the gateway reports to the client as JSON."""

    status = 500
    error = "gateway_error"

    def __init__(self, detail: str, app: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.app = app


class BadRequest(GatewayError):
    status = 400
    error = "bad_request"


class NotFound(GatewayError):
    status = 404
    error = "not_found"


class UpstreamUnavailable(GatewayError):
    status = 502
    error = "bad_gateway"


class UpstreamTimeout(GatewayError):
    status = 504
    error = "gateway_timeout"


def body(error: GatewayError, request_id: str) -> bytes:
    return json.dumps(
        {
            "error": error.error,
            "detail": error.detail,
            "app": error.app,
            "request_id": request_id,
        }
    ).encode()


async def send_error(
    send: Send,
    error: GatewayError,
    request_id: str,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer `error` as the whole response."""
    content = body(error, request_id)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"x-request-id", request_id.encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
