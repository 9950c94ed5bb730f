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
import hashlib
import re
import warnings
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as default
from numbers import Integral
from pathlib import Path
from typing import IO, Any

import numpy as np

from moviegenre.checks import MIN_WORDS
from moviegenre.errors import ConfigError, DataError
from moviegenre.genres import normalise_label
from moviegenre.multilabel import GenreSet, as_sets, is_multi_label, unknown_genres
from moviegenre.readers import (
    LABEL_SEPARATORS,
    NO_DESCRIPTION,
    NO_GENRES,
    Layout,
    Lines,
    Row,
    csv_rows,
    failure,
    jsonl_rows,
    make_row,
    parquet_rows,
    split_genres,
    undecodable,
)

FORMATS = ("imdb", "kaggle", "csv", "jsonl", "parquet")

_YEAR = re.compile(r"\((\d{4}|\?{4})(?:/[IVXLC]+)?\)")
# ' ::: ' with any run of spaces around it; a trailing ':::' ends the line with an empty field.
_IMDB_SEP = re.compile(r"\s+:::(?:\s+|$)")
_IMDB_LAYOUTS = {4: "ID ::: TITLE ::: GENRE ::: DESCRIPTION", 3: "ID ::: TITLE ::: DESCRIPTION"}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


class DataQualityWarning(UserWarning):
    """Duplicate descriptions or conflicting labels in a loaded file (rows are kept)."""


#: What ``Dataset.skipped`` counts, in words.
SKIPPED = {NO_DESCRIPTION: "without a description", NO_GENRES: "without a genre"}


