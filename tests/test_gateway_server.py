"""The gateway's own HTTP server (gateway/server.py), as a client on a raw socket sees it.

Pipelining, HTTP/1.0, Expect: 100-continue, slow headers, idle
connections, upgrades it does not speak, and an app's own reason phrase:
each through the real gateway process, checked byte by byte.
"""

from __future__ import annotations

import ast
import hashlib
import json
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.gateway_box import GatewayBox, gateway_command, running
from tests.stack import ROOT

# Every socket read waits at most this long, bar the ones that wait out a timeout.
TIMEOUT = 5.0
SHAPE = {"error", "detail", "app", "request_id"}


def _server_constant(name: str) -> float:
    """A number set at the top of gateway/server.py.

    Read from its source: the gateway's modules live in the gateway's own
    venv, which the tests' interpreter cannot import from.
    """
    source = (ROOT / "gateway" / "src" / "gateway" / "server.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, int | float), (name, value)
            return float(value)
    raise AssertionError(f"gateway/server.py sets no {name}")


HEADER_SECONDS = _server_constant("HEADER_SECONDS")
SWEEP_SECONDS = _server_constant("SWEEP_SECONDS")


def _keep_alive_seconds() -> float:
    """uvicorn's keep-alive timeout as the Procfile runs the gateway (uvicorn's default: 5)."""
    words = gateway_command(0)
    if "--timeout-keep-alive" in words:
        return float(words[words.index("--timeout-keep-alive") + 1])
    return 5.0


KEEP_ALIVE_SECONDS = _keep_alive_seconds()


@pytest.fixture(scope="module")
def box() -> Iterator[GatewayBox]:
    with running("/up") as (gateway, _):
        yield gateway


def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


class Responses:
    """HTTP responses read one after another from one connection, framed as they say."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._more():
                raise AssertionError(f"closed after {len(self.buffer)} of {size} bytes")
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._more():
                raise AssertionError(f"closed mid-line: {self.buffer[:200]!r}")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def head(self) -> bytes:
        """The next response's status line and headers, without the blank line."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._more():
                raise AssertionError(f"closed before a whole head: {self.buffer[:200]!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def read(self, method: bytes = b"GET") -> tuple[bytes, bytes]:
        """The next whole response: its head and its body, unframed."""
        head = self.head()
        status = int(head.split(b" ", 2)[1])
        fields = header_fields(head)
        if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
            return head, b""
        if b"chunked" in fields.get(b"transfer-encoding", []):
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    assert self._line() == b"", "no trailers were asked for"
                    return head, body
                body += self._take(size)
                assert self._take(2) == b"\r\n"
        if b"content-length" in fields:
            return head, self._take(int(fields[b"content-length"][0]))
        # Close-delimited: the body ends where the connection does.
        while self._more():
            pass
        body, self.buffer = self.buffer, b""
        return head, body


def header_fields(head: bytes) -> dict[bytes, list[bytes]]:
    """Each header name (lowercased) in `head`, with its values in order."""
    fields: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def closed_by_server(sock: socket.socket, timeout: float = TIMEOUT) -> bool:
    """True if the server ends the connection within `timeout` without sending more."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    assert data == b"", f"more bytes where the connection should end: {data[:200]!r}"
    return True


def echoed(body: bytes) -> dict[str, object]:
    seen: dict[str, object] = json.loads(body)
    return seen


def seen_header_names(seen: dict[str, object]) -> set[str]:
    pairs = seen["headers"]
    assert isinstance(pairs, list)
    return {name for name, _ in pairs}


def test_pipelined_requests_are_answered_in_order_on_one_connection(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(
            b"GET /up/echo?n=1 HTTP/1.1\r\nHost: box\r\n\r\n"
            b"GET /up/echo?n=2 HTTP/1.1\r\nHost: box\r\n\r\n"
        )
        responses = Responses(sock)
        first_head, first = responses.read()
        second_head, second = responses.read()

        assert first_head.startswith(b"HTTP/1.1 200 ")
        assert second_head.startswith(b"HTTP/1.1 200 ")
        assert echoed(first)["query"] == "n=1"
        assert echoed(second)["query"] == "n=2"
        assert b"close" not in header_fields(first_head).get(b"connection", [])
        assert b"close" not in header_fields(second_head).get(b"connection", [])
        # Still the same open connection: a third request is answered on it.
        sock.sendall(b"GET /up/echo?n=3 HTTP/1.1\r\nHost: box\r\n\r\n")
        assert echoed(responses.read()[1])["query"] == "n=3"


def test_a_pipelined_request_waits_for_a_slow_one_before_it(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(
            b"GET /up/slow?delay=0.5 HTTP/1.1\r\nHost: box\r\n\r\n"
            b"GET /up/echo?n=2 HTTP/1.1\r\nHost: box\r\n\r\n"
        )
        responses = Responses(sock)
        first_head, first = responses.read()
        second_head, second = responses.read()

        assert first_head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(first) == {"slow": True}
        assert second_head.startswith(b"HTTP/1.1 200 ")
        assert echoed(second)["query"] == "n=2"


def test_http10_without_keep_alive_is_answered_then_closed(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(b"GET /up/echo?v=10 HTTP/1.0\r\nHost: box\r\n\r\n")
        responses = Responses(sock)
        head, body = responses.read()

        assert head.startswith(b"HTTP/1.1 200 ")
        assert echoed(body)["query"] == "v=10"
        assert header_fields(head)[b"connection"] == [b"close"]
        assert responses.buffer == b""
        assert closed_by_server(sock)


def test_http10_gets_a_chunked_app_answer_close_delimited(box: GatewayBox) -> None:
    size = 200_000
    with connect(box.port) as sock:
        sock.sendall(b"GET /up/stream?size=%d&chunked=1 HTTP/1.0\r\nHost: box\r\n\r\n" % size)
        # Read to the end of the connection: it is the only end the body has.
        received = b""
        while data := sock.recv(65536):
            received += data

    head, _, body = received.partition(b"\r\n\r\n")
    fields = header_fields(head)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in fields
    assert b"content-length" not in fields
    assert fields[b"connection"] == [b"close"]
    assert body == b"x" * size


def test_expect_100_continue_is_answered_before_the_body(box: GatewayBox) -> None:
    payload = b"the body, sent only once the gateway said to go on"
    with connect(box.port) as sock:
        sock.sendall(
            b"POST /up/echo HTTP/1.1\r\nHost: box\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(payload)
        )
        responses = Responses(sock)
        interim = responses.head()
        assert interim == b"HTTP/1.1 100 Continue"
        assert responses.buffer == b"", "nothing more before the body is sent"

        sock.sendall(payload)
        head, body = responses.read(b"POST")

    assert head.startswith(b"HTTP/1.1 200 ")
    seen = echoed(body)
    assert seen["method"] == "POST"
    assert seen["body_bytes"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert "expect" not in seen_header_names(seen)


def test_headers_that_stall_get_a_408_and_the_connection_closes(box: GatewayBox) -> None:
    with connect(box.port, timeout=HEADER_SECONDS + SWEEP_SECONDS + 3) as sock:
        sock.sendall(b"GET /up/echo HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        responses = Responses(sock)
        head, body = responses.read()
        waited = time.monotonic() - began

        assert head.startswith(b"HTTP/1.1 408 ")
        assert waited >= HEADER_SECONDS - 0.5, f"refused after {waited:.1f} s"
        fields = header_fields(head)
        assert fields[b"content-type"] == [b"application/json"]
        assert fields[b"connection"] == [b"close"]
        error = json.loads(body)
        assert set(error) == SHAPE
        assert error["error"] == "request_timeout"
        assert fields[b"x-request-id"] == [error["request_id"].encode()]
        assert closed_by_server(sock)


def test_headers_trickled_in_well_within_the_limit_are_answered(box: GatewayBox) -> None:
    request = b"GET /up/echo?trickled=1 HTTP/1.1\r\nHost: box\r\nX-Slowly: yes\r\n\r\n"
    pieces = [request[start : start + 6] for start in range(0, len(request), 6)]
    trickle_seconds = 2.0
    assert trickle_seconds < HEADER_SECONDS / 2, "the trickle must stay well within the limit"
    gap = trickle_seconds / len(pieces)
    with connect(box.port) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(gap)
        head, body = Responses(sock).read()

    assert head.startswith(b"HTTP/1.1 200 ")
    seen = echoed(body)
    assert seen["query"] == "trickled=1"
    assert "x-slowly" in seen_header_names(seen)


class _RawApp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _RawHandler(socketserver.StreamRequestHandler):
    """A bare HTTP/1.1 app: /healthz is 200 OK, anything else '299 Quite Fine'; keep-alive."""

    def handle(self) -> None:
        self.connection.settimeout(30)
        while True:
            line = self.rfile.readline(65537)
            if not line.strip():
                return
            lines = [line]
            while (field := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                lines.append(field)
            if line.split()[1] == b"/healthz":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                self.wfile.write(b"HTTP/1.1 299 Quite Fine\r\nContent-Length: 2\r\n\r\nok")
            self.wfile.flush()
            if any(
                field.lower().startswith(b"connection:") and b"close" in field.lower()
                for field in lines
            ):
                return


@pytest.fixture
def raw_app() -> Iterator[int]:
    """The bare app on a free loopback port, served from a thread; yields the port."""
    server = _RawApp(("127.0.0.1", 0), _RawHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def test_the_apps_reason_phrase_reaches_the_client(raw_app: int) -> None:
    box = GatewayBox({"raw": {"prefix": "/raw", "path": "tests/upstream", "port": raw_app}})
    try:
        box.wait_ready()
        with connect(box.port) as sock:
            responses = Responses(sock)
            for _ in range(2):
                sock.sendall(b"GET /raw/anything HTTP/1.1\r\nHost: box\r\n\r\n")
                head, body = responses.read()
                assert head.split(b"\r\n")[0] == b"HTTP/1.1 299 Quite Fine"
                assert body == b"ok"
    finally:
        box.stop()


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(b"GET /up/echo HTTP/1.1\r\nHost: box\r\n\r\n")
        head, _ = Responses(sock).read()
        assert head.startswith(b"HTTP/1.1 200 ")
        idle_from = time.monotonic()

        assert closed_by_server(sock, timeout=KEEP_ALIVE_SECONDS + SWEEP_SECONDS + 1.5)
        idle = time.monotonic() - idle_from

    assert idle >= KEEP_ALIVE_SECONDS - 0.5, f"closed after {idle:.1f} s idle"


def test_an_upgrade_other_than_websocket_is_answered_as_plain_http(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(
            b"GET /up/echo?h2c=1 HTTP/1.1\r\nHost: box\r\n"
            b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        )
        responses = Responses(sock)
        head, body = responses.read()

        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"upgrade" not in header_fields(head)
        seen = echoed(body)
        assert seen["query"] == "h2c=1"
        names = seen_header_names(seen)
        assert "upgrade" not in names
        assert "http2-settings" not in names
        assert "connection" not in names
        # Whatever follows an upgrade request is not read as HTTP: the connection ends.
        assert closed_by_server(sock)


def test_connection_cannot_strip_the_framing_and_smuggle_a_request(box: GatewayBox) -> None:
    smuggled = b"GET /slow?delay=0.5 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
    with connect(box.port) as sock:
        sock.sendall(
            b"POST /up/echo HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (len(smuggled), smuggled)
        )
        head, body = Responses(sock).read()
    assert head.startswith(b"HTTP/1.1 200 ")
    # The app read the bytes as this request's body, not as a request of their own.
    assert echoed(body)["body_bytes"] == len(smuggled)
    # The next request, on a kept-alive connection to the app, gets its own answer.
    with connect(box.port) as sock:
        sock.sendall(b"GET /up/echo?after=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert echoed(Responses(sock).read()[1])["query"] == "after=1"


def test_many_pipelined_answers_of_the_gateways_own_come_in_order(box: GatewayBox) -> None:
    count = 2000
    with connect(box.port, timeout=20) as sock:
        sock.sendall(
            b"GET /up/slow?delay=0.3 HTTP/1.1\r\nHost: box\r\n\r\n"
            + b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n" * count
            + b"GET /up/echo?last=1 HTTP/1.1\r\nHost: box\r\n\r\n"
        )
        responses = Responses(sock)
        assert json.loads(responses.read()[1]) == {"slow": True}
        for _ in range(count):
            head, body = responses.read()
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body) == {"status": "ok"}
        assert echoed(responses.read()[1])["query"] == "last=1"


def test_a_404_keeps_the_connection_for_the_next_request(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(
            b"GET /nope HTTP/1.1\r\nHost: box\r\n\r\n"
            b"POST /up/echo?second=1 HTTP/1.1\r\nHost: box\r\nContent-Length: 2\r\n\r\nhi"
        )
        responses = Responses(sock)
        first_head, _ = responses.read()
        second_head, second = responses.read()
    assert first_head.startswith(b"HTTP/1.1 404 ")
    assert b"close" not in header_fields(first_head).get(b"connection", [])
    assert second_head.startswith(b"HTTP/1.1 200 ")
    assert echoed(second)["query"] == "second=1"


def test_a_malformed_chunked_body_is_a_400_and_the_connection_ends(box: GatewayBox) -> None:
    with connect(box.port) as sock:
        sock.sendall(
            b"POST /up/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        head, body = Responses(sock).read()
        assert head.startswith(b"HTTP/1.1 400 ")
        assert set(json.loads(body)) == SHAPE
        assert closed_by_server(sock)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"405"),
        (b"GET http://[h/up/echo HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),
        (b"GET /up/echo HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /up/echo HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n", b"400"),
        (b"GET /up/echo HTTP/1.1\r\nHost: evil.com/x?\r\n\r\n", b"400"),
    ],
)
def test_requests_no_careful_proxy_serves_are_refused(
    box: GatewayBox, request_bytes: bytes, status: bytes
) -> None:
    with connect(box.port) as sock:
        sock.sendall(request_bytes)
        head, body = Responses(sock).read()
    assert head.startswith(b"HTTP/1.1 " + status + b" ")
    assert set(json.loads(body)) == SHAPE


def test_a_stalled_request_body_gets_a_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_BODY_TIMEOUT", "1")
    with running("/up") as (box, _), connect(box.port) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /up/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhi")
        head, body = Responses(sock).read()
        waited = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body)["error"] == "request_timeout"
        assert 0.9 <= waited <= 1 + SWEEP_SECONDS + 2
        assert closed_by_server(sock)


def test_an_answer_finished_while_the_gateway_stops_says_the_connection_ends() -> None:
    with running("/up") as (box, _), connect(box.port) as sock:
        sock.sendall(b"GET /up/slow?delay=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.3)
        box.gateway.process.send_signal(signal.SIGTERM)
        head, body = Responses(sock).read()
        assert head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(body) == {"slow": True}
        assert header_fields(head)[b"connection"] == [b"close"]
        assert closed_by_server(sock)
