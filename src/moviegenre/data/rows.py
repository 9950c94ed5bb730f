"""What every reader shares: the :class:`Row` record, UTF-8 line decoding pinned to line
numbers, column resolution, and turning raw fields (text, id, title, genre cell or list) into
a Row. The readers themselves (IMDb, CSV, JSONL, Parquet) are in :mod:`moviegenre.data.readers`.

A problem with one row travels in ``Row.error`` so the caller chooses between raising and
collecting. Problems with the whole file raise DataError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import IO, Any, NamedTuple

from moviegenre.errors import DataError
from moviegenre.genres import normalise_label

TEXT_COLUMNS = ("text", "description", "overview", "plot", "synopsis")
LABEL_COLUMNS = ("genre", "label")
ID_COLUMNS = ("id",)
TITLE_COLUMNS = ("title", "name")

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: CSV fields are as long as JSONL and IMDb lines may be: over-long texts are truncated later
#: (CheckSettings.max_chars), the same in every format, instead of failing as malformed CSV.
CSV_FIELD_LIMIT = 2**31 - 1
#: A field absent from a record (JSONL), as opposed to a null in it.
MISSING = object()


#: The separators a genre list may use; detected per file when none is forced (``|`` wins).
LABEL_SEPARATORS = ("|", ",")
#: What a skippable row lacks (``Row.missing``): rows without a description or without genres
#: are skipped (and counted) unless loading is strict; every other bad row is an error.
NO_DESCRIPTION = "no_description"
NO_GENRES = "no_genres"


class Row(NamedTuple):
    """One record as read; ``line`` is the 1-based line (Parquet: row) where it starts.

    ``label`` is a genre name, or a genre set (tuple) when the cell held a JSON list or was
    split by a forced separator. ``missing`` says what a failed row lacks when that is all
    that is wrong with it (:data:`NO_DESCRIPTION`, :data:`NO_GENRES`).
    """

    line: int
    id: str | None
    title: str | None
    text: str
    label: str | tuple[str, ...] | None
    error: str | None = None
    missing: str | None = None


class Layout(NamedTuple):
    """What a reader learnt from a file's header: labels or not, how it looks, ids or not."""

    labelled: bool
    describe: str
    has_ids: bool = False


class Columns(NamedTuple):
    """The column chosen for each role (None: the file has no such column)."""

    text: str
    label: str | None
    id: str | None
    title: str | None


