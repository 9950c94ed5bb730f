"""The TF-IDF + LinearSVC model: estimator contract, calibration, state round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.metrics import selection_score
from moviegenre.models import model_class
from moviegenre.models.base import fit_temperature
from moviegenre.models.linear import LinearGenreModel, spread
from moviegenre.models.text_features import TextFeatures
from tests.conftest import TINY_GENRES, tiny_rows


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(80, seed=3)
    return [r[3] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope="module")
def fitted(data):
    return LinearGenreModel(C=0.5).fit(*data)


def test_features_hold_words_bigrams_and_stems():
    feats = TextFeatures(bigrams=True, prefix_chars=5)("The Haunted house, haunted!")
    assert {"the", "haunted", "house", "the haunted", "haunted house", "#haunt"} <= set(feats)
    assert "#house" not in feats  # words of exactly prefix_chars letters add no stem


def test_init_stores_params_only():
    model = LinearGenreModel(C=2.0, prefix_chars=0)
    assert model.get_params()["C"] == 2.0 and not hasattr(model, "classes_")
    assert clone(model).get_params() == model.get_params()


def test_fit_returns_self_with_sorted_classes(data, fitted):
    assert isinstance(fitted, LinearGenreModel)
    assert list(fitted.classes_) == sorted(TINY_GENRES)


def test_predict_proba_rows_sum_to_one_and_learn(data, fitted):
    texts, labels = data
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), len(TINY_GENRES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(fitted.predict(texts) == np.array(labels)) > 0.95
    assert fitted.temperature_ > 0


def test_state_round_trip_gives_identical_probabilities(data, fitted):
    config, arrays = fitted.to_state()
    rebuilt = LinearGenreModel.from_state(config, arrays)
    np.testing.assert_array_equal(rebuilt.predict_proba(data[0]), fitted.predict_proba(data[0]))


def test_two_classes_work():
    rows = [r for r in tiny_rows(40, seed=4) if r[2] in ("comedy", "horror")]
    model = LinearGenreModel().fit([r[3] for r in rows], [r[2] for r in rows])
    assert model.predict_proba([rows[0][3]]).shape == (1, 2)
    assert model.coef_.shape[0] == 2


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a"], ["x", "y"], "1 texts but 2 labels"),
        ([], [], "empty dataset"),
        (["a", "b"], ["x", "x"], "at least 2 distinct labels"),
        (["a", "b"], ["x", None], "label 1 is None"),
        (["a", "b"], ["x", "y\tz"], r"label 1 is 'y\\tz'; every label must be a non-empty single"),
        (["a", "b"], ["x" * 101, "y"], "label 0 is 'xxx.*at most 100 printable characters"),
        (["aa bb", "cc dd"], ["x", "y"], "every genre has a single row"),
        (["a b", "c d"], ["x", "y"], "no word of two or more letters"),
    ],
)
def test_bad_training_data_is_refused(texts, labels, message):
    with pytest.raises(ConfigError, match=message):
        LinearGenreModel().fit(texts, labels)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C": 0}, "C must be > 0"),
        ({"class_weight_power": 2}, "class_weight_power must be in"),
        ({"prefix_chars": -1}, "prefix_chars must be >= 0"),
        ({"calibration_folds": 1}, "calibration_folds must be 0"),
        ({"C_grid": []}, "C_grid must be a non-empty list"),
        ({"C_grid": [0.5, -1]}, "C_grid must be a non-empty list"),
        ({"calibration_folds": 0}, "C=None chooses C by cross-validation"),
        ({"bigram_weight": -0.5}, "bigram_weight must be >= 0"),
    ],
)
def test_bad_params_are_refused(data, params, message):
    with pytest.raises(ConfigError, match=message):
        LinearGenreModel(**params).fit(*data)


def test_c_is_chosen_out_of_fold_from_the_grid(data):
    model = LinearGenreModel(C_grid=(0.05, 1.0), calibration_folds=3).fit(*data)
    assert [t["params"]["C"] for t in model.cv_results_] == [0.05, 1.0]
    best = max(model.cv_results_, key=selection_score)
    assert best["params"]["C"] == model.C_ and model.chosen_params() == {"C": model.C_}
    assert model.oof_proba_.shape == (len(data[0]), len(TINY_GENRES))
    np.testing.assert_allclose(model.oof_proba_.sum(axis=1), 1.0, rtol=1e-6)


def test_threads_do_not_change_the_result(data):
    one = LinearGenreModel(n_jobs=1).fit(*data)
    two = LinearGenreModel(n_jobs=2).fit(*data)
    assert one.C_ == two.C_ and one.cv_results_ == two.cv_results_
    np.testing.assert_allclose(one.predict_proba(data[0]), two.predict_proba(data[0]), atol=1e-6)


def test_fixed_c_skips_the_choice_and_no_calibration_means_no_oof(data):
    model = LinearGenreModel(C=0.5, calibration_folds=0).fit(*data)
    assert model.C_ == 0.5 and model.cv_results_ == [] and model.oof_proba_ is None
    assert model.temperature_ == 1.0


def test_bigram_weight_scales_only_bigram_columns(data):
    plain = LinearGenreModel(C=0.5, bigram_weight=1.0, calibration_folds=0).fit(*data)
    scaled = LinearGenreModel(C=0.5, bigram_weight=0.5, calibration_folds=0).fit(*data)
    is_bigram = np.array([" " in f for f in plain.vocabulary_])
    assert is_bigram.any() and (~is_bigram).any()
    np.testing.assert_allclose(scaled.idf_[is_bigram], plain.idf_[is_bigram] * 0.5, rtol=1e-6)
    np.testing.assert_allclose(scaled.idf_[~is_bigram], plain.idf_[~is_bigram], rtol=1e-6)


def test_inconsistent_weights_are_refused(fitted):
    config, arrays = fitted.to_state()
    arrays["idf"] = arrays["idf"][:-1]
    with pytest.raises(ModelFileError, match="do not fit together"):
        LinearGenreModel.from_state(config, arrays)


def test_missing_array_is_refused(fitted):
    config, arrays = fitted.to_state()
    del arrays["coef"]
    with pytest.raises(ModelFileError, match="missing arrays: coef"):
        LinearGenreModel.from_state(config, arrays)


def test_fit_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = np.array([rng.choice(3, p=p) for p in probs])
    assert fit_temperature(logits * 3, targets) == pytest.approx(3, rel=0.15)


def test_registry_knows_linear_and_refuses_unknown():
    assert model_class("linear") is LinearGenreModel
    with pytest.raises(ModelFileError, match="unknown model kind 'bert'; this version knows"):
        model_class("bert")


def test_feature_contributions_sum_to_score(fitted, data):
    text = data[0][0]
    contributions = fitted.feature_contributions(text, 0)
    score = fitted.decision_function([text])[0, 0] - fitted.intercept_[0]
    assert sum(contributions.values()) == pytest.approx(score, rel=1e-4)


def test_bigrams_and_stems_are_shared_between_their_words():
    words = ["haunted", "house", "haunted", "hauntings"]
    contributions = {"house": 1.0, "haunted house": 0.4, "#haunt": 0.3, "haunted": 0.2, "zz": 9}
    weights = spread(contributions, words)
    assert weights == pytest.approx([0.2 + 0.1 + 0.1, 1.0 + 0.2, 0.1 + 0.1, 0.1])


def test_word_weights_are_word_level_and_sum_to_the_genres_score(fitted, data):
    """linear owns its feature encoding: word_weights gives one weight per word of the text
    (stems and bigrams already mapped back), spans in the text's own characters."""
    text = "  " + data[0][0].upper()  # spans count the text as given
    genre = str(fitted.classes_[1])
    weighted = fitted.word_weights(text, genre)
    assert [text[a:b] for a, b, _ in weighted] == re.findall(r"(?u)\b\w\w+\b", text)
    score = fitted.decision_function([text])[0, 1] - fitted.intercept_[1]
    assert sum(w for *_, w in weighted) == pytest.approx(score, rel=1e-4)
    with pytest.raises(ConfigError, match="unknown genre 'nope'"):
        fitted.word_weights(text, "nope")


