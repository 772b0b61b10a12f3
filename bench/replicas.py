"""Requests per second of app2's CPU-bound /work, as app2 gets more processes.

Measured in one run, through the gateway each time: in the box with app2 at
one and at two uvicorn workers, then on a one-node Docker Swarm with app2 at
one and at two replicas. Prints each rate and the two-to-one ratios. Every
server listens on this machine only and every load run is bounded.

Usage: python bench/replicas.py [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway import ensure_tools, wrk  # noqa: E402
from tests.container import IMAGE, build, docker, engine_problem  # noqa: E402
from tests.copies import copy_box, onebox  # noqa: E402
from tests.stack import running  # noqa: E402
from tests.test_swarm import Swarm  # noqa: E402

PATH = "/app2/work"


def in_the_box(workers: int, seconds: int, connections: int) -> float:
    """app2 at `workers` processes behind its one port, in a copy of the box."""
    with tempfile.TemporaryDirectory() as folder:
        box = copy_box(Path(folder))
        toml = box / "onebox.toml"
        toml.write_text(
            toml.read_text().replace(
                'module = "app2.main:app"\n', f'module = "app2.main:app"\nworkers = {workers}\n'
            )
        )
        for step in (["generate"], ["sync", "--no-dev"]):
            result = onebox(*step, cwd=box)
            if result.returncode != 0:
                raise SystemExit(f"bench: onebox {step[0]} failed:\n{result.stderr}")
        with running(root=box, LOG_LEVEL="WARNING") as stack:
            stack.wait_until("/readyz")
            return wrk(stack.url + PATH, connections, seconds)["rps"]


def on_the_swarm(seconds: int, connections: int) -> dict[int, float]:
    """app2 at one, then two replicas, on a swarm this run makes and leaves."""
    problem = engine_problem()
    if problem:
        raise SystemExit(f"bench: {problem}")
    build()
    swarm = Swarm()
    rates = {}
    try:
        swarm.start()
        swarm.wait_until("/readyz")
        for replicas in (1, 2):
            docker(
                "service", "scale", "--detach=false", f"{swarm.stack}_app2={replicas}", timeout=180
            )
            wait_for_replicas(swarm.url, replicas)
            rates[replicas] = wrk(swarm.url + PATH, connections, seconds)["rps"]
    finally:
        swarm.stop()
    return rates


def wait_for_replicas(url: str, replicas: int, timeout: float = 90) -> None:
    """Until the gateway spreads /work over exactly `replicas` processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = set()
        for _ in range(12):
            try:
                body = httpx.get(url + PATH, params={"size": 1000}, timeout=5).json()
                seen.add(body["host"])
            except (httpx.HTTPError, ValueError, KeyError):
                pass
        if len(seen) == replicas:
            return
        time.sleep(1)
    raise SystemExit(f"bench: the gateway never reached {replicas} replicas of app2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    options = parser.parse_args()
    ensure_tools()
    os.environ.setdefault("BASE_IMAGE", "onebox-base:bookworm")
    os.environ.setdefault("PYTHON_DOWNLOADS", "never")
    print(f"bench: {PATH} through the gateway, {options.connections} connections, image {IMAGE}")
    print(f"bench: load average before: {os.getloadavg()[0]:.2f}", flush=True)

    box = {n: in_the_box(n, options.seconds, options.connections) for n in (1, 2)}
    swarm = on_the_swarm(options.seconds, options.connections)

    print(f"{'layout':<28}{'1 process':>12}{'2 processes':>14}{'ratio':>8}")
    for label, rates in (("box, uvicorn workers", box), ("swarm, replicas", swarm)):
        ratio = rates[2] / rates[1] if rates[1] else 0.0
        print(f"{label:<28}{rates[1]:>12.1f}{rates[2]:>14.1f}{ratio:>8.2f}")
    print(f"bench: load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