class Lines:
    """Decode a binary stream one line at a time, so bad bytes are pinned to a line number.

    The first non-blank line must decode (else the file is not UTF-8 and DataError is raised);
    later bad lines are decoded with replacement and reported through :meth:`take_bad`.
    """

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._it = iter(stream)
        self.name = name
        self.number = 0
        self._bad: list[int] = []
        self._seen_text = False

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        raw = next(self._it)
        self.number += 1
        if self.number == 1:
            if raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            self._check_first(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not self._seen_text:
                raise DataError(
                    f"{self.name}, line {self.number}: undecodable bytes, the file is not UTF-8 "
                    f"({exc.reason} at byte {exc.start}); re-save it as UTF-8"
                ) from None
            self._bad.append(self.number)
            text = raw.decode("utf-8", errors="replace")
        if not self._seen_text and text.strip():
            self._seen_text = True
        return text

    def _check_first(self, raw: bytes) -> None:
        """Name the two encodings that would otherwise give misleading column errors."""
        if raw.startswith(_UTF16_BOMS) or b"\x00" in raw:
            raise DataError(
                f"{self.name}, line 1: NUL bytes, the file is not UTF-8 (it looks like "
                "UTF-16); re-save it as UTF-8"
            )
        if not raw.endswith(b"\n") and b"\r" in raw.rstrip(b"\r"):
            raise DataError(
                f"{self.name}: lines end with a carriage return only (old Mac style), so the "
                "whole file reads as one line; re-save it with LF or CRLF line ends"
            )

    def take_bad(self) -> list[int]:
        """Line numbers that failed to decode since the last call."""
        bad, self._bad = self._bad, []
        return bad


def failure(line: int, message: str) -> Row:
    """A row that could not be read; ``message`` names file, line and problem."""
    return Row(line, None, None, "", None, message)


def undecodable(name: str, line: int) -> str:
    return f"{name}, line {line}: undecodable bytes (not UTF-8); re-save the file as UTF-8"


def resolve_columns(
    columns: Sequence[str],
    name: str,
    *,
    text_col: str | None,
    label_col: str | None,
    id_col: str | None,
    title_col: str | None,
) -> Columns:
    """Pick the column for each role: the one asked for, else the first known default."""
    by_lower = {c.lower(): c for c in reversed(columns)}
    listing = ", ".join(repr(c) for c in columns) or "none"

    def pick(requested: str | None, defaults: tuple[str, ...], role: str) -> str | None:
        if requested is not None:
            if requested in columns:
                return requested
            raise DataError(
                f"{name}: missing column {requested!r} (asked for as the {role} column); "
                f"the columns are: {listing}"
            )
        return next((by_lower[d] for d in defaults if d in by_lower), None)

    text = pick(text_col, TEXT_COLUMNS, "text")
    if text is None:
        raise DataError(
            f"{name}: missing column: no text column found (looked for {', '.join(TEXT_COLUMNS)}); "
            f"the columns are: {listing}; pass text_col= to choose one"
        )
    return Columns(
        text=text,
        label=pick(label_col, LABEL_COLUMNS, "label"),
        id=pick(id_col, ID_COLUMNS, "id"),
        title=pick(title_col, TITLE_COLUMNS, "title"),
    )


def describe_columns(columns: Sequence[str], cols: Columns) -> str:
    return (
        f"columns {', '.join(repr(c) for c in columns)}; no label column "
        f"(looked for {', '.join(LABEL_COLUMNS)}; pass label_col=)"
        if cols.label is None
        else f"columns {', '.join(repr(c) for c in columns)}"
    )


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"


#: A cell written as a list: '[' then a quote or ']' ... ']' ("[bold]x[/bold]" is a name).
_LIST_CELL = re.compile(r"\s*\[\s*[\"'\]].*\]\s*$", re.DOTALL)


def split_genres(cell: str, sep: str) -> tuple[str, ...]:
    """A normalised genre-list cell split on ``sep``: genres normalised, empties and repeats
    dropped, the file's order kept ("Crime, Drama" -> ("crime", "drama"))."""
    return tuple(dict.fromkeys(g for g in map(normalise_label, cell.split(sep)) if g))


def _genre_list(value: Any, column: str) -> tuple[tuple[str, ...] | None, str | None]:
    """A JSON/Parquet list of genres as a genre set, or (None, problem)."""
    for item in value:
        if not isinstance(item, str):
            return None, f"genre list holds {kind_of(item)}, not a string (column {column!r})"
    return tuple(dict.fromkeys(g for g in map(normalise_label, value) if g)), None


def _json_list(cell: str, column: str) -> tuple[Any, str | None]:
    """A cell written as a JSON list ("[\"Crime\", \"Drama\"]"), parsed, or (None, problem)."""
    try:
        value = json.loads(cell)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return None, (
            f"malformed JSON genre list in column {column!r} ({reason or 'unreadable'}); write "
            'it as ["Crime", "Drama"] (double quotes) or as genres separated by , or |'
        )
    if not isinstance(value, list):
        return None, f"column {column!r} looks like a JSON list but holds {kind_of(value)}"
    return value, None


def _label(
    label: Any, label_col: str, label_sep: str | None
) -> tuple[str | tuple[str, ...] | None, str | None, bool]:
    """(label, problem, whether the problem is only a missing label) for one raw value.

    A list (JSON, Parquet) or a cell written as a JSON list becomes a genre set; a string is
    split on ``label_sep`` when one is forced, else kept whole (the file's separator is
    detected once all rows are read). A cell of separators only is an empty genre list.
    """
    if label is MISSING:
        return None, f"label is missing (field {label_col!r})", True
    if label is None:
        return None, f"label is null, not a string (column {label_col!r})", True
    if isinstance(label, str) and _LIST_CELL.match(label):
        label, problem = _json_list(label.strip(), label_col)
        if problem:
            return None, problem, False
    if isinstance(label, list | tuple):
        genres, problem = _genre_list(label, label_col)
        if problem:
            return None, problem, False
        if not genres:
            return None, f"empty genre list (column {label_col!r})", True
        return genres, None, False
    if not isinstance(label, str):
        return None, f"label is {kind_of(label)}, not a string (column {label_col!r})", False
    norm = normalise_label(label)
    if not norm:
        return None, f"empty label (column {label_col!r})", True
    seps = (label_sep,) if label_sep else LABEL_SEPARATORS
    if not "".join(norm.split()).strip("".join(seps)):
        return None, f"empty genre list {norm!r} (column {label_col!r})", True
    if label_sep:
        return split_genres(norm, label_sep), None, False
    return norm, None, False


def make_row(
    where: str,
    line: int,
    *,
    id_: Any,
    title: Any,
    text: Any,
    label: Any,
    labelled: bool,
    text_col: str = "description",
    label_col: str = "genre",
    label_sep: str | None = None,
) -> Row:
    """Validate raw values into a Row; a bad value becomes a Row carrying its error message."""
    rid = None if id_ is None or str(id_).strip() == "" else str(id_).strip()

    def bad(problem: str, missing: str | None = None) -> Row:
        return failure(line, f"{where}: {problem}")._replace(id=rid, missing=missing)

    if text is MISSING:
        return bad(f"missing field {text_col!r}", NO_DESCRIPTION)
    if text is None:
        return bad(f"description is null, not a string (column {text_col!r})", NO_DESCRIPTION)
    if not isinstance(text, str):
        return bad(f"description is {kind_of(text)}, not a string (column {text_col!r})")
    text = text.strip()
    if not text:
        return bad(f"empty description (column {text_col!r})", NO_DESCRIPTION)
    norm = None
    if labelled:
        norm, problem, missing = _label(label, label_col, label_sep)
        if problem:
            return bad(problem, NO_GENRES if missing else None)
    title = None if title is None or title is MISSING else (str(title).strip() or None)
    return Row(line, rid, title, text, norm)
