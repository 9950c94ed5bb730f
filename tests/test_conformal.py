"""Conformal genre sets: the coverage guarantee, sets never empty, model-file round trips and
the errors for bad coverage, missing scores and a corrupt "conformal" entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moviegenre import GenreClassifier
from moviegenre.classifier import BUNDLED_MODELS
from moviegenre.conformal import ConformalScores, check_coverage, score_matrix
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.serialization import record_conformal
from tests.conftest import TINY_GENRE_WORDS

GENRES = [f"g{j}" for j in range(8)]
SCARY = " ".join(TINY_GENRE_WORDS["horror"]) + " in the old house where the family lives now"
FUNNY = " ".join(TINY_GENRE_WORDS["comedy"]) + " in the old house where the family lives now"
SHERIFF = (
    "A retired gunslinger rides into a dusty frontier town where a cattle baron has taken the "
    "water rights and the sheriff is in his pocket."
)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Probabilities of a calibrated model and labels drawn from them (exchangeable rows)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, len(GENRES))) * rng.uniform(0.5, 3.0, size=(n, 1))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = [GENRES[rng.choice(len(GENRES), p=row)] for row in proba]
    return proba, labels


def covered(sets: list[np.ndarray], labels: list[str]) -> float:
    return float(np.mean([GENRES.index(y) in s for s, y in zip(sets, labels, strict=True)]))


@pytest.mark.parametrize("method", ["aps", "raps"])
@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_marginal_coverage_holds_on_synthetic_data(method: str, coverage: float) -> None:
    proba, labels = synthetic(2000, seed=1)
    scores = ConformalScores.from_proba(proba[:1000], labels[:1000], GENRES, method=method)
    sets = scores.sets(proba[1000:], coverage)
    assert abs(covered(sets, labels[1000:]) - coverage) <= 0.03
    assert all(len(s) >= 1 for s in sets)


@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_class_conditional_coverage_holds_per_genre(coverage: float) -> None:
    proba, labels = synthetic(4000, seed=2)
    scores = ConformalScores.from_proba(proba[:2000], labels[:2000], GENRES)
    sets = scores.sets(proba[2000:], coverage, class_conditional=True)
    test_labels = np.array(labels[2000:])
    for genre in GENRES:
        rows = np.flatnonzero(test_labels == genre)
        rate = covered([sets[i] for i in rows], list(test_labels[rows]))
        assert rate >= coverage - 0.08, (genre, rate)


def test_sets_are_never_empty_and_most_probable_first() -> None:
    proba, labels = synthetic(300, seed=3)
    scores = ConformalScores.from_proba(proba, labels, GENRES)
    uniform = np.full((2, len(GENRES)), 1 / len(GENRES))
    for rows in (proba, uniform):
        for coverage in (0.01, 0.5, 0.99):
            for by_genre in (False, True):
                for row, chosen in zip(rows, scores.sets(rows, coverage, by_genre), strict=True):
                    assert len(chosen) >= 1 and chosen[0] == int(np.argmax(row))
                    assert list(row[chosen]) == sorted(row[chosen], reverse=True)


def test_too_few_scores_for_the_coverage_give_every_genre() -> None:
    proba, labels = synthetic(5, seed=4)
    scores = ConformalScores.from_proba(proba, labels, GENRES)
    assert all(len(s) == len(GENRES) for s in scores.sets(proba, 0.9))  # ceil(6 * 0.9) > 5


def test_score_is_mass_ranked_above_the_genre() -> None:
    proba = np.array([[0.5, 0.3, 0.2]])
    assert np.allclose(score_matrix(proba), [[0.0, 0.5, 0.8]])
    assert np.allclose(score_matrix(proba, "raps", lam=1.0, k_reg=0), [[0.0, 1.5, 2.8]])


@pytest.mark.parametrize("coverage", [0, 1, -0.1, 1.5, float("nan"), "0.9", True, None])
def test_bad_coverage_is_one_clear_error(coverage) -> None:
    with pytest.raises(ConfigError, match="coverage must be"):
        check_coverage(coverage)


def test_json_round_trip_is_exact() -> None:
    proba, labels = synthetic(200, seed=5)
    for method in ("aps", "raps"):
        scores = ConformalScores.from_proba(proba, labels, GENRES, method=method)
        again = ConformalScores.from_json(json.loads(json.dumps(scores.to_json())), len(GENRES))
        assert again.method == method and np.array_equal(again.scores, scores.scores)
        assert [list(s) for s in again.sets(proba, 0.9)] == [
            list(s) for s in scores.sets(proba, 0.9)
        ]


GOOD = {"method": "aps", "n": 2, "scores": [0.0, 0.5], "labels": [0, 1]}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"method": "magic"}, "method must be"),
        ({"n": 3}, "n is 3 but"),
        ({"n": True}, "n must be an integer"),
        ({"n": 0, "scores": [], "labels": []}, "n must be an integer"),
        ({"scores": [0.0, float("nan")]}, "finite"),
        ({"scores": [0.0, -1.0]}, ">= 0"),
        ({"scores": [0.0, "0.5"]}, "must be a number"),
        ({"labels": [0, 8]}, "genre index from 0 to 7"),
        ({"labels": [0, True]}, "integer genre index"),
        ({"labels": [0, 1.0]}, "integer genre index"),
        ({"scores": "0.5"}, "must be lists"),
        ({"extra": 1}, "unknown keys extra"),
        ({"lambda": 0.1}, "belong to method 'raps'"),
        ({"method": "raps", "lambda": -1, "k_reg": 0}, "lambda must be"),
        ({"method": "raps", "lambda": 0.1, "k_reg": 1.5}, "k_reg must be"),
    ],
)
def test_corrupt_conformal_entry_is_refused(change: dict, problem: str) -> None:
    with pytest.raises(ModelFileError, match=problem):
        ConformalScores.from_json({**GOOD, **change}, len(GENRES))


def test_conformal_entry_must_be_an_object() -> None:
    with pytest.raises(ModelFileError, match="must be an object"):
        ConformalScores.from_json([1, 2], len(GENRES))


# -- through the classifier and the model directory -------------------------------------------


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _edit_meta(folder: Path, edit) -> None:
    path = folder / "model.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def test_trained_model_gives_sets_and_reload_gives_identical_sets(
    tiny_classifier: GenreClassifier, tmp_path: Path
) -> None:
    assert tiny_classifier.info.conformal is not None
    before = tiny_classifier.predict_set([SCARY, FUNNY], coverage=0.9)
    assert [s[0][0] for s in before] == ["horror", "comedy"]
    again = GenreClassifier.load(tiny_classifier.save(tmp_path / "again"))
    assert again.predict_set([SCARY, FUNNY], coverage=0.9) == before
    by_genre = again.predict_set([SCARY], coverage=0.9, class_conditional=True)
    assert by_genre[0][0][0] == "horror"


def test_classify_carries_the_set_and_refused_texts_have_none(
    tiny_classifier: GenreClassifier,
) -> None:
    results = tiny_classifier.classify([SCARY, "too short"], top_k=2, coverage=0.8)
    assert results[0].genre_set and results[0].genre_set[0][0] == "horror"
    assert results[0].to_dict()["set"][0]["genre"] == "horror"
    assert results[1].genre_set is None and results[1].to_dict()["set"] is None  # asked, refused
    assert "set" not in tiny_classifier.classify([SCARY])[0].to_dict()


@pytest.mark.parametrize("coverage", [1.0, 0, "high"])
def test_predict_set_refuses_bad_coverage(tiny_classifier: GenreClassifier, coverage) -> None:
    with pytest.raises(ConfigError, match="coverage must be"):
        tiny_classifier.predict_set([SCARY], coverage=coverage)


def test_predict_set_refuses_a_non_bool_class_conditional(
    tiny_classifier: GenreClassifier,
) -> None:
    with pytest.raises(ConfigError, match="class_conditional must be True or False"):
        tiny_classifier.predict_set([SCARY], class_conditional="yes")


def test_model_without_scores_names_the_fix(model_copy: Path) -> None:
    _edit_meta(model_copy, lambda meta: meta.pop("conformal"))
    clf = GenreClassifier.load(model_copy)
    assert clf.predict([SCARY])[0][0][0] == "horror"  # everything else still works
    with pytest.raises(ConfigError, match="no conformity scores") as info:
        clf.predict_set([SCARY])
    assert "moviegenre train" in str(info.value) and "moviegenre calibrate" in str(info.value)


def test_corrupt_conformal_entry_in_model_json_fails_on_load(model_copy: Path) -> None:
    _edit_meta(model_copy, lambda meta: meta["conformal"].update(labels=[99]))
    with pytest.raises(ModelFileError, match="'conformal' entry is invalid") as info:
        GenreClassifier.load(model_copy)
    assert "\n" not in str(info.value)


def test_record_conformal_replaces_the_scores(model_copy: Path) -> None:
    clf = GenreClassifier.load(model_copy)
    proba = clf.predict_proba([SCARY, FUNNY])
    record_conformal(
        model_copy, ConformalScores.from_proba(proba, ["horror", "comedy"], clf.genres)
    )
    again = GenreClassifier.load(model_copy)
    assert again.info.conformal is not None and len(again.info.conformal) == 2
    assert again.info.conformal.method == "aps"


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_bundled_model_carries_scores(name: str) -> None:
    clf = GenreClassifier.load(name)
    # linear: its out-of-fold rows; blend: its cross-fitted rows (cv_folds=5): all 5,780
    assert clf.info.conformal is not None and len(clf.info.conformal) == 5780
    assert all(len(s) >= 1 for s in clf.predict_set([SCARY, FUNNY], coverage=0.5))


# -- why a set is as large as it is ------------------------------------------------------------


def test_basis_reads_the_ranks_back_from_raps_scores() -> None:
    proba, labels = synthetic(400, seed=5)
    scores = ConformalScores.from_proba(proba, labels, GENRES, method="raps", lam=1.0, k_reg=0)
    ranks = (-proba).argsort(axis=1, kind="stable").argsort(axis=1, kind="stable")
    true_rank = ranks[np.arange(len(labels)), [GENRES.index(y) for y in labels]]
    basis = scores.basis(0.9)
    assert basis.rows == 400 and basis.top1 == pytest.approx(np.mean(true_rank == 0))
    expected = [np.mean(true_rank < k) for k in range(1, len(GENRES) + 1)]
    assert basis.within == pytest.approx(expected)


@pytest.mark.parametrize("coverage", [0.3, 0.5, 0.8, 0.9, 0.95])
def test_every_marginal_raps_set_size_is_in_the_range_the_basis_states(coverage: float) -> None:
    proba, labels = synthetic(300, seed=6)
    scores = ConformalScores.from_proba(proba, labels, GENRES, method="raps", lam=1.0, k_reg=0)
    fewest, most = scores.basis(coverage).size_range()
    sizes = {len(s) for s in scores.sets(synthetic(500, seed=7)[0], coverage)}
    assert fewest <= min(sizes) and max(sizes) <= most and most - fewest <= 1
    text = scores.basis(coverage).describe(GENRES)
    count = f"{fewest}" if fewest == most else f"{fewest} or {most}"
    expected = (
        "every set is the model's first genre alone"
        if most == 1
        else f"every set keeps the model's first {count} genres"
    )
    assert expected in text


def test_basis_of_aps_and_class_conditional_sets_says_what_decides() -> None:
    proba, labels = synthetic(300, seed=8)
    aps = ConformalScores.from_proba(proba, labels, GENRES, method="aps")
    assert aps.basis(0.9).within is None and aps.basis(0.9).size_range() is None
    assert "until those already in it hold over" in aps.basis(0.9).describe(GENRES)
    labels[:5] = ["g7"] * 5  # g7: at most a handful of rows, too few to bound at 0.9
    labels = [y if i < 5 or y != "g7" else "g0" for i, y in enumerate(labels)]
    per_genre = ConformalScores.from_proba(proba, labels, GENRES, method="aps")
    basis = per_genre.basis(0.9, class_conditional=True)
    assert basis.always == (7,) and basis.genre_rows[0] == 5
    assert "fewer than 9 texts, too few to bound, so they are in every set (g7)" in (
        basis.describe(GENRES)
    )
    assert all(7 in s for s in per_genre.sets(proba, 0.9, class_conditional=True))


def test_far_below_means_under_a_tenth_of_the_top() -> None:
    from moviegenre.conformal import holds_far_below

    assert holds_far_below([0.9, 0.05]) and not holds_far_below([0.5, 0.3, 0.1])
    assert not holds_far_below([0.99])


def test_the_bundled_default_says_why_a_sure_answer_gets_a_set() -> None:
    """The issue's case: 99% western, a 4-genre set; the basis gives the held-out figures."""
    clf = GenreClassifier.load()
    basis = clf.set_basis(0.9)
    fewest, most = basis.size_range()
    [result] = clf.classify(SHERIFF, coverage=0.9)
    assert result.genres[0][0] == "western" and fewest <= len(result.genre_set) <= most
    assert basis.top1 < 0.7 and basis.within[most - 1] >= 0.9
    assert f"first genre was right for {basis.top1:.1%}" in basis.describe(clf.genres)
