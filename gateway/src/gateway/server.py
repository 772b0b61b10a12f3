"""The gateway's HTTP server protocol: uvicorn's httptools one, refusing in the gateway's JSON.

uvicorn answers a request its parser rejects (both Content-Length and
Transfer-Encoding, a repeated length, a control character in the path)
with a plain-text 400 before any ASGI code runs. The Procfile starts the
gateway with `--http gateway.server:GatewayHttpProtocol`, so those
refusals share the shape of every other error the gateway makes.
"""

from __future__ import annotations

import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import errors


class GatewayHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        request_id = uuid.uuid4().hex
        content = errors.body(
            errors.BadRequest(f"the request is not valid HTTP/1.1: {msg}"), request_id
        )
        head = (
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\n"
            b"x-request-id: %s\r\n"
            b"connection: close\r\n\r\n" % (len(content), request_id.encode())
        )
        self.transport.write(head + content)
        self.transport.close()
