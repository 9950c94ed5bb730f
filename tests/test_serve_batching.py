"""The API's load control: shared model calls, two lanes, the row cap, shedding, Admission."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest
from conftest import tiny_rows

from moviegenre import ConfigError, GenreClassifier
from moviegenre.serve.batching import (
    MAX_QUEUED_CALLS,
    Admission,
    Backlog,
    MicroBatcher,
    Overloaded,
    WorkerPool,
)


@pytest.fixture(scope="module")
def classifier(tiny_model_dir) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


def texts(n: int) -> list[tuple[str, str]]:
    """(genre, description) pairs the tiny model classifies right."""
    return [(genre, text) for _, _, genre, text in tiny_rows(n, seed=9)]


class Recorder:
    """A stand-in classifier: records each call's texts; a call may be held until released."""

    def __init__(self, hold: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.hold = hold  # a call containing this text waits for ``release``
        self.release = threading.Event()
        self.held = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inside = {"large": 0, "most_large": 0}
        self.lock = threading.Lock()

    def classify(self, batch: list[str], top_k: int) -> list[SimpleNamespace]:
        self.calls.append(list(batch))
        large = len(batch) > 1 and batch[0].startswith("large")
        with self.lock:
            self.inside["large"] += large
            self.inside["most_large"] = max(self.inside["most_large"], self.inside["large"])
        if self.hold in batch:
            self.loop.call_soon_threadsafe(self.held.set)  # type: ignore[union-attr]
            assert self.release.wait(30), "the test never released the held call"
        with self.lock:
            self.inside["large"] -= large
        return [SimpleNamespace(text=t, genres=list(range(5))) for t in batch]


def run(coroutine_fn, *args):
    async def go():
        pool = WorkerPool(2)
        try:
            return await coroutine_fn(pool, *args)
        finally:
            pool.shutdown()

    return asyncio.run(go())


def run_batched(classifier, requests: list[tuple[list[str], int]], max_rows=64, small_rows=8):
    """Submit ``requests`` to one MicroBatcher at the same time; return results and model calls."""

    async def go(pool):
        batcher = MicroBatcher(classifier, pool, slots=1, max_rows=max_rows, small_rows=small_rows)
        jobs = [batcher.classify(texts, k) for texts, k in requests]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        return results, batcher.calls, batcher.active

    return run(go)


def test_concurrent_requests_share_one_model_call(classifier: GenreClassifier) -> None:
    (g1, t1), (g2, t2) = texts(2)
    requests = [([t1], 1), ([t2, "short"], 3), ([t1], 2)]
    results, calls, active = run_batched(classifier, requests)
    assert calls == 1 and active == 0
    assert [len(r) for r in results] == [1, 2, 1]
    assert results[0][0].genre == g1 and len(results[0][0].genres) == 1
    assert results[1][0].genre == g2 and len(results[1][0].genres) == 3
    assert results[1][1].code == "too_short"
    assert len(results[2][0].genres) == 2


def test_batches_stay_under_the_row_cap(classifier: GenreClassifier) -> None:
    text = texts(1)[0][1]
    results, calls, _ = run_batched(classifier, [([text] * 2, 1)] * 3, max_rows=3)
    assert calls == 3 and all(len(r) == 2 for r in results)


def test_a_large_request_is_split_across_calls_in_order() -> None:
    """Old code scored a request in one call whatever the cap."""
    recorder = Recorder()
    batch = [f"large {i}" for i in range(10)]
    results, calls, _ = run_batched(recorder, [(batch, 2)], max_rows=4)
    assert [len(call) for call in recorder.calls] == [4, 4, 2] and calls == 3
    assert [r.text for r in results[0]] == batch
    assert all(len(r.genres) == 2 for r in results[0])


def test_a_small_request_does_not_wait_behind_large_ones() -> None:
    """Old code scored first come, first served: the one-text request went last."""
    recorder = Recorder()
    large = [([f"large {n} {i}" for i in range(4)], 1) for n in range(3)]
    run_batched(recorder, [*large, (["small"], 1)], max_rows=4, small_rows=1)
    assert recorder.calls[0] == ["small"]
    assert all(len(call) <= 4 for call in recorder.calls) and len(recorder.calls) == 4


def test_large_requests_leave_a_slot_to_small_ones() -> None:
    """With two slots, two large requests run one after the other, and a small request that
    arrives meanwhile is scored while a large call is still running."""
    recorder = Recorder(hold="large 0 0")

    async def go(pool):
        recorder.loop = asyncio.get_running_loop()
        batcher = MicroBatcher(recorder, pool, slots=2, max_rows=2, small_rows=1)
        first = asyncio.ensure_future(batcher.classify(["large 0 0", "large 0 1"], 1))
        second = asyncio.ensure_future(batcher.classify(["large 1 0", "large 1 1"], 1))
        await recorder.held.wait()  # the first large call is running, and held
        small = await batcher.classify(["small"], 1)  # answered while it is held
        assert recorder.calls == [["large 0 0", "large 0 1"], ["small"]]
        recorder.release.set()
        return small, await first, await second

    small, first, second = run(go)
    assert small[0].text == "small" and len(first) == len(second) == 2
    assert recorder.inside["most_large"] == 1


def test_a_full_queue_sheds_at_once_with_retry_after() -> None:
    recorder = Recorder(hold="held")

    async def go(pool):
        recorder.loop = asyncio.get_running_loop()
        batcher = MicroBatcher(recorder, pool, slots=1, max_rows=2, small_rows=1, max_wait=3)
        running = asyncio.ensure_future(batcher.classify(["held"], 1))
        await recorder.held.wait()
        queued = [asyncio.ensure_future(batcher.classify(["x", "y"], 1)) for _ in range(2)]
        await asyncio.sleep(0)  # let them enqueue
        # Large: 2 calls queued (4 s), after the running small one (1 s): 5 s, over 3 s.
        # Small: the running call, then the large lane's turn: 3 s, not over.
        batcher.call_seconds = {"small": 1.0, "large": 2.0}
        with pytest.raises(Overloaded) as refused:
            await batcher.classify(["large", "one"], 1)
        small = asyncio.ensure_future(batcher.classify(["small"], 1))  # its own lane: no wait
        recorder.release.set()
        await asyncio.gather(running, small, *queued)
        return refused.value, batcher

    refused, batcher = run(go)
    assert refused.retry_after == 5 and "4 texts are queued ahead" in refused.detail
    assert batcher.queued == {"small": 0, "large": 0} and batcher.active == 0


def test_the_queue_is_bounded_before_any_call_was_timed() -> None:
    recorder = Recorder(hold="held")
    cap = MAX_QUEUED_CALLS * 2

    async def go(pool):
        recorder.loop = asyncio.get_running_loop()
        batcher = MicroBatcher(recorder, pool, slots=1, max_rows=2, small_rows=1)
        running = asyncio.ensure_future(batcher.classify(["held"], 1))
        await recorder.held.wait()
        queued = asyncio.ensure_future(batcher.classify(["large"] * cap, 1))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match=f"the limit is {cap} texts"):
            await batcher.classify(["large", "two"], 1)
        recorder.release.set()
        await asyncio.gather(running, queued)

    run(go)


