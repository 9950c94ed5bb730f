"""Tests for moviegenre.data.dataset: genre sets, their counts, and the checks a model needs."""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_GENRES

from moviegenre.data import load_dataset
from moviegenre.data.dataset import Dataset, from_records
from moviegenre.errors import ConfigError, DataError
from moviegenre.genres import GENRES

TEXT = "A quiet clerk discovers a hidden talent for painting and slowly rebuilds a broken life."


def quiet_load(path: Path, **kwargs) -> Dataset:
    """Load and fail the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_dataset(path, **kwargs)


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_genre_counts_cardinality_and_cooccurrence_match_an_independent_count(
    tiny_multilabel_csv,
):
    with tiny_multilabel_csv.open(encoding="utf-8") as fh:
        cells = [row["genre"] for row in csv.DictReader(fh)]
    sets = [[g.strip().lower() for g in cell.split(",")] for cell in cells]
    ds = quiet_load(tiny_multilabel_csv)
    assert ds.genre_counts() == dict(Counter(g for s in sets for g in s))
    assert ds.genres_per_row() == dict(Counter(len(s) for s in sets))
    names, matrix = ds.cooccurrence()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert matrix[i, j] == sum(a in s and b in s for s in sets)
    assert ds.quality()["genres"] == len(TINY_GENRES)
    assert ds.quality()["multi_genre_rows"] == sum(len(s) > 1 for s in sets)


def test_single_label_statistics_are_sets_of_one(tiny_imdb_train):
    ds = quiet_load(tiny_imdb_train)
    assert ds.genres_per_row() == {1: 60}
    names, matrix = ds.cooccurrence()
    assert (matrix == np.diag([12] * 5)).all() and sorted(names) == sorted(TINY_GENRES)


@pytest.mark.parametrize(
    ("classes", "words"),
    [
        (
            ["crime"],
            "g.csv has genres the model does not know: drama; the model's genres are: crime "
            "(use data with those genres, or retrain)",
        ),
        (["crime", "drama"], None),
    ],
)
def test_check_genres_names_unknown_genres(tmp_path, classes, words):
    ds = quiet_load(write(tmp_path / "g.csv", f"text,genre\n{TEXT},Crime|Drama\n"))
    if words is None:
        ds.check_genres(classes)
    else:
        with pytest.raises(ConfigError, match=re.escape(words)):
            ds.check_genres(classes)


def test_check_genres_points_at_a_wrong_separator(tmp_path):
    path = write(tmp_path / "g.csv", f'text,genre\n{TEXT},"Crime|Drama"\n')
    ds = quiet_load(path, label_sep=";")
    with pytest.raises(ConfigError, match="split on another one .pass label_sep") as info:
        ds.check_genres(GENRES, "linear")
    assert "linear does not know: crime|drama;" in str(info.value)
    assert "linear's genres are: action, adult" in str(info.value)


def test_require_single_label(tiny_multilabel_csv, tiny_csv):
    quiet_load(tiny_csv).require_single_label("audit")
    with pytest.raises(DataError, match="several genres per row.*; audit needs one genre per row"):
        quiet_load(tiny_multilabel_csv).require_single_label("audit")


def test_from_records_takes_genre_sets():
    ds = from_records([TEXT, TEXT + "!"], [["Crime", "Drama", "crime"], "Comedy"])
    assert ds.labels == [("crime", "drama"), ("comedy",)] and ds.multi_label
    with pytest.raises(DataError, match="item 1: empty genre list"):
        from_records([TEXT, TEXT], ["drama", []])
    with pytest.raises(DataError, match="item 0: label is"):
        from_records([TEXT], [["drama", 3]])
