"""Measure the gateway against the app direct and against nginx, all in one run.

The test app (tests/upstream) runs under uvicorn like a box app; the real
gateway process and an nginx reverse proxy both forward /up to it. The
same endpoint is measured through each: req/s and latency at 1 and 32
connections (wrk), a 1 GiB stream (curl) with the gateway's peak RSS,
WebSocket echo round trips per second, and the errors over 100,000
requests. Everything listens on 127.0.0.1 and every run is bounded.

Usage: python bench/gateway.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gateway_box import peak_rss_kib, running  # noqa: E402
from tests.stack import free_port  # noqa: E402

GIB = 1 << 30
ERROR_RUN = 100_000
STOP_AFTER = textwrap.dedent(
    """
    local seen = 0
    function response(status, headers, body)
      seen = seen + 1
      if seen >= {limit} then wrk.thread:stop() end
    end
    """
)


def ensure_tools() -> bool:
    """wrk and curl are needed; nginx is optional. Installs with apt-get when root."""
    missing = [tool for tool in ("wrk", "curl", "nginx") if not _which(tool)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"bench: installing {' '.join(missing)} with apt-get", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing],
            check=False,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    for tool in ("wrk", "curl"):
        if not _which(tool):
            raise SystemExit(f"bench: {tool} is missing; install it (apt-get install {tool})")
    if not _which("nginx"):
        print("bench: nginx is absent, so there is no nginx baseline in this run", flush=True)
        return False
    return True


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")


class Nginx:
    """nginx as a reverse proxy for /up, one worker, keep-alive to the app."""

    def __init__(self, app_port: int) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="onebox-bench-nginx-"))
        # nginx's worker runs as another user and writes its buffer files here.
        self.folder.chmod(0o755)
        (self.folder / "logs").mkdir()
        conf = self.folder / "nginx.conf"
        conf.write_text(
            textwrap.dedent(
                f"""
                worker_processes 1;
                daemon off;
                pid {self.folder}/nginx.pid;
                error_log {self.folder}/logs/error.log warn;
                events {{ worker_connections 1024; }}
                http {{
                  access_log off;
                  client_body_temp_path {self.folder}/body;
                  proxy_temp_path {self.folder}/proxy;
                  fastcgi_temp_path {self.folder}/fcgi;
                  uwsgi_temp_path {self.folder}/uwsgi;
                  scgi_temp_path {self.folder}/scgi;
                  upstream app {{ server 127.0.0.1:{app_port}; keepalive 32; }}
                  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
                  server {{
                    listen 127.0.0.1:{self.port};
                    location /up/ {{
                      proxy_pass http://app/;
                      proxy_http_version 1.1;
                      proxy_set_header Upgrade $http_upgrade;
                      proxy_set_header Connection $connection_upgrade;
                      proxy_set_header Host $host;
                      proxy_set_header X-Forwarded-For $remote_addr;
                      proxy_set_header X-Forwarded-Proto $scheme;
                      proxy_set_header X-Forwarded-Prefix /up;
                    }}
                  }}
                }}
                """
            )
        )
        binary = _which("nginx")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def pids(self) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [self.process.pid, *(int(pid) for pid in found.stdout.split())]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def milliseconds(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, seconds: int, script: Path | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout

    def grab(pattern: str) -> str:
        match = re.search(pattern, out, re.MULTILINE)
        return match.group(1) if match else "0"

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(grab(r"Requests/sec:\s+([\d.]+)")),
        "p50": milliseconds(grab(r"^\s+50%\s+(\S+)")),
        "p99": milliseconds(grab(r"^\s+99%\s+(\S+)")),
        "requests": float(grab(r"(\d+) requests in")),
        "non2xx": float(grab(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": float(sum(int(n) for n in errors.groups()) if errors else 0),
    }


def stream(url: str) -> float:
    """MB/s for 1 GiB through `url`; 0 when curl did not get all of it twice in a row."""
    for _ in range(2):
        done = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "120", "-w", "%{speed_download}", url],
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        if done.returncode == 0:
            return float(done.stdout) / 1e6
        print(f"bench: curl {url} failed with exit status {done.returncode}", flush=True)
    return 0.0


def websocket_echo(url: str, messages: int = 5000) -> float:
    from websockets.sync.client import connect

    with connect(url, open_timeout=5, compression=None) as ws:
        ws.recv(timeout=5)
        started = time.perf_counter()
        for _ in range(messages):
            ws.send("ping")
            ws.recv(timeout=5)
        return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    options = parser.parse_args()

    have_nginx = ensure_tools()
    print(f"bench: load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with running("/up") as (box, app_port):
        nginx = Nginx(app_port) if have_nginx else None
        try:
            report(box.url, box.pid, app_port, nginx, options.seconds, options.rounds)
        finally:
            if nginx is not None:
                nginx.stop()
    print(f"bench: load average after: {os.getloadavg()[0]:.2f}", flush=True)


def report(
    gateway_url: str,
    gateway_pid: int,
    app_port: int,
    nginx: Nginx | None,
    seconds: int,
    rounds: int,
) -> None:
    bases = {"direct": f"http://127.0.0.1:{app_port}", "gateway": gateway_url + "/up"}
    if nginx is not None:
        bases["nginx"] = f"http://127.0.0.1:{nginx.port}/up"
    pids = {"gateway": lambda: [gateway_pid], "nginx": lambda: nginx.pids() if nginx else []}

    # Requests per second and latency, interleaved so load hits every target alike.
    # Latency at one connection moves with whatever else the machine does, so it
    # is measured in more, shorter rounds, and each round's gateway is compared
    # with the same round's direct run.
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    plan = [(32, seconds)] * rounds + [(1, max(2, seconds // 2))] * (rounds * 3)
    for number, (connections, length) in enumerate(plan):
        names = list(bases)
        names = names[number % len(names) :] + names[: number % len(names)]
        for name in names:
            base = bases[name]
            wrk(base + "/healthz", connections, 1)
            before = cpu_seconds(pids[name]()) if name in pids else 0.0
            run = wrk(base + "/healthz", connections, length)
            used = cpu_seconds(pids[name]()) - before if name in pids else 0.0
            run["cpu_us"] = used * 1e6 / max(run["requests"], 1)
            results.setdefault((connections, name), []).append(run)
            print(f"  c{connections} {name}: {run}", flush=True)

    def median(connections: int, name: str, key: str) -> float:
        return statistics.median(run[key] for run in results[(connections, name)])

    print("\n| conns | target | req/s | p50 ms | p99 ms | proxy CPU us/req | errors |")
    print("|---|---|---|---|---|---|---|")
    for connections in (32, 1):
        for name in bases:
            errors = sum(r["non2xx"] + r["socket_errors"] for r in results[(connections, name)])
            print(
                f"| {connections} | {name} | {median(connections, name, 'rps'):.0f} | "
                f"{median(connections, name, 'p50'):.3f} | "
                f"{median(connections, name, 'p99'):.3f} | "
                f"{median(connections, name, 'cpu_us'):.0f} | {errors:.0f} |"
            )

    # A 1 GiB stream through each, and the gateway's peak memory.
    speeds = {name: stream(base + f"/stream?size={GIB}") for name, base in bases.items()}
    rss_mib = peak_rss_kib(gateway_pid) / 1024
    print("\n1 GiB stream MB/s: " + ", ".join(f"{k} {v:.0f}" for k, v in speeds.items()))
    print(f"gateway peak RSS (VmHWM): {rss_mib:.1f} MiB")

    # WebSocket echo round trips.
    ws = {
        name: websocket_echo(base.replace("http://", "ws://") + "/ws/echo")
        for name, base in bases.items()
    }
    print("websocket echo msg/s: " + ", ".join(f"{k} {v:.0f}" for k, v in ws.items()))

    # Errors over 100,000 requests through the gateway.
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(STOP_AFTER.replace("{limit}", str(ERROR_RUN)))
    run = wrk(gateway_url + "/up/healthz", 32, 180, Path(script.name))
    os.unlink(script.name)
    failed = run["non2xx"] + run["socket_errors"]
    print(f"errors: {failed:.0f} in {run['requests']:.0f} requests through the gateway")

    # The bars.
    print("\nratios:")
    c1_gap = statistics.median(
        gateway["p50"] - direct["p50"]
        for gateway, direct in zip(results[(1, "gateway")], results[(1, "direct")], strict=True)
    )
    checks = [
        (
            f"gateway p50 at 1 conn is direct + {c1_gap:.3f} ms, the median of "
            f"{len(results[(1, 'gateway')])} paired rounds (bar: +0.3 ms)",
            c1_gap <= 0.3,
        )
    ]
    if nginx is not None:
        rps = median(32, "gateway", "rps") / median(32, "nginx", "rps")
        stream_ratio = speeds["gateway"] / max(speeds["nginx"], 1e-9)
        checks.append((f"req/s at 32 conns: gateway/nginx = {rps:.2f} (bar: 0.9)", rps >= 0.9))
        checks.append(
            (f"1 GiB: gateway/nginx = {stream_ratio:.2f} (bar: 0.5)", stream_ratio >= 0.5)
        )
    checks.append((f"gateway peak RSS {rss_mib:.0f} MiB (bar: < 100)", rss_mib < 100))
    checks.append((f"{failed:.0f} errors in {run['requests']:.0f} (bar: 0)", failed == 0))
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT met'}] {text}")


if __name__ == "__main__":
    main()
