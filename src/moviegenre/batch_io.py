"""Resumable output for batch scoring: atomic part files, a manifest, and the final concatenation.

A run writes ``OUTPUT.parts/part-NNNNNN.{csv,parquet}`` (one per input chunk, each written to a
temporary name, fsynced, then ``os.replace``-d) and ``OUTPUT.parts/manifest.json``, rewritten the
same way after every part. The manifest pins the input (path, size, mtime, sha256 of the first
MiB), the model (sha256 of its weights) and the settings, so a rerun resumes only the same job.
When every chunk is done the parts are concatenated into OUTPUT (again via a temporary file and
``os.replace``) and the parts folder is removed. A part missing from the manifest or a manifest
entry without its file is simply scored again, so a kill at any instant loses at most one chunk.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from moviegenre.errors import ConfigError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
HEAD_BYTES = 1 << 20
OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_kind(output: Path) -> str:
    """'csv' or 'parquet', from the output file's suffix."""
    kind = OUTPUT_KINDS.get(output.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"--output {output}: unknown output type {output.suffix or '(no suffix)'!r}; "
            "name the file *.csv or *.parquet"
        )
    return kind


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, size, mtime and the sha256 of the first MiB: cheap, and catches edits and swaps."""
    p = Path(path).resolve()
    stat = p.stat()
    with p.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return {"path": str(p), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def write_table(table: pa.Table, path: Path, kind: str, *, header: bool = True) -> None:
    """Write ``table`` to ``path`` as CSV (6-decimal probabilities, "" for null) or Parquet."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(table.column_names)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        writer.writerows([csv_cell(v) for v in row] for row in zip(*columns, strict=True))


class PartStore:
    """The ``OUTPUT.parts`` folder of one job: which chunks are done, and their files."""

    def __init__(self, output: Path, job: dict[str, Any]) -> None:
        self.output = output
        self.kind = output_kind(output)
        self.dir = output.with_name(output.name + ".parts")
        self.job = job
        self.parts: dict[int, dict[str, int]] = {}

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, output: Path, job: dict[str, Any], *, overwrite: bool) -> PartStore:
        """Start a job or resume the same one; refuse a different job's leftovers."""
        store = cls(output, job)
        if overwrite:
            shutil.rmtree(store.dir, ignore_errors=True)
            output.unlink(missing_ok=True)
        manifest = store.dir / MANIFEST
        if manifest.is_file():
            store._resume(manifest)
        elif output.exists():
            raise ConfigError(
                f"{output} already exists (a finished run); pass --overwrite to replace it, "
                "or choose another --output"
            )
        else:
            shutil.rmtree(store.dir, ignore_errors=True)
            store.dir.mkdir(parents=True)
            store.save()
        return store

    def _resume(self, manifest: Path) -> None:
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{manifest} is unreadable ({exc}); pass --overwrite to start fresh"
            ) from None
        if old.get("version") != MANIFEST_VERSION:
            raise ConfigError(
                f"{manifest} was written by another moviegenre version; pass --overwrite"
            )
        for key, what in (("input", "input file"), ("model", "model"), ("settings", "settings")):
            if old.get(key) != self.job[key]:
                raise ConfigError(
                    f"{self.dir} holds an unfinished run with a different {what} "
                    f"({_difference(old.get(key), self.job[key])}); rerun with --overwrite to "
                    "start fresh, or choose another --output"
                )
        for name, info in (old.get("parts") or {}).items():
            if (self.dir / self.part_name(int(name))).is_file():
                self.parts[int(name)] = info

    # -- parts ----------------------------------------------------------------------------

    def part_name(self, index: int) -> str:
        return f"part-{index:06d}.{self.kind}"

    def is_done(self, index: int, rows: int | None = None) -> bool:
        info = self.parts.get(index)
        return info is not None and (rows is None or info["rows"] == rows)

    @property
    def done_rows(self) -> int:
        return sum(info["rows"] for info in self.parts.values())

    def write_part(self, index: int, table: pa.Table, errors: int) -> None:
        """Write one chunk's rows atomically, then record it in the manifest."""
        path = self.dir / self.part_name(index)
        tmp = path.with_name(path.name + ".tmp")
        write_table(table, tmp, self.kind, header=False)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self.parts[index] = {"rows": table.num_rows, "errors": errors}
        self.save()

    def save(self) -> None:
        data = {"version": MANIFEST_VERSION, **self.job}
        data["parts"] = {str(k): v for k, v in sorted(self.parts.items())}
        _atomic_write_bytes(self.dir / MANIFEST, json.dumps(data, indent=1).encode("utf-8"))

    # -- finishing ------------------------------------------------------------------------

    def _ordered(self, n_chunks: int) -> Iterator[Path]:
        missing = [i for i in range(n_chunks) if i not in self.parts]
        if missing:
            raise ConfigError(f"{self.dir}: parts {missing[:5]} are missing; rerun the command")
        for i in range(n_chunks):
            yield self.dir / self.part_name(i)

    def finalize(self, n_chunks: int, columns: list[str], schema: pa.Schema) -> None:
        """Concatenate parts 0..n-1 into the output (atomically), then drop the parts folder."""
        tmp = self.output.with_name(self.output.name + ".tmp")
        if self.kind == "csv":
            with tmp.open("w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerow(columns)
                out.flush()
                for part in self._ordered(n_chunks):
                    with part.open("r", newline="", encoding="utf-8") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        else:
            import pyarrow.parquet as pq

            with pq.ParquetWriter(tmp, schema) as writer:
                for part in self._ordered(n_chunks):
                    writer.write_table(pq.read_table(part).cast(schema))
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.output)
        shutil.rmtree(self.dir, ignore_errors=True)


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        return "; ".join(f"{k}: was {old.get(k)!r}, now {new.get(k)!r}" for k in keys[:3])
    return f"was {old!r}, now {new!r}"