def _centred_oof_scores(model: LinearGenreModel) -> np.ndarray:
    """Each row's out-of-fold decision scores less their mean (T * log p drops softmax's
    per-row constant, so this does not depend on the fitted temperature)."""
    logits = np.log(model.oof_proba_) * model.temperature_
    return logits - logits.mean(axis=1, keepdims=True)


def test_out_of_fold_scores_ignore_words_that_only_held_out_rows_hold(data):
    """A held-out row is scored as an unseen text: a word no training row of its fold holds
    must not change its score (the vocabulary, idf and normalisation come from the fold).
    The solver's own noise is ~1e-6; the leak this guards against moved scores by ~0.2."""
    texts, labels = data
    marked = [texts[0] + " zyzzyva" * 5, *texts[1:]]
    plain = LinearGenreModel(C=0.5).fit(texts, labels)
    with_word = LinearGenreModel(C=0.5).fit(marked, labels)
    np.testing.assert_allclose(
        _centred_oof_scores(with_word)[0], _centred_oof_scores(plain)[0], atol=1e-4
    )


@pytest.mark.parametrize(("min_df", "max_features"), [(1, None), (2, 300)])
def test_fold_features_equal_a_vectorizer_fitted_on_the_fold_alone(data, min_df, max_features):
    texts, _ = data
    model = LinearGenreModel(bigram_weight=0.5, min_df=min_df, max_features=max_features)
    docs = [TextFeatures()(t) for t in texts]
    train_idx, held_idx = np.arange(0, 80, 2), np.arange(1, 80, 2)
    X_train, X_held = model.fold_features(docs, train_idx, held_idx)
    reference = TfidfVectorizer(
        analyzer=TextFeatures(), sublinear_tf=True, min_df=min_df, max_features=max_features
    ).fit([texts[i] for i in train_idx])
    scale = np.where([" " in f for f in reference.get_feature_names_out()], 0.5, 1.0)
    for X, rows in ((X_train, train_idx), (X_held, held_idx)):
        expected = normalize(reference.transform([texts[i] for i in rows]).multiply(scale))
        np.testing.assert_allclose(X.toarray(), expected.toarray(), rtol=1e-5, atol=1e-6)


