"""Resumable output for batch scoring: atomic part files, a manifest, and the final concatenation.

A run writes ``OUTPUT.parts/part-NNNNNN.{csv,parquet,jsonl}`` (one per input chunk, each written
atomically, see :func:`moviegenre._util.atomic_write`) and ``OUTPUT.parts/manifest.json``,
rewritten the same way after every part. The manifest pins the input (path, size, mtime, sha256
of the first MiB: a cheap check that it is the same job), the model (sha256 of its weights) and
the settings, so a rerun resumes only the same job, and it records each part's row count, first
and last id, the sha256 of the rows it was scored from (ids, texts and input errors, as read)
and of its file. A rerun keeps a part only if its file still has that sha256 and the same input
chunk, read again, has the same rows: an edit anywhere in the input (past the first MiB, with
the size and mtime kept) re-scores the chunks it touched, so a resume never mixes inputs. Any
other part (missing, truncated, emptied, replaced, copied over another) is scored again. When
every chunk is done each part is checked once more, then they are concatenated into OUTPUT
(atomically) and the parts folder is removed; a part that changed in between stops the join with
an error instead of losing or repeating rows. A temporary ``OUTPUT.<hex>.tmp`` left by a join
that was killed (SIGKILL) is removed by the next run that joins.

CSV output is neutralised against spreadsheet formula injection (OWASP "CSV Injection"): a cell
that starts with ``= + - @``, a tab or a carriage return gets a leading ``'``, so Excel, LibreOffice
and Google Sheets show it as text instead of running it. Parquet keeps values as they are, and
so does JSON Lines (``*.jsonl``): one JSON object per row, the same columns as keys, nulls as
``null``, probabilities as numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa

from moviegenre._util import atomic_write, csv_cell, remove_stale_temporaries, sha256_file
from moviegenre.errors import ConfigError

MANIFEST = "manifest.json"
#: 3: parts hold the sha256 of their rows, not only of their ids; 4: the settings hold
#: ``recall`` (a version-3 run resumed now would differ in settings by a key it never had).
MANIFEST_VERSION = 4
HEAD_BYTES = 1 << 20
OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP).
#: Each manifest part entry: key -> the type its value must have.
PART_FIELDS = {
    "rows": int,
    "errors": int,
    "first_id": (str, type(None)),
    "last_id": (str, type(None)),
    "rows_sha256": str,
    "sha256": str,
    "bytes": int,
}


class ResumeWarning(UserWarning):
    """A finished part no longer matches the manifest and will be scored again."""


def output_kind(output: Path) -> str:
    """'csv' or 'parquet', from the output file's suffix."""
    kind = OUTPUT_KINDS.get(output.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"--output {output}: unknown output type {output.suffix or '(no suffix)'!r}; "
            "name the file *.csv, *.parquet or *.jsonl"
        )
    return kind


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, size, mtime and the sha256 of the first MiB: cheap, and catches edits and swaps."""
    p = Path(path).resolve()
    stat = p.stat()
    with p.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return {"path": str(p), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}


def rows_digest(chunk: Any) -> str:
    """sha256 of a chunk's rows as read: each row's id, text and input error, in order.

    Each value is length-prefixed (None has its own marker), so no two chunks share a digest.
    ``chunk`` is a :class:`moviegenre.data.Dataset` (``ids``, ``texts``, ``row_errors``).
    """
    digest = hashlib.sha256()
    errors = chunk.row_errors or [None] * len(chunk.ids)
    for row in zip(chunk.ids, chunk.texts, errors, strict=True):
        for value in row:
            if value is None:
                digest.update(b"\xff" * 8)
                continue
            raw = str(value).encode("utf-8", "surrogatepass")
            digest.update(len(raw).to_bytes(8, "little") + raw)
    return digest.hexdigest()


def write_table(table: pa.Table, path: Path, kind: str, *, header: bool = True) -> None:
    """Write ``table`` to ``path`` as CSV (6-decimal probabilities, "" for null), Parquet or
    JSON Lines (one object per row; ``header`` is a CSV matter)."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    if kind == "jsonl":
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            for row in table.to_pylist():
                handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(table.column_names)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        writer.writerows([csv_cell(v) for v in row] for row in zip(*columns, strict=True))


def _damaged(manifest: Path, problem: str) -> ConfigError:
    return ConfigError(f"{manifest} is damaged ({problem}); pass --overwrite to start fresh")


def _check_part_entry(manifest: Path, name: Any, info: Any) -> int:
    """The part index of one manifest entry, after checking every field's type."""
    if not isinstance(name, str) or not name.isdigit():
        raise _damaged(manifest, f"part key {name!r} is not a number")
    if not isinstance(info, dict):
        raise _damaged(manifest, f"part {name} is {type(info).__name__}, not an object")
    for key, kind in PART_FIELDS.items():
        value = info.get(key)
        if key not in info or isinstance(value, bool) or not isinstance(value, kind):
            raise _damaged(manifest, f"part {name} has no valid {key!r}")
    return int(name)