@dataclass
class Dataset:
    """Parallel lists of one file's rows; ``labels`` is None for an unlabelled file.

    ``labels`` holds one genre name per row, or for a multi-label dataset one genre set
    (tuple) per row. ``skipped`` counts the rows left out while loading (by what they
    lacked, keys of :data:`SKIPPED`); ``notes`` says how the file was read (separator,
    mixing), for a log line.
    """

    texts: list[str]
    labels: list[str] | list[GenreSet] | None
    ids: list[str]
    titles: list[str | None]
    years: list[int | None]
    source: str
    row_errors: list[str | None] | None = None
    skipped: dict[str, int] = default(default_factory=dict)
    notes: list[str] = default(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.texts)
        columns = {"labels": self.labels, "ids": self.ids, "titles": self.titles}
        columns |= {"years": self.years, "row_errors": self.row_errors}
        for field, values in columns.items():
            if values is not None and len(values) != n:
                raise ConfigError(f"Dataset has {n} texts but {len(values)} {field}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def multi_label(self) -> bool:
        """Whether the labels are genre sets (several genres per row possible)."""
        return self.labels is not None and is_multi_label(self.labels)

    def require_single_label(self, what: str) -> None:
        """Refuse genre sets, in one line, for ``what`` (a step that needs one genre a row)."""
        if self.multi_label:
            raise DataError(
                f"{self.source} holds several genres per row (multi-label); {what} needs one "
                "genre per row"
            )

    def check_genres(self, classes: Sequence[str], model: str = "the model") -> None:
        """Refuse, in one line, genres that ``classes`` (a model's genres) lacks; a genre
        holding a separator points at the separator (``label_sep``)."""
        unknown = unknown_genres(self.genre_sets(), classes)
        if not unknown:
            return
        shown = ", ".join(repr(g) for g in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        hint = (
            "; a genre holding a separator means the file's separator was not the one used "
            "(pass label_sep to choose it)"
            if any(sep in g for g in unknown for sep in (*LABEL_SEPARATORS, ";", "/"))
            else f"; {model} knows {', '.join(classes)}"
        )
        raise DataError(
            f"{self.source}: {len(unknown)} genre(s) that {model} does not know: {shown}{hint}"
        )

    def genre_sets(self) -> list[GenreSet]:
        """Every row's genres as a set (a single label is a set of one); [] if unlabelled."""
        return as_sets(self.labels or [])

    def genre_counts(self) -> dict[str, int]:
        """Rows per genre (a row counts for each of its genres), most frequent first."""
        counts = Counter(g for genres in self.genre_sets() for g in genres)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def genres_per_row(self) -> dict[int, int]:
        """Rows by how many genres they hold ({1: rows with one genre, 2: ...})."""
        return dict(sorted(Counter(len(g) for g in self.genre_sets()).items()))

    def cooccurrence(self) -> tuple[list[str], np.ndarray]:
        """(genres most frequent first, matrix): ``matrix[i, j]`` rows holding genres i and j;
        the diagonal is each genre's row count."""
        names = list(self.genre_counts())
        column = {g: j for j, g in enumerate(names)}
        matrix = np.zeros((len(names), len(names)), dtype=np.int64)
        for genres in self.genre_sets():
            idx = [column[g] for g in genres]
            matrix[np.ix_(idx, idx)] += 1
        return names, matrix

    def subset(self, indices: Iterable[int] | np.ndarray) -> Dataset:
        """The rows at ``indices`` (ints, or a boolean mask), in that order."""
        idx = np.asarray(indices if not isinstance(indices, Iterator) else list(indices))
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        rows = [int(i) for i in idx.ravel()]

        def pick(values: list | None) -> list | None:
            return None if values is None else [values[i] for i in rows]

        return Dataset(
            texts=pick(self.texts),
            labels=pick(self.labels),
            ids=pick(self.ids),
            titles=pick(self.titles),
            years=pick(self.years),
            source=self.source,
            row_errors=pick(self.row_errors),
        )

    def quality(self) -> dict[str, int]:
        """Counts for a data report; duplicates compare texts case- and whitespace-insensitively.

        ``skipped_*`` are the rows left out while loading; ``multi_genre_rows`` the rows
        with several genres (0 for a single-label file).
        """
        stats = _duplicates(self)
        texts = [t for i, t in enumerate(self.texts) if not self._is_error(i)]
        sets = self.genre_sets()
        return {
            "rows": len(self),
            "genres": len({g for genres in sets for g in genres}),
            "duplicate_texts": stats[0],
            "conflicting_labels": stats[1],
            "short_texts": sum(len(t.split()) < MIN_WORDS for t in texts),
            "multi_genre_rows": sum(len(genres) > 1 for genres in sets),
            **{f"skipped_{reason}": self.skipped.get(reason, 0) for reason in SKIPPED},
        }

    def _is_error(self, i: int) -> bool:
        return self.row_errors is not None and self.row_errors[i] is not None


def _duplicates(ds: Dataset) -> tuple[int, int, list[str]]:
    """(extra copies of a text, texts seen with 2+ labels, ids of the first duplicate pair)."""
    first: dict[str, int] = {}
    labels: defaultdict[str, set[Any]] = defaultdict(set)
    dup, example = 0, []
    for i, text in enumerate(ds.texts):
        if ds._is_error(i):
            continue
        key = " ".join(text.split()).casefold()
        if key in first:
            dup += 1
            if not example:
                example = [ds.ids[first[key]], ds.ids[i]]
        else:
            first[key] = i
        if ds.labels is not None:
            label = ds.labels[i]
            labels[key].add(label if isinstance(label, str) else frozenset(label))
    return dup, sum(len(s) > 1 for s in labels.values()), example


def parse_year(title: str | None) -> int | None:
    """The release year in an IMDb title, "Oscar et la dame rose (2009)" -> 2009, else None."""
    if not isinstance(title, str):
        return None
    found = _YEAR.findall(title)
    if not found or not found[-1].isdigit():
        return None
    year = int(found[-1])
    return year if 1870 <= year <= 2100 else None


def dataset_fingerprint(texts: Sequence[str], labels: Sequence[str] | None = None) -> str:
    """A sha256 hex digest of texts (and labels), order-sensitive, to tie a model to its data."""
    if labels is not None and len(labels) != len(texts):
        raise ConfigError(f"got {len(texts)} texts but {len(labels)} labels; they must match")
    digest = hashlib.sha256(b"moviegenre-dataset-v1\0")
    for part in (texts, [] if labels is None else labels):
        digest.update(len(part).to_bytes(8, "little"))
        for item in part:
            raw = str(item).encode("utf-8")
            digest.update(len(raw).to_bytes(8, "little") + raw)
    digest.update(b"labels" if labels is not None else b"nolabels")
    return digest.hexdigest()


def _memory_labels(labels: Sequence[Any]) -> list[str] | list[GenreSet]:
    """In-memory labels normalised: strings, or genre sets (lists or tuples) for all rows
    once any row has one."""
    for i, label in enumerate(labels):
        items = label if isinstance(label, list | tuple) else [label]
        if not items:
            raise DataError(f"<memory>, item {i}: empty genre list")
        if not all(isinstance(g, str) for g in items):
            raise DataError(f"<memory>, item {i}: label is {label!r}, not a string")
    if not is_multi_label(labels):
        return [normalise_label(label) for label in labels]
    return [tuple(dict.fromkeys(map(normalise_label, genres))) for genres in as_sets(labels)]


def from_records(
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]] | None = None,
    ids: Sequence[str] | None = None,
    titles: Sequence[str | None] | None = None,
) -> Dataset:
    """An in-memory Dataset (source "<memory>"); ids default to "1".."n", labels are normalised.

    A label may be a genre set (a list or tuple of names); then every label becomes one.
    """
    texts = list(texts)
    for field, values in (("labels", labels), ("ids", ids), ("titles", titles)):
        if values is not None and len(values) != len(texts):
            raise ConfigError(f"got {len(texts)} texts but {len(values)} {field}; they must match")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"<memory>, item {i}: text is {type(text).__name__}, not a string")
    if labels is not None:
        labels = _memory_labels(labels)
    titles = list(titles) if titles is not None else [None] * len(texts)
    return Dataset(
        texts=texts,
        labels=labels,
        ids=[str(i) for i in ids] if ids is not None else [str(i + 1) for i in range(len(texts))],
        titles=titles,
        years=[parse_year(t) for t in titles],
        source="<memory>",
    )


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
    if len(parts) >= 4 and 0 < len(parts[2].split()) <= 3:
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


