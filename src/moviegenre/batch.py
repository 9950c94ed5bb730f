"""Score a whole file in constant memory, resumably, on this machine or on a Ray cluster.

The input is read in chunks of ``chunk_rows`` rows (boundaries depend only on the file and
``chunk_rows``, so a rerun sees the same chunks); each scored chunk becomes one atomic part
(see :mod:`moviegenre.batch_io`), and a rerun after a crash skips the parts already written.
Rows that fail the input checks are written with an ``error`` column, never dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from moviegenre._util import die_with_parent
from moviegenre.batch_io import PartStore, input_fingerprint, output_kind
from moviegenre.classifier import GenreClassifier
from moviegenre.conformal import check_coverage
from moviegenre.data import Dataset, detect_format, iter_chunks
from moviegenre.errors import ConfigError

OUTPUT_FORMATS = ("wide", "kaggle")
ENGINES = ("local", "ray")
#: Testing aid: milliseconds to sleep after each written part, so a test can kill a run mid-way.
DELAY_ENV = "MOVIEGENRE_BATCH_DELAY_MS"


@dataclass(frozen=True)
class BatchSettings:
    """How to read the input and lay out the output (all of it is pinned in the manifest)."""

    output_format: str = "wide"
    top_k: int = 1
    batch_size: int = 256
    chunk_rows: int = 10_000
    text_col: str | None = None
    id_col: str | None = None
    check: bool = True
    #: Also write each row's conformal genre set (``genre_set``: genres joined by "|").
    coverage: float | None = None

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"output format {self.output_format!r} is unknown; use one of "
                + ", ".join(OUTPUT_FORMATS)
            )
        if self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be >= 1, got {self.chunk_rows}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.coverage is not None:
            check_coverage(self.coverage)
            if self.output_format == "kaggle":
                raise ConfigError("a genre set needs the 'wide' format; kaggle is exactly id,genre")


@dataclass
class BatchSummary:
    """Row counts of a finished run; ``resumed_rows`` were scored by an earlier, killed run."""

    rows: int = 0
    errors: int = 0
    chunks: int = 0
    resumed_rows: int = 0


# -- rows -> table -----------------------------------------------------------------------------


def output_schema(settings: BatchSettings) -> pa.Schema:
    """Columns: id,genre (kaggle) or id, genre, probability, genre_2, ..., truncated, error.

    ``truncated`` flags a text cut to CheckSettings.max_chars before scoring (every input format
    alike); the kaggle layout has no room for it.
    """
    fields = [pa.field("id", pa.string()), pa.field("genre", pa.string())]
    if settings.output_format == "kaggle":
        return pa.schema(fields)
    fields.append(pa.field("probability", pa.float64()))
    for k in range(2, settings.top_k + 1):
        fields += [pa.field(f"genre_{k}", pa.string()), pa.field(f"probability_{k}", pa.float64())]
    if settings.coverage is not None:
        fields.append(pa.field("genre_set", pa.string()))
    return pa.schema([*fields, pa.field("truncated", pa.bool_()), pa.field("error", pa.string())])


def score_rows(
    classifier: GenreClassifier,
    ids: list[str],
    texts: list[str],
    input_errors: list[str | None] | None,
    settings: BatchSettings,
) -> tuple[pa.Table, int]:
    """Score one chunk into an output table; returns (table, rows carrying an error)."""
    input_errors = input_errors or [None] * len(texts)
    good = [i for i, e in enumerate(input_errors) if e is None]
    results = classifier.classify(
        [texts[i] for i in good],
        top_k=settings.top_k,
        batch_size=settings.batch_size,
        check=settings.check,
        coverage=settings.coverage,
    )
    errors: list[str | None] = list(input_errors)
    genres: list[list[tuple[str, float]] | None] = [None] * len(texts)
    truncated = [False] * len(texts)
    for i, result in zip(good, results, strict=True):
        errors[i] = result.error
        genres[i] = result.genres if result.error is None else None
        truncated[i] = result.truncated
    columns: dict[str, list[Any]] = {"id": [str(i) for i in ids]}
    wide = settings.output_format == "wide"
    for k in range(settings.top_k if wide else 1):
        suffix = "" if k == 0 else f"_{k + 1}"
        columns[f"genre{suffix}"] = [g[k][0] if g else None for g in genres]
        if wide:
            columns[f"probability{suffix}"] = [round(g[k][1], 6) if g else None for g in genres]
    if settings.coverage is not None:
        sets: list[str | None] = [None] * len(texts)
        for i, result in zip(good, results, strict=True):
            sets[i] = "|".join(g for g, _ in result.genre_set or []) or None
        columns["genre_set"] = sets
    if wide:
        columns["truncated"] = truncated
        columns["error"] = errors
    table = pa.Table.from_pydict(columns, schema=output_schema(settings))
    return table, sum(e is not None for e in errors)


# -- fingerprints ------------------------------------------------------------------------------


def model_fingerprint(classifier: GenreClassifier) -> dict[str, Any]:
    """The sha256 of the weights listed in model.json (or of the in-memory state), kind, genres."""
    digest = hashlib.sha256()
    meta_path = classifier.path / "model.json" if classifier.path else None
    if meta_path is not None and meta_path.is_file():
        files = json.loads(meta_path.read_text(encoding="utf-8")).get("files", {})
        for name in sorted(files):
            digest.update(f"{name}:{files[name].get('sha256')}\n".encode())
    else:
        config, arrays = classifier.model.to_state()
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        for name in sorted(arrays):
            digest.update(name.encode() + arrays[name].tobytes())
    return {"kind": classifier.kind, "genres": len(classifier.genres), "sha256": digest.hexdigest()}


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


ChunkSource = Iterable[Dataset]
OnRows = Callable[[int], None]


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


def _pool(classifier: GenreClassifier, store: PartStore, settings: BatchSettings, workers: int):
    """A process pool of ``workers`` scorers (spawned: no state shared with this process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    model_dir = classifier.path
    if model_dir is None or not (model_dir / "model.json").is_file():
        model_dir = GenreClassifier(classifier.model, classifier.info).save(
            store.dir / "model", overwrite=True
        )
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
    delay = int(os.environ.get(DELAY_ENV, "0") or 0) / 1000
    counts = {"chunks": 0, "errors": 0}
    in_flight: deque[tuple[int, int, Any]] = deque()

    def finish(index: int, rows: int, result: tuple[pa.Table, int]) -> None:
        store.write_part(index, result[0], result[1])
        counts["errors"] += result[1]
        on_rows(rows)
        if delay:
            time.sleep(delay)

    pool = _pool(classifier, store, settings, workers) if workers > 1 else None
    try:
        for index, chunk in enumerate(chunks):
            counts["chunks"] += 1
            if store.is_done(index, chunk.ids):
                counts["errors"] += store.parts[index]["errors"]
                on_rows(len(chunk))
            elif pool is None:
                finish(
                    index,
                    len(chunk),
                    score_rows(classifier, chunk.ids, chunk.texts, chunk.row_errors, settings),
                )
            else:
                job = pool.submit(_score_in_worker, chunk.ids, chunk.texts, chunk.row_errors)
                in_flight.append((index, len(chunk), job))
                while len(in_flight) >= 2 * workers:
                    i, rows, done = in_flight.popleft()
                    finish(i, rows, done.result())
        while in_flight:
            i, rows, done = in_flight.popleft()
            finish(i, rows, done.result())
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
    """Score ``input`` into ``output`` (.csv or .parquet), resuming an interrupted run.

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
    if settings.coverage is not None:
        classifier.require_conformal(settings.coverage)  # before any output is written
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
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        store = PartStore.open(out, job, overwrite=overwrite)
        total = _estimate_rows(Path(input)) if show_progress else None
        summary = _run(
            classifier,
            itertools.chain([first], chunks),
            store,
            settings,
            engine=engine,
            workers=workers,
            progress=_progress(total, show_progress),
            on_chunk=on_chunk,
        )
    except OSError as exc:  # unwritable folder, full disk: the temporary files are gone already
        where = exc.filename or out
        raise ConfigError(
            f"cannot write {where} ({exc.strerror or exc}); free space or choose a writable "
            "--output, then rerun the same command to resume"
        ) from None
    return summary


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
            from moviegenre.batch_ray import run_ray

            n_chunks, summary.errors = run_ray(classifier, all_chunks, store, settings, on_rows)
        else:
            n_chunks, summary.errors = _run_local(
                classifier, all_chunks, store, settings, on_rows, workers
            )
    finally:
        if progress is not None:
            progress.stop()
    schema = output_schema(settings)
    store.finalize(n_chunks, summary.rows, schema.names, schema)
    summary.chunks = n_chunks
    return summary
