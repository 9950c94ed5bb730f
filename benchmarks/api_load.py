"""Bounded load test of ``moviegenre serve`` on loopback: latency percentiles, throughput, RSS.

Starts the server (one process, the bundled model unless --model), sends --requests POST
/v1/predict requests from --concurrency keep-alive connections, first with one text per request,
then with batches of 32, and prints a Markdown table (--append adds it to benchmarks/RESULTS.md).
The client is a minimal asyncio HTTP/1.1 client so that it costs the shared cores little.

    python benchmarks/api_load.py --requests 2000 --concurrency 32 --append
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from moviegenre.examples import EXAMPLES

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Outcome:
    """What one scenario measured."""

    name: str
    requests: int
    concurrency: int
    texts_per_request: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    rss_mb: float
    peak_rss_mb: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def row(self) -> str:
        rps = self.requests / self.seconds
        cells = [
            self.name,
            str(self.requests),
            str(self.concurrency),
            str(self.texts_per_request),
            f"{self.percentile(50):.1f}",
            f"{self.percentile(95):.1f}",
            f"{self.percentile(99):.1f}",
            f"{rps:.0f}",
            f"{rps * self.texts_per_request:.0f}",
            str(self.errors),
            f"{self.rss_mb:.0f} / {self.peak_rss_mb:.0f}",
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| scenario | requests | concurrency | texts/request | p50 ms | p95 ms | p99 ms | req/s "
    "| texts/s | errors | server RSS MB (now / peak) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MB, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    kb = lambda key: float(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return kb("VmRSS") / 1024, kb("VmHWM") / 1024


async def _request(reader, writer, head: bytes, body: bytes) -> int:
    writer.write(head + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, body: bytes, tickets, latencies, errors) -> None:
    head = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in tickets:
            start = time.perf_counter()
            try:
                status = await _request(reader, writer, head, body)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                errors.append(1)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _run(host: str, port: int, body: bytes, requests: int, concurrency: int):
    tickets = iter(range(requests))  # shared: each worker takes the next request number
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    workers = [_worker(host, port, body, tickets, latencies, errors) for _ in range(concurrency)]
    await asyncio.gather(*workers)
    return time.perf_counter() - start, latencies, errors


def scenario(args, pid: int, name: str, texts_per_request: int, concurrency: int) -> Outcome:
    texts = list(itertools.islice(itertools.cycle(EXAMPLES.values()), texts_per_request))
    body = json.dumps({"texts": texts, "top_k": 3}).encode()
    asyncio.run(_run(args.host, args.port, body, min(50, args.requests), 4))  # warm-up
    seconds, latencies, errors = asyncio.run(
        _run(args.host, args.port, body, args.requests, concurrency)
    )
    now, peak = rss_mb(pid)
    return Outcome(
        name, args.requests, concurrency, texts_per_request, seconds, latencies, len(errors),
        now, peak,
    )  # fmt: skip


def start_server(args) -> subprocess.Popen:
    """Run ``moviegenre serve`` on a free loopback port and wait (bounded) for /healthz."""
    if not args.port:
        with socket.socket() as sock:
            sock.bind((args.host, 0))
            args.port = sock.getsockname()[1]
    command = [sys.executable, "-m", "moviegenre.cli", "serve", "--host", args.host]
    command += ["--port", str(args.port), "--max-texts", "64"]
    if args.model:
        command += ["--model", args.model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{args.host}:{args.port}/healthz", timeout=2):
                return process
        except OSError:
            try:
                process.wait(timeout=0.2)
                raise SystemExit(f"the server exited with code {process.returncode}")
            except subprocess.TimeoutExpired:
                pass
    process.terminate()
    raise SystemExit("the server did not answer /healthz within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--requests must be in [1, 100000] and --concurrency in [1, 256]")
    server = start_server(args)
    try:
        info = json.loads(urllib.request.urlopen(f"http://{args.host}:{args.port}/v1/model").read())
        outcomes = [
            scenario(args, server.pid, "1 text, sequential", 1, 1),
            scenario(args, server.pid, "1 text", 1, args.concurrency),
            scenario(args, server.pid, "batch of 32", 32, args.concurrency),
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    load = os.getloadavg()[0]
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/api_load.py", *sys.argv[1:]]
    )
    table = "\n".join([HEADER, *(o.row() for o in outcomes)])
    note = (
        f"Model `{info['name']}` ({info['kind']}), one server process, {os.cpu_count()} cores "
        f"({platform.machine()}), load average {load:.1f} when done (the cores are shared)."
    )
    text = f"## API load test ({time.strftime('%Y-%m-%d')})\n\n`{command}`\n\n{note}\n\n{table}\n"
    print(text)
    if args.append:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
