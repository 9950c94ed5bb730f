"""Score a whole file in constant memory, resumably, on this machine or on a Ray cluster.

The input is read in chunks of ``chunk_rows`` rows (boundaries depend only on the file and
``chunk_rows``, so a rerun sees the same chunks); each scored chunk becomes one atomic part
(see :mod:`moviegenre.batch.store`), and a rerun after a crash skips the parts already written.
Rows that fail the input checks are written with an ``error`` column, never dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from moviegenre._util import die_with_parent, writing
from moviegenre.batch.scoring import (
    BatchSettings,
    ChunkSource,
    OnRows,
    output_schema,
    score_rows,
)
from moviegenre.batch.store import PartStore, input_fingerprint, output_kind, rows_digest
from moviegenre.classifier import GenreClassifier
from moviegenre.data import Dataset, detect_format, iter_chunks
from moviegenre.errors import ConfigError
from moviegenre.serialization import ModelDir

ENGINES = ("local", "ray")


@dataclass
class BatchSummary:
    """Row counts of a finished run; ``resumed_rows`` were scored by an earlier, killed run."""

    rows: int = 0
    errors: int = 0
    chunks: int = 0
    resumed_rows: int = 0


# -- fingerprints ------------------------------------------------------------------------------


def model_fingerprint(classifier: GenreClassifier) -> dict[str, Any]:
    """The sha256 of the weights listed in model.json (or of the in-memory state), kind, genres."""
    saved = ModelDir(classifier.path).files_digest() if classifier.path else None
    if saved is None:
        digest = hashlib.sha256()
        config, arrays = classifier.model.to_state()
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        for name in sorted(arrays):
            digest.update(name.encode() + arrays[name].tobytes())
        saved = digest.hexdigest()
    return {"kind": classifier.kind, "genres": len(classifier.genres), "sha256": saved}


def _estimate_rows(path: Path) -> int | None:
    """Rows in the input for the progress bar: Parquet metadata, else a newline count."""
    try:
        fmt = detect_format(path)
        if fmt == "parquet" and path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        if path.suffix.lower() in (".gz", ".zip"):
            return None
        lines = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                lines += block.count(b"\n")
        return max(lines - (fmt in ("csv", "kaggle")), 0)
    except Exception:  # an estimate only: the real read reports real problems
        return None


# -- engines -----------------------------------------------------------------------------------


_WORKER: dict[str, Any] = {}


def _init_worker(model_dir: str, checks: Any, settings: dict[str, Any], parent: int) -> None:
    """Pool initializer: die with the parent, leave Ctrl-C to it, load the model once."""
    import signal

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    _WORKER["classifier"] = GenreClassifier.load(model_dir, checks=checks)
    _WORKER["settings"] = BatchSettings(**settings)


def _score_in_worker(ids: list[str], texts: list[str], errors: list | None) -> tuple:
    return score_rows(_WORKER["classifier"], ids, texts, errors, _WORKER["settings"])


#: The ``-W`` option the resource tracker starts with (see :func:`_start_resource_tracker`).
_TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (unless it runs) without its leak warning.

    The pool's queues hold named semaphores. After ``kill -9`` of this process the tracker
    unlinks them, which is its job, and then warned "There appear to be 5 leaked semaphore
    objects to clean up at shutdown" on the terminal of a command that is gone: expected after
    a SIGKILL, and nothing anyone can act on. The tracker inherits ``sys.warnoptions`` as
    ``-W`` options, so it starts with that one UserWarning ignored; it still cleans up, and
    its errors still show.
    """
    from multiprocessing import resource_tracker

    sys.warnoptions.append(_TRACKER_QUIET)
    try:
        resource_tracker.ensure_running()
    finally:
        sys.warnoptions.remove(_TRACKER_QUIET)


def _pool(classifier: GenreClassifier, store: PartStore, settings: BatchSettings, workers: int):
    """A process pool of ``workers`` scorers (spawned: no state shared with this process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    model_dir = classifier.path
    if model_dir is None or not ModelDir(model_dir).holds_model():
        model_dir = GenreClassifier(classifier.model, classifier.info).save(
            store.dir / "model", overwrite=True
        )
    _start_resource_tracker()
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(str(model_dir), classifier.checks, asdict(settings), os.getpid()),
    )


def _stop_workers(pool: Any) -> None:
    """Terminate a process pool's workers (ProcessPoolExecutor has no public way before 3.14)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _run_local(
    classifier: GenreClassifier,
    chunks: ChunkSource,
    store: PartStore,
    settings: BatchSettings,
    on_rows: OnRows,
    workers: int = 1,
) -> tuple[int, int]:
    """Score chunk by chunk, here or on ``workers`` processes; returns (chunks, rows refused).

    With workers, at most 2 chunks per worker are in flight, and parts are written in order,
    so memory stays bounded by ``chunk_rows`` whatever the input size.
    """
    counts = {"chunks": 0, "errors": 0}
    in_flight: deque[tuple[int, int, str, Any]] = deque()

    def finish(index: int, rows: int, digest: str, result: tuple[pa.Table, int]) -> None:
        store.write_part(index, result[0], result[1], digest)
        counts["errors"] += result[1]
        on_rows(rows)

    pool = _pool(classifier, store, settings, workers) if workers > 1 else None
    try:
        for index, chunk in enumerate(chunks):
            counts["chunks"] += 1
            digest = rows_digest(chunk)
            if store.reuse(index, len(chunk), digest):
                counts["errors"] += store.parts[index]["errors"]
                on_rows(len(chunk))
            elif pool is None:
                finish(
                    index,
                    len(chunk),
                    digest,
                    score_rows(classifier, chunk.ids, chunk.texts, chunk.row_errors, settings),
                )
            else:
                job = pool.submit(_score_in_worker, chunk.ids, chunk.texts, chunk.row_errors)
                in_flight.append((index, len(chunk), digest, job))
                while len(in_flight) >= 2 * workers:
                    i, rows, chunk_digest, done = in_flight.popleft()
                    finish(i, rows, chunk_digest, done.result())
        while in_flight:
            i, rows, chunk_digest, done = in_flight.popleft()
            finish(i, rows, chunk_digest, done.result())
    except BaseException:
        if pool is not None:  # Ctrl-C, SIGTERM, an error: stop now, not after the chunks in flight
            _stop_workers(pool)
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return counts["chunks"], counts["errors"]


