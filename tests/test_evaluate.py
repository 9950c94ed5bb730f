"""evaluate(): metrics of a classifier on a labelled dataset, and its figure."""

from __future__ import annotations

import json

import pytest

from moviegenre.data import from_records, load_dataset
from moviegenre.errors import ConfigError
from moviegenre.evaluate import evaluate, write_report


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
