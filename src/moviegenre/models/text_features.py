"""Linear's text features without scikit-learn: the analyzer and the batch feature index.

``TextFeatures`` names the three TF-IDF blocks (words, bigrams, stems) that ``linear`` fits
with scikit-learn's ``TfidfVectorizer``; ``FeatureIndex`` turns a whole batch of texts into
the same TF-IDF matrix at predict time with one dictionary lookup per distinct word of the
batch and numpy for the rest (bigrams are matched as pairs of word codes), giving the same
numbers as the fitted vectorizer (tests/test_linear.py compares them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import cached_property
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from moviegenre._util import count_matrix

if TYPE_CHECKING:
    from scipy import sparse

TOKEN = re.compile(r"(?u)\b\w\w+\b")


def analysed(doc: list[str]) -> list[str]:
    """The analyzer of texts that TextFeatures has already turned into features."""
    return doc


class TextFeatures:
    """The analyzer: tokens, adjacent-token bigrams and prefix stems of one lower-cased text.

    A plain class (not a closure) so the feature recipe is fully described by its parameters.
    """

    def __init__(self, bigrams: bool = True, prefix_chars: int = 5) -> None:
        self.bigrams = bigrams
        self.prefix_chars = prefix_chars

    def __call__(self, text: str) -> list[str]:
        tokens = TOKEN.findall(text.lower())
        features = list(tokens)
        if self.bigrams:
            features += [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
        n = self.prefix_chars
        if n:
            features += ["#" + t[:n] for t in tokens if len(t) > n]
        return features


def column_major(coef: np.ndarray) -> np.ndarray:
    """Store (classes x features) weights column-major so ``coef.T`` is C-contiguous.

    ``sparse @ dense`` copies a non-contiguous dense operand on every call: with 27 x 170k
    weights that copy took ~12 ms, 1,000x the product itself.
    """
    return np.asfortranarray(coef)


class _WordCharacters(dict):
    """A ``str.translate`` table that keeps the characters ``\\w`` matches (``isalnum()`` or
    ``_``, as in ``re``) and turns every other character into a space, filled as met."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        kept = char if char.isalnum() or char == "_" else " "
        self[code] = kept
        return kept


_WORD_CHARACTERS = _WordCharacters()


def tokens_of(texts: Sequence[str], separator: str) -> list[str]:
    """The runs of word characters of the lower-cased ``texts``, ``separator`` between texts.

    The runs of 2+ characters are ``TOKEN``'s tokens (a test compares them); single
    characters are left in, for the caller to skip. ``str.translate`` + ``split`` runs ~3x
    faster than the regular expression (CPython translates ASCII text in a fast path).
    """
    table = _WORD_CHARACTERS
    return f" {separator} ".join([text.lower().translate(table) for text in texts]).split()


#: Batches smaller than this, before any larger one, look their features up as strings.
SMALL_BATCH = 64

#: Put between the texts of a batch, so that one ``split`` reads them all: capitals, which no
#: lower-cased text holds.
_SEPARATOR = "ENDOFTEXT"