class PartStore:
    """The ``OUTPUT.parts`` folder of one job: which chunks are done, and their files."""

    def __init__(self, output: Path, job: dict[str, Any]) -> None:
        self.output = output
        self.kind = output_kind(output)
        self.dir = output.with_name(output.name + ".parts")
        self.job = job
        self.parts: dict[int, dict[str, Any]] = {}
        #: Rows of earlier parts that :meth:`reuse` accepted in this run.
        self.reused_rows = 0

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
        except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise _damaged(manifest, f"unreadable: {exc}") from None
        if not isinstance(old, dict):
            raise _damaged(manifest, f"a JSON {type(old).__name__}, not an object")
        if old.get("version") != MANIFEST_VERSION:
            raise ConfigError(
                f"{manifest} was written by another moviegenre version; pass --overwrite"
            )
        for key, what in (
            ("input", "a different input file"),
            ("model", "a different model"),
            ("settings", "different settings"),
        ):
            if not isinstance(old.get(key), dict):
                raise _damaged(manifest, f"no valid {key!r}")
            if old[key] != self.job[key]:
                raise ConfigError(
                    f"{self.dir} holds an unfinished run with {what} "
                    f"({_difference(old[key], self.job[key])}); rerun with --overwrite to "
                    "start fresh, or choose another --output"
                )
        parts = old.get("parts", {})
        if not isinstance(parts, dict):
            raise _damaged(manifest, "'parts' is not an object")
        for name, info in parts.items():
            index = _check_part_entry(manifest, name, info)
            path = self.dir / self.part_name(index)
            if not path.is_file():
                continue  # killed between the part and the manifest: score it again
            if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
                warnings.warn(
                    f"{path} does not match the manifest (truncated, emptied, replaced or "
                    "copied over); scoring that chunk again",
                    ResumeWarning,
                    stacklevel=4,
                )
                continue
            self.parts[index] = info

    # -- parts ----------------------------------------------------------------------------

    def part_name(self, index: int) -> str:
        return f"part-{index:06d}.{self.kind}"

    def reuse(self, index: int, rows: int, digest: str) -> bool:
        """Whether part ``index`` was written, intact, from exactly these input rows (``rows``
        of them, :func:`rows_digest` ``digest``); if so it counts in :attr:`reused_rows`.

        The row count is the input chunk's, never the manifest's alone: an entry whose count
        was edited no longer matches, and its chunk is scored again.
        """
        info = self.parts.get(index)
        if info is None or info["rows"] != rows or info["rows_sha256"] != digest:
            return False
        self.reused_rows += rows
        return True

    @property
    def done_rows(self) -> int:
        """Rows of the parts the manifest lists as intact (before any is checked against
        its input chunk: :meth:`reuse`)."""
        return sum(info["rows"] for info in self.parts.values())

    def write_part(self, index: int, table: pa.Table, errors: int, digest: str) -> None:
        """Write one chunk's scored rows atomically, then record it in the manifest with the
        :func:`rows_digest` of the input rows it was scored from."""
        path = self.dir / self.part_name(index)
        with atomic_write(path) as tmp:
            write_table(table, tmp, self.kind, header=False)
        ids = [str(i) for i in table.column("id").to_pylist()]
        self.parts[index] = {
            "rows": table.num_rows,
            "errors": errors,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
            "rows_sha256": digest,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
        self.save()

    def save(self) -> None:
        data = {"version": MANIFEST_VERSION, **self.job}
        data["parts"] = {str(k): v for k, v in sorted(self.parts.items())}
        with atomic_write(self.dir / MANIFEST) as tmp:
            tmp.write_bytes(json.dumps(data, indent=1).encode("utf-8"))

    # -- finishing ------------------------------------------------------------------------

    def _verified(self, n_chunks: int, rows: int) -> list[Path]:
        """Parts 0..n-1, each still as written; every input row is in exactly one of them.

        Each part was accepted for exactly its input chunk's rows (``reuse`` or a fresh
        write), so intact parts 0..n-1 whose counts add up to the rows read hold every row
        once. A part that changed since is dropped from the manifest so a rerun re-scores it.
        """
        missing = [i for i in range(n_chunks) if i not in self.parts]
        if missing:
            raise ConfigError(f"{self.dir}: parts {missing[:5]} are missing; rerun the command")
        paths = [self.dir / self.part_name(i) for i in range(n_chunks)]
        for i, path in enumerate(paths):
            if not path.is_file() or sha256_file(path) != self.parts[i]["sha256"]:
                del self.parts[i]
                self.save()
                raise ConfigError(
                    f"{path} changed after it was written; nothing was joined. Rerun the same "
                    "command to score that chunk again"
                )
        written = sum(self.parts[i]["rows"] for i in range(n_chunks))
        if written != rows or len(self.parts) != n_chunks:
            raise ConfigError(
                f"{self.dir}: the parts hold {written} rows in {len(self.parts)} parts, but the "
                f"input has {rows} rows in {n_chunks} chunks; nothing was joined. Rerun with "
                "--overwrite"
            )
        return paths

    def finalize(self, n_chunks: int, rows: int, columns: list[str], schema: pa.Schema) -> None:
        """Check the parts, concatenate them into the output atomically, drop the parts folder."""
        paths = self._verified(n_chunks, rows)
        with atomic_write(self.output) as tmp:
            if self.kind in ("csv", "jsonl"):
                header = io.StringIO()
                if self.kind == "csv":
                    csv.writer(header).writerow(columns)
                with tmp.open("wb") as out:
                    out.write(header.getvalue().encode("utf-8"))
                    for part in paths:
                        with part.open("rb") as src:
                            shutil.copyfileobj(src, out, 1 << 20)
            else:
                import pyarrow.parquet as pq

                with pq.ParquetWriter(tmp, schema) as writer:
                    for part in paths:
                        writer.write_table(pq.read_table(part).cast(schema))
        shutil.rmtree(self.dir, ignore_errors=True)
        remove_stale_temporaries(self.output)  # of an earlier join killed by SIGKILL


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        return "; ".join(f"{k}: was {old.get(k)!r}, now {new.get(k)!r}" for k in keys[:3])
    return f"was {old!r}, now {new!r}"
