# Long (350+ lines): the three admission rules (Admission, MicroBatcher, Backlog) share one pool.
"""Who the API serves when: a cap on requests in the app (``Admission``), micro-batching of
model calls in two lanes, with a row cap and a bounded queue (``MicroBatcher``), and a bound
on the model jobs that do not batch (``Backlog``: explanations, coverage sets).

``MicroBatcher`` scores the texts of concurrent /v1/predict requests together, with three rules
against head-of-line blocking (one-text requests used to wait 10-20 s behind 64-text bodies in
one first-come queue):

- a model call scores at most ``max_rows`` texts; a larger request is split across calls;
- requests of at most ``small_rows`` texts have a lane of their own, served first; calls are
  never mixed, and with two slots or more each lane with work keeps a slot: large requests
  hold all but one, so a small request waits for small calls only, never behind a large one,
  and small ones leave one to large ones waiting, so these are not starved (with a single
  slot the lanes take turns);
- each lane's queue is bounded: a request that would wait longer than ``max_wait`` seconds
  (at the measured speed of recent calls), or find more than ``MAX_QUEUED_CALLS`` full calls
  queued ahead, is refused at once with ``Overloaded`` (the API's 503 + Retry-After) instead of
  making every later request wait longer.

Nothing waits for a batch to fill: a request that finds a free slot runs at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moviegenre.classifier import GenreClassifier, Prediction

#: A lane's queue holds at most this many full model calls' worth of texts (before any call
#: has been timed, this is the only bound).
MAX_QUEUED_CALLS = 64
#: Weight of the newest call in the running estimate of seconds per call.
SMOOTHING = 0.2
LANES = ("small", "large")


class Overloaded(Exception):
    """The queue is full: come back in ``retry_after`` seconds (the API answers 503)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class WorkerPool:
    """The model's worker threads, (re)started on demand.

    An app's lifespan may run more than once (each test client, each ASGI transport), and
    the end of one must not leave later requests with a shut-down executor.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def get(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="moviegenre")
        return self._pool

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Request:
    """One request's texts; its future gets every result once the last chunk is scored."""

    top_k: int
    future: asyncio.Future
    results: list = field(default_factory=list)
    missing: int = 0

    @property
    def live(self) -> bool:
        """False once the request failed or its client went away (nothing left to score)."""
        return self.missing >= 0 and not self.future.done()

    def settle(self, start: int, part: list[Prediction]) -> None:
        for result in part:
            result.genres = result.genres[: self.top_k]
        self.results[start : start + len(part)] = part
        self.missing -= 1
        if self.missing == 0:
            self.future.set_result(self.results)

    def fail(self, exc: Exception) -> None:
        self.missing = -1  # the other chunks' results are dropped
        if not self.future.done():
            self.future.set_exception(exc)


@dataclass
class _Chunk:
    request: _Request
    start: int
    texts: list[str]


