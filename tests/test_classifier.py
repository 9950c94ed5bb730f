"""GenreClassifier: loading, predict / predict_proba / classify, and input handling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moviegenre import GENRES, CheckSettings, GenreClassifier
from moviegenre.classifier import BUNDLED_MODEL_DIR, MODEL_ENV
from moviegenre.errors import ConfigError, InvalidTextError, ModelFileError
from moviegenre.examples import EXAMPLES
from tests.conftest import TINY_GENRE_WORDS

SCARY = " ".join(TINY_GENRE_WORDS["horror"]) + " in the old house where the family lives now"
FUNNY = " ".join(TINY_GENRE_WORDS["comedy"]) + " in the old house where the family lives now"


def test_predict_returns_top_k_descending(tiny_classifier: GenreClassifier):
    (result,) = tiny_classifier.predict([SCARY], top_k=3)
    genres = [g for g, _ in result]
    probs = [p for _, p in result]
    assert genres[0] == "horror" and len(set(genres)) == 3
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)


def test_single_string_is_accepted(tiny_classifier: GenreClassifier):
    assert tiny_classifier.predict(FUNNY)[0][0][0] == "comedy"


def test_predict_proba_columns_follow_genres(tiny_classifier: GenreClassifier):
    proba = tiny_classifier.predict_proba([SCARY, FUNNY], batch_size=1)
    assert proba.shape == (2, len(tiny_classifier.genres))
    assert tiny_classifier.genres[int(np.argmax(proba[0]))] == "horror"
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)


def test_batches_do_not_change_results(tiny_classifier: GenreClassifier):
    texts = [SCARY, FUNNY] * 5
    a = tiny_classifier.predict_proba(texts, batch_size=3)
    b = tiny_classifier.predict_proba(texts, batch_size=256)
    np.testing.assert_allclose(a, b)


def test_predict_raises_naming_refused_texts(tiny_classifier: GenreClassifier):
    with pytest.raises(InvalidTextError, match="text 1: the text has 2 words"):
        tiny_classifier.predict([SCARY, "too short"])


def test_check_false_scores_short_texts(tiny_classifier: GenreClassifier):
    assert len(tiny_classifier.predict(["haunted ghost"], check=False)) == 1


@pytest.mark.parametrize("bad", ["", "   ", None, 3.5])
def test_unreadable_texts_are_refused_even_without_checks(tiny_classifier, bad):
    with pytest.raises(InvalidTextError):
        tiny_classifier.predict_proba([bad])


def test_classify_flags_items_without_raising(tiny_classifier: GenreClassifier):
    results = tiny_classifier.classify([SCARY, "short one", 7, ""], top_k=2)
    assert results[0].ok and results[0].genre == "horror" and len(results[0].genres) == 2
    assert [r.code for r in results[1:]] == ["too_short", "not_a_string", "empty"]
    assert all(r.genres == [] and r.genre is None for r in results[1:])
    assert results[1].to_dict()["error"].startswith("the text has 2 words")


def test_classify_empty_list(tiny_classifier: GenreClassifier):
    assert tiny_classifier.classify([]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 0}, "top_k must be between 1 and 5"),
        ({"top_k": 6}, "top_k must be between 1 and 5"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
    ],
)
def test_bad_arguments(tiny_classifier: GenreClassifier, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        tiny_classifier.predict([SCARY], **kwargs)


def test_custom_checks(tiny_model_dir: Path):
    clf = GenreClassifier.load(tiny_model_dir, checks=CheckSettings(min_words=2))
    assert clf.predict(["haunted ghost"])[0][0][0] == "horror"


def test_env_var_selects_model(tiny_model_dir: Path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tiny_model_dir))
    assert GenreClassifier.load().name == "tiny-test-model"


def test_missing_model_dir(tmp_path: Path):
    with pytest.raises(ModelFileError, match="does not exist"):
        GenreClassifier.load(tmp_path / "nope")


def test_save_and_reload_identical(tiny_classifier: GenreClassifier, tmp_path: Path):
    path = tiny_classifier.save(tmp_path / "copy")
    again = GenreClassifier.load(path)
    texts = [SCARY, FUNNY]
    np.testing.assert_array_equal(again.predict_proba(texts), tiny_classifier.predict_proba(texts))
    assert again.metrics == tiny_classifier.metrics and "tiny" in repr(again)


@pytest.mark.skipif(not BUNDLED_MODEL_DIR.is_dir(), reason="no bundled model in this checkout")
def test_bundled_model_top3_of_the_27():
    clf = GenreClassifier.load()
    assert clf.genres == list(GENRES)
    result = clf.predict(EXAMPLES["Frontier town"], top_k=3)[0]
    assert len({g for g, _ in result}) == 3 and all(g in GENRES for g, _ in result)
    assert [p for _, p in result] == sorted((p for _, p in result), reverse=True)
    assert all(0 <= p <= 1 for _, p in result)
    assert result[0][0] == "western"


def test_bundled_models_load_by_name_and_are_listed(tmp_path, monkeypatch, tiny_model_dir):
    from moviegenre.classifier import BUNDLED_MODELS, DEFAULT_MODEL, bundled_models

    rows = bundled_models()
    assert [r["name"] for r in rows][0] == DEFAULT_MODEL and rows[0]["default"]
    assert {r["name"] for r in rows} == set(BUNDLED_MODELS)
    assert all(r["megabytes"] > 0 and r["kind"] for r in rows)
    for name in BUNDLED_MODELS:
        assert GenreClassifier.load(name).path == BUNDLED_MODEL_DIR.parent / name
    # a model folder of that name beside the user wins over the bundled model ...
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / DEFAULT_MODEL)
    assert GenreClassifier.load(DEFAULT_MODEL).name == "tiny-test-model"


@pytest.mark.parametrize("name", ["blend", "linear"])
def test_a_folder_that_is_not_a_model_does_not_hide_the_bundled_name(tmp_path, monkeypatch, name):
    """``--model blend`` beside an unrelated folder called blend: the bundled model, and a
    warning that says both exist and which one was loaded."""
    from moviegenre.classifier import PRETRAINED_DIR

    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir()
    with pytest.warns(UserWarning, match=f"a folder '{name}' exists here but holds no model.json"):
        loaded = GenreClassifier.load(name)
    assert loaded.path == PRETRAINED_DIR / name


def test_bundled_models_fit_in_60_megabytes_sharing_the_linear_weights():
    from moviegenre.classifier import PRETRAINED_DIR, SHARED_FILES, shared_sources

    total = sum(f.stat().st_size for f in PRETRAINED_DIR.rglob("*") if f.is_file())
    assert total <= 60e6, f"bundled models take {total / 1e6:.1f} MB"
    for name, shared in SHARED_FILES.items():
        assert not any((PRETRAINED_DIR / name / file).exists() for file in shared)
        assert all(p.is_file() for p in shared_sources(PRETRAINED_DIR / name).values())


def test_a_copied_bundled_folder_never_reads_the_package_files(tmp_path):
    """Shared files are found for the package's own folders only: a user's copy of the
    bundled linear (model.json without weights) is refused, not silently completed."""
    import shutil

    from moviegenre.classifier import PRETRAINED_DIR, shared_sources

    copy = tmp_path / "linear"
    shutil.copytree(PRETRAINED_DIR / "linear", copy)
    assert shared_sources(copy) == {}
    with pytest.raises(ModelFileError, match="weights.safetensors is missing"):
        GenreClassifier.load(copy)


@pytest.mark.parametrize("name", ["linear", pytest.param("blend", marks=pytest.mark.slow)])
def test_export_writes_a_self_contained_copy_of_a_bundled_model(tmp_path, name):
    """The bundled linear keeps its weights in the blend's folder; the export has its own."""
    import json

    from moviegenre.classifier import PRETRAINED_DIR, export_model

    copy = export_model(name, tmp_path / "copy")
    bundled = json.loads((PRETRAINED_DIR / name / "model.json").read_text())["files"]
    exported = json.loads((copy / "model.json").read_text())["files"]
    assert exported == bundled  # same files, byte for byte (sha256 and size)
    assert all((copy / file).is_file() for file in exported)
    texts = [EXAMPLES["Space station"]]
    assert np.array_equal(
        GenreClassifier.load(copy).predict_proba(texts),
        GenreClassifier.load(name).predict_proba(texts),
    )
    with pytest.raises(ConfigError, match="already holds a model"):
        export_model(name, copy)


