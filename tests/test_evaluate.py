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


# -- several genres per film (issue 22) ------------------------------------------------------


def test_a_multi_label_model_is_scored_on_genre_sets(tiny_multi_classifier, tmp_path):
    from tests.conftest import tiny_multi_dataset

    metrics = evaluate(tiny_multi_classifier, tiny_multi_dataset(30, seed=12))
    assert metrics["multi_label"] and metrics["rows"] == 30
    for key in ("micro_f1", "macro_f1", "samples_f1", "jaccard", "hamming_loss", "hit_at_3"):
        assert 0 <= metrics[key] <= 1
    assert metrics["micro_f1"] > 0.9  # learnable tiny data
    written = write_report(metrics, tmp_path / "report")
    assert [p.name for p in written] == ["metrics.json"]  # no single true genre: no confusion


def test_a_single_label_model_on_genre_sets_reports_hit_rates_and_why(tiny_classifier):
    from moviegenre.evaluate import HIT_ONLY
    from tests.conftest import tiny_multi_dataset

    metrics = evaluate(tiny_classifier, tiny_multi_dataset(30, seed=12))
    assert metrics["note"] == HIT_ONLY and "micro_f1" not in metrics
    assert metrics["hit_at_1"] > 0.9 and metrics["hit_at_3"] == 1.0


def test_genre_sets_with_genres_the_model_lacks_are_refused_by_name(tiny_multi_classifier):
    from moviegenre.data import Dataset

    data = Dataset(["x y z"] * 2, [("horror", "musical"), ("zz",)], ["1", "2"], [None] * 2,
                   [None] * 2, "sets.csv")  # fmt: skip
    with pytest.raises(
        ConfigError, match="sets.csv has genres the model does not know: musical, zz"
    ):
        evaluate(tiny_multi_classifier, data)


def test_calibrate_refuses_a_multi_label_model(tiny_multi_classifier, tiny_imdb_solution):
    with pytest.raises(ConfigError, match="ask for recall sets"):
        calibrate(tiny_multi_classifier, load_dataset(tiny_imdb_solution))