def test_model_files_that_say_seed_still_load_and_save_random_state(fitted, data):
    config, arrays = fitted.to_state()
    assert config["params"]["random_state"] == 0 and "seed" not in config["params"]
    old = {**config, "params": {**config["params"]}}
    old["params"]["seed"] = old["params"].pop("random_state")
    rebuilt = LinearGenreModel.from_state(old, arrays)
    assert rebuilt.random_state == 0 and "seed" not in rebuilt.to_state()[0]["params"]
    np.testing.assert_array_equal(rebuilt.predict_proba(data[0]), fitted.predict_proba(data[0]))
    both = {**config, "params": {**config["params"], "seed": 0}}
    with pytest.raises(ModelFileError, match="give both 'seed' and 'random_state'"):
        LinearGenreModel.from_state(both, arrays)


def test_fast_transform_equals_sklearns_tfidf_transform(data, fitted):
    """The hand-written transform (a speed-up) gives the numbers of TfidfVectorizer's own."""
    loaded = LinearGenreModel.from_state(*fitted.to_state())  # its vectorizer holds idf_
    texts = [*data[0][:20], "unseen words entirely: zyzzyva quixotic", ""]
    ours = loaded.transform(texts).toarray()
    sklearns = loaded._vectorizer_.transform(texts).toarray()
    assert ours.shape == sklearns.shape and np.allclose(ours, sklearns, atol=1e-6)


