"""Tests for moviegenre.data (and the readers behind it): formats, errors, warnings, streaming."""

from __future__ import annotations

import gzip
import json
import re
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TINY_GENRE_WORDS, TINY_GENRES

from moviegenre.data import (
    DataQualityWarning,
    Dataset,
    dataset_fingerprint,
    detect_format,
    from_records,
    iter_chunks,
    load_dataset,
    parse_year,
)
from moviegenre.errors import ConfigError, DataError
from moviegenre.genres import GENRES

TEXT = "A quiet clerk discovers a hidden talent for painting and slowly rebuilds a broken life."
IMDB = f"1 ::: First (2001) ::: drama ::: {TEXT}\n2 ::: Second (1999) ::: comedy ::: Funny {TEXT}\n"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def write_parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def gzipped(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes()))
    return target


def zipped(path: Path, *extra: str) -> Path:
    target = path.with_name(path.name + ".zip")
    with zipfile.ZipFile(target, "w") as zf:
        zf.write(path, path.name)
        for name in extra:
            zf.writestr(name, "junk")
    return target


def quiet_load(path: Path, **kwargs) -> Dataset:
    """Load and fail the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_dataset(path, **kwargs)


def load_warned(path: Path, **kwargs) -> tuple[Dataset, str]:
    """Load, expecting a DataQualityWarning; return the dataset and the first message."""
    with pytest.warns(DataQualityWarning) as record:
        ds = load_dataset(path, **kwargs)
    return ds, str(record[0].message)


# -- formats ---------------------------------------------------------------------------------


def test_tiny_imdb_train_loads(tiny_imdb_train):
    ds = quiet_load(tiny_imdb_train)
    assert len(ds) == 60 and ds.has_labels
    assert Counter(ds.labels) == {genre: 12 for genre in TINY_GENRES}
    assert ds.ids[:3] == ["1", "2", "3"] and ds.source == str(tiny_imdb_train)
    assert all(t.endswith(")") for t in ds.titles)
    assert all(1950 <= y < 2020 for y in ds.years)
    assert all(len(t.split()) >= 25 for t in ds.texts)


def test_tiny_fixture_genres_have_disjoint_vocabulary():
    words = [set(w) for w in TINY_GENRE_WORDS.values()]
    assert sum(len(w) for w in words) == len(set().union(*words))


def test_unlabelled_imdb_and_its_solution(tiny_imdb_test, tiny_imdb_solution):
    test = quiet_load(tiny_imdb_test)
    solution = quiet_load(tiny_imdb_solution, require_labels=True)
    assert len(test) == 12 and test.labels is None and not test.has_labels
    assert test.ids == solution.ids and test.texts == solution.texts
    assert set(solution.labels) <= set(TINY_GENRES)


def test_imdb_description_keeps_colons_and_separators(tmp_path):
    line = "7 ::: Odd: A Film (2003) ::: Sci-Fi ::: Part one: the start ::: and more ::: end.\n"
    ds = quiet_load(write(tmp_path / "odd.txt", line))
    assert ds.texts == ["Part one: the start ::: and more ::: end."]
    assert ds.labels == ["sci-fi"] and ds.ids == ["7"] and ds.titles == ["Odd: A Film (2003)"]


@pytest.mark.parametrize("name", ["bom_crlf.txt", "bom_crlf.csv", "bom_crlf.jsonl"])
def test_bom_and_crlf_load(tmp_path, name):
    content = {
        ".txt": IMDB,
        ".csv": f"id,title,genre,text\n1,First (2001),drama,{TEXT}\n2,Second,comedy,Funny {TEXT}\n",
        ".jsonl": "".join(
            json.dumps({"id": i, "text": t, "genre": g}) + "\n"
            for i, g, t in [(1, "drama", TEXT), (2, "comedy", f"Funny {TEXT}")]
        ),
    }[Path(name).suffix]
    path = write(tmp_path / name, b"\xef\xbb\xbf" + content.replace("\n", "\r\n").encode())
    ds = quiet_load(path)
    assert ds.ids == ["1", "2"] and ds.labels == ["drama", "comedy"]
    assert ds.texts == [TEXT, f"Funny {TEXT}"]


def test_kaggle_csv_with_commas_and_quotes(tiny_csv):
    assert detect_format(tiny_csv) == "kaggle"
    ds = quiet_load(tiny_csv)
    assert len(ds) == 20 and ds.ids == [str(i) for i in range(1, 21)]
    assert ds.texts[0].endswith('He said, "again, and again."')
    assert all(t and t.endswith(")") for t in ds.titles) and None not in ds.years


def test_kaggle_test_csv_without_genre(tmp_path):
    ds = quiet_load(write(tmp_path / "test.csv", f"name,text\nA (2000),{TEXT}\nB,Two {TEXT}\n"))
    assert ds.labels is None and ds.ids == ["1", "2"] and ds.years == [2000, None]


def test_csv_line_numbers_count_physical_lines(tmp_path):
    content = f'name,genre,text\nA,drama,"{TEXT}\nsecond line"\nB,drama,\n'
    with pytest.raises(DataError) as info:
        load_dataset(write(tmp_path / "multi.csv", content), strict=True)
    assert "multi.csv, line 4: empty description" in str(info.value)


@pytest.mark.parametrize(
    ("content", "kwargs", "label", "first_id"),
    [
        # "category" is no known label column name, so without label_col the file is unlabelled
        (f"plot,category,movie_id\n{TEXT},Drama,m1\n", {}, None, "1"),
        (
            f"plot,category,movie_id\n{TEXT},Drama,m1\n",
            {"text_col": "plot", "label_col": "category", "id_col": "movie_id"},
            "drama",
            "m1",
        ),
        (f"id,description,label\n9,{TEXT},western\n", {}, "western", "9"),
        (f"Overview\t Genre\n{TEXT}\tHorror\n", {}, "horror", "1"),
    ],
)
def test_generic_csv_columns(tmp_path, content, kwargs, label, first_id):
    path = write(tmp_path / ("data.tsv" if "\t" in content else "data.csv"), content)
    ds = quiet_load(path, **kwargs)
    assert ds.texts == [TEXT] and ds.ids == [first_id]
    assert ds.labels == (None if label is None else [label])


def test_jsonl_and_parquet_load(tmp_path):
    records = [{"id": 10 + i, "overview": f"{TEXT} {i}", "genre": " Drama "} for i in range(3)]
    jsonl = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
    parquet = write_parquet(
        tmp_path / "d.parquet", {k: [r[k] for r in records] for k in ("id", "overview", "genre")}
    )
    for path, fmt in ((jsonl, "jsonl"), (parquet, "parquet")):
        assert detect_format(path) == fmt
        ds = quiet_load(path)
        assert ds.ids == ["10", "11", "12"] and ds.labels == ["drama"] * 3
        assert ds.texts[2] == f"{TEXT} 2" and ds.titles == [None] * 3


@pytest.mark.parametrize(
    "wrap", [gzipped, zipped, lambda p: zipped(p, "__MACOSX/._x", ".DS_Store")]
)
@pytest.mark.parametrize("fixture", ["tiny_imdb_train", "tiny_csv"])
def test_gz_and_zip_are_read_through(request, wrap, fixture):
    plain = request.getfixturevalue(fixture)
    packed = wrap(plain)
    assert detect_format(packed) == detect_format(plain)
    a, b = quiet_load(plain), quiet_load(packed)
    assert (a.texts, a.labels, a.ids) == (b.texts, b.labels, b.ids)


@pytest.mark.parametrize("wrap", [gzipped, zipped])
def test_compressed_parquet_and_jsonl(tmp_path, wrap):
    path = write_parquet(tmp_path / "p.parquet", {"text": [TEXT, f"B {TEXT}"], "label": ["a", "b"]})
    assert quiet_load(wrap(path)).labels == ["a", "b"]
    jsonl = write(tmp_path / "j.jsonl", json.dumps({"text": TEXT}) + "\n")
    assert quiet_load(wrap(jsonl)).texts == [TEXT]


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("a.txt", IMDB, "imdb"),
        ("a.data", IMDB, "imdb"),
        ("a.csv", "name,genre,text\n", "kaggle"),
        ("a.csv", "Name, Text\n", "kaggle"),
        ("a.csv", "id,text,label\n", "csv"),
        ("a", "id,plot\n", "csv"),
        ("a.tsv", "text\n", "csv"),
        ("a.jsonl", '{"text": "x"}\n', "jsonl"),
        ("a.txt", '\n{"text": "x"}\n', "jsonl"),
        ("a.bin", b"PAR1" + b"\0" * 8, "parquet"),
    ],
)
def test_detect_format(tmp_path, name, content, fmt):
    assert detect_format(write(tmp_path / name, content)) == fmt


# -- errors: every message names the file, the line and the problem -------------------------

BAD_FILES = [
    (
        "fields.txt",
        IMDB + "3 ::: Third ::: only a description\n",
        {},
        ["line 3", "wrong number of fields", "expected 4", "found 3"],
    ),
    (
        "fields3.txt",
        f"1 ::: T ::: {TEXT}\n2 ::: {TEXT}\n",
        {},
        ["line 2", "wrong number of fields", "expected 3"],
    ),
    ("first.txt", f"1 ::: {TEXT}\n", {}, ["line 1", "wrong number of fields"]),
    (
        "empty_desc.txt",
        IMDB + "3 ::: T (2000) ::: drama ::: \n",
        {},
        ["line 3", "empty description"],
    ),
    (
        "empty_desc2.txt",
        IMDB + "3 ::: T (2000) ::: drama :::\n",
        {},
        ["line 3", "empty description"],
    ),
    ("no_id.txt", IMDB + f" ::: T ::: drama ::: {TEXT}\n", {}, ["line 3", "empty ID"]),
    (
        "empty_label.csv",
        f"name,genre,text\nA,drama,{TEXT}\nB,,{TEXT}\n",
        {},
        ["line 3", "empty label"],
    ),
    (
        "fields.csv",
        f"name,genre,text\nA,drama,{TEXT}\nB,drama,x,extra\n",
        {},
        ["line 3", "wrong number of fields", "expected 3", "found 4"],
    ),
    (
        "empty_desc.csv",
        f"name,genre,text\nA,drama,{TEXT}\nB,drama,  \n",
        {},
        ["line 3", "empty description", "'text'"],
    ),
    (
        "missing.csv",
        f"name,genre,text\nA,drama,{TEXT}\n",
        {"text_col": "plot"},
        ["missing column 'plot'", "'name', 'genre', 'text'"],
    ),
    (
        "missing_label.csv",
        f"name,text\nA,{TEXT}\n",
        {"label_col": "genre"},
        ["missing column 'genre'", "'name', 'text'"],
    ),
    ("notext.csv", "a,b\n1,2\n", {}, ["missing column", "no text column", "'a', 'b'", "text_col="]),
    ("header.csv", "name,genre,text\n", {}, ["no data rows"]),
    (
        "num.jsonl",
        f'{{"text": "{TEXT}", "genre": "drama"}}\n{{"text": "{TEXT}", "genre": 3}}\n',
        {},
        ["line 2", "label is the number 3, not a string"],
    ),
    (
        "null.jsonl",
        f'{{"text": "{TEXT}", "genre": "drama"}}\n\n{{"text": "{TEXT}", "genre": null}}\n',
        {},
        ["line 3", "label is null, not a string"],
    ),
    (
        "nolabel.jsonl",
        f'{{"text": "{TEXT}", "genre": "drama"}}\n{{"text": "{TEXT}"}}\n',
        {},
        ["line 2", "label is missing"],
    ),
    (
        "notext.jsonl",
        f'{{"text": "{TEXT}"}}\n{{"plot": "{TEXT}"}}\n',
        {},
        ["line 2", "missing field 'text'"],
    ),
    (
        "numtext.jsonl",
        f'{{"text": "{TEXT}"}}\n{{"text": 5}}\n',
        {},
        ["line 2", "description is the number 5, not a string"],
    ),
    ("bad.jsonl", f'{{"text": "{TEXT}"}}\n{{"text": \n', {}, ["line 2", "invalid JSON"]),
    ("list.jsonl", f'{{"text": "{TEXT}"}}\n[1, 2]\n', {}, ["line 2", "expected a JSON object"]),
    ("first.jsonl", '{"text": oops}\n', {}, ["line 1", "invalid JSON"]),
    (
        "cols.jsonl",
        f'{{"text": "{TEXT}"}}\n',
        {"id_col": "key"},
        ["missing column 'key'", "'text'"],
    ),
    (
        "bytes.txt",
        IMDB.encode() + b"3 ::: T ::: drama ::: caf\xe9 au lait\n",
        {},
        ["line 3", "undecodable bytes", "not UTF-8"],
    ),
    (
        "bytes.csv",
        f"text\n{TEXT}\ncaf".encode() + b"\xe9\n",
        {},
        ["line 3", "undecodable bytes", "not UTF-8"],
    ),
    (
        "latin1.txt",
        "1 ::: Caf\xe9 ::: drama ::: text\n".encode("latin-1"),
        {},
        ["line 1", "undecodable bytes", "not UTF-8"],
    ),
    ("utf16.csv", "text\nhello\n".encode("utf-16"), {}, ["line 1", "not UTF-8"]),
    ("empty.txt", b"", {}, ["file is empty"]),
    ("blank.csv", "\n\r\n  \n", {}, ["file is empty"]),
    (
        "notes.txt",
        "just a few words here\n",
        {},
        ["unknown format", "imdb, kaggle, csv, jsonl, parquet"],
    ),
    ("junk.parquet", b"this is not parquet at all", {}, ["unreadable Parquet"]),
    ("junk.zip", b"this is not a zip", {}, ["not a readable zip archive"]),
    ("junk.txt.gz", b"this is not gzip", {}, ["cannot read the file"]),
    (
        "unlabelled.txt",
        f"1 ::: T ::: {TEXT}\n",
        {"require_labels": True},
        ["has no labels", "ID ::: TITLE ::: DESCRIPTION"],
    ),
    (
        "unlabelled.csv",
        f"name,text\nA,{TEXT}\n",
        {"require_labels": True},
        ["has no labels", "looked for genre, label"],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_raise_data_error_naming_file_line_and_problem(
    tmp_path, name, content, kwargs, words
):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        load_dataset(path, strict=True, **kwargs)
    message = str(info.value)
    assert path.name in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ([1, 2], "row 1: label is the number 1, not a string"),
        (["drama", None], "row 2: label is null"),
    ],
)
def test_parquet_label_not_a_string(tmp_path, label, words):
    path = write_parquet(tmp_path / "bad.parquet", {"text": [TEXT, TEXT + "!"], "genre": label})
    with pytest.raises(DataError, match="bad.parquet") as info:
        load_dataset(path, strict=True)
    assert words in str(info.value)


def test_parquet_missing_column_lists_columns(tmp_path):
    path = write_parquet(tmp_path / "cols.parquet", {"plot": [TEXT], "kind": ["x"]})
    with pytest.raises(DataError) as info:
        load_dataset(path, label_col="genre")
    assert "cols.parquet" in str(info.value) and "'plot', 'kind'" in str(info.value)


def test_file_not_found_and_directory(tmp_path):
    with pytest.raises(DataError, match=r"file not found: .*nope\.txt"):
        load_dataset(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(("extra", "count"), [(("b.txt",), 2), ((), 0)])
def test_zip_needs_exactly_one_data_file(tmp_path, extra, count):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in (("a.txt",) if count else ()) + extra:
            zf.writestr(name, IMDB)
        zf.writestr("folder/", "")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert "many.zip" in str(info.value)
    assert f"exactly one data file, found {count}" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_rows": 0}, {"chunk_rows": 2.5}, {"errors": "ignore"}, {"fmt": "xlsx"}],
)
def test_iter_chunks_checks_arguments_at_call_time(tiny_imdb_train, kwargs):
    with pytest.raises(ConfigError):
        iter_chunks(tiny_imdb_train, **kwargs)  # no next(): raised before any reading


# -- quality warnings ------------------------------------------------------------------------


def test_duplicates_and_conflicts_warn_with_counts_and_keep_rows(tmp_path):
    rows = [
        ("drama", TEXT),
        ("drama", TEXT),
        ("comedy", "Other " + TEXT),
        ("drama", "other " + TEXT),
    ]
    content = "".join(f"{i} ::: T{i} ::: {g} ::: {t}\n" for i, (g, t) in enumerate(rows, 1))
    ds, message = load_warned(write(tmp_path / "dups.txt", content))
    assert "dups.txt" in message
    assert "2 duplicate description(s) (first pair: ids 1 and 2)" in message
    assert "1 description(s) with conflicting labels" in message
    assert len(ds) == 4
    assert ds.quality() == {
        "rows": 4, "genres": 2, "duplicate_texts": 2, "conflicting_labels": 1, "short_texts": 4,
        "multi_genre_rows": 0, "skipped_no_description": 0, "skipped_no_genres": 0,
    }  # fmt: skip


def test_quality_counts_short_texts_and_unlabelled(tiny_imdb_test):
    quality = quiet_load(tiny_imdb_test).quality()
    assert quality == {
        "rows": 12, "genres": 0, "duplicate_texts": 0, "conflicting_labels": 0, "short_texts": 0,
        "multi_genre_rows": 0, "skipped_no_description": 0, "skipped_no_genres": 0,
    }  # fmt: skip
    short = from_records(["one two three", " ".join(["w"] * 20)])
    assert short.quality()["short_texts"] == 1


# -- streaming -------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_imdb_train", "tiny_csv"])
def test_iter_chunks_ids_run_across_chunk_boundaries(request, fixture):
    path = request.getfixturevalue(fixture)
    chunks = list(iter_chunks(path, chunk_rows=7))
    whole = quiet_load(path)
    assert [len(c) for c in chunks][:-1] == [7] * (len(chunks) - 1) and len(chunks[-1]) <= 7
    assert (
        [i for c in chunks for i in c.ids]
        == whole.ids
        == [str(i) for i in range(1, len(whole) + 1)]
    )
    assert [t for c in chunks for t in c.texts] == whole.texts
    assert all(c.row_errors is None for c in chunks)


def test_iter_chunks_parquet_and_jsonl_row_numbers(tmp_path):
    texts = [f"{TEXT} {i}" for i in range(25)]
    parquet = write_parquet(tmp_path / "p.parquet", {"text": texts})
    jsonl = write(tmp_path / "j.jsonl", "".join(json.dumps({"text": t}) + "\n" for t in texts))
    for path in (parquet, jsonl):
        chunks = list(iter_chunks(path, chunk_rows=10))
        assert [len(c) for c in chunks] == [10, 10, 5]
        assert chunks[2].ids == [str(i) for i in range(21, 26)] and chunks[2].texts == texts[20:]


def test_iter_chunks_streams_before_a_late_error(tmp_path):
    good = "".join(f"{i} ::: T ::: drama ::: {TEXT}\n" for i in range(1, 51))
    path = write(tmp_path / "late.txt", good + "51 ::: broken line\n")
    chunks = iter_chunks(path, chunk_rows=10)
    assert len(next(chunks)) == 10  # rows arrive before the bad line at the end is read
    with pytest.raises(DataError, match="late.txt, line 51: wrong number of fields"):
        list(chunks)


@pytest.mark.parametrize(
    ("name", "content", "bad_rows", "words"),
    [
        ("c.txt", IMDB + "x ::: y\n" + IMDB.replace("1 :::", "4 :::"), [2], "line 3: wrong number"),
        ("c.csv", f"text,genre\n{TEXT},a\n,b\n{TEXT},c\nx,y,z\n", [1, 3], "line 3: empty descr"),
        (
            "c.jsonl",
            f'{{"text": "{TEXT}", "genre": "a"}}\n{{"text": 1, "genre": "b"}}\n',
            [1],
            "line 2",
        ),
        (
            "deep.jsonl",
            f'{{"text": "{TEXT}", "genre": "a"}}\n' + "[" * 100_000 + "]" * 100_000 + "\n",
            [1],
            "line 2: JSON nested too deeply",
        ),
        (
            "digits.jsonl",
            f'{{"text": "{TEXT}", "genre": "a"}}\n{{"id": {"9" * 5_001}, "text": "x"}}\n',
            [1],
            "line 2: a JSON number too long to read; write long ids as strings",
        ),
    ],
)
def test_collect_mode_yields_bad_rows_with_messages(tmp_path, name, content, bad_rows, words):
    path = write(tmp_path / name, content)
    chunks = list(iter_chunks(path, chunk_rows=2, errors="collect"))
    errors = [e for c in chunks for e in c.row_errors]
    texts = [t for c in chunks for t in c.texts]
    assert [i for i, e in enumerate(errors) if e] == bad_rows
    assert all(texts[i] == "" and name in errors[i] for i in bad_rows)
    assert words in errors[bad_rows[0]]
    assert all(t for i, t in enumerate(texts) if i not in bad_rows)
    assert all(c.labels is not None and len(c.labels) == len(c) for c in chunks)


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "words"),
    [
        ("missing.csv", f"name,text\nA,{TEXT}\n", {"text_col": "plot"}, "missing column 'plot'"),
        ("start.txt", "1 ::: Caf\xe9 ::: d ::: t\n".encode("latin-1"), {}, "not UTF-8"),
        ("junk.parquet", b"nope", {}, "unreadable Parquet"),
        ("gone.txt", None, {}, "file not found"),
        (
            "utf16-no-bom.csv",
            f"id,text\n1,{TEXT}\n".encode("utf-16-le"),
            {},
            "line 1: NUL bytes, the file is not UTF-8 \\(it looks like UTF-16\\)",
        ),
        (
            "cr-only.csv",
            f"id,text\r1,{TEXT}\r2,{TEXT}\r",
            {},
            "lines end with a carriage return only .* re-save it with LF or CRLF",
        ),
    ],
)
def test_collect_mode_still_raises_file_level_problems(tmp_path, name, content, kwargs, words):
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(DataError, match=words):
        list(iter_chunks(path, errors="collect", **kwargs))


# -- small pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Oscar et la dame rose (2009)", 2009),
        ("Spirits (2014/I)", 2014),
        ("Paranoia (2012/III)", 2012),
        ("The Sandman (????/I)", None),
        ("Stealing Stradivarius (????)", None),
        ("Blade Runner 2049 (2017)", 2017),
        ('"Doctor Who" (2005) {Blink (#3.10)}', 2005),
        ("These Are the Corners of Our Eyes (#2)", None),
        ("Rice Cultivation in Bali (SRI)", None),
        ("Too Old (1066)", None),
        ("Far Future (2150)", None),
        ("No year", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_year(title, year):
    assert parse_year(title) == year


def test_fingerprint_is_order_and_label_sensitive():
    base = dataset_fingerprint(["a", "b"], ["x", "y"])
    assert base == dataset_fingerprint(["a", "b"], ["x", "y"]) and len(base) == 64
    variants = [
        dataset_fingerprint(["b", "a"], ["y", "x"]),
        dataset_fingerprint(["a", "b"], ["x", "x"]),
        dataset_fingerprint(["a", "b"]),
        dataset_fingerprint(["ab", ""], ["x", "y"]),
    ]
    assert len({base, *variants}) == 5
    with pytest.raises(ConfigError, match="2 texts but 1 labels"):
        dataset_fingerprint(["a", "b"], ["x"])


def test_from_records_and_subset():
    ds = from_records(
        [TEXT, "two", "three"], [" Drama", "comedy", "drama"], titles=["X (1990)", None, "Y"]
    )
    assert ds.source == "<memory>" and ds.ids == ["1", "2", "3"] and ds.years == [1990, None, None]
    assert ds.labels == ["drama", "comedy", "drama"]
    for indices in ([2, 0], np.array([2, 0]), iter([2, 0])):
        sub = ds.subset(indices)
        assert sub.texts == ["three", TEXT] and sub.ids == ["3", "1"] and sub.labels[1] == "drama"
    assert ds.subset(np.array([False, True, False])).texts == ["two"]
    assert len(from_records(["a"]).subset([])) == 0 and from_records(["a"]).labels is None


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"texts": ["a", "b"], "labels": ["x"]}, ConfigError, "2 texts but 1 labels"),
        ({"texts": ["a"], "ids": ["1", "2"]}, ConfigError, "1 texts but 2 ids"),
        ({"texts": ["a", 3]}, DataError, "item 1: text is int"),
        ({"texts": ["a"], "labels": [None]}, DataError, "item 0: label is None"),
    ],
)
def test_from_records_rejects_bad_input(kwargs, error, words):
    with pytest.raises(error, match=words):
        from_records(**kwargs)


def test_dataset_checks_column_lengths():
    with pytest.raises(ConfigError, match="2 texts but 1 ids"):
        Dataset(["a", "b"], None, ["1"], [None, None], [None, None], "<memory>")


# -- real data -------------------------------------------------------------------------------

TRAIN_COUNTS = {"drama": 522, "documentary": 492, "comedy": 284, "short": 193, "war": 4}


@pytest.mark.realdata
def test_real_train_file(shared_data_dir):
    ds = quiet_load(shared_data_dir / "train_data.txt", require_labels=True)
    counts = Counter(ds.labels)
    assert len(ds) == 2110 and set(counts) == set(GENRES) and len(counts) == 27
    assert {g: counts[g] for g in TRAIN_COUNTS} == TRAIN_COUNTS
    assert ds.ids == [str(i) for i in range(1, 2111)]
    assert ds.years[0] == 2009 and sum(y is not None for y in ds.years) > 2000
    assert ds.quality()["duplicate_texts"] == 0


@pytest.mark.realdata
def test_real_test_files_match(shared_data_dir):
    with pytest.warns(DataQualityWarning, match="3 duplicate description"):
        test = load_dataset(shared_data_dir / "test_data.txt")
    with pytest.warns(DataQualityWarning, match="1 description.s. with conflicting labels"):
        solution = load_dataset(shared_data_dir / "test_data_solution.txt")
    assert len(test) == len(solution) == 3670
    assert test.labels is None and set(solution.labels) == set(GENRES)
    assert test.ids == solution.ids and test.texts == solution.texts


@pytest.mark.realdata
def test_real_train_streams_in_chunks(shared_data_dir):
    chunks = list(iter_chunks(shared_data_dir / "train_data.txt", chunk_rows=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 110]
    assert chunks[2].ids[0] == "2001"


def test_several_files_load_as_one_with_file_prefixed_ids(tiny_imdb_train, tiny_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the two files share no description: no warning
        ds = load_dataset([tiny_imdb_train, tiny_csv], require_labels=True)
    assert len(ds) == 60 + 20 and ds.source == f"{tiny_imdb_train} + {tiny_csv}"
    assert ds.ids[0] == "train_data.txt:1" and ds.ids[60] == "train.csv:1"
    assert len(set(ds.ids)) == len(ds) and ds.labels[:2] == load_dataset(tiny_imdb_train).labels[:2]


def test_duplicates_across_files_are_reported(tiny_imdb_train, tmp_path):
    copy = tmp_path / "again" / "train_data.txt"
    copy.parent.mkdir()
    copy.write_bytes(tiny_imdb_train.read_bytes())
    with pytest.warns(DataQualityWarning, match="60 duplicate description") as record:
        ds = load_dataset([tiny_imdb_train, copy])
    assert str(copy) in ds.ids[60]  # same file name twice: the full paths tell them apart
    assert str(copy) in str(record[0].message)


def test_several_files_must_all_be_labelled_or_not(tiny_imdb_train, tiny_imdb_test):
    with pytest.raises(DataError, match="test_data.txt: no genre labels, unlike"):
        load_dataset([tiny_imdb_train, tiny_imdb_test])
    with pytest.raises(ConfigError, match="no data file given"):
        load_dataset([])


@pytest.mark.parametrize("how", ["fifo", "stdin"])
def test_a_pipe_as_input_is_refused_clearly(tmp_path, how):
    """A stream can be read only once, but a file is read several times: refuse, do not misread.

    Run in a subprocess with a time limit: reading a pipe that never ends must fail the test,
    not hang it.
    """
    import os
    import subprocess
    import sys

    path, data = "/dev/stdin", f"text\n{TEXT}\n"
    if how == "fifo":
        path = str(tmp_path / "in.csv")
        os.mkfifo(path)
        keep_open = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer, so opening never blocks
        os.write(keep_open, data.encode())
    code = (
        "import sys\nfrom moviegenre.data import load_dataset\n"
        "from moviegenre.errors import DataError\n"
        "try:\n    load_dataset(sys.argv[1])\n"
        "except DataError as exc:\n    print(exc)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, path],
            input=data,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if how == "fifo":
            os.close(keep_open)
    assert f"{path} is not a regular file" in done.stdout, done.stdout + done.stderr
    assert "save the stream to a file first" in done.stdout


# -- several genres per row (multi-label) ----------------------------------------------------


def test_tiny_multilabel_csv_loads_as_genre_sets(tiny_multilabel_csv):
    ds = quiet_load(tiny_multilabel_csv)
    assert ds.multi_label and len(ds) == 30
    assert all(isinstance(label, tuple) for label in ds.labels)
    assert ds.labels[:3] == [
        ("comedy",),
        ("horror", "western"),
        ("documentary", "western", "sci-fi"),
    ]
    assert ds.notes == [
        f"{tiny_multilabel_csv}: genres separated by ',' (detected; pass label_sep to force "
        "one): 20 of 30 rows hold several genres, 2.00 genres per row on average"
    ]


@pytest.mark.parametrize(
    ("name", "content", "labels"),
    [
        ("pipe.csv", f"text,genre\n{TEXT},Crime|Drama\nTwo {TEXT},Comedy\n", "|"),
        ("comma.tsv", f"text\tgenre\n{TEXT}\tCrime, Drama\nTwo {TEXT}\tComedy\n", ","),
        (
            "pipe.txt",
            f"1 ::: T ::: Crime|Drama ::: {TEXT}\n2 ::: U ::: comedy ::: Two {TEXT}\n",
            "|",
        ),
        (
            "lists.jsonl",
            f'{{"text": "{TEXT}", "genre": ["Crime", " drama", "crime"]}}\n'
            f'{{"text": "Two {TEXT}", "genre": "Comedy"}}\n',
            None,
        ),
        (
            "json_cell.csv",
            f'text,genre\n{TEXT},"[""Crime"", ""Drama""]"\nTwo {TEXT},Comedy\n',
            None,
        ),
    ],
)
def test_genre_lists_in_every_format(tmp_path, name, content, labels):
    ds = quiet_load(write(tmp_path / name, content))
    assert ds.multi_label
    assert ds.labels == [("crime", "drama"), ("comedy",)]
    how = f"genres separated by {labels!r} (detected" if labels else "genre lists (JSON lists)"
    assert ds.notes[0].startswith(f"{tmp_path / name}: {how}")


def test_parquet_list_column(tmp_path):
    path = write_parquet(
        tmp_path / "lists.parquet",
        {"text": [TEXT, "Two " + TEXT], "genre": [["Crime", "Drama"], ["Comedy"]]},
    )
    ds = quiet_load(path)
    assert ds.labels == [("crime", "drama"), ("comedy",)] and ds.multi_label


def test_parquet_null_and_empty_genre_lists_are_rows_without_a_genre(tmp_path):
    texts = [TEXT, "Two " + TEXT, "Three " + TEXT, None]
    path = write_parquet(
        tmp_path / "holes.parquet", {"text": texts, "genre": [["Crime"], None, [], ["Drama"]]}
    )
    with pytest.raises(DataError, match="holes.parquet, row 2: label is null"):
        load_dataset(path, strict=True)
    ds, message = load_warned(path)
    assert ds.labels == [("crime",)] and ds.skipped == {"no_genres": 2, "no_description": 1}
    assert "row 4: description is null" in message and "row 2: label is null" in message


def test_a_single_label_file_is_read_as_before(tiny_csv):
    ds = quiet_load(tiny_csv)
    assert not ds.multi_label and ds.notes == []
    assert all(isinstance(label, str) for label in ds.labels)


@pytest.mark.parametrize(
    ("cell", "label_sep", "expected"),
    [
        ("Crime, Drama|Thriller", None, ("crime, drama", "thriller")),  # '|' wins
        ("Crime, Drama|Thriller", ",", ("crime", "drama|thriller")),
        ("Crime;Drama", ";", ("crime", "drama")),
        ("Crime ;; Drama;", ";", ("crime", "drama")),
    ],
)
def test_label_sep_forces_the_separator(tmp_path, cell, label_sep, expected):
    path = write(tmp_path / "sep.csv", f'text,genre\n{TEXT},"{cell}"\n')
    assert quiet_load(path, label_sep=label_sep).labels == [expected]


@pytest.mark.parametrize("cell", ["[bold]x[/bold]", "[1]", "[ w ]"])
def test_brackets_without_a_quote_are_a_genre_name_not_a_list(tmp_path, cell):
    path = write(tmp_path / "b.csv", f"text,genre\n{TEXT},{cell}\n")
    assert quiet_load(path).labels == [cell]


def test_a_separator_nobody_detects_stays_one_genre(tmp_path):
    path = write(tmp_path / "semi.csv", f"text,genre\n{TEXT},Crime;Drama\n")
    ds = quiet_load(path)
    assert ds.labels == ["crime;drama"] and not ds.multi_label


@pytest.mark.parametrize("label_sep", ["", "a", " ", "-", 3, ", "])
def test_label_sep_must_be_a_separator(tmp_path, label_sep):
    path = write(tmp_path / "sep.csv", f"text,genre\n{TEXT},Crime\n")
    with pytest.raises(ConfigError, match="label_sep must be a separator such as"):
        load_dataset(path, label_sep=label_sep)
    with pytest.raises(ConfigError, match="label_sep must be a separator such as"):
        iter_chunks(path, label_sep=label_sep)


EMPTY_GENRES = [
    ("seps.csv", f'text,genre\n{TEXT},Drama\nTwo {TEXT}," , |"\n', {}, "line 3: empty genre list"),
    ("forced.csv", f"text,genre\n{TEXT},Drama\nTwo {TEXT},;;\n", {"label_sep": ";"},
     "line 3: empty genre list"),
    ("empty.jsonl", f'{{"text": "{TEXT}", "genre": "drama"}}\n{{"text": "Two {TEXT}", '
     '"genre": []}\n', {}, "line 2: empty genre list"),
    ("blank.jsonl", f'{{"text": "{TEXT}", "genre": "drama"}}\n{{"text": "Two {TEXT}", '
     '"genre": ["  "]}\n', {}, "line 2: empty genre list"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "kwargs", "words"), EMPTY_GENRES)
def test_an_empty_genre_list_stops_strict_loading_and_is_skipped_otherwise(
    tmp_path, name, content, kwargs, words
):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=words):
        load_dataset(path, strict=True, **kwargs)
    with pytest.warns(DataQualityWarning, match=r"skipped 1 row\(s\) without a genre \(first: "):
        ds = load_dataset(path, **kwargs)
    assert len(ds) == 1 and ds.skipped == {"no_genres": 1}
    assert ds.quality()["skipped_no_genres"] == 1


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("quotes.csv", f"text,genre\n{TEXT},\"['Crime', 'Drama']\"\n",
         "line 2: malformed JSON genre list in column 'genre'"),
        ("open.csv", f'text,genre\n{TEXT},"[""Crime"", ]"\n', "malformed JSON genre list"),
        ("number.jsonl", f'{{"text": "{TEXT}", "genre": ["crime", 3]}}\n',
         "line 1: genre list holds the number 3, not a string"),
        ("nested.jsonl", f'{{"text": "{TEXT}", "genre": [["crime"]]}}\n',
         "genre list holds a list, not a string"),
        ("number.csv", f'text,genre\n{TEXT},"[""crime"", 1]"\n', "genre list holds the number 1"),
    ],
)  # fmt: skip
def test_malformed_genre_lists_are_errors_even_when_not_strict(tmp_path, name, content, words):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=re.escape(words)) as info:
        load_dataset(path)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_rows_without_description_or_genre_are_skipped_and_counted(tmp_path):
    content = (
        f"text,genre\n{TEXT},Drama\n,Comedy\n  ,Drama\nTwo {TEXT},\nThree {TEXT},Comedy|Drama\n"
    )
    path = write(tmp_path / "holes.csv", content)
    ds, message = load_warned(path)
    assert "skipped 2 row(s) without a description (first: " in message
    assert "holes.csv, line 3: empty description" in message
    assert "1 row(s) without a genre (first: " in message and "pass strict=True" in message
    assert ds.texts == [TEXT, f"Three {TEXT}"] and ds.ids == ["1", "2"]
    assert ds.labels == [("drama",), ("comedy", "drama")]
    assert ds.skipped == {"no_description": 2, "no_genres": 1}
    with pytest.raises(DataError, match="holes.csv, line 3: empty description"):
        load_dataset(path, strict=True)


def test_a_file_with_no_row_left_is_refused(tmp_path):
    path = write(tmp_path / "none.csv", "text,genre\n,Drama\n  ,Comedy\n")
    no_rows = "none.csv: no rows left: every row lacks a description"
    with pytest.raises(DataError, match=no_rows), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        load_dataset(path)


def test_strict_must_be_a_bool(tiny_csv):
    with pytest.raises(ConfigError, match="strict must be True or False"):
        load_dataset(tiny_csv, strict="yes")


def test_mixing_single_and_multi_label_files_gives_sets_everywhere(tiny_csv, tiny_multilabel_csv):
    ds = quiet_load([tiny_csv, tiny_multilabel_csv])
    assert ds.multi_label and len(ds) == 50
    assert ds.labels[0] == (quiet_load(tiny_csv).labels[0],)
    assert ds.labels[20:22] == [("comedy",), ("horror", "western")]
    assert ds.notes[-1] == (
        "mixing one genre per row (train.csv) with genre lists: a single genre counts as a set "
        "of one"
    )


def test_several_multi_label_files_sum_their_skipped_rows(tmp_path):
    a = write(tmp_path / "a.csv", f"text,genre\n{TEXT},Crime|Drama\n,Drama\n")
    b = write(tmp_path / "b.csv", f"text,genre\nTwo {TEXT},Comedy|Drama\n,Drama\n")
    with pytest.warns(DataQualityWarning):
        ds = load_dataset([a, b])
    assert ds.skipped == {"no_description": 2} and len(ds.notes) == 2


def test_conflicting_genre_sets_ignore_order(tmp_path):
    content = f'text,genre\n{TEXT},"Crime, Drama"\n{TEXT},"Drama, Crime"\nTwo {TEXT},Crime\n'
    with pytest.warns(DataQualityWarning, match="0 description"):
        ds = load_dataset(write(tmp_path / "order.csv", content))
    assert ds.quality()["conflicting_labels"] == 0


def test_iter_chunks_splits_on_the_first_chunks_separator(tiny_multilabel_csv):
    chunks = list(iter_chunks(tiny_multilabel_csv, chunk_rows=7))
    assert [label for c in chunks for label in c.labels] == quiet_load(tiny_multilabel_csv).labels
    forced = next(iter_chunks(tiny_multilabel_csv, label_sep="|"))
    assert forced.labels[1] == ("horror, western",)


def test_real_multilabel_sample(shared_multilabel_csv):
    """The counts of ../shared/data/imdb-multilabel/README.md."""
    with pytest.warns(DataQualityWarning) as record:
        ds = load_dataset(shared_multilabel_csv, label_col="genre", text_col="description")
    assert len(ds) == 3_582 and ds.multi_label and ds.skipped == {"no_description": 48}
    assert ds.genres_per_row() == {1: 1_344, 2: 1_057, 3: 1_181}
    assert len(ds.genre_counts()) == 22 and set(ds.genre_counts()) <= set(GENRES)
    assert any("skipped 48 row(s) without a description" in str(w.message) for w in record)
    assert "line 33: empty description (column 'description')" in str(record[0].message)
    with pytest.raises(DataError, match="line 33: empty description"):
        load_dataset(shared_multilabel_csv, text_col="description", strict=True)
