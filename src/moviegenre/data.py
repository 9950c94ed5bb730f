"""Load movie descriptions (and genres) from IMDb ':::' text, Kaggle CSV, CSV, JSONL or Parquet.

Every reader streams, also through ``.gz`` and single-file ``.zip``; every problem becomes a
DataError naming file, line and what is wrong. Labels are always ``normalise_label``-ed.

Several genres per row (multi-label): a label cell holding a JSON list (JSONL, Parquet, or a
cell written ``["Crime", "Drama"]``), or genres separated by ``|`` or ``,``. The separator is
detected per file: ``|`` if any label cell holds one, else ``,`` if any holds one; a file
with neither and no list is single-label and loads exactly as before (labels are strings).
``label_sep=`` forces a separator. A multi-label file has every label as a tuple of genres
(``multilabel.GenreSet``; one genre is a set of one), and so has a mix of single- and
multi-label files loaded together.

Rows without a description or without a genre (an empty cell, a null, an empty list) are
skipped and counted (``Dataset.skipped``, a DataQualityWarning); loading refuses only a file
with no row left. ``strict=True`` stops at the first such row instead, as loading used to.
Every other bad row (malformed CSV or JSON, a number for a description...) is an error.
"""

from __future__ import annotations

import gzip
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral
from pathlib import Path
from typing import IO

from moviegenre.checks import word_count
from moviegenre.dataset import (
    SKIPPED,
    DataQualityWarning,
    Dataset,
    as_genre_lists,
    check_label_sep,
    dataset_fingerprint,
    detect_separator,
    from_records,
    parse_year,
    warn_quality,
)
from moviegenre.errors import ConfigError, DataError
from moviegenre.multilabel import as_sets
from moviegenre.readers import (
    NO_DESCRIPTION,
    Layout,
    Lines,
    Row,
    csv_rows,
    failure,
    jsonl_rows,
    make_row,
    parquet_rows,
    undecodable,
)

FORMATS = ("imdb", "kaggle", "csv", "jsonl", "parquet")

# ' ::: ' with any run of spaces around it; a trailing ':::' ends the line with an empty field.
_IMDB_SEP = re.compile(r"\s+:::(?:\s+|$)")
_IMDB_LAYOUTS = {4: "ID ::: TITLE ::: GENRE ::: DESCRIPTION", 3: "ID ::: TITLE ::: DESCRIPTION"}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


# -- opening files ---------------------------------------------------------------------------


def _zip_member(zf: zipfile.ZipFile, path: Path) -> str:
    members = [
        info.filename
        for info in zf.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not Path(info.filename).name.startswith(".")
    ]
    if len(members) != 1:
        found = ", ".join(members) if members else "none"
        raise DataError(
            f"{path}: a zip archive must hold exactly one data file, found {len(members)} "
            f"({found}); unpack it and load the file you mean"
        )
    return members[0]