TRICKY = [
    "The Haunted house, haunted! A gun-slinger's 2nd run_away: x y z",
    "Ünïcödé wörds, naïve café; déjà-vu ½ ² ٣ 五 中文字 ŉ ǅ İstanbul ﬁne ẞ",
    "tabs\tand\nnew\x0blines\u2028and\xa0nbsp\u3000ideographic",
    "a b c d e",
    "ENDOFTEXT endoftext EndOfText",
    "",
    "   ",
    "_ __ _a a_ 9 99 9a",
    "mixed\u0301combining e\u0301 \U0001f600emoji\U0001f600 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]


def test_tokens_of_are_the_regex_tokens():
    """The translate + split tokeniser (a speed-up) finds the regular expression's tokens."""
    from moviegenre.models.text_features import TOKEN as _TOKEN
    from moviegenre.models.text_features import tokens_of

    for texts in ([t] for t in TRICKY):
        got = [t for t in tokens_of(texts, "SEP") if len(t) > 1 and t != "SEP"]
        assert got == [tok for text in texts for tok in _TOKEN.findall(text.lower())]
    every = [chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000]
    text = " ".join(every) + "".join(every)
    assert [t for t in tokens_of([text], "SEP") if len(t) > 1] == _TOKEN.findall(text.lower())


def test_batch_transform_equals_sklearns_on_tricky_texts(data, fitted):
    """Texts of every sort give TfidfVectorizer's rows: alone (strings looked up), in a large
    batch (words numbered), and alone again once the words are numbered."""
    from moviegenre.models.text_features import SMALL_BATCH

    loaded = LinearGenreModel.from_state(*fitted.to_state())
    texts = [*TRICKY, *data[0][:10], "ENDOFTEXT " + data[0][0], data[0][1].upper()]
    texts = (texts * (SMALL_BATCH // len(texts) + 1))[: SMALL_BATCH + 1]
    sklearns = loaded._vectorizer_.transform(texts).toarray()

    def alone():
        for i, text in enumerate(texts):
            row = loaded.transform([text]).toarray()[0]
            np.testing.assert_allclose(row, sklearns[i], rtol=0, atol=1e-7)

    alone()
    assert not loaded._index()._numbered
    np.testing.assert_allclose(loaded.transform(texts).toarray(), sklearns, rtol=0, atol=1e-7)
    assert loaded._index()._numbered
    alone()


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_few_texts_score_as_the_sparse_product(data, fitted, shuffled):
    """Under SMALL_BATCH texts, scores come from numpy alone (bisection in the sorted
    vocabulary, or its dict when a vocabulary is not sorted): the sparse product's numbers."""
    from moviegenre.models.text_features import SMALL_BATCH, FeatureIndex

    texts = list(data[0][: SMALL_BATCH - 1]) + ["", "zzzz qqqq unknown words only"]
    vocabulary = fitted.vocabulary_
    weights = fitted.coef_.T
    if shuffled:
        order = np.random.default_rng(0).permutation(len(vocabulary))
        vocabulary, weights = vocabulary[order], np.ascontiguousarray(weights[order])
    index = FeatureIndex(vocabulary, fitted.bigrams, fitted.prefix_chars)
    assert index.sorted is not shuffled
    idf = fitted.idf_[order] if shuffled else fitted.idf_
    fast = index.scores(texts, idf, weights)
    sparse = np.asarray(index.transform(texts, idf) @ weights)
    np.testing.assert_allclose(fast, sparse, rtol=0, atol=1e-6)
    assert not fast[-2:].any()  # no known feature: a zero row, as in the sparse matrix


# -- several genres per film (issue 22) ------------------------------------------------------


@pytest.fixture(scope="module")
def multi_fitted():
    from tests.conftest import tiny_multi_rows

    texts, labels = tiny_multi_rows(90, seed=7)
    return LinearGenreModel(C=0.5, n_jobs=1).fit(texts, labels), texts, labels


def test_genre_sets_give_one_sigmoid_probability_per_genre(multi_fitted):
    model, texts, labels = multi_fitted
    assert model.multi_label_ and model.supports_multi_label
    proba = model.predict_proba(texts)
    assert proba.shape == (90, len(TINY_GENRES)) and ((proba >= 0) & (proba <= 1)).all()
    two = [i for i, s in enumerate(labels) if len(s) == 2]
    assert np.allclose(proba[two].sum(axis=1), 2, atol=0.2)  # not a distribution: both genres
    column = {g: j for j, g in enumerate(model.classes_)}
    assert all(proba[i, column[g]] > 0.5 for i in two for g in labels[i])
    held = model.heldout()
    assert held.proba.shape == proba.shape and held.protocol["validation"] == "out-of-fold"


def test_a_multi_label_model_round_trips_exactly(multi_fitted):
    model, texts, _ = multi_fitted
    config, arrays = model.to_state()
    assert config["multi_label"] is True and arrays["platt_slope"].shape == (len(TINY_GENRES),)
    back = LinearGenreModel.from_state(config, arrays)
    assert back.multi_label_
    assert np.array_equal(back.predict_proba(texts), model.predict_proba(texts))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, a: c.update(multi_label="yes"), "'multi_label' must be true or false"),
        (lambda c, a: a.pop("platt_slope"), "missing arrays: platt_slope"),
        (lambda c, a: a.update(platt_bias=np.zeros(2, np.float32)), "'platt_bias' has shape"),
    ],
)
def test_a_damaged_multi_label_state_is_refused(multi_fitted, change, message):
    config, arrays = multi_fitted[0].to_state()
    config, arrays = dict(config), dict(arrays)
    change(config, arrays)
    with pytest.raises(ModelFileError, match=message):
        LinearGenreModel.from_state(config, arrays)


def test_single_labels_still_give_a_softmax_distribution(fitted, data):
    assert not fitted.multi_label_ and "multi_label" not in fitted.to_state()[0]
    assert np.allclose(fitted.predict_proba(data[0][:5]).sum(axis=1), 1)
