"""The label audit: confident learning finds planted flips; the pieces and the errors."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from moviegenre import audit as audit_module
from moviegenre.audit import (
    AuditResult,
    GenreNoise,
    audit,
    confident_joint,
    find_label_issues,
    planted_noise_check,
)
from moviegenre.data import from_records, load_dataset
from moviegenre.errors import ConfigError, MovieGenreError
from moviegenre.models.linear import LinearGenreModel
from tests.conftest import TINY_GENRES, tiny_rows


def flipped_dataset(n: int, flips: int, seed: int):
    """Tiny separable rows with ``flips`` labels changed to another genre; returns flipped ids."""
    rows = tiny_rows(n, seed=seed)
    rng = random.Random(seed)
    picked = set(rng.sample(range(n), flips))
    labels = [
        rng.choice([g for g in TINY_GENRES if g != genre]) if i in picked else genre
        for i, (_, _, genre, _) in enumerate(rows)
    ]
    dataset = from_records(
        [r[3] for r in rows], labels, ids=[r[0] for r in rows], titles=[r[1] for r in rows]
    )
    return dataset, {rows[i][0] for i in picked}


def test_audit_finds_planted_flips() -> None:
    dataset, planted = flipped_dataset(200, 10, seed=3)
    result = audit(dataset)
    flagged = [issue.id for issue in result.issues]
    assert len(planted & set(flagged)) >= 9  # recall
    assert len(planted & set(flagged[:10])) >= 8  # precision at the top
    first = result.issues[0]
    assert first.id in planted and first.given != first.suggested and first.confidence > 0.3
    truth = {r[0]: r[2] for r in tiny_rows(200, seed=3)}
    assert sum(truth[i.id] == i.suggested for i in result.issues if i.id in planted) >= 8
    assert first.title and first.snippet


def test_clean_labels_give_few_issues_and_low_noise() -> None:
    dataset, _ = flipped_dataset(100, 0, seed=4)
    result = audit(dataset, planted_share=None)
    assert len(result.issues) <= 2 and result.planted is None
    assert all(g.flagged_share < 0.1 for g in result.genres)


def assert_counts_add_up(result: AuditResult) -> None:
    """Every per-genre figure is a count of the flagged rows, so they all agree."""
    given = {g.genre: 0 for g in result.genres}
    for issue in result.issues:
        given[issue.given] += 1
        assert issue.suggested != issue.given
    assert sum(g.rows for g in result.genres) == result.rows
    for g in result.genres:
        assert g.flagged == given[g.genre] <= g.rows
        assert g.flagged_share == pytest.approx(g.flagged / g.rows)
        assert sum(n for _, n in g.suggested) == g.flagged
        assert all(n > 0 and name != g.genre for name, n in g.suggested)
        pairs = [p for p in g.suggested_text().split(", ") if p]
        assert sum(int(p.rsplit("(", 1)[1].rstrip(")")) for p in pairs) == g.flagged
        expected = {}
        for issue in result.issues:
            if issue.given == g.genre:
                expected[issue.suggested] = expected.get(issue.suggested, 0) + 1
        assert dict(g.suggested) == expected


@pytest.mark.parametrize(("n", "flips", "seed"), [(200, 10, 3), (100, 20, 8), (60, 12, 9)])
def test_per_genre_counts_are_counts_of_the_flagged_rows(n, flips, seed) -> None:
    dataset, _ = flipped_dataset(n, flips, seed=seed)
    result = audit(dataset, planted_share=None)
    assert result.issues
    assert_counts_add_up(result)
    assert result.headline().startswith(f"{len(result.issues)} of {n} rows carry a label")


def test_suggested_text_sums_the_genres_it_does_not_name() -> None:
    pairs = [("drama", 3), ("action", 2), ("history", 1), ("x", 1), ("y", 1)]
    row = GenreNoise("war", 9, 8, 8 / 9, pairs)
    assert row.suggested_text() == "drama (3), action (2), history (1), 2 other genres (2)"
    row = GenreNoise("war", 9, 7, 7 / 9, pairs[:4])
    assert row.suggested_text() == "drama (3), action (2), history (1), x (1)"
    assert GenreNoise("war", 4, 0, 0.0, []).suggested_text() == ""


def test_planted_check_measures_the_ranking_on_this_file() -> None:
    dataset, _ = flipped_dataset(200, 0, seed=3)
    check = planted_noise_check(dataset, share=0.05, seed=1)
    assert check.planted == 10 and check.flagged == len(check.hits) >= 9
    assert check.found() == sum(check.hits) >= 9
    assert check.precision(10) == check.found(10) / 10 >= 0.8
    assert check.recall() == check.found() / 10
    summary = check.summary()
    assert f"{check.found(10)} of the top 10 flagged rows" in summary
    assert f"recall {check.recall():.2f}" in summary
    same = audit(dataset, planted_seed=1).planted
    assert same is not None and same.hits == check.hits


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5, "0.1", True])
def test_planted_check_refuses_a_bad_share(share) -> None:
    dataset, _ = flipped_dataset(40, 0, seed=7)
    with pytest.raises(ConfigError, match="planted share must be a number between 0 and 1"):
        audit(dataset, planted_share=share)


@pytest.mark.slow
@pytest.mark.realdata
def test_per_genre_counts_add_up_on_the_shared_train_file(shared_data_dir: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(shared_data_dir / "train_data.txt", require_labels=True)
    result = audit(dataset, planted_share=None)
    assert result.rows == 2110 and len(result.genres) == 27
    assert_counts_add_up(result)


def test_noise_summary_names_the_confusion() -> None:
    proba = np.array([[0.9, 0.1]] * 8 + [[0.1, 0.9]] * 8)
    labels = np.array([0] * 6 + [1] * 2 + [1] * 8)  # two rows that look like 0 labelled 1
    joint = confident_joint(labels, proba)
    assert joint.sum(axis=1).tolist() == [6, 10]
    assert joint[1, 0] > 0 and joint[0, 1] == 0
    assert sorted(find_label_issues(labels, proba).tolist()) == [6, 7]


def test_write_makes_both_csv_files(tmp_path: Path) -> None:
    dataset, planted = flipped_dataset(100, 5, seed=5)
    result = audit(dataset)
    issues, noise = result.write(tmp_path / "out")
    with issues.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) >= {"id", "title", "given", "suggested", "confidence", "snippet"}
    header, *lines = noise.read_text(encoding="utf-8").splitlines()
    assert header == "genre,rows,flagged,flagged_share,suggested"
    assert sum(int(line.split(",")[2]) for line in lines) == len(result.issues)
    assert isinstance(result, AuditResult)


class PlainLinear(LinearGenreModel):
    """A kind that does not cross-validate itself, so the audit folds it."""

    validates_in_fit = False
    out_of_fold_proba = None  # no hook: selection.held_out_proba fits a model per fold

    def __init__(self) -> None:
        super().__init__(C=0.5, calibration_folds=0)


def test_other_kinds_are_cross_validated_fold_by_fold(monkeypatch) -> None:
    monkeypatch.setattr(audit_module, "model_class", lambda kind: PlainLinear)
    dataset, planted = flipped_dataset(100, 5, seed=6)
    result = audit(dataset, "plain", folds=3)
    assert result.kind == "plain" and result.rows == 100
    assert len(planted & {issue.id for issue in result.issues}) >= 4


def test_audit_refuses_an_unknown_kind() -> None:
    dataset, _ = flipped_dataset(20, 0, seed=7)
    with pytest.raises(MovieGenreError, match="unknown model kind 'magic'"):
        audit(dataset, "magic")


def test_audit_refuses_unlabelled_data() -> None:
    dataset = from_records(["a text of words"] * 3)
    with pytest.raises(ConfigError, match="no genre labels"):
        audit(dataset)


@pytest.mark.parametrize("folds", [1, 0, "5", True])
def test_audit_refuses_bad_folds(folds) -> None:
    dataset, _ = flipped_dataset(20, 0, seed=7)
    with pytest.raises(ConfigError, match="folds must be an integer"):
        audit(dataset, folds=folds)


def test_find_label_issues_refuses_mismatched_inputs() -> None:
    with pytest.raises(ConfigError, match="one probability row per label"):
        find_label_issues(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(ConfigError, match="column indices"):
        find_label_issues(np.array([0, 2]), np.ones((2, 2)) / 2)


def test_written_csv_cells_never_run_as_formulas(tmp_path: Path) -> None:
    dataset, planted = flipped_dataset(100, 5, seed=5)
    dataset.titles = ["=HYPERLINK(\"http://x\")" if i in planted else t
                      for i, t in zip(dataset.ids, dataset.titles, strict=True)]  # fmt: skip
    issues, _ = audit(dataset).write(tmp_path / "out")
    with issues.open(encoding="utf-8") as fh:
        titles = [row["title"] for row in csv.DictReader(fh)]
    assert '\'=HYPERLINK("http://x")' in titles
    assert not any(t.startswith("=") for t in titles)
