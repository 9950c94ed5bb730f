"""Tests for moviegenre.data.split: a seeded stratified split that survives tiny classes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from moviegenre.data.split import strata, stratified_folds, stratified_split
from moviegenre.errors import ConfigError

LABELS = ["drama"] * 40 + ["comedy"] * 25 + ["war"] * 4 + ["news"] * 2 + ["musical"] * 1


def test_split_is_a_sorted_disjoint_cover_of_all_rows():
    train, val = stratified_split(LABELS, val_fraction=0.2, random_state=0)
    assert train.dtype.kind == "i" and val.dtype.kind == "i"
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(len(LABELS)))


def test_every_class_is_in_train():
    train, _ = stratified_split(LABELS, val_fraction=0.5, random_state=3)
    assert {LABELS[i] for i in train} == set(LABELS)


@pytest.mark.parametrize(
    ("n", "val_fraction", "expected_val"),
    [
        (1, 0.2, 0),  # a singleton goes wholly to train
        (1, 0.9, 0),
        (2, 0.2, 1),  # n >= 2 keeps one on each side
        (2, 0.9, 1),
        (3, 0.2, 1),  # round(0.6) = 1
        (4, 0.2, 1),
        (10, 0.2, 2),
        (10, 0.99, 9),  # never the whole class
        (40, 0.25, 10),
    ],
)
def test_val_count_per_class(n, val_fraction, expected_val):
    labels = ["x"] * n + ["other"] * 10
    train, val = stratified_split(labels, val_fraction=val_fraction, random_state=0)
    assert sum(labels[i] == "x" for i in val) == expected_val
    assert sum(labels[i] == "x" for i in train) == n - expected_val


def test_same_seed_same_split_and_other_seed_differs():
    a = stratified_split(LABELS, random_state=7)
    b = stratified_split(np.array(LABELS), random_state=7)
    c = stratified_split(LABELS, random_state=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_proportions_follow_classes():
    _, val = stratified_split(LABELS, val_fraction=0.2, random_state=1)
    assert Counter(LABELS[i] for i in val) == {"drama": 8, "comedy": 5, "war": 1, "news": 1}


def test_all_singletons_give_an_empty_validation_set():
    train, val = stratified_split(["a", "b", "c"], random_state=0)
    assert list(train) == [0, 1, 2] and len(val) == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"val_fraction": 0}, "val_fraction must be in (0, 1)"),
        ({"val_fraction": 1}, "val_fraction must be in (0, 1)"),
        ({"val_fraction": -0.1}, "val_fraction must be in (0, 1)"),
        ({"val_fraction": 1.5}, "val_fraction must be in (0, 1)"),
        ({"val_fraction": float("nan")}, "val_fraction must be in (0, 1)"),
        ({"val_fraction": "0.2"}, "val_fraction must be a number"),
        ({"val_fraction": True}, "val_fraction must be a number"),
        ({"random_state": -1}, "random_state must be a non-negative integer"),
        ({"random_state": 1.5}, "random_state must be a non-negative integer"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, words):
    with pytest.raises(ConfigError) as info:
        stratified_split(LABELS, **kwargs)
    assert words in str(info.value)


def test_empty_labels_raise_config_error():
    with pytest.raises(ConfigError, match="empty list of labels"):
        stratified_split([])


@pytest.mark.realdata
def test_real_train_split_keeps_every_genre_on_both_sides(shared_data_dir):
    from moviegenre.data import load_dataset

    labels = load_dataset(shared_data_dir / "train_data.txt").labels
    train, val = stratified_split(labels, val_fraction=0.2, random_state=0)
    assert len(train) + len(val) == 2110
    assert {labels[i] for i in train} == {labels[i] for i in val} == set(labels)


def test_folds_hold_every_row_out_once_and_repeat_with_the_random_state():
    folds = stratified_folds(LABELS, n_folds=3, random_state=4)
    held = np.concatenate([h for _, h in folds])
    assert len(folds) == 3 and sorted(held) == list(range(len(LABELS)))
    for train, held_out in folds:
        assert not set(train) & set(held_out) and len(train) + len(held_out) == len(LABELS)
        assert Counter(LABELS[i] for i in held_out)["drama"] in (13, 14)
    again = stratified_folds(np.array(LABELS), n_folds=3, random_state=4)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_folds": 1}, "number of folds must be an integer >= 2"),
        ({"n_folds": 2.5}, "number of folds must be an integer >= 2"),
        ({"random_state": -2}, "random_state must be a non-negative integer"),
    ],
)
def test_bad_fold_arguments_raise_config_error(kwargs, words):
    with pytest.raises(ConfigError) as info:
        stratified_folds(LABELS, **kwargs)
    assert words in str(info.value)


# -- genre sets (multi-label rows) -----------------------------------------------------------

SETS = [("drama", "war")] * 6 + [("drama", "comedy")] * 10 + [("comedy",)] * 8 + [("war",)] * 2


def test_strata_are_each_sets_rarest_genre():
    # rows: drama 16, comedy 18, war 8
    assert strata(SETS) == ["war"] * 6 + ["drama"] * 10 + ["comedy"] * 8 + ["war"] * 2
    assert strata(["drama", ("drama", "war")]) == ["drama", "war"]  # a string: a set of one
    assert strata(LABELS) == LABELS  # single labels unchanged
    assert strata([("b", "a")]) == ["a"]  # a tie goes to the first name


def test_genre_sets_split_keeps_every_genre_on_both_sides():
    train, val = stratified_split(SETS, val_fraction=0.25, random_state=0)
    assert sorted([*train, *val]) == list(range(len(SETS)))
    for side in (train, val):
        assert {g for i in side for g in SETS[i]} == {"drama", "comedy", "war"}
    assert len(val) == round(8 * 0.25) + round(10 * 0.25) + round(8 * 0.25)


def test_folds_of_equal_size_genre_sets():
    """Sets of one size would make a 2-D array that StratifiedKFold reads as multi-output."""
    sets = [("drama", "war"), ("comedy", "drama")] * 6
    folds = stratified_folds(sets, n_folds=3, random_state=0)
    held = sorted(i for _, h in folds for i in h)
    assert held == list(range(12))
    assert all(Counter(strata(sets)[i] for i in h) == {"war": 2, "comedy": 2} for _, h in folds)


def test_real_multilabel_split_keeps_every_genre_of_2_rows_in_validation(shared_multilabel_csv):
    import warnings

    from moviegenre.data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = load_dataset(shared_multilabel_csv, text_col="description").labels
    train, val = stratified_split(labels, val_fraction=0.2, random_state=0)
    rows = Counter(g for genres in labels for g in genres)
    in_val = {g for i in val for g in labels[i]}
    assert {g for g, n in rows.items() if n >= 2} <= in_val
    assert {g for i in train for g in labels[i]} == set(rows)
