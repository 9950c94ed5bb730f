"""Held-out predictions kept with a trained model: written by training, validated as untrusted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rows
from safetensors.numpy import load_file, save_file

from moviegenre.classifier import GenreClassifier
from moviegenre.errors import ModelFileError
from moviegenre.heldout import HELDOUT_FILE, TrainingPredictions, text_hashes
from moviegenre.serialization import METADATA_FILE, load_model, sha256_file


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny model that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _rewrite(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Replace heldout.safetensors and record its true checksum, as an attacker could."""
    path = folder / HELDOUT_FILE
    save_file(arrays, str(path))
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["heldout"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    (folder / METADATA_FILE).write_text(json.dumps(meta))


def test_training_keeps_the_validation_predictions_and_every_row_hash(tiny_model_dir) -> None:
    """The session's tiny model searched a grid: a 20% validation slice, then a refit."""
    _, info = load_model(tiny_model_dir)
    stored = info.heldout
    assert stored is not None
    meta = json.loads((tiny_model_dir / METADATA_FILE).read_text())
    assert (meta["heldout"]["trained_rows"], meta["heldout"]["held_out_rows"]) == (100, 20)
    assert stored.proba.shape == (20, len(info.genres)) and stored.proba.dtype == np.float32
    rows = tiny_rows(100, seed=5)  # the fixture's training rows
    genre_of = dict(
        zip(text_hashes([r[3] for r in rows]).tolist(), [r[2] for r in rows], strict=True)
    )
    assert set(stored.trained.tolist()) == set(genre_of)
    assert [info.genres[j] for j in stored.labels] == [genre_of[h] for h in stored.held_hash]
    text = rows[3][3]
    seen, held_row = stored.match(["  " + text.replace(" ", "\n", 2), "never seen text"])
    assert seen.tolist() == [True, False] and held_row[1] == -1
    assert held_row[0] == -1 or stored.held_hash[held_row[0]] == text_hashes([text])[0]


def test_saving_a_loaded_model_keeps_them(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = GenreClassifier.load(tiny_model_dir).save(tmp_path / "again")
    first, again = load_model(tiny_model_dir)[1].heldout, load_model(copy)[1].heldout
    assert first is not None and again is not None
    assert np.array_equal(first.proba, again.proba) and np.array_equal(first.trained, again.trained)


def test_a_tampered_file_is_refused(model_copy: Path) -> None:
    path = model_copy / HELDOUT_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its sha256"):
        load_model(model_copy)


def test_a_missing_file_or_a_link_is_refused(model_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.safetensors"
    shutil.move(model_copy / HELDOUT_FILE, outside)
    with pytest.raises(ModelFileError, match="is missing"):
        load_model(model_copy)
    (model_copy / HELDOUT_FILE).symlink_to(outside)
    with pytest.raises(ModelFileError, match="symbolic link"):
        load_model(model_copy)


def _damage(arrays: dict[str, np.ndarray], how: str) -> dict[str, np.ndarray]:
    arrays = dict(arrays)
    if how == "nan":
        arrays["proba"] = arrays["proba"].copy()
        arrays["proba"][0, 0] = np.nan
    elif how == "not a distribution":
        arrays["proba"] = arrays["proba"] * 2
    elif how == "label out of range":
        arrays["labels"] = arrays["labels"].copy()
        arrays["labels"][0] = 99
    elif how == "float64":
        arrays["proba"] = arrays["proba"].astype(np.float64)
    elif how == "extra array":
        arrays["code"] = np.zeros(3, dtype=np.int32)
    elif how == "more held rows than trained":
        arrays["trained"] = arrays["trained"][:5]
    return arrays


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("nan", "outside \\[0, 1\\]"),
        ("not a distribution", "outside \\[0, 1\\]|does not sum to 1"),
        ("label out of range", "'labels' must be genre columns"),
        ("float64", "float32 'proba'"),
        ("extra array", "exactly the arrays"),
        ("more held rows than trained", "one row per held-out text"),
    ],
)
def test_damaged_arrays_are_refused_with_a_reason(model_copy: Path, how, message) -> None:
    arrays = load_file(str(model_copy / HELDOUT_FILE))
    _rewrite(model_copy, _damage(arrays, how))
    with pytest.raises(ModelFileError, match=message):
        load_model(model_copy)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"sha256": "x", "bytes": 1, "trained_rows": 1, "held_out_rows": 1}, "sha256"),
        ({"sha256": "0" * 64, "bytes": -1, "trained_rows": 1, "held_out_rows": 1}, "bytes"),
        ({"sha256": "0" * 64, "bytes": 1, "trained_rows": "1", "held_out_rows": 1}, "rows"),
        ("heldout.safetensors", "sha256 and bytes"),
    ],
)
def test_a_bad_metadata_entry_is_refused(model_copy: Path, entry, message) -> None:
    meta = json.loads((model_copy / METADATA_FILE).read_text())
    meta["heldout"] = entry
    (model_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=f"'heldout'.*{message}"):
        load_model(model_copy)


def test_from_training_maps_labels_to_columns() -> None:
    texts = ["one text here", "two text here", "three text here"]
    proba = np.array([[0.7, 0.3], [0.2, 0.8]])
    stored = TrainingPredictions.from_training(texts, [2, 0], proba, ["b", "a"], ["a", "b"])
    assert stored.labels.tolist() == [1, 0] and len(stored.trained) == 3
    assert stored.held_hash.tolist() == text_hashes([texts[2], texts[0]]).tolist()
    again = TrainingPredictions.from_arrays(stored.to_arrays(), 2, "x")
    assert np.array_equal(again.proba, stored.proba)