class MicroBatcher:
    """Scores the texts of concurrent requests in shared ``classify`` calls (see the module)."""

    def __init__(
        self,
        classifier: GenreClassifier,
        pool: WorkerPool,
        slots: int,
        max_rows: int = 64,
        small_rows: int = 8,
        max_wait: float = 10.0,
        on_call: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.pool = pool
        self.slots = slots
        self.max_rows = max_rows
        self.small_rows = small_rows
        self.max_wait = max_wait
        #: Called with (lane, texts, seconds) after each model call (the metrics).
        self.on_call = on_call
        self.active = 0
        self.calls = 0
        self.queues: dict[str, deque[_Chunk]] = {lane: deque() for lane in LANES}
        #: Texts waiting in each lane, and model calls of each lane running now.
        self.queued = dict.fromkeys(LANES, 0)
        self.running = dict.fromkeys(LANES, 0)
        #: Running estimate of each lane's seconds per model call (None until one was timed):
        #: per call, not per text, as a call's fixed cost dominates a small lane's few texts.
        self.call_seconds: dict[str, float | None] = dict.fromkeys(LANES)
        self._tasks: set[asyncio.Task] = set()

    def lane_of(self, n_texts: int) -> str:
        return "small" if n_texts <= self.small_rows else "large"

    def lane_slots(self, lane: str) -> int:
        """Model calls a lane may run at once. Each lane with work keeps a slot of its own:
        large requests never hold every slot, and small ones leave one to large ones waiting
        (strict priority would starve them). One slot is shared: the lanes take turns."""
        if self.slots == 1:
            return 1
        if lane == "large" or self.queues["large"] or self.running["large"]:
            return self.slots - 1
        return self.slots

    def _calls(self, lane: str) -> int:
        """Model calls of ``lane`` before a new request's: running ones and queued ones."""
        return self.running[lane] + math.ceil(self.queued[lane] / self.max_rows)

    def expected_wait(self, lane: str) -> float | None:
        """Seconds before a new ``lane`` request's model call starts, at the recent speed."""
        seconds = self.call_seconds[lane]
        if seconds is None:
            return None
        wait = self._calls(lane) * seconds / self.lane_slots(lane)
        other = LANES[1 - LANES.index(lane)]
        if self.slots == 1 and (other_seconds := self.call_seconds[other]) is not None:
            # turns: one of the other lane's calls before each queued call of this lane
            turns = math.ceil(self.queued[lane] / self.max_rows) + 1
            wait += min(self._calls(other), turns) * other_seconds
        return wait

    def _admit(self, lane: str, n_texts: int) -> None:
        wait = self.expected_wait(lane)
        if wait is not None and wait > self.max_wait:
            work = f"about {wait:.0f} s of work, over the {self.max_wait:g} s limit"
        elif self.queued[lane] and self.queued[lane] + n_texts > MAX_QUEUED_CALLS * self.max_rows:
            work = f"the limit is {MAX_QUEUED_CALLS * self.max_rows} texts"
        else:
            return
        retry = max(1, math.ceil(wait if wait is not None else self.max_wait))
        raise Overloaded(
            f"the server is busy: {self.queued[lane]} texts are queued ahead in the {lane}-request "
            f"lane ({work}); retry in {retry} s",
            retry,
        )

    async def classify(self, texts: list[str], top_k: int) -> list[Prediction]:
        """Score ``texts`` (top ``top_k`` genres each); ``Overloaded`` if the queue is full."""
        lane = self.lane_of(len(texts))
        self._admit(lane, len(texts))
        loop = asyncio.get_running_loop()
        request = _Request(top_k, loop.create_future(), [None] * len(texts))
        for start in range(0, len(texts), self.max_rows):
            self.queues[lane].append(_Chunk(request, start, texts[start : start + self.max_rows]))
            request.missing += 1
        self.queued[lane] += len(texts)
        if self.active < self.slots:
            self.active += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await request.future

    def _take(self, last: str) -> tuple[str, list[_Chunk]]:
        """The next call's chunks: small requests first, within each lane's slots; with one
        slot, the other lane than ``last`` (the drain's previous call) first."""
        order = LANES[::-1] if self.slots == 1 and last == LANES[0] else LANES
        for lane in order:
            queue = self.queues[lane]
            if not queue or self.running[lane] >= self.lane_slots(lane):
                continue
            batch, size = [], 0
            while queue and size + len(queue[0].texts) <= self.max_rows:
                batch.append(queue.popleft())
                size += len(batch[-1].texts)
            self.queued[lane] -= size
            return lane, batch
        return "", []

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        lane = ""
        try:
            while True:
                lane, batch = self._take(lane)
                if not batch:
                    return
                batch = [chunk for chunk in batch if chunk.request.live]
                texts = [text for chunk in batch for text in chunk.texts]
                if not texts:
                    continue
                top_k = max(chunk.request.top_k for chunk in batch)
                self.calls += 1
                self.running[lane] += 1
                started = loop.time()
                try:
                    results = await loop.run_in_executor(
                        self.pool.get(), partial(self.classifier.classify, texts, top_k=top_k)
                    )
                except Exception as exc:  # handed to each request; the handlers answer it
                    for chunk in batch:
                        chunk.request.fail(exc)
                    continue
                finally:
                    self.running[lane] -= 1
                self._timed(lane, len(texts), loop.time() - started)
                offset = 0
                for chunk in batch:
                    if chunk.request.live:
                        part = results[offset : offset + len(chunk.texts)]
                        chunk.request.settle(chunk.start, part)
                    offset += len(chunk.texts)
        finally:
            # A chunk still queued belongs to a lane whose running call's drain takes it next.
            self.active -= 1

    def _timed(self, lane: str, rows: int, seconds: float) -> None:
        previous = self.call_seconds[lane]
        self.call_seconds[lane] = (
            seconds if previous is None else (1 - SMOOTHING) * previous + SMOOTHING * seconds
        )
        if self.on_call is not None:
            self.on_call(lane, rows, seconds)


class Backlog:
    """Model jobs that do not batch (explanations, coverage sets), bounded like the lanes: a
    job that would wait longer than ``max_wait`` seconds for a worker, at the recent seconds
    per job, is refused with ``Overloaded``."""

    def __init__(self, pool: WorkerPool, max_wait: float = 10.0) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.jobs = 0  # waiting for a worker or running
        self.job_seconds: float | None = None

    def expected_wait(self) -> float | None:
        if self.job_seconds is None:
            return None
        return self.jobs * self.job_seconds / self.pool.workers

    async def run(self, fn: Callable[[], Any]) -> Any:
        wait = self.expected_wait()
        if wait is not None and wait > self.max_wait:
            retry = math.ceil(wait)
            raise Overloaded(
                f"the server is busy: {self.jobs} explanation or coverage jobs are ahead (about "
                f"{wait:.0f} s of work, over the {self.max_wait:g} s limit); retry in {retry} s",
                retry,
            )

        def timed() -> tuple[Any, float]:  # the job's own time, not its wait for a worker
            started = time.perf_counter()
            return fn(), time.perf_counter() - started

        self.jobs += 1
        try:
            result, seconds = await asyncio.get_running_loop().run_in_executor(
                self.pool.get(), timed
            )
        finally:
            self.jobs -= 1
        previous = self.job_seconds
        self.job_seconds = (
            seconds if previous is None else (1 - SMOOTHING) * previous + SMOOTHING * seconds
        )
        return result


#: Cheap paths answered even when the app is full, so health checks and scrapes see it.
UNLIMITED_PATHS = ("/healthz", "/metrics")


class Admission:
    """ASGI middleware: at most ``limit`` requests in the app at once; beyond, 503 + Retry-After.

    This is the server's concurrency limit. It counts requests, not connections: an idle
    connection costs a file descriptor (bounded by ``max_connections``), never a request's place.
    """

    def __init__(
        self,
        app: Any,
        limit: int,
        busy: Callable[[str, int], Any],
        on_shed: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        #: (detail, retry_after) -> the 503 response (an ASGI app)
        self.busy = busy
        self.on_shed = on_shed
        self.inside = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        if self.inside >= self.limit:
            if self.on_shed is not None:
                self.on_shed("concurrency")
            detail = f"the server is busy: {self.inside} requests in progress (limit_concurrency)"
            return await self.busy(detail + "; retry in 1 s", 1)(scope, receive, send)
        self.inside += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.inside -= 1


__all__ = ["MAX_QUEUED_CALLS", "Admission", "Backlog", "MicroBatcher", "Overloaded", "WorkerPool"]