@contextmanager
def _open_binary(path: str | Path) -> Iterator[tuple[IO[bytes], str, str]]:
    """Yield (binary stream, name for messages, inner file name), looking through .gz/.zip."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"{p} is a directory, not a data file")
    if not p.is_file():
        raise DataError(
            f"{p} is not a regular file (a pipe, /dev/stdin or a device): it is read more than "
            "once (format detection, resume checks), so save the stream to a file first"
        )
    suffix = p.suffix.lower()
    if suffix == ".gz":
        with gzip.open(p, "rb") as fh:
            yield fh, str(p), p.stem
    elif suffix == ".zip":
        try:
            zf = zipfile.ZipFile(p)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{p}: not a readable zip archive ({exc})") from None
        with zf:
            member = _zip_member(zf, p)
            with zf.open(member) as fh:
                yield fh, f"{p} [{member}]", member
    else:
        try:
            fh = open(p, "rb")  # noqa: SIM115 (closed below; open errors must become DataError)
        except OSError as exc:
            raise DataError(f"{p}: cannot open the file ({exc.strerror})") from None
        with fh:
            yield fh, str(p), p.name


_READ_FAILURES = (OSError, EOFError, zlib.error, zipfile.BadZipFile)


def detect_format(path: str | Path) -> str:
    """Guess "imdb", "kaggle", "csv", "jsonl" or "parquet" from the name and the first line."""
    with _open_binary(path) as (stream, name, inner):
        suffix = Path(inner).suffix.lower()
        try:
            if suffix in _PARQUET_SUFFIXES or stream.read(4) == b"PAR1":
                return "parquet"
        except _READ_FAILURES as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from None
    with _open_binary(path) as (stream, name, inner):
        try:
            first = next((s for s in Lines(stream, name) if s.strip()), None)
        except _READ_FAILURES as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from None
    if first is None:
        raise DataError(f"{name}: file is empty")
    if _IMDB_SEP.search(first.rstrip("\r\n")):
        return "imdb"
    if first.lstrip().startswith("{") or suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in (".csv", ".tsv") or "," in first or "\t" in first:
        header = {h.strip().strip('"').lower() for h in re.split(r"[,\t]", first.strip())}
        return "kaggle" if {"name", "text"} <= header else "csv"
    raise DataError(
        f"{name}: unknown format: the first line is neither an IMDb 'ID ::: TITLE ::: ...' row, "
        f"a CSV header nor a JSON object; supported formats: {', '.join(FORMATS)}"
    )


# -- IMDb ':::' text -------------------------------------------------------------------------


def _imdb_rows(
    lines: Lines, name: str, label_sep: str | None = None
) -> tuple[Layout, Iterator[Row]]:
    """IMDb text: the first line fixes 4 fields (labelled) or 3; the description keeps the rest."""
    first = next((s for s in lines if s.strip()), None)
    if first is None:
        raise DataError(f"{name}: file is empty")
    first_line = lines.number
    parts = _IMDB_SEP.split(first.rstrip("\r\n"))
    # A third field that reads like a genre (short) means the labelled layout.
    if len(parts) >= 4 and 0 < word_count(parts[2]) <= 3:
        n_fields = 4
    elif len(parts) >= 3:
        n_fields = 3
    else:
        raise DataError(
            f"{name}, line {first_line}: wrong number of fields: expected "
            f"{_IMDB_LAYOUTS[4]} or {_IMDB_LAYOUTS[3]}, found {len(parts)}"
        )

    def row(text: str, line: int) -> Row:
        where = f"{name}, line {line}"
        if lines.take_bad():
            return failure(line, undecodable(name, line))
        fields = _IMDB_SEP.split(text.rstrip("\r\n"), maxsplit=n_fields - 1)
        if len(fields) < n_fields:
            return failure(
                line,
                f"{where}: wrong number of fields: expected {n_fields} "
                f"({_IMDB_LAYOUTS[n_fields]}), found {len(fields)}",
            )
        if not fields[0].strip():
            return failure(line, f"{where}: empty ID (first field)")
        return make_row(
            where,
            line,
            id_=fields[0],
            title=fields[1],
            text=fields[-1],
            label=fields[2] if n_fields == 4 else None,
            labelled=n_fields == 4,
            label_sep=label_sep,
        )

    def records() -> Iterator[Row]:
        yield row(first, first_line)
        for text in lines:
            if text.strip():
                yield row(text, lines.number)

    return Layout(n_fields == 4, f"layout {_IMDB_LAYOUTS[n_fields]}", True), records()


# -- public loading --------------------------------------------------------------------------


def _reader(
    fmt: str, stream: IO[bytes], name: str, inner: str, batch_rows: int, wanted: dict
) -> tuple[Layout, Iterator[Row]]:
    if fmt == "imdb":
        return _imdb_rows(Lines(stream, name), name, wanted.get("label_sep"))
    if fmt == "parquet":
        return parquet_rows(stream, name, batch_rows=batch_rows, **wanted)
    if fmt == "jsonl":
        return jsonl_rows(Lines(stream, name), name, **wanted)
    delimiter = "\t" if inner.lower().endswith(".tsv") else ","
    return csv_rows(Lines(stream, name), name, delimiter=delimiter, **wanted)


def _chunk(rows: list[Row], layout: Layout, source: str, start: int, collect: bool) -> Dataset:
    """Rows as a Dataset; ids are made up (1-based row numbers) only for a file without ids.

    When collecting, a row of a file with ids that lacks one gets id "" and an error: a row
    number could collide with a real id further on.
    """
    if collect and layout.has_ids:
        rows = [
            r._replace(id="", error=r.error or f"{source}, line {r.line}: empty id")
            if r.id is None
            else r
            for r in rows
        ]
    titles = [r.title for r in rows]
    return Dataset(
        texts=[r.text for r in rows],
        labels=[r.label or "" for r in rows] if layout.labelled else None,
        ids=[r.id if r.id is not None else str(start + k) for k, r in enumerate(rows)],
        titles=titles,
        years=[parse_year(t) for t in titles],
        source=source,
        row_errors=[r.error for r in rows] if collect else None,
    )


def _resolve(path: str | Path, chunk_rows: int, fmt: str, errors: str) -> str:
    """Check the arguments and return the concrete format (detecting it if "auto")."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, Integral) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if errors not in ("raise", "collect"):
        raise ConfigError(f"errors must be 'raise' or 'collect', got {errors!r}")
    if fmt not in ("auto", *FORMATS):
        raise ConfigError(f"unknown format {fmt!r}; choose one of auto, {', '.join(FORMATS)}")
    return detect_format(path) if fmt == "auto" else fmt