def _progress(total: int | None, enabled: bool) -> Any:
    """A rich progress bar (rows, rows/s, ETA), or None."""
    if not enabled:
        return None
    from moviegenre.progress import progress_bar

    progress = progress_bar(unit="rows")
    progress.add_task("scoring", total=total, rate="")
    return progress


def score_file(
    classifier: GenreClassifier,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: BatchSettings | None = None,
    *,
    engine: str = "local",
    overwrite: bool = False,
    show_progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    workers: int = 1,
) -> BatchSummary:
    """Score ``input`` into ``output`` (.csv, .parquet or .jsonl), resuming an interrupted run.

    ``workers`` > 1 scores chunks on that many local processes (engine "local" only; Ray
    sizes its own actor pool).
    File-level problems (missing file, empty file, no text column, unreadable Parquet) raise
    DataError before anything is written; bad rows become rows with an ``error`` message.
    """
    settings = settings or BatchSettings()
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    out = Path(output)
    output_kind(out)
    if settings.top_k > len(classifier.genres):
        raise ConfigError(f"top_k must be at most {len(classifier.genres)}, got {settings.top_k}")
    # before any output is written: a set the model cannot give (the wrong kind of model for
    # coverage or recall, or no stored scores) is one line, not a run of errors
    if settings.coverage is not None:
        classifier.require_conformal(settings.coverage)
    if settings.recall is not None:
        classifier.recall_threshold(settings.recall)
    chunks: Iterator[Dataset] = iter_chunks(
        input,
        chunk_rows=settings.chunk_rows,
        text_col=settings.text_col,
        id_col=settings.id_col,
        errors="collect",
    )
    first = next(chunks)  # raises now for a missing text column or an unreadable Parquet file
    job = {
        "input": input_fingerprint(input),
        "model": model_fingerprint(classifier),
        "settings": {**asdict(settings), "output": out.name},
    }
    # an unwritable folder, a full disk: one line (the temporary files are gone already)
    with writing(out, "--output", ", then rerun the same command to resume"):
        out.parent.mkdir(parents=True, exist_ok=True)
        store = PartStore.open(out, job, overwrite=overwrite)
        total = _estimate_rows(Path(input)) if show_progress else None
        return _run(
            classifier,
            itertools.chain([first], chunks),
            store,
            settings,
            engine=engine,
            workers=workers,
            progress=_progress(total, show_progress),
            on_chunk=on_chunk,
        )


def _run(
    classifier: GenreClassifier,
    all_chunks: ChunkSource,
    store: PartStore,
    settings: BatchSettings,
    *,
    engine: str,
    workers: int,
    progress: Any,
    on_chunk: Callable[[int], None] | None,
) -> BatchSummary:
    """Score every chunk not already done into ``store``, then join the parts."""
    summary = BatchSummary(resumed_rows=store.done_rows)
    started = time.perf_counter()

    def on_rows(n: int) -> None:
        summary.rows += n
        if progress is not None:
            fresh = max(summary.rows - summary.resumed_rows, 0)
            rate = fresh / max(time.perf_counter() - started, 1e-9)
            task = progress.tasks[0]
            total = task.total if task.total is None else max(task.total, summary.rows)
            progress.update(task.id, completed=summary.rows, total=total, rate=f"{rate:,.0f}/s")
        if on_chunk is not None:
            on_chunk(summary.rows)

    if progress is not None:
        progress.start()
    try:
        if engine == "ray":
            from moviegenre.batch.ray import run_ray

            n_chunks, summary.errors = run_ray(classifier, all_chunks, store, settings, on_rows)
        else:
            n_chunks, summary.errors = _run_local(
                classifier, all_chunks, store, settings, on_rows, workers
            )
    finally:
        if progress is not None:
            progress.stop()
    schema = output_schema(settings, classifier.info.multi_label)
    store.finalize(n_chunks, summary.rows, schema.names, schema)
    summary.chunks = n_chunks
    summary.resumed_rows = store.reused_rows  # the manifest's count was only an estimate
    return summary
