"""Explanations: model weights mapped back onto words, occlusion for models without weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from conftest import TINY_GENRE_WORDS, tiny_rows

from moviegenre import ConfigError, GenreClassifier, InvalidTextError
from moviegenre.explain import Explanation, _spread, explain
from moviegenre.modelio import ModelInfo


@pytest.fixture(scope="module")
def linear(tiny_model_dir) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


class WordCounter:
    """A model without weights: P(genre 'b') grows with the count of the word 'ghost'."""

    kind = "fake"
    classes_ = np.array(["a", "b", "c"], dtype=object)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        p = np.array([min(0.95, 0.6 + 0.1 * t.lower().split().count("ghost")) for t in texts])
        return np.column_stack([1 - p, p, np.zeros_like(p)])


@pytest.fixture
def occluded() -> GenreClassifier:
    info = ModelInfo(kind="fake", genres=["a", "b", "c"], config={})
    return GenreClassifier(WordCounter(), info)


def test_linear_words_keep_original_spans_and_point_to_the_genre(linear: GenreClassifier) -> None:
    _, _, genre, text = tiny_rows(1, seed=9)[0]
    padded = "   " + text + "  "
    result = linear.explain(padded, top_k=2)
    assert isinstance(result, Explanation)
    assert result.method == "weights"
    assert result.genre == genre == linear.predict(text)[0][0][0]
    assert len(result.genres) == 2
    assert all(padded[w.start : w.end] == w.word for w in result.words)
    top = [w.word.lower() for w in result.top_words(5)]
    assert top and all(word in TINY_GENRE_WORDS[genre] for word in top)
    payload = result.to_dict()
    assert payload["genre"] == genre and payload["words"][0]["start"] == 3


def test_top_words_toward_and_away() -> None:
    result = explain_fixed([("good", 1.0), ("bad", -2.0), ("meh", 0.0)])
    assert [w.word for w in result.top_words(5)] == ["good"]
    assert [w.word for w in result.top_words(5, positive=False)] == ["bad"]


def explain_fixed(weights: list[tuple[str, float]]) -> Explanation:
    from moviegenre.explain import WordWeight

    text = " ".join(w for w, _ in weights)
    words, cursor = [], 0
    for word, weight in weights:
        start = text.index(word, cursor)
        words.append(WordWeight(word, start, start + len(word), weight))
        cursor = start + len(word)
    return Explanation(text, [("a", 1.0)], words)


def test_bigrams_and_stems_are_shared_between_their_words() -> None:
    words = ["haunted", "house", "haunted", "hauntings"]
    contributions = {"house": 1.0, "haunted house": 0.4, "#haunt": 0.3, "haunted": 0.2, "zz": 9}
    weights = _spread(contributions, words, [0.0] * 4)
    assert weights == pytest.approx([0.2 + 0.1 + 0.1, 1.0 + 0.2, 0.1 + 0.1, 0.1])


def test_occlusion_finds_the_word_and_batches_one_call(occluded: GenreClassifier) -> None:
    text = "The ghost walks the old corridors of the house at night and nobody hears it " * 2
    result = occluded.explain(text, check=False)
    assert result.method == "occlusion"
    assert result.genre == "b"
    assert occluded.model.calls == [1, len(result.words)]  # the text, then all variants at once
    best = result.top_words(2)
    assert [w.word for w in best] == ["ghost", "ghost"]
    assert best[0].weight == pytest.approx(0.1)


def test_occlusion_uses_windows_for_long_texts(occluded: GenreClassifier) -> None:
    text = " ".join(["ghost"] + ["word"] * 39)
    result = explain(occluded, text, check=False, max_occlusions=5, top_k=1)
    assert occluded.model.calls == [1, 5]
    assert len(result.words) == 40
    assert result.words[0].weight == pytest.approx(0.1 / 8)
    assert result.words[8].weight == 0


def test_text_without_words_has_no_weights(occluded: GenreClassifier) -> None:
    assert explain(occluded, "!!! ??? ...", check=False).words == []


def test_refused_texts_raise(linear: GenreClassifier) -> None:
    with pytest.raises(InvalidTextError, match="at least 20"):
        linear.explain("a ghost story")
    with pytest.raises(InvalidTextError, match="empty"):
        linear.explain("   ")
    assert linear.explain("a haunted ghost story", check=False).genre == "horror"


def test_long_texts_are_truncated_and_flagged(linear: GenreClassifier) -> None:
    text = tiny_rows(1, seed=9)[0][3]
    long = (text + " ") * 400
    result = linear.explain(long)
    assert result.truncated
    assert result.words[-1].end <= linear.checks.max_chars


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 99}, "top_k"),
        ({"method": "magic"}, "method"),
        ({"max_occlusions": 0}, "max_occlusions"),
    ],
)
def test_bad_options(linear: GenreClassifier, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        explain(linear, tiny_rows(1, seed=9)[0][3], **options)


def test_weights_need_a_model_with_weights(occluded: GenreClassifier) -> None:
    with pytest.raises(ConfigError, match="occlusion"):
        occluded.explain("ghost " * 30, method="weights")


def test_linear_model_can_be_occluded_too(linear: GenreClassifier) -> None:
    result = linear.explain(tiny_rows(1, seed=9)[0][3], method="occlusion")
    assert result.method == "occlusion" and len(result.words) > 20
