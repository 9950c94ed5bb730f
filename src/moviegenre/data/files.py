"""Opening data files (also through ``.gz`` and single-file ``.zip``) and guessing their format
from the name and the first line; every failure is a DataError naming the file."""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from moviegenre.data.readers import IMDB_SEP
from moviegenre.data.rows import Lines
from moviegenre.errors import DataError

FORMATS = ("imdb", "kaggle", "csv", "jsonl", "parquet")
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
def open_binary(path: str | Path) -> Iterator[tuple[IO[bytes], str, str]]:
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


READ_FAILURES = (OSError, EOFError, zlib.error, zipfile.BadZipFile)


def detect_format(path: str | Path) -> str:
    """Guess "imdb", "kaggle", "csv", "jsonl" or "parquet" from the name and the first line."""
    with open_binary(path) as (stream, name, inner):
        suffix = Path(inner).suffix.lower()
        try:
            if suffix in _PARQUET_SUFFIXES or stream.read(4) == b"PAR1":
                return "parquet"
        except READ_FAILURES as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from None
    with open_binary(path) as (stream, name, inner):
        try:
            first = next((s for s in Lines(stream, name) if s.strip()), None)
        except READ_FAILURES as exc:
            raise DataError(f"{name}: cannot read the file ({exc})") from None
    if first is None:
        raise DataError(f"{name}: file is empty")
    if IMDB_SEP.search(first.rstrip("\r\n")):
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