class FeatureIndex:
    """Column numbers of a fitted vocabulary, and the TF-IDF rows of whole batches of texts.

    ``TextFeatures`` gives each text a list of strings (words, "a b" bigrams, "#stems") that a
    vectorizer looks up one by one: ~850k lookups for the 3,670 test texts, most of them
    bigrams that the vocabulary lacks. Here every word the vocabulary knows (as a word or as
    half of a bigram) has a number, with its word column, stem column and bigram-half code
    worked out once; a batch is one tokenisation (``tokens_of``) and one lookup per token, a
    bigram is a pair of word numbers matched against the vocabulary's sorted pair keys by
    numpy, and only words the vocabulary has never seen have their stems looked up as
    strings. Counts, sublinear tf, idf and the L2 norm (summed in float64 in row order, like
    scikit-learn's ``normalize``) are the vectorizer's own operations, so the matrix is the
    same.
    """

    def __init__(self, vocabulary: Sequence[str], bigrams: bool, prefix_chars: int) -> None:
        if isinstance(vocabulary, np.ndarray) and vocabulary.dtype == object:
            self.vocabulary = vocabulary  # a fitted or loaded model's: str objects already
        else:
            self.vocabulary = np.asarray([str(w) for w in vocabulary], dtype=object)
        # a fitted vectorizer's columns are its sorted features: a few texts are then looked
        # up by bisection, without the 300k-entry dict (~0.25 s of a cold start)
        self.sorted = bool(np.all(self.vocabulary[:-1] < self.vocabulary[1:]))
        self.n_features = len(self.vocabulary)
        self.bigrams = bigrams
        self.prefix_chars = prefix_chars
        self._numbered = False
        self._lock = threading.Lock()

    @cached_property
    def columns(self) -> dict[str, int]:
        """Feature string -> column."""
        return dict(zip(map(str, self.vocabulary.tolist()), range(self.n_features), strict=True))

    def _find(self, strings: list[str]) -> np.ndarray:
        """The column of each string (-1: not a feature)."""
        if not self.sorted or not strings:
            lookup = self.columns.get
            return np.fromiter(map(lookup, strings, repeat(-1)), np.int64, len(strings))
        query = np.asarray(strings, dtype=object)
        at = np.minimum(np.searchsorted(self.vocabulary, query), self.n_features - 1)
        return np.where(self.vocabulary[at] == query, at, -1).astype(np.int64)

    def _number_words(self) -> None:
        """Number the known words (built on the first batch of SMALL_BATCH texts or more:
        ~0.3 s for 300k features, which a one-text cold start does without)."""
        # every known word gets a number; its word column and bigram-half code by number
        self.words: dict[str, int] = {}
        word_numbers: list[int] = []
        word_columns: list[int] = []
        number = self.words.setdefault
        firsts, seconds, pair_columns = [], [], []
        for feature, column in self.columns.items():
            first, space, second = feature.partition(" ")
            if space:
                if self.bigrams and len(first) > 1 and len(second) > 1:  # tokens have 2+
                    firsts.append(number(first, len(self.words)))
                    seconds.append(number(second, len(self.words)))
                    pair_columns.append(column)
            elif len(feature) > 1 and not feature.startswith("#"):
                word_numbers.append(number(feature, len(self.words)))
                word_columns.append(column)
        n_words = self.n_words = len(self.words)
        # numbers past the words: the text separator, then the one-character runs (never a
        # token); -1 (the arrays' last entry): a word the vocabulary does not know
        self.words[_SEPARATOR] = n_words
        for code in range(128):
            if chr(code).isalnum() or chr(code) == "_":
                self.words[chr(code)] = n_words + 1
        self.word_column = np.full(n_words + 3, -1, dtype=np.int64)
        self.word_column[word_numbers] = word_columns
        self.stem_column = np.full(n_words + 3, -1, dtype=np.int64)
        self.stem_column[:n_words] = self._stems(list(self.words)[:n_words])
        self.is_half = np.zeros(n_words + 3, dtype=bool)
        self.is_half[firsts] = self.is_half[seconds] = True
        keys = np.asarray(firsts, dtype=np.int64) * max(1, n_words) + seconds
        order = np.argsort(keys, kind="stable")
        self.pair_keys = keys[order]
        self.pair_columns = np.asarray(pair_columns, dtype=np.int64)[order]
        self._numbered = True

    def _stems(self, words: list[str]) -> np.ndarray:
        """The stem column of each word (-1: none, or stems are off)."""
        n = self.prefix_chars
        if not n:
            return np.full(len(words), -1, dtype=np.int64)
        lookup = self.columns.get
        stems = (lookup("#" + w[:n], -1) if len(w) > n else -1 for w in words)
        return np.fromiter(stems, np.int64, len(words))

    def _pairs(self, numbers: np.ndarray, same_text: np.ndarray) -> np.ndarray:
        """The bigram column of each adjacent pair of tokens (-1: not in the vocabulary)."""
        first, second = numbers[:-1], numbers[1:]
        columns = np.full(len(first), -1, dtype=np.int64)
        half = self.is_half
        (candidates,) = np.nonzero(half[first] & half[second] & same_text)
        if len(candidates) and len(self.pair_keys):
            key = first[candidates] * max(1, self.n_words) + second[candidates]
            order = np.argsort(key)  # sorted queries: searchsorted runs ~3x faster
            at = np.searchsorted(self.pair_keys, key[order])
            at = np.minimum(at, len(self.pair_keys) - 1)
            hit = self.pair_keys[at] == key[order]
            columns[candidates[order[hit]]] = self.pair_columns[at[hit]]
        return columns

    def _string_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of each feature occurrence, by looking TextFeatures' strings up:
        the way for a few texts before the words are numbered."""
        analyzer = TextFeatures(self.bigrams, self.prefix_chars)
        features = [analyzer(text) for text in texts]
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(f) for f in features])
        columns = self._find([feature for text in features for feature in text])
        found = columns >= 0
        return rows[found], columns[found]

    def _occurrences(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of each feature occurrence of ``texts``, by the cheaper way."""
        if self._numbered or len(texts) >= SMALL_BATCH:
            if not self._numbered:
                with self._lock:
                    if not self._numbered:
                        self._number_words()
            return self._numbered_rows(texts)
        return self._string_rows(texts)

    def scores(self, texts: Sequence[str], idf: np.ndarray, weights_t: np.ndarray) -> np.ndarray:
        """``transform(texts, idf) @ weights_t`` for a few texts, with numpy alone: a cold
        one-text predict then never imports scipy.sparse (~0.35 s). Same numbers as the
        sparse product to float32 rounding."""
        feature_rows, columns = self._occurrences(texts)
        keys, counts = np.unique(feature_rows * self.n_features + columns, return_counts=True)
        rows, columns = keys // self.n_features, keys % self.n_features
        data = (1 + np.log(counts.astype(np.float32))) * idf[columns]
        norms = np.sqrt(np.bincount(rows, (data * data).astype(np.float64), len(texts)))
        norms[norms == 0] = 1.0
        data = (data / norms[rows]).astype(np.float32)
        out = np.zeros((len(texts), weights_t.shape[1]), dtype=np.float32)
        np.add.at(out, rows, data[:, None] * weights_t[columns])
        return out

    def transform(self, texts: Sequence[str], idf: np.ndarray) -> sparse.csr_matrix:
        feature_rows, columns = self._occurrences(texts)
        n_texts = len(texts)
        counts = count_matrix(feature_rows, columns, (n_texts, self.n_features))
        data = (1 + np.log(counts.data)) * idf[counts.indices]
        row_of = np.repeat(np.arange(n_texts), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(row_of, (data * data).astype(np.float64), n_texts))
        norms[norms == 0] = 1.0
        counts.data = (data / norms[row_of]).astype(np.float32)
        return counts

    def _numbered_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of each feature occurrence, from word numbers (see the class)."""
        n_words = self.n_words
        tokens = tokens_of(texts, _SEPARATOR)
        numbers = np.fromiter(map(self.words.get, tokens, repeat(-1)), np.int64, len(tokens))
        rows = np.cumsum(numbers == n_words)
        keep = numbers < n_words  # known words and unknown ones (-1) of 2+ characters
        (unknown,) = np.nonzero(numbers < 0)
        unknown_words = [tokens[i] for i in unknown]
        if unknown_words:
            single = np.fromiter(map(len, unknown_words), np.int64, len(unknown)) == 1
            keep[unknown[single]] = False
        stems = self.stem_column[numbers]
        if self.prefix_chars and unknown_words:
            stems[unknown] = self._stems(unknown_words)
        numbers, rows, stems = numbers[keep], rows[keep], stems[keep]
        parts, part_rows = [self.word_column[numbers], stems], [rows, rows]
        if self.bigrams and len(numbers) > 1:
            parts.append(self._pairs(numbers, rows[:-1] == rows[1:]))
            part_rows.append(rows[:-1])
        columns, feature_rows = np.concatenate(parts), np.concatenate(part_rows)
        known = columns >= 0
        return feature_rows[known], columns[known]
