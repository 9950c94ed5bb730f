"""The readers, one per format: IMDb ':::' text, CSV, JSONL and Parquet, all streamed.

Each returns the file's :class:`~moviegenre.data.rows.Layout` (read from its first line or
header) and an iterator of :class:`~moviegenre.data.rows.Row` records.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from typing import IO

from moviegenre.checks import word_count
from moviegenre.data.rows import (
    CSV_FIELD_LIMIT,
    MISSING,
    Layout,
    Lines,
    Row,
    describe_columns,
    failure,
    kind_of,
    make_row,
    resolve_columns,
    undecodable,
)
from moviegenre.errors import DataError

# ' ::: ' with any run of spaces around it; a trailing ':::' ends the line with an empty field.
IMDB_SEP = re.compile(r"\s+:::(?:\s+|$)")
_IMDB_LAYOUTS = {4: "ID ::: TITLE ::: GENRE ::: DESCRIPTION", 3: "ID ::: TITLE ::: DESCRIPTION"}


# -- IMDb ':::' text -------------------------------------------------------------------------


def imdb_rows(
    lines: Lines, name: str, label_sep: str | None = None
) -> tuple[Layout, Iterator[Row]]:
    """IMDb text: the first line fixes 4 fields (labelled) or 3; the description keeps the rest."""
    first = next((s for s in lines if s.strip()), None)
    if first is None:
        raise DataError(f"{name}: file is empty")
    first_line = lines.number
    parts = IMDB_SEP.split(first.rstrip("\r\n"))
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
        fields = IMDB_SEP.split(text.rstrip("\r\n"), maxsplit=n_fields - 1)
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


# -- CSV -------------------------------------------------------------------------------------


def csv_rows(
    lines: Lines,
    name: str,
    *,
    delimiter: str = ",",
    label_sep: str | None = None,
    **wanted: str | None,
) -> tuple[Layout, Iterator[Row]]:
    """Read the header now, then stream records; ``line`` is the physical line, header = 1."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    try:
        for record in reader:
            if any(field.strip() for field in record):
                header = [field.strip() for field in record]
                break
    except csv.Error as exc:
        raise DataError(f"{name}, line {reader.line_num}: malformed CSV header ({exc})") from None
    if header is None:
        raise DataError(f"{name}: file is empty")
    cols = resolve_columns(header, name, **wanted)
    index = {c: header.index(c) for c in cols if c is not None}

    def records() -> Iterator[Row]:
        end = reader.line_num
        while True:
            start = end + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                lines.take_bad()
                end = reader.line_num
                yield failure(start, f"{name}, line {start}: malformed CSV ({exc})")
                continue
            end = reader.line_num
            bad = lines.take_bad()
            if not any(field.strip() for field in record):
                continue
            if bad:
                yield failure(start, undecodable(name, bad[0]))
            elif len(record) != len(header):
                yield failure(
                    start,
                    f"{name}, line {start}: wrong number of fields: expected {len(header)} "
                    f"({', '.join(header)}), found {len(record)}",
                )
            else:
                yield make_row(
                    f"{name}, line {start}",
                    start,
                    id_=record[index[cols.id]] if cols.id else None,
                    title=record[index[cols.title]] if cols.title else None,
                    text=record[index[cols.text]],
                    label=record[index[cols.label]] if cols.label else None,
                    labelled=cols.label is not None,
                    text_col=cols.text,
                    label_col=cols.label or "",
                    label_sep=label_sep,
                )

    return Layout(
        cols.label is not None, describe_columns(header, cols), cols.id is not None
    ), records()


# -- JSONL -----------------------------------------------------------------------------------


def _parse_object(text: str, where: str) -> tuple[dict | None, str | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{where}: invalid JSON ({exc.msg} at column {exc.colno}); expected JSON Lines"
    except RecursionError:
        return None, f"{where}: JSON nested too deeply to read"
    except ValueError:  # int() refuses numbers over sys.get_int_max_str_digits() digits
        return None, f"{where}: a JSON number too long to read; write long ids as strings"
    if not isinstance(obj, dict):
        return None, f"{where}: expected a JSON object, found {kind_of(obj)}"
    return obj, None


def jsonl_rows(
    lines: Lines, name: str, *, label_sep: str | None = None, **wanted: str | None
) -> tuple[Layout, Iterator[Row]]:
    """JSON Lines: the first object must parse and names the columns; blank lines are skipped."""
    first = next((s for s in lines if s.strip()), None)
    if first is None:
        raise DataError(f"{name}: file is empty")
    first_line = lines.number
    obj, error = _parse_object(first, f"{name}, line {first_line}")
    if error:
        raise DataError(error)
    cols = resolve_columns(list(obj), name, **wanted)

    def row(o: dict, line: int) -> Row:
        return make_row(
            f"{name}, line {line}",
            line,
            id_=o.get(cols.id) if cols.id else None,
            title=o.get(cols.title) if cols.title else None,
            text=o.get(cols.text, MISSING),
            label=o.get(cols.label, MISSING) if cols.label else None,
            labelled=cols.label is not None,
            text_col=cols.text,
            label_col=cols.label or "",
            label_sep=label_sep,
        )

    def records() -> Iterator[Row]:
        yield row(obj, first_line)
        for text in lines:
            if not text.strip():
                continue
            line = lines.number
            if lines.take_bad():
                yield failure(line, undecodable(name, line))
                continue
            o, err = _parse_object(text, f"{name}, line {line}")
            yield failure(line, err) if err else row(o, line)

    return Layout(
        cols.label is not None, describe_columns(list(obj), cols), cols.id is not None
    ), records()


# -- Parquet ---------------------------------------------------------------------------------


def parquet_rows(
    stream: IO[bytes],
    name: str,
    *,
    batch_rows: int,
    label_sep: str | None = None,
    **wanted: str | None,
) -> tuple[Layout, Iterator[Row]]:
    """Parquet, read batch by batch; ``line`` is the 1-based data row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    failures = (pa.ArrowException, OSError, ValueError, EOFError)
    try:
        pf = pq.ParquetFile(stream)
        columns = list(pf.schema_arrow.names)
    except failures as exc:
        raise DataError(f"{name}: unreadable Parquet file ({exc})") from None
    cols = resolve_columns(columns, name, **wanted)
    needed = list(dict.fromkeys(c for c in cols if c is not None))

    def records() -> Iterator[Row]:
        number = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=needed):
                data = {c: batch.column(c).to_pylist() for c in needed}
                for i in range(batch.num_rows):
                    number += 1
                    yield make_row(
                        f"{name}, row {number}",
                        number,
                        id_=data[cols.id][i] if cols.id else None,
                        title=data[cols.title][i] if cols.title else None,
                        text=data[cols.text][i],
                        label=data[cols.label][i] if cols.label else None,
                        labelled=cols.label is not None,
                        text_col=cols.text,
                        label_col=cols.label or "",
                        label_sep=label_sep,
                    )
        except failures as exc:
            raise DataError(f"{name}, row {number + 1}: unreadable Parquet data ({exc})") from None

    return Layout(
        cols.label is not None, describe_columns(columns, cols), cols.id is not None
    ), records()
