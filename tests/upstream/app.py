"""An app for the gateway's tests: it tells what it received and answers in every shape.

Run behind the gateway the way the box runs an app:
`uvicorn tests.upstream.app:app --root-path /up`. The raw endpoints below
are plain ASGI, so they see exactly what the gateway sent; the rest is a
FastAPI app, for what FastAPI does under a prefix (docs, redirects).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

GZIPPED = gzip.compress(b"squeezed " * 1000)
CHUNK = 64 * 1024

api = FastAPI(title="upstream")
# What the app last saw of a client closing a WebSocket, and how many slow
# requests are still running (a client that leaves must end them).
state: dict[str, object] = {"last_close": None, "slow_running": 0}


@api.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@api.get("/target")
async def target() -> dict[str, bool]:
    return {"arrived": True}


@api.get("/items/")
async def items() -> list[int]:
    # Asked for as /items, FastAPI redirects to /items/ under its root path.
    return [1, 2]


@api.get("/redirect/{kind}")
async def redirect(kind: str, request: Request) -> Response:
    server = request.scope["server"]
    locations = {
        "relative": "../target",
        "root": "/target?x=%2F",
        "prefixed": request.scope["root_path"] + "/target",
        "internal": f"http://{server[0]}:{server[1]}/target",
        "internal-prefixed": f"http://{server[0]}:{server[1]}{request.scope['root_path']}/target",
        "public": str(request.url_for("target")),
        "elsewhere": "http://elsewhere.invalid/target",
    }
    return RedirectResponse(locations[kind], status_code=302)


@api.get("/cookies")
async def cookies() -> Response:
    response = JSONResponse({"cookies": 2})
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    response.headers.append("x-multi", "a")
    response.headers.append("x-multi", "b")
    return response


@api.get("/hop-by-hop")
async def hop_by_hop() -> Response:
    return Response(
        b"ok",
        headers={"connection": "x-private", "x-private": "1", "keep-alive": "timeout=9"},
    )


@api.get("/gzip")
async def gzipped() -> Response:
    return Response(GZIPPED, headers={"content-encoding": "gzip", "content-type": "text/plain"})


@api.get("/no-content")
async def no_content() -> Response:
    return Response(status_code=204, headers={"x-kept": "204"})


@api.get("/not-modified")
async def not_modified() -> Response:
    return Response(status_code=304, headers={"etag": '"v1"', "x-kept": "304"})


@api.get("/sse")
async def sse(events: int = 3, gap: float = 0.3, heartbeat: bool = True) -> Response:
    async def produce() -> AsyncIterator[bytes]:
        for number in range(events):
            if heartbeat:
                yield b": heartbeat\n\n"
            yield f"data: event {number}\n\n".encode()
            await asyncio.sleep(gap)

    return StreamingResponse(produce(), media_type="text/event-stream")


@api.get("/last-close")
async def last_close() -> object:
    return state["last_close"]


@api.get("/slow-running")
async def slow_running() -> object:
    return state["slow_running"]


@api.websocket("/ws/echo")
async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
    await websocket.send_json(
        {
            "path": websocket.scope["raw_path"].decode("latin-1"),
            "query": websocket.scope["query_string"].decode("latin-1"),
            "cookies": websocket.cookies,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in websocket.scope["headers"]
            ],
        }
    )
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                state["last_close"] = {"code": message["code"], "reason": message.get("reason")}
                return
            if message.get("text") == "close-me":
                await websocket.close(code=4001, reason="asked to")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect as exc:
        state["last_close"] = {"code": exc.code, "reason": exc.reason}


@api.websocket("/ws/refuse")
async def ws_refuse(websocket: WebSocket) -> None:
    await websocket.send_denial_response(
        JSONResponse({"refused": True}, status_code=403, headers={"x-why": "not-allowed"})
    )


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """What arrived: method, raw path and query, headers in order, and the body's shape."""
    digest = hashlib.sha256()
    size = reads = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            reads += 1
            size += len(chunk)
            digest.update(chunk)
        if not message.get("more_body", False):
            break
    body = json.dumps(
        {
            "method": scope["method"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "client": scope["client"][0],
            "scheme": scope["scheme"],
            "body_bytes": size,
            "body_sha256": digest.hexdigest(),
            "body_reads": reads,
        }
    ).encode()
    await _answer(send, 200, body, [(b"content-type", b"application/json")])


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """`size` bytes in 64 KiB pieces, with a length unless `chunked=1`."""
    query = _query(scope)
    size = int(query.get("size", str(CHUNK)))
    headers = [(b"content-type", b"application/octet-stream")]
    if query.get("chunked") != "1":
        headers.append((b"content-length", str(size).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    piece = b"x" * CHUNK
    left = size
    while left > 0:
        part = piece if left >= CHUNK else piece[:left]
        left -= len(part)
        await send({"type": "http.response.body", "body": part, "more_body": left > 0})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def slow(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer after `delay` seconds, unless the client leaves first."""
    delay = float(_query(scope).get("delay", "3"))
    running = state["slow_running"]
    assert isinstance(running, int)
    state["slow_running"] = running + 1
    try:
        await receive()  # the (empty) body
        left = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({left}, timeout=delay)
        if done:
            return
        left.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await left
        await _answer(send, 200, b'{"slow": true}', [(b"content-type", b"application/json")])
    finally:
        now = state["slow_running"]
        assert isinstance(now, int)
        state["slow_running"] = now - 1


async def silent_then_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Headers at once, one piece, then `pause` seconds of silence, then the rest."""
    pause = float(_query(scope).get("pause", "3"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
    await asyncio.sleep(pause)
    await send({"type": "http.response.body", "body": b"second\n"})


RAW: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    "/echo": echo,
    "/stream": stream,
    "/slow": slow,
    "/silent-then-stream": silent_then_stream,
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        path = scope["path"][len(scope.get("root_path", "")) :]
        for start, handler in RAW.items():
            if path == start or path.startswith(start + "/"):
                await handler(scope, receive, send)
                return
    await api(scope, receive, send)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _query(scope: Scope) -> dict[str, str]:
    pairs = scope["query_string"].decode().split("&")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)