def check_label_sep(label_sep: object) -> str | None:
    """``label_sep`` as given, refused unless None or a separator: no letters, digits, spaces
    or '-' (genre names hold those: "sci-fi", "reality-tv")."""
    if label_sep is None:
        return None
    if (
        not isinstance(label_sep, str)
        or not label_sep
        or any(c.isalnum() or c.isspace() or c == "-" for c in label_sep)
    ):
        raise ConfigError(
            f"label_sep must be a separator such as ',' or '|' (no letters, digits, spaces "
            f"or '-'), got {label_sep!r}"
        )
    return label_sep


def detect_separator(labels: Iterable[Any]) -> str | None:
    """The genre separator of a file's label cells: '|' if any cell holds one, else ',' if
    any holds one, else None (one genre per cell)."""
    cells = [label for label in labels if isinstance(label, str)]
    return next((sep for sep in LABEL_SEPARATORS if any(sep in c for c in cells)), None)


def _as_genre_lists(ds: Dataset, sep: str | None) -> Dataset:
    """``ds`` with its labels split on ``sep`` (strings that hold no list become sets of one);
    unchanged when it has no separator and no list: a single-label file stays strings."""
    if ds.labels is None or (sep is None and not is_multi_label(ds.labels)):
        return ds
    ds.labels = [
        label if not isinstance(label, str) else split_genres(label, sep) if sep else (label,)
        for label in ds.labels
    ]
    return ds


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
        yield _as_genre_lists(chunk, sep)


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
    _warn_quality(ds)
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
    ds = _as_genre_lists(ds, sep)
    if ds.multi_label:
        several = sum(len(genres) > 1 for genres in ds.labels or [])
        how = f"genres separated by {sep!r}" if sep else "genre lists (JSON lists)"
        if sep:
            how += " (label_sep)" if forced else " (detected; pass label_sep to force one)"
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


def _warn_quality(ds: Dataset) -> None:
    dup, conflicts, example = _duplicates(ds)
    if dup or conflicts:
        where = f" (first pair: ids {example[0]} and {example[1]})" if example else ""
        warnings.warn(
            f"{ds.source}: {dup} duplicate description(s){where}, {conflicts} description(s) "
            "with conflicting labels; all rows are kept, deduplicate if that matters",
            DataQualityWarning,
            stacklevel=3,
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
