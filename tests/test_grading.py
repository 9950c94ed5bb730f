"""Grading a model on a file without using the rows it trained on (moviegenre.grading)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rows

from moviegenre.classifier import GenreClassifier
from moviegenre.data import from_records
from moviegenre.metrics import score
from moviegenre.report import build_report
from moviegenre.report.grading import model_scores
from moviegenre.training import train


@pytest.fixture(scope="module")
def noisy_model(tmp_path_factory: pytest.TempPathFactory):
    """A model trained on rows with 30% random labels: it fits its training rows better than
    its out-of-fold predictions do, so a grade on training rows would show."""
    import random

    rows = tiny_rows(80, seed=11)
    rng = random.Random(11)
    genres = sorted({r[2] for r in rows})
    labels = [rng.choice(genres) if rng.random() < 0.3 else r[2] for r in rows]
    data = from_records([r[3] for r in rows], labels, ids=[r[0] for r in rows])
    folder = tmp_path_factory.mktemp("noisy")
    return data, train(data).classifier.save(folder / "model")


def test_report_on_the_training_file_grades_with_held_out_predictions(noisy_model) -> None:
    data, model_dir = noisy_model
    clf = GenreClassifier.load(model_dir)
    grade = model_scores(data, clf)
    assert (grade.overlap, grade.live_rows, grade.held_rows, grade.excluded_rows) == (
        "rows",
        0,
        80,
        0,
    )
    assert grade.metrics is not None
    recorded = clf.metrics["validation"]["accuracy"]
    assert grade.metrics["accuracy"] == pytest.approx(recorded, abs=1e-6)
    on_training_rows = score(data.labels, clf.predict_proba(data.texts), clf.genres)
    assert on_training_rows["accuracy"] > grade.metrics["accuracy"]


def test_report_on_part_of_the_training_file_mixes_only_honest_rows(noisy_model) -> None:
    data, model_dir = noisy_model
    clf = GenreClassifier.load(model_dir)
    fresh = [(r[3], r[2]) for r in tiny_rows(10, seed=99)]
    part = from_records(
        [*data.texts[:30], *(t for t, _ in fresh)], [*data.labels[:30], *(g for _, g in fresh)]
    )
    grade = model_scores(part, clf)
    assert (grade.overlap, grade.live_rows, grade.held_rows) == ("rows", 10, 30)
    stored = clf.info.heldout
    live = clf.predict_proba([t for t, _ in fresh])
    expected = score(
        [g for _, g in fresh] + list(data.labels[:30]),
        np.vstack([live, stored.proba[:30].astype(np.float64)]),
        clf.genres,
    )
    assert grade.metrics["accuracy"] == pytest.approx(expected["accuracy"])
    assert "10 rows the model never trained on" in grade.note()


def test_a_model_without_held_out_predictions_is_not_graded_on_its_file(
    noisy_model, tmp_path: Path
) -> None:
    import shutil

    data, model_dir = noisy_model
    copy = tmp_path / "old-model"
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / "model.json").read_text())
    del meta["heldout"]  # a model saved before held-out predictions were kept
    (copy / "model.json").write_text(json.dumps(meta))
    (copy / "heldout.safetensors").unlink()
    clf = GenreClassifier.load(copy)
    assert clf.info.heldout is None
    grade = model_scores(data, clf)
    assert grade.metrics is None and grade.overlap == "file"
    page = build_report(data, tmp_path / "r", clf).read_text(encoding="utf-8")
    assert "this report cannot grade it on this file" in page
    assert "this report&#x27;s data" not in page
    assert not (tmp_path / "r" / "f1_per_genre.png").exists()
