"""Can idle connections lock a client out of ``moviegenre serve``? (issue 19, item 3)

Starts the server with its defaults (``--limit-concurrency 256``, the bundled model unless
--model), opens --idle connections that never finish a request (half send nothing, half send
half a request line) and keeps that many open for the whole run: each one the server closes is
opened again at once, as a hostile client would. Meanwhile a second client sends one-text
POST /v1/predict requests from --concurrency connections for --seconds (bounded), and the
table says how they were answered. Before the fix, 257 idle sockets made the server answer 503
to every request.

    python benchmarks/idle_connections.py --append
    PYTHONPATH=/path/to/old/src python benchmarks/idle_connections.py --label old   # compare
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time

from _results import append_results
from api_load import _http, _request, percentile, start_server

from moviegenre.examples import EXAMPLES

#: What an idle connection sends: nothing, or half a request line.
HALF = (b"", b"POST /v1/pre")


class Holder:
    """Keeps ``count`` idle connections open, reopening each one the server closes."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.host, self.port, self.count = host, port, count
        self.opened = 0
        self.closed_by_server = 0
        self.refused = 0
        self.stop = asyncio.Event()

    async def _one(self, n: int) -> None:
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.refused += 1
                await asyncio.sleep(0.05)
                continue
            self.opened += 1
            try:
                writer.write(HALF[n % 2])
                await writer.drain()
                # Wait for the server to close it (b"") or for the end of the run.
                read = asyncio.ensure_future(reader.read(1024))
                stop = asyncio.ensure_future(self.stop.wait())
                done, pending = await asyncio.wait([read, stop], return_when="FIRST_COMPLETED")
                for task in pending:
                    task.cancel()
                self.closed_by_server += read in done
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()

    async def run(self) -> None:
        await asyncio.gather(*(self._one(n) for n in range(self.count)))


async def _client(host, port, seconds: float, concurrency: int, statuses, latencies) -> None:
    body = json.dumps({"texts": [next(iter(EXAMPLES.values()))], "top_k": 3}).encode()
    request = _http(host, port, body)
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        reader = writer = None
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                status, close, _ = await _request(reader, writer, request)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                status, close = 0, True  # 0: the connection failed
            latencies.append((time.perf_counter() - start) * 1000)
            statuses.append(status)
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(args) -> tuple[Holder, list[int], list[float]]:
    holder = Holder(args.host, args.port, args.idle)
    holding = asyncio.ensure_future(holder.run())
    while holder.opened < args.idle:  # all idle connections open before the client starts
        await asyncio.sleep(0.05)
    statuses: list[int] = []
    latencies: list[float] = []
    await _client(args.host, args.port, args.seconds, args.concurrency, statuses, latencies)
    holder.stop.set()
    await holding
    return holder, statuses, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--idle", type=int, default=300, help="idle connections held open")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the client runs")
    parser.add_argument("--concurrency", type=int, default=4, help="the client's connections")
    parser.add_argument("--label", default="this code", help="names the row (e.g. old, new)")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not 1 <= args.idle <= 2000 or not 1 <= args.seconds <= 300:
        parser.error("--idle must be in [1, 2000] and --seconds in [1, 300]")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be in [1, 64]")
    load_start = os.getloadavg()[0]
    server = start_server(args)
    try:
        holder, statuses, latencies = asyncio.run(measure(args))
    finally:
        server.terminate()
        server.wait(timeout=30)
    counts = collections.Counter(statuses)
    other = sum(n for status, n in counts.items() if status not in (200, 503))
    table = "\n".join(
        [
            "| code | idle connections held | reopened after the server closed them "
            "| client requests | 200 | 503 | other | p50 ms | p95 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {args.label} | {args.idle} | {holder.closed_by_server} | {len(statuses)} "
            f"| {counts[200]} | {counts[503]} | {other} | {percentile(latencies, 50):.0f} "
            f"| {percentile(latencies, 95):.0f} |",
        ]
    )
    note = (
        f"Idle connections: half send nothing, half half a request line; the client: "
        f"{args.concurrency} keep-alive connections for {args.seconds:g} s, one text per "
        f"request. Load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at "
        f"the end ({os.cpu_count()} shared cores).\n\n"
    )
    print(note + table)
    if args.append:
        append_results(f"Idle connections against serve ({args.label})", table, note)


if __name__ == "__main__":
    main()
