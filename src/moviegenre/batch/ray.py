"""The Ray engine of batch scoring: read_parquet -> map_batches (actor pool) -> write_parquet.

Imported only for ``--engine ray``. The driver parses the input with the same reader as the
local engine (same ids, same error rows) and stages each pending chunk as a Parquet file in
``OUTPUT.parts/ray-input``; Ray Data scores them on an actor pool that loads the model once per
actor (the model's files travel through the object store, so workers need no copy of it) and
writes ``OUTPUT.parts/ray-output/batch_chunk=N/``. The driver then turns each chunk's rows, in
input order, into the same atomic parts as the local engine, so resume, the manifest and the
final file are shared. On a multi-node cluster OUTPUT's folder must be on storage every node
sees at the same path (NFS, EFS, a mounted bucket).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from moviegenre._util import require
from moviegenre.batch.scoring import (
    BatchSettings,
    ChunkSource,
    OnRows,
    output_schema,
    score_rows,
)
from moviegenre.batch.store import PartStore, rows_digest
from moviegenre.classifier import GenreClassifier
from moviegenre.errors import ConfigError
from moviegenre.serialization import ModelDir

CHUNK_COL, ROW_COL = "batch_chunk", "batch_row"
ACTOR_CPUS = 0.5
#: Number of scoring actors (default: one per CPU of the cluster).
ACTORS_ENV = "MOVIEGENRE_RAY_ACTORS"


def import_ray() -> Any:
    """Import ray and Ray Data, or a MissingDependencyError naming the ``ray`` extra."""
    purpose = "--engine ray (use the default --engine local without it)"
    require("ray.data", purpose=purpose)
    return require("ray", purpose=purpose)


def connect(ray: Any) -> None:
    """Use the running Ray (already initialised, or RAY_ADDRESS), else start a local one.

    A cluster that RAY_ADDRESS names but that cannot be reached is a ConfigError of its own
    (Ray raises ConnectionError, an OSError, which must not read as a failed write).
    """
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        ray.init(include_dashboard=False, log_to_driver=False)
        return
    try:
        ray.init(log_to_driver=False)
    except Exception as exc:  # ConnectionError, a timeout, a version mismatch: Ray's own types
        raise ConfigError(
            f"cannot connect to the Ray cluster at RAY_ADDRESS={address} ({exc}); start it "
            "(ray start --head) or correct RAY_ADDRESS, or unset RAY_ADDRESS to run Ray on "
            "this machine; the scored parts are kept, so rerun the same command to resume"
        ) from None


def model_files(classifier: GenreClassifier) -> dict[str, bytes]:
    """The model directory as {file name: bytes}; an unsaved classifier is saved first."""
    if classifier.path is not None and ModelDir(classifier.path).holds_model():
        folder = classifier.path
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with tempfile.TemporaryDirectory() as tmp:
        GenreClassifier(classifier.model, classifier.info).save(tmp)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


class ChunkScorer:
    """A Ray actor: loads (and verifies) the model once, then scores batches of staged rows."""

    def __init__(self, files: Any, checks: Any, settings: dict[str, Any]) -> None:
        import ray

        self._dir = tempfile.mkdtemp(prefix="moviegenre-model-")
        for name, data in ray.get(files).items():
            Path(self._dir, name).write_bytes(data)
        self.classifier = GenreClassifier.load(self._dir, checks=checks)
        self.settings = BatchSettings(**settings)

    def __call__(self, batch: pa.Table) -> pa.Table:
        errors = batch.column("input_error").to_pylist()
        table, _ = score_rows(
            self.classifier,
            batch.column("id").to_pylist(),
            batch.column("text").to_pylist(),
            errors,
            self.settings,
        )
        table = table.append_column(CHUNK_COL, batch.column(CHUNK_COL))
        return table.append_column(ROW_COL, batch.column(ROW_COL))


def _stage(chunk: Any, index: int, path: Path) -> None:
    n = len(chunk)
    table = pa.table(
        {
            CHUNK_COL: pa.array([index] * n, pa.int64()),
            ROW_COL: pa.array(range(n), pa.int64()),
            "id": pa.array(chunk.ids, pa.string()),
            "text": pa.array(chunk.texts, pa.string()),
            "input_error": pa.array(chunk.row_errors or [None] * n, pa.string()),
        }
    )
    pq.write_table(table, path)


def _actors(ray: Any, pending: int) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    wanted = int(os.environ.get(ACTORS_ENV, "0") or 0) or cpus
    return max(1, min(wanted, pending))


def run_ray(
    classifier: GenreClassifier,
    chunks: ChunkSource,
    store: PartStore,
    settings: BatchSettings,
    on_rows: OnRows,
) -> tuple[int, int]:
    """Score the pending chunks on Ray; returns (chunks seen, rows refused)."""
    ray = import_ray()
    staged, scored = store.dir / "ray-input", store.dir / "ray-output"
    for folder in (staged, scored):
        shutil.rmtree(folder, ignore_errors=True)
    staged.mkdir(parents=True)
    n_chunks = errors = 0
    pending: dict[int, tuple[int, str]] = {}  # index -> (rows, rows_digest)
    for index, chunk in enumerate(chunks):
        n_chunks += 1
        digest = rows_digest(chunk)
        if store.reuse(index, len(chunk), digest):
            errors += store.parts[index]["errors"]
            on_rows(len(chunk))
        elif len(chunk):
            _stage(chunk, index, staged / f"chunk-{index:06d}.parquet")
            pending[index] = (len(chunk), digest)
        else:
            empty = score_rows(classifier, [], [], None, settings)[0]
            store.write_part(index, empty, 0, digest)
    if pending:
        multi_label = classifier.info.multi_label
        connect(ray)
        files = ray.put(model_files(classifier))
        n = _actors(ray, len(pending))
        # One folder, not a list of files: Ray resolves a list on threads, which races on a
        # failing optional import (fsspec's http without aiohttp) in Ray 2.5x/2.6x.
        dataset = ray.data.read_parquet(str(staged)).repartition(len(pending))
        dataset = dataset.map_batches(
            ChunkScorer,
            fn_constructor_kwargs={
                "files": files,
                "checks": classifier.checks,
                "settings": asdict(settings),
            },
            batch_size=settings.batch_size * 4,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=n),
            # Half a logical CPU each: one actor per core still leaves room for Ray Data's own
            # list/read/write tasks, which would otherwise wait forever on a small machine.
            num_cpus=ACTOR_CPUS,
        )
        dataset.write_parquet(str(scored), partition_cols=[CHUNK_COL])
        for index, (rows, digest) in pending.items():
            table = _collect(scored / f"{CHUNK_COL}={index}", settings, multi_label)
            if table.num_rows != rows:
                raise RuntimeError(
                    f"ray returned {table.num_rows} rows for chunk {index}, not {rows}"
                )
            n_bad = _count_errors(table)
            store.write_part(index, table, n_bad, digest)
            errors += n_bad
            on_rows(rows)
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(scored, ignore_errors=True)
    return n_chunks, errors


def _collect(folder: Path, settings: BatchSettings, multi_label: bool) -> pa.Table:
    """One chunk's scored rows from Ray's output folder, back in input order."""
    schema = output_schema(settings, multi_label)
    files = sorted(folder.glob("*.parquet"))
    tables = [pq.read_table(f) for f in files]
    table = (
        pa.concat_tables(tables)
        if tables
        else schema.empty_table().append_column(ROW_COL, pa.array([], pa.int64()))
    )
    table = table.sort_by(ROW_COL)
    return table.select(schema.names).cast(schema)


def _count_errors(table: pa.Table) -> int:
    if "error" in table.column_names:
        return table.num_rows - table.column("error").null_count
    return table.column("genre").null_count