def test_a_shared_file_is_checked_against_the_model_own_checksum(monkeypatch):
    from moviegenre import classifier

    wrong = {"linear": {"weights.safetensors": "blend/weights.safetensors"}}
    monkeypatch.setattr(classifier, "SHARED_FILES", wrong)
    with pytest.raises(ModelFileError, match="has .* bytes, model.json says"):
        GenreClassifier.load("linear")


REFERENCE = json.loads((Path(__file__).parent / "bundled_proba.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["linear", "blend"])
def test_bundled_models_give_the_recorded_probabilities(name):
    """Speed work never changes a probability: the bundled models' outputs for 12 texts
    (examples, real descriptions, a German and a French text, edge cases) as recorded with
    the code before it, to 1e-6."""
    clf = GenreClassifier.load(name)
    expected = REFERENCE[name]
    assert clf.genres == expected["genres"]
    got = clf.predict_proba(REFERENCE["texts"])
    np.testing.assert_allclose(got, np.array(expected["proba"]), rtol=0, atol=1e-6)
    if name == "linear":  # (the int8 encoder's padding moves a blend's digits ~1e-5 alone)
        one_by_one = np.vstack([clf.predict_proba([t]) for t in REFERENCE["texts"]])
        np.testing.assert_allclose(one_by_one, got, rtol=0, atol=1e-6)


# -- several genres per film (issue 22) ------------------------------------------------------


def _multi_texts():
    from tests.conftest import tiny_multi_rows

    return tiny_multi_rows(12, seed=11)


def test_a_multi_label_model_assigns_genres_above_their_thresholds(tiny_multi_classifier):
    clf = tiny_multi_classifier
    texts, labels = _multi_texts()
    assert clf.info.multi_label and clf.info.label_rule is not None
    results = clf.classify(texts, top_k=3, check=False)
    proba = clf.predict_proba(texts)
    for result, row, truth in zip(results, proba, labels, strict=True):
        assigned = [g for g, _ in result.labels]
        above = [
            g
            for g, t, p in zip(clf.genres, clf.info.label_rule.thresholds, row, strict=True)
            if p >= t
        ]
        assert set(assigned) == set(above) | {result.genre}
        assert [p for _, p in result.labels] == sorted((p for _, p in result.labels), reverse=True)
        assert len(result.genres) == 3  # top_k still ranks
        assert set(assigned) == set(truth)  # the tiny data is learnable
    assert "labels" in results[0].to_dict() and "set" not in results[0].to_dict()
    assert [[g for g, _ in r] for r in clf.predict_labels(texts, check=False)] == [
        [g for g, _ in r.labels] for r in results
    ]


def test_recall_sets_hold_the_genres_above_the_crc_threshold(tiny_multi_classifier):
    clf = tiny_multi_classifier
    texts, _ = _multi_texts()
    limit = clf.recall_threshold(0.9)
    results = clf.classify(texts, recall=0.9, check=False)
    for result, row in zip(results, clf.predict_proba(texts), strict=True):
        expected = {g for g, p in zip(clf.genres, row, strict=True) if p >= limit} | {result.genre}
        assert {g for g, _ in result.genre_set} == expected and result.recall == 0.9
    assert results[0].to_dict()["set"] and results[0].coverage is None
    refused = clf.classify(["", *texts[:1]], recall=0.9, check=False)[0]
    assert refused.to_dict()["set"] is None and refused.recall == 0.9


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("multi", {"coverage": 0.9}, "this model is multi-label: ask for recall sets"),
        ("multi", {"coverage": 0.9, "recall": 0.9}, "not both"),
        ("multi", {"recall": 1.2}, "recall must be a number between 0 and 1"),
        ("single", {"recall": 0.9}, "this model is single-label: ask for coverage"),
    ],
)
def test_sets_of_the_wrong_kind_are_refused(
    tiny_multi_classifier, tiny_classifier, model, kwargs, message
):
    clf = tiny_multi_classifier if model == "multi" else tiny_classifier
    with pytest.raises(ConfigError, match=message):
        clf.classify(["some text"], check=False, **kwargs)


def test_coverage_set_methods_refuse_a_multi_label_model(tiny_multi_classifier):
    with pytest.raises(ConfigError, match="ask for recall sets"):
        tiny_multi_classifier.predict_set(["some text"], check=False)
    with pytest.raises(ConfigError, match="ask for recall sets"):
        tiny_multi_classifier.set_basis(0.9)


def test_a_single_label_model_has_no_labels_field(tiny_classifier):
    result = tiny_classifier.classify(["some words here"], check=False)[0]
    assert not tiny_classifier.info.multi_label and result.labels is None
    assert "labels" not in result.to_dict()