def test_a_failing_model_call_fails_its_requests_only(classifier: GenreClassifier) -> None:
    class Failing(GenreClassifier):
        def classify(self, *args, **kwargs):
            raise ConfigError("model call failed")

    failing = Failing(classifier.model, classifier.info)
    results, calls, active = run_batched(failing, [(["a"], 1), (["b"], 1)])
    assert calls == 1 and active == 0
    assert all(isinstance(r, ConfigError) for r in results)


def test_admission_sheds_requests_over_the_limit_but_not_health_checks() -> None:
    """Old code had no such limit in the app: uvicorn's counted idle connections as well."""
    inside, leave = asyncio.Event(), asyncio.Event()
    shed: list[str] = []

    async def app(scope, receive, send):
        inside.set()
        await leave.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def busy(detail: str, retry_after: int):
        async def answer(scope, receive, send):
            headers = [(b"retry-after", str(retry_after).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": detail.encode()})

        return answer

    async def call(admission, path: str) -> list[dict]:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        await admission({"type": "http", "path": path}, None, send)
        return sent

    async def go():
        admission = Admission(app, limit=1, busy=busy, on_shed=shed.append)
        first = asyncio.ensure_future(call(admission, "/v1/predict"))
        await inside.wait()
        refused = await call(admission, "/v1/predict")
        health = asyncio.ensure_future(call(admission, "/healthz"))
        await asyncio.sleep(0)
        leave.set()
        return await first, refused, await health, admission.inside

    first, refused, health, still_inside = asyncio.run(go())
    assert first[0]["status"] == 200 and health[0]["status"] == 200
    assert refused[0]["status"] == 503 and (b"retry-after", b"1") in refused[0]["headers"]
    assert b"limit_concurrency" in refused[1]["body"]
    assert shed == ["concurrency"] and still_inside == 0


def test_a_request_larger_than_the_queue_bound_is_served_when_nothing_waits() -> None:
    recorder = Recorder()
    batch = [f"large {i}" for i in range(MAX_QUEUED_CALLS + 6)]
    results, calls, _ = run_batched(recorder, [(batch, 1)], max_rows=1, small_rows=1)
    assert calls == len(batch) and [r.text for r in results[0]] == batch


def test_small_requests_leave_a_slot_to_a_waiting_large_one() -> None:
    """Strict priority starved 64-text requests behind a steady stream of one-text ones."""
    recorder = Recorder(hold="held")

    async def go(pool):
        recorder.loop = asyncio.get_running_loop()
        batcher = MicroBatcher(recorder, pool, slots=2, max_rows=2, small_rows=1)
        held = asyncio.ensure_future(batcher.classify(["held"], 1))
        await recorder.held.wait()  # one slot busy with a small call
        small = [asyncio.ensure_future(batcher.classify([f"small {i}"], 1)) for i in range(2)]
        large = await batcher.classify(["large a", "large b"], 1)  # the other slot, first
        # (the small ones may have started on that slot since)
        assert recorder.calls[:2] == [["held"], ["large a", "large b"]]
        recorder.release.set()
        return large, await asyncio.gather(held, *small)

    large, others = run(go)
    assert [r.text for r in large] == ["large a", "large b"] and len(others) == 3


def test_the_wait_counts_the_running_call() -> None:
    recorder = Recorder(hold="held")

    async def go(pool):
        recorder.loop = asyncio.get_running_loop()
        batcher = MicroBatcher(recorder, pool, slots=2, max_rows=4, small_rows=1, max_wait=3)
        running = asyncio.ensure_future(batcher.classify(["held", "b", "c", "d"], 1))
        await recorder.held.wait()
        batcher.call_seconds["large"] = 4.0  # nothing queued, but a call (4 s) running
        with pytest.raises(Overloaded, match="about 4 s of work"):
            await batcher.classify(["large", "two"], 1)
        recorder.release.set()
        await running

    run(go)


def test_the_backlog_of_unbatched_jobs_is_bounded() -> None:
    """Old code queued every explanation for a worker, however long the queue."""
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        assert release.wait(30), "the test never released the job"
        return "done"

    async def go(pool):
        backlog = Backlog(pool, max_wait=3)
        assert await backlog.run(lambda: "first") == "first"  # timed: about 0 s
        running = asyncio.ensure_future(backlog.run(slow))
        assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        backlog.job_seconds = 8.0  # one job running on 2 workers: about 4 s ahead
        with pytest.raises(Overloaded, match="1 explanation or coverage jobs are ahead") as busy:
            await backlog.run(lambda: "refused")
        release.set()
        return busy.value.retry_after, await running, backlog.jobs

    assert run(go) == (4, "done", 0)