class _Skips:
    """Rows skipped while loading: a count by what they lacked, and the first message of each."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, row: Row) -> None:
        reason = row.missing or NO_DESCRIPTION
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.first.setdefault(reason, row.error or "")


def _stream(
    path: str | Path,
    *,
    chunk_rows: int,
    fmt: str,
    errors: str,
    require_labels: bool,
    wanted: dict,
    skips: _Skips | None = None,
) -> Iterator[Dataset]:
    """Chunks of a file; with ``skips``, rows lacking only a description or a genre are
    counted there instead of raising (``errors="raise"``) or being yielded (``"collect"``)."""
    collect = errors == "collect"
    with _open_binary(path) as (stream, name, inner):
        try:
            layout, rows = _reader(fmt, stream, name, inner, chunk_rows, wanted)
            if require_labels and not layout.labelled:
                raise DataError(
                    f"{name}: has no labels, but labels are required ({layout.describe})"
                )
            buffer: list[Row] = []
            start = 1
            for row in rows:
                if row.error is not None and skips is not None and row.missing is not None:
                    skips.add(row)
                    continue
                if row.error is not None and not collect:
                    raise DataError(row.error)
                buffer.append(row)
                if len(buffer) == chunk_rows:
                    yield _chunk(buffer, layout, str(path), start, collect)
                    start += len(buffer)
                    buffer = []
            if buffer or start == 1:
                yield _chunk(buffer, layout, str(path), start, collect)
        except _READ_FAILURES as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from None


def _split_chunks(chunks: Iterator[Dataset], label_sep: str | None) -> Iterator[Dataset]:
    """Chunks with genre lists split: on ``label_sep``, else on the separator detected in
    the first chunk (a stream cannot look ahead; ``load_dataset`` detects on the whole file)."""
    sep, decided = label_sep, label_sep is not None
    for chunk in chunks:
        if not decided and chunk.labels is not None:
            sep, decided = detect_separator(chunk.labels), True
        yield as_genre_lists(chunk, sep)


def iter_chunks(
    path: str | Path,
    *,
    chunk_rows: int = 10_000,
    fmt: str = "auto",
    text_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    title_col: str | None = None,
    errors: str = "raise",
    label_sep: str | None = None,
) -> Iterator[Dataset]:
    """Stream a file as Datasets of at most ``chunk_rows`` rows, in constant memory.

    Files without ids get global 1-based row numbers. ``errors="collect"`` yields a bad row as
    text "" (label "") with its message in ``row_errors``; file-level problems always raise.
    A file with no data rows yields one empty chunk (so its labelled-ness is still known).
    Genre lists are split on ``label_sep``, else on the separator found in the first chunk.
    """
    wanted = {"text_col": text_col, "label_col": label_col, "id_col": id_col}
    wanted |= {"title_col": title_col, "label_sep": check_label_sep(label_sep)}
    fmt = _resolve(path, chunk_rows, fmt, errors)
    chunks = _stream(
        path, chunk_rows=chunk_rows, fmt=fmt, errors=errors, require_labels=False, wanted=wanted
    )
    return _split_chunks(chunks, label_sep)


def load_dataset(
    path: str | Path | Sequence[str | Path],
    *,
    fmt: str = "auto",
    text_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    title_col: str | None = None,
    require_labels: bool = False,
    label_sep: str | None = None,
    strict: bool = False,
) -> Dataset:
    """Load a whole file, or several files as one dataset (e.g. train + test solution).

    Warns (DataQualityWarning) about duplicate texts or conflicting labels, across files too,
    and about rows skipped for lacking a description or a genre (``strict=True`` raises at
    the first instead). Genre lists are split on ``label_sep``, else on the separator
    detected in each file (see the module docstring); ``Dataset.notes`` says which.
    With several files, ids become ``FILE:ID`` so that rows of different files stay distinct;
    if some hold genre lists and others one genre, every label becomes a genre set.
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths:
        raise ConfigError("no data file given")
    if not isinstance(strict, bool):
        raise ConfigError(f"strict must be True or False, got {strict!r}")
    options = dict(fmt=fmt, require_labels=require_labels, strict=strict)
    wanted = {"text_col": text_col, "label_col": label_col, "id_col": id_col}
    wanted |= {"title_col": title_col, "label_sep": check_label_sep(label_sep)}
    parts = [_load_one(p, wanted=wanted, **options) for p in paths]
    if len(parts) == 1:
        ds = parts[0]
    else:
        names = [Path(p).name for p in paths]
        if len(set(names)) < len(names):
            names = [str(p) for p in paths]
        labelled = {p.has_labels for p in parts}
        if len(labelled) > 1:
            which = ", ".join(n for n, p in zip(names, parts, strict=True) if not p.has_labels)
            raise DataError(f"{which}: no genre labels, unlike the other files; mix like with like")
        notes = [note for p in parts for note in p.notes]
        if any(p.multi_label for p in parts):
            single = [n for n, p in zip(names, parts, strict=True) if not p.multi_label]
            if single:
                notes.append(
                    f"mixing one genre per row ({', '.join(single)}) with genre lists: a single "
                    "genre counts as a set of one"
                )
            for p in parts:
                p.labels = as_sets(p.labels or [])
        ds = Dataset(
            texts=[t for p in parts for t in p.texts],
            labels=[lab for p in parts for lab in p.labels] if parts[0].has_labels else None,
            ids=[f"{n}:{i}" for n, p in zip(names, parts, strict=True) for i in p.ids],
            titles=[t for p in parts for t in p.titles],
            years=[y for p in parts for y in p.years],
            source=" + ".join(str(p) for p in paths),
            skipped=dict(sum((Counter(p.skipped) for p in parts), Counter())),
            notes=notes,
        )
    warn_quality(ds)
    return ds


