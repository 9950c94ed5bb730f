"""The label audit: confident learning finds planted flips; the pieces and the errors."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from moviegenre import audit as audit_module
from moviegenre.audit import AuditResult, audit, confident_joint, find_label_issues
from moviegenre.data import from_records
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
    result = audit(dataset)
    assert len(result.issues) <= 2
    assert all(g.noise_rate < 0.1 for g in result.genres)


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
    assert "noise_rate" in noise.read_text(encoding="utf-8").splitlines()[0]
    assert isinstance(result, AuditResult)


class PlainLinear(LinearGenreModel):
    """A kind that does not cross-validate itself, so the audit folds it."""

    validates_in_fit = False

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
