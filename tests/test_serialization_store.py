"""``ModelDir``, the one door to a model folder; ``ModelInfo`` of an unsaved model; the
deprecated ``moviegenre.modelio`` shim."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import warnings
from pathlib import Path

import pytest

from moviegenre import GenreClassifier
from moviegenre.errors import ConfigError
from moviegenre.serialization import (
    HISTORY_FILE,
    METADATA_FILE,
    ModelDir,
    ModelInfo,
    read_metadata,
)


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_model_dir_names_its_files_and_tells_a_model_folder(model_copy: Path, tmp_path: Path):
    folder = ModelDir(model_copy)
    assert folder.metadata_path == model_copy / METADATA_FILE == model_copy / "model.json"
    assert folder.history_path == model_copy / HISTORY_FILE == model_copy / "history.json"
    assert folder.holds_model() and not ModelDir(tmp_path / "nothing").holds_model()
    (tmp_path / "plain").mkdir()
    assert not ModelDir(tmp_path / "plain").holds_model()
    assert repr(folder) == f"ModelDir({str(model_copy)!r})"


def test_check_writable_refuses_before_any_work(model_copy: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="already holds a model"):
        ModelDir(model_copy).check_writable()
    assert ModelDir(model_copy).check_writable(overwrite=True) == model_copy
    assert ModelDir(tmp_path / "new").check_writable() == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # checked, not created


def test_save_load_and_records_go_through_the_door(tiny_classifier, tmp_path: Path):
    folder = ModelDir(tmp_path / "m")
    assert folder.save(tiny_classifier.model, name="door") == tmp_path / "m"
    model, info = folder.load()
    assert info.name == "door" and list(model.classes_) == tiny_classifier.genres
    folder.record_metrics("test", {"rows": 3})
    assert folder.read_metadata()["metrics"]["test"] == {"rows": 3}
    assert read_metadata(tmp_path / "m")["metrics"]["test"] == {"rows": 3}


def test_files_digest_identifies_the_listed_files(model_copy: Path, tmp_path: Path):
    files = json.loads((model_copy / METADATA_FILE).read_text())["files"]
    lines = "".join(f"{n}:{files[n]['sha256']}\n" for n in sorted(files))
    assert ModelDir(model_copy).files_digest() == hashlib.sha256(lines.encode()).hexdigest()
    assert ModelDir(tmp_path / "nothing").files_digest() is None


def test_training_history_is_saved_by_the_store_not_the_kind(tiny_classifier, tmp_path: Path):
    """A kind hands its curves over (``training_history``); the store names and writes the
    file, atomically, in the staged folder; a kind without curves leaves none."""
    model = tiny_classifier.model
    ModelDir(tmp_path / "plain").save(model)
    assert not (tmp_path / "plain" / HISTORY_FILE).exists()
    curves = {"epochs": [{"epoch": 1, "train_loss": 0.5}], "best_epoch": 1}
    type(model).training_history = lambda self: curves
    try:
        ModelDir(tmp_path / "curves").save(model)
    finally:
        del type(model).training_history
    assert json.loads(ModelDir(tmp_path / "curves").history_path.read_text()) == curves


def test_model_info_of_an_unsaved_model_does_not_build_its_state(tiny_classifier, monkeypatch):
    """``from_model`` reads the settings, never ``to_state`` (the weights; ~21 ms for linear)."""
    model = tiny_classifier.model
    monkeypatch.setattr(type(model), "to_state", lambda self: pytest.fail("to_state was built"))
    info = ModelInfo.of(model, name="fresh")
    assert info.config == {"params": model.get_params(), "classes": tiny_classifier.genres}
    assert (info.kind, info.genres, info.name) == (model.kind, tiny_classifier.genres, "fresh")
    assert info.multi_label is False and info.requires == list(model.requires)
    wrapped = GenreClassifier.from_model(model, name="fresh")
    assert wrapped.info.config == info.config and wrapped.info.label_rule is None


def test_the_old_modelio_path_still_imports_with_a_deprecation_warning():
    import moviegenre.serialization as new

    sys.modules.pop("moviegenre.modelio", None)
    with pytest.warns(
        DeprecationWarning, match="moviegenre.modelio moved to moviegenre.serialization"
    ):
        from moviegenre.modelio import load_model
    assert load_model is new.load_model
    old = sys.modules["moviegenre.modelio"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(old.__all__) == set(new.__all__)  # listing the names does not warn
    with pytest.raises(AttributeError, match="no attribute '_write_json'"):
        old._write_json  # noqa: B018  (private names were never public)
