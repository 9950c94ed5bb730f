"""Bounded load test of ``moviegenre serve`` on loopback: latency percentiles, throughput, RSS.

Starts the server (one process, the bundled model unless --model), sends --requests POST
/v1/predict requests from --concurrency keep-alive connections, first with one text per request,
then with batches of 32, then with bad bodies mixed in among good ones (malformed JSON, wrong
types, too many texts, oversized texts and bodies, empty, non-English, non-UTF-8, deeply nested),
and prints a Markdown table (--append adds it to benchmarks/RESULTS.md). The "5xx" column must
stay 0: every bad body is answered 4xx. The client is a minimal asyncio HTTP/1.1 client so that
it costs the shared cores little.

Two more scenarios measure head-of-line blocking and shedding, each in a table of its own with
one-text and 64-text requests reported apart (latency of the 200s; 503s must all carry
Retry-After, and no other 5xx may appear): "mixed" (--concurrency clients, three one-text
bodies for each 64-text one, --mixed-requests requests) and "overload" (4 x --concurrency
clients, at most 256, 64-text bodies only).

    python benchmarks/api_load.py --requests 2000 --concurrency 32 --append
    python benchmarks/api_load.py --scenarios mixed overload --mixed-requests 400 --append
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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

from _results import RESULTS, append_results

from moviegenre.examples import EXAMPLES

SCENARIOS = ("sequential", "single", "batch", "bad-bodies", "mixed", "overload")
#: Scenarios in the table of request kinds (by default only the first four run).
KIND_SCENARIOS = ("mixed", "overload")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank; NaN for none)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


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
    server_errors: int
    rss_mb: float
    peak_rss_mb: float

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

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
            str(self.server_errors),
            f"{self.rss_mb:.0f} / {self.peak_rss_mb:.0f}",
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| scenario | requests | concurrency | texts/request | p50 ms | p95 ms | p99 ms | req/s "
    "| texts/s | non-200 | 5xx | server RSS MB (now / peak) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MB, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    kb = lambda key: float(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return kb("VmRSS") / 1024, kb("VmHWM") / 1024


async def _request(reader, writer, data: bytes) -> tuple[int, bool, bool]:
    """Send one request; (status, whether the server closes the connection after it, whether
    the answer has a Retry-After header)."""
    writer.write(data)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length, close, retry_after = 0, False, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
        elif name == b"retry-after":
            retry_after = True
    await reader.readexactly(length)
    return status, close, retry_after


def _http(host: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _worker(host, port, bodies: list[bytes], tickets, latencies, statuses, records=None):
    """Send the requests of ``tickets`` one after another; ``records`` (if given) gets
    (body index, status, Retry-After present, ms) for each."""
    requests = [_http(host, port, body) for body in bodies]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for ticket in tickets:
            start = time.perf_counter()
            index = ticket % len(requests)
            try:
                status, close, retry_after = await _request(reader, writer, requests[index])
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                status, close, retry_after = 0, True, False  # 0: the connection failed
            ms = (time.perf_counter() - start) * 1000
            if status:
                latencies.append(ms)
            statuses.append(status)
            if records is not None:
                records.append((index, status, retry_after, ms))
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _run(host, port, bodies: list[bytes], requests: int, concurrency: int, records=None):
    tickets = iter(range(requests))  # shared: each worker takes the next request number
    latencies: list[float] = []
    statuses: list[int] = []
    start = time.perf_counter()
    workers = [
        _worker(host, port, bodies, tickets, latencies, statuses, records)
        for _ in range(concurrency)
    ]
    await asyncio.gather(*workers)
    return time.perf_counter() - start, latencies, statuses


def bad_bodies() -> list[bytes]:
    """One good body and the bad ones a careless or hostile client sends (each must get 4xx)."""
    good = list(EXAMPLES.values())
    french = (
        "Un homme rentre chez lui après la guerre et découvre que sa famille a disparu sans "
        "laisser de trace dans la petite ville où il est né et a grandi depuis son enfance"
    )
    as_json = lambda value: json.dumps(value).encode()  # noqa: E731
    return [
        as_json({"texts": good[:1], "top_k": 3}),  # good
        b'{"texts": ["a plot", ',  # malformed JSON
        b"",  # no body
        as_json({"texts": "one string, not a list"}),
        as_json({"texts": [1, 2, 3]}),
        as_json({"texts": good[:1], "top_k": "three"}),
        as_json({"texts": good[:1], "top_k": 0}),
        as_json({"texts": good[:1], "extra": True}),
        as_json({"texts": good[:1] * 65}),  # too many texts
        as_json({"texts": ["word " * 1_200]}),  # a text over max_chars
        as_json({"texts": ["padding " * 270_000]}),  # a body over max_body_bytes
        as_json({"texts": []}),
        as_json({"texts": ["", "   "]}),  # empty texts: per-item errors, 200
        as_json({"texts": [french, "too short"]}),  # refused texts: per-item errors, 200
        b'{"texts": ["\xff\xfe not UTF-8"]}',
        b'{"texts": ["\\ud800 lone surrogate ' + b"x " * 30 + b'"]}',
        b"[" * 50_000 + b"]" * 50_000,  # nested 50,000 deep
        as_json(None),
    ]


def scenario(
    args, pid: int, name: str, texts_per_request: int, concurrency: int, bodies=None
) -> Outcome:
    if bodies is None:
        texts = list(itertools.islice(itertools.cycle(EXAMPLES.values()), texts_per_request))
        bodies = [json.dumps({"texts": texts, "top_k": 3}).encode()]
    asyncio.run(_run(args.host, args.port, bodies, min(50, args.requests), 4))  # warm-up
    seconds, latencies, statuses = asyncio.run(
        _run(args.host, args.port, bodies, args.requests, concurrency)
    )
    now, peak = rss_mb(pid)
    errors = sum(status != 200 for status in statuses)
    server_errors = sum(status >= 500 or status == 0 for status in statuses)
    if args.verbose:
        print(name, dict(sorted(collections.Counter(statuses).items())))
    return Outcome(
        name, args.requests, concurrency, texts_per_request, seconds, latencies, errors,
        server_errors, now, peak,
    )  # fmt: skip


KIND_HEADER = (
    "| scenario | request kind | clients | requests | 200 | p50 ms | p95 ms | p99 ms "
    "| 503 (all with Retry-After?) | other non-200 | other 5xx |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _texts_body(n: int) -> bytes:
    texts = list(itertools.islice(itertools.cycle(EXAMPLES.values()), n))
    return json.dumps({"texts": texts, "top_k": 3}).encode()


def kinds_scenario(args, name: str, mix: list[int], concurrency: int, requests: int) -> list[str]:
    """Bodies of ``mix`` texts each, in turn, from ``concurrency`` clients: one table row per
    request size (latency percentiles over its 200 answers)."""
    bodies = [_texts_body(n) for n in mix]
    asyncio.run(_run(args.host, args.port, bodies, min(2 * len(mix), requests), 2))  # warm-up
    records: list[tuple[int, int, bool, float]] = []
    asyncio.run(_run(args.host, args.port, bodies, requests, concurrency, records))
    rows = []
    for size in sorted(set(mix)):
        mine = [r for r in records if mix[r[0]] == size]
        ok = [ms for _, status, _, ms in mine if status == 200]
        shed = [r for r in mine if r[1] == 503]
        told = "yes" if all(r[2] for r in shed) else "NO"
        other = [r for r in mine if r[1] not in (200, 503)]
        cells = [
            name, f"{size} text{'s' if size > 1 else ''}", str(concurrency), str(len(mine)),
            str(len(ok)), f"{percentile(ok, 50):.0f}", f"{percentile(ok, 95):.0f}",
            f"{percentile(ok, 99):.0f}", f"{len(shed)} ({told if shed else '-'})", str(len(other)),
            str(sum(r[1] >= 500 or r[1] == 0 for r in other)),
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    if args.verbose:
        print(name, dict(sorted(collections.Counter(r[1] for r in records).items())))
    return rows


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
    parser.add_argument(
        "--mixed-requests", type=int, default=400, help="requests of the mixed and overload runs"
    )
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=SCENARIOS,
        default=[s for s in SCENARIOS if s not in KIND_SCENARIOS],
        help="which scenarios to run (default: the first four)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print status counts")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--requests must be in [1, 100000] and --concurrency in [1, 256]")
    if not 1 <= args.mixed_requests <= 10_000:
        parser.error("--mixed-requests must be in [1, 10000]")
    load_start = os.getloadavg()[0]
    server = start_server(args)
    try:
        info = json.loads(urllib.request.urlopen(f"http://{args.host}:{args.port}/v1/model").read())
        runs = {
            "sequential": lambda: scenario(args, server.pid, "1 text, sequential", 1, 1),
            "single": lambda: scenario(args, server.pid, "1 text", 1, args.concurrency),
            "batch": lambda: scenario(args, server.pid, "batch of 32", 32, args.concurrency),
            "bad-bodies": lambda: scenario(
                args,
                server.pid,
                "bad bodies mixed in (18 kinds)",
                1,
                args.concurrency,
                bad_bodies(),
            ),  # fmt: skip
        }
        outcomes = [runs[name]() for name in args.scenarios if name in runs]
        kinds = {
            "mixed": lambda: kinds_scenario(
                args, "mixed", [1, 1, 1, 64], args.concurrency, args.mixed_requests
            ),
            "overload": lambda: kinds_scenario(
                args, "overload", [64], min(256, 4 * args.concurrency), args.mixed_requests
            ),
        }
        kind_rows = [row for name in args.scenarios if name in kinds for row in kinds[name]()]
    finally:
        server.terminate()
        server.wait(timeout=30)
    load = os.getloadavg()[0]
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/api_load.py", *sys.argv[1:]]
    )
    tables = []
    if outcomes:
        tables.append("\n".join([HEADER, *(o.row() for o in outcomes)]))
    if kind_rows:
        tables.append("\n".join([KIND_HEADER, *kind_rows]))
    table = "\n\n".join(tables)
    note = (
        f"Model `{info['name']}` ({info['kind']}), one server process, {os.cpu_count()} cores "
        f"({platform.machine()}), load average {load_start:.1f} at the start and {load:.1f} when "
        "done (the cores are shared)."
    )
    text = f"## API load test ({time.strftime('%Y-%m-%d')})\n\n`{command}`\n\n{note}\n\n{table}\n"
    print(text)
    if args.append:
        append_results("API load test", table, note + "\n\n")
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