def _load_one(
    path: str | Path, *, fmt: str, require_labels: bool, strict: bool, wanted: dict
) -> Dataset:
    skips = None if strict else _Skips()
    chunks = list(
        _stream(
            path,
            chunk_rows=50_000,
            fmt=_resolve(path, 50_000, fmt, "raise"),
            errors="raise",
            require_labels=require_labels,
            wanted=wanted,
            skips=skips,
        )
    )
    labelled = chunks[0].has_labels
    ds = Dataset(
        texts=[t for c in chunks for t in c.texts],
        labels=[label for c in chunks for label in c.labels] if labelled else None,
        ids=[i for c in chunks for i in c.ids],
        titles=[t for c in chunks for t in c.titles],
        years=[y for c in chunks for y in c.years],
        source=str(path),
        skipped=dict(skips.counts) if skips is not None else {},
    )
    if skips is not None and skips.counts:
        _warn_skipped(ds, skips)
    if not len(ds):
        if ds.skipped:
            raise DataError(
                f"{path}: no rows left: every row lacks a description or a genre (first: "
                f"{next(iter(skips.first.values()))})"
            )
        raise DataError(f"{path}: no data rows (only a header or blank lines)")
    forced = wanted.get("label_sep")
    sep = forced or (detect_separator(ds.labels) if labelled else None)
    ds = as_genre_lists(ds, sep)
    if ds.multi_label:
        several = sum(len(genres) > 1 for genres in ds.labels or [])
        how = f"genres separated by {sep!r}" if sep else "genre lists (JSON lists)"
        if sep:
            how += " (given by label_sep)" if forced else " (detected; pass label_sep to force one)"
        ds.notes.append(
            f"{path}: {how}: {several:,} of {len(ds):,} rows hold several genres, "
            f"{_mean_genres(ds):.2f} genres per row on average"
        )
    return ds


def _mean_genres(ds: Dataset) -> float:
    sets = ds.genre_sets()
    return sum(map(len, sets)) / len(sets) if sets else 0.0


def _warn_skipped(ds: Dataset, skips: _Skips) -> None:
    parts = [
        f"{skips.counts[reason]:,} row(s) {SKIPPED[reason]} (first: {skips.first[reason]})"
        for reason in SKIPPED
        if reason in skips.counts
    ]
    warnings.warn(
        f"{ds.source}: skipped {' and '.join(parts)}; pass strict=True to stop at the first "
        "such row instead",
        DataQualityWarning,
        stacklevel=4,
    )


__all__ = [
    "FORMATS",
    "DataQualityWarning",
    "Dataset",
    "check_label_sep",
    "dataset_fingerprint",
    "detect_format",
    "detect_separator",
    "from_records",
    "iter_chunks",
    "load_dataset",
    "parse_year",
]
