"""evaluate(): metrics of a classifier on a labelled dataset, and its figure."""

from __future__ import annotations

import json

import pytest

from moviegenre.data import from_records, load_dataset
from moviegenre.errors import ConfigError
from moviegenre.evaluate import calibrate, evaluate, set_coverage, write_report


def test_evaluate_tiny(tiny_classifier, tiny_imdb_solution, tmp_path):
    metrics = evaluate(tiny_classifier, load_dataset(tiny_imdb_solution))
    assert metrics["rows"] == 12 and metrics["accuracy"] > 0.9
    assert metrics["model"]["kind"] == "linear"
    paths = write_report(metrics, tmp_path / "out")
    assert json.loads(paths[0].read_text())["rows"] == 12
    assert paths[1].read_bytes()[:4] == b"\x89PNG"


def test_evaluate_needs_labels(tiny_classifier):
    with pytest.raises(ConfigError, match="has no genre labels"):
        evaluate(tiny_classifier, from_records(["some text here"]))


def test_calibrate_scores_held_out_rows_and_set_coverage(tiny_classifier, tiny_imdb_solution):
    dataset = load_dataset(tiny_imdb_solution)
    scores = calibrate(tiny_classifier, dataset)
    assert scores.method == "aps" and len(scores) == 12
    rows = set_coverage(tiny_classifier, dataset, [0.5, 0.9])
    assert [r["coverage"] for r in rows] == [0.5, 0.9]
    assert all(r["empirical"] == 1.0 and r["mean_size"] >= 1 for r in rows)


def test_calibrate_refuses_unlabelled_rows_and_unknown_genres(tiny_classifier):
    with pytest.raises(ConfigError, match="no genre labels"):
        calibrate(tiny_classifier, from_records(["some words here"]))
    with pytest.raises(ConfigError, match="labels the model does not know: musical"):
        calibrate(tiny_classifier, from_records(["some words here"], ["musical"]))
    with pytest.raises(ConfigError, match="unknown; use one of"):
        calibrate(tiny_classifier, from_records(["some words here"], ["horror"]), method="x")
