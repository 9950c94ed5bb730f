# Long: one kind: fit (C and calibration out-of-fold, one-vs-rest), predict, word weights, state.
"""TF-IDF + LinearSVC with class weights and temperature-calibrated probabilities.

Features are word unigrams, word bigrams and a crude stem (each long word's first
``prefix_chars`` characters), with sublinear tf. The stem features are a cheap stand-in for
character n-grams: on 5-fold CV of the shared training file they add ~2 points of accuracy and
macro-F1 at word-n-gram speed, where sklearn's char n-grams run ~5x slower (and add nothing
on top of the stems). Bigram columns are scaled by ``bigram_weight`` (0.7: +0.5 points of
accuracy on 3x5-fold CV of the training file; bigrams are sparse and noisier than words).

``C`` is chosen inside ``fit``, like scikit-learn's ``LogisticRegressionCV``, by the project's
protocol (``selection.py``: its folds and its score): every value of ``C_grid`` is scored on
the same out-of-fold decision scores that also calibrate the probabilities, so choosing costs
one SVM fit per fold and value on features built once per fold, and every training row serves
as validation once (a single 20% split of 2,110 rows is too noisy to tell C=0.2 from C=0.5).
Each fold's vocabulary and idf come from its training rows only: a held-out row is scored as
an unseen text would be.

Predicting needs neither scikit-learn nor a Python object per feature: ``FeatureIndex`` turns
a whole batch into the TF-IDF matrix with one dictionary lookup per distinct word of the batch
and numpy for the rest (bigrams are matched as pairs of word codes), and gives the same
numbers as the fitted ``TfidfVectorizer`` (tests/test_linear.py compares them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moviegenre import selection
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models.base import (
    GenreModel,
    HeldOut,
    check_array,
    check_number,
    check_strings,
    check_temperature,
    check_training_data,
    fit_platt,
    fit_temperature,
    power_class_weights,
    sigmoid,
    softmax,
    strings_to_array,
)
from moviegenre.models.text_features import (
    SMALL_BATCH,
    TOKEN,
    FeatureIndex,
    TextFeatures,
    analysed,
    column_major,
)
from moviegenre.multilabel import as_sets, indicator, is_multi_label
from moviegenre.progress import report

if TYPE_CHECKING:  # training's imports, made inside the methods that fit
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC


def spread(contributions: dict[str, float], words: list[str]) -> list[float]:
    """Each word's share of the features' ``contributions``: a word feature goes to every
    occurrence of the word, a bigram ("a b") to both words of each occurrence, a stem
    ("#haunt") to the longer words that start with it, each split evenly among its owners."""
    weights = [0.0] * len(words)
    positions: dict[str, list[int]] = defaultdict(list)
    for i, w in enumerate(words):
        positions[w].append(i)
    bigrams: dict[str, list[int]] = defaultdict(list)
    for i in range(len(words) - 1):
        bigrams[f"{words[i]} {words[i + 1]}"].append(i)
    for feature, value in contributions.items():
        if feature.startswith("#"):
            stem = feature[1:]
            owners = [i for i, w in enumerate(words) if len(w) > len(stem) and w.startswith(stem)]
        elif " " in feature:
            owners = [j for i in bigrams.get(feature, []) for j in (i, i + 1)]
        else:
            owners = positions.get(feature, [])
        for i in owners:
            weights[i] += value / len(owners)
    return weights


class LinearGenreModel(GenreModel):
    """TF-IDF features + one-vs-rest LinearSVC; probabilities are softmax(scores / temperature).

    C (from ``C_grid``) and the temperature are chosen on out-of-fold decision scores
    (``calibration_folds``), so the probabilities are honest even though the SVM itself is not
    probabilistic. ``n_jobs`` threads run those fits (-1: one per core; results do not depend
    on it).

    Fitted on genre sets (a tuple of genres per row), it is one-vs-rest in the strict sense:
    one binary LinearSVC per genre over the same features, and each genre's probability is
    a sigmoid of its score (Platt scaling: a slope and a bias per genre, fitted on the same
    out-of-fold scores that choose C), independent of the other genres.
    """

    kind = "linear"
    validates_in_fit = True
    supports_multi_label = True

    def __init__(
        self,
        *,
        C: float | None = None,
        C_grid: Sequence[float] = (0.2, 0.3, 0.5, 0.7),
        class_weight_power: float = 1.0,
        bigrams: bool = True,
        bigram_weight: float = 0.7,
        prefix_chars: int = 5,
        min_df: int = 1,
        max_features: int | None = 300_000,
        calibration_folds: int = 5,
        n_jobs: int | None = -1,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.C_grid = C_grid
        self.class_weight_power = class_weight_power
        self.bigrams = bigrams
        self.bigram_weight = bigram_weight
        self.prefix_chars = prefix_chars
        self.min_df = min_df
        self.max_features = max_features
        self.calibration_folds = calibration_folds
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------

    def _vectorizer(self, analyzer: Any = None) -> TfidfVectorizer:
        """The TF-IDF recipe; ``analyzer`` replaces TextFeatures for texts analysed already."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer=analyzer or TextFeatures(self.bigrams, self.prefix_chars),
            sublinear_tf=True,
            min_df=self.min_df,
            max_features=self.max_features,
            dtype=np.float32,
        )

    def _features(self, docs: Sequence[list[str]], *others: Sequence[list[str]]) -> Any:
        """Fit TF-IDF on analysed ``docs``; return (vocabulary, scaled idf, X, X of others).

        Bigram columns are scaled by ``bigram_weight`` before the rows are L2-normalised.
        """
        from scipy import sparse
        from sklearn.preprocessing import normalize

        vectorizer = self._vectorizer(analyzer=analysed)
        try:
            X = vectorizer.fit_transform(docs)
        except ValueError as exc:  # sklearn: "empty vocabulary"
            raise ConfigError(
                "the training texts hold no word of two or more letters to learn from"
            ) from exc
        vocabulary = vectorizer.get_feature_names_out()
        scale = np.where(
            np.char.find(vocabulary.astype(str), " ") >= 0, self.bigram_weight, 1.0
        ).astype(np.float32)

        def scaled(matrix: Any) -> sparse.csr_matrix:
            return normalize(sparse.csr_matrix(matrix.multiply(scale)), norm="l2", copy=False)

        rest = [scaled(vectorizer.transform(d)) for d in others]
        return vocabulary, (vectorizer.idf_ * scale).astype(np.float32), scaled(X), rest

    def _svm(self, targets: np.ndarray, C: float, n_classes: int | None = None) -> LinearSVC:
        from sklearn.svm import LinearSVC

        n_classes = len(self.classes_) if n_classes is None else n_classes
        return LinearSVC(
            C=C,
            class_weight=power_class_weights(targets, n_classes, self.class_weight_power),
            random_state=self.random_state,
        )

    def _validate_params(self) -> None:
        if self.C is not None and not self.C > 0:
            raise ConfigError(f"C must be > 0 (or None to choose from C_grid), got {self.C}")
        if self.C is None and (not self.C_grid or not all(c > 0 for c in self.C_grid)):
            raise ConfigError(f"C_grid must be a non-empty list of values > 0, got {self.C_grid}")
        if self.C is None and not self.calibration_folds and len(self.C_grid) > 1:
            raise ConfigError(
                "C=None chooses C by cross-validation, which needs calibration_folds >= 2; "
                "set C or calibration_folds"
            )
        if not self.bigram_weight >= 0:
            raise ConfigError(f"bigram_weight must be >= 0, got {self.bigram_weight}")
        if not 0 <= self.class_weight_power <= 1:
            raise ConfigError(
                f"class_weight_power must be in [0, 1], got {self.class_weight_power}"
            )
        if self.prefix_chars < 0:
            raise ConfigError(f"prefix_chars must be >= 0, got {self.prefix_chars}")
        if self.calibration_folds == 1 or self.calibration_folds < 0:
            raise ConfigError(
                "calibration_folds must be 0 (no calibration) or >= 2, "
                f"got {self.calibration_folds}"
            )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> LinearGenreModel:
        """Choose C and the temperature out-of-fold (features built once per fold, from that
        fold's training rows only), then fit on all rows."""
        self._validate_params()
        self.classes_ = check_training_data(texts, labels)
        self.multi_label_ = is_multi_label(labels)
        analyzer = TextFeatures(self.bigrams, self.prefix_chars)
        docs = [analyzer(text) for text in texts]
        self.vocabulary_, self.idf_, X, _ = self._features(docs)
        if self.multi_label_:
            return self._fit_multi_label(docs, X, labels)
        targets = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        grid = [float(c) for c in self.C_grid] if self.C is None else [float(self.C)]
        self.C_, self.temperature_, self.cv_results_ = grid[0], 1.0, []
        self.oof_proba_: np.ndarray | None = None
        if self.calibration_folds:
            folds = selection.folds(
                labels, n_folds=self.calibration_folds, random_state=self.random_state
            )
            self.n_folds_ = len(folds)
            all_scores = self._out_of_fold_scores(docs, targets, folds, grid)
            candidates = [{"C": C} for C in grid]
            probas = (softmax(scores, axis=1) for scores in all_scores)
            chosen = selection.select(candidates, probas, labels, self.classes_)
            self.cv_results_ = chosen.trials
            self.C_, scores = chosen.params["C"], all_scores[chosen.index]
            self.temperature_ = fit_temperature(scores, targets)
            self.oof_proba_ = softmax(scores / self.temperature_, axis=1)
            steps = len(grid) * len(folds) + 1
            report(f"linear: final fit on all {len(texts):,} rows", steps - 1, steps)
        svm = self._svm(targets, self.C_).fit(X, targets)
        self.coef_, self.intercept_ = self._full_coef(svm)
        self.__dict__.pop("_index_cache", None)
        return self

    def _fit_multi_label(self, docs: Sequence[list[str]], X: Any, labels: Sequence[Any]) -> Any:
        """One-vs-rest fit on genre sets: C chosen and the per-genre sigmoids fitted on
        out-of-fold scores (the same folds and selection as single-label), then one binary
        SVM per genre on all rows."""
        truth = indicator(as_sets(labels), self.classes_)
        grid = [float(c) for c in self.C_grid] if self.C is None else [float(self.C)]
        self.C_, self.temperature_, self.cv_results_ = grid[0], 1.0, []
        self.oof_proba_ = None
        k = len(self.classes_)
        self.platt_slope_ = np.ones(k, dtype=np.float32)
        self.platt_bias_ = np.zeros(k, dtype=np.float32)
        if self.calibration_folds:
            folds = selection.folds(
                labels, n_folds=self.calibration_folds, random_state=self.random_state
            )
            self.n_folds_ = len(folds)
            all_scores = self._out_of_fold_scores(docs, truth, folds, grid)
            sigmoids = [fit_platt(scores, truth) for scores in all_scores]
            probas = (
                sigmoid(scores * a + b) for scores, (a, b) in zip(all_scores, sigmoids, strict=True)
            )
            chosen = selection.select([{"C": C} for C in grid], probas, labels, self.classes_)
            self.cv_results_ = chosen.trials
            self.C_ = chosen.params["C"]
            self.platt_slope_, self.platt_bias_ = sigmoids[chosen.index]
            self.oof_proba_ = chosen.proba
            steps = len(grid) * len(folds) + 1
            report(f"linear: final fit on all {len(docs):,} rows", steps - 1, steps)
        self.coef_, self.intercept_ = self._ovr_fit(X, truth, self.C_)
        self.__dict__.pop("_index_cache", None)
        return self

    def _ovr_fit(self, X: Any, truth: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
        """One binary SVM per genre column of ``truth``; a genre with no positive (or no
        negative) among these rows gets a constant score of -10 (+10)."""
        coef = np.zeros((truth.shape[1], X.shape[1]), dtype=np.float32)
        intercept = np.zeros(truth.shape[1], dtype=np.float32)
        for j in range(truth.shape[1]):
            y = truth[:, j].astype(np.int64)
            if y.min() == y.max():
                intercept[j] = 10.0 if y[0] else -10.0
                continue
            svm = self._svm(y, C, n_classes=2).fit(X, y)
            coef[j], intercept[j] = svm.coef_[0], svm.intercept_[0]
        coef = np.asarray(coef, dtype=np.float16).astype(np.float32)  # as saved: see _full_coef
        return column_major(coef), intercept

    @property
    def _vectorizer_(self) -> TfidfVectorizer:
        """The fitted scikit-learn vectorizer, from ``vocabulary_`` and the scaled ``idf_``:
        what ``transform`` reproduces (built on request only; predicting never needs it)."""
        self._check_fitted()
        vectorizer = self._vectorizer()
        vectorizer.vocabulary_ = {str(w): i for i, w in enumerate(self.vocabulary_)}
        vectorizer.idf_ = self.idf_
        return vectorizer

    def _index(self) -> FeatureIndex:
        """The FeatureIndex of ``vocabulary_``, built on the first prediction."""
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = FeatureIndex(self.vocabulary_, self.bigrams, self.prefix_chars)
            self.__dict__["_index_cache"] = cached
        return cached

    def chosen_params(self) -> dict[str, Any]:
        """The settings ``fit`` chose out-of-fold (recorded by training)."""
        return {"C": self.C_}

    def heldout(self) -> HeldOut | None:
        """Every training row's out-of-fold probabilities (None with calibration_folds=0)."""
        if getattr(self, "oof_proba_", None) is None:
            return None
        return HeldOut(
            index=np.arange(len(self.oof_proba_)),
            proba=self.oof_proba_,
            protocol={"validation": "out-of-fold", "folds": self.n_folds_},
            trials=list(self.cv_results_),
        )

    def out_of_fold_proba(
        self, texts: Sequence[str], labels: Sequence[Any], n_folds: int, random_state: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``selection.held_out_proba``'s faster hook: one fit of these settings with
        ``calibration_folds=n_folds`` holds out ``selection.folds`` of ``random_state`` and
        builds features once per fold; its calibrated out-of-fold probabilities and classes."""
        params = {**self.get_params(), "calibration_folds": n_folds, "random_state": random_state}
        model = type(self)(**params).fit(texts, labels)
        return np.asarray(model.oof_proba_), model.classes_

    def fold_features(
        self, docs: Sequence[list[str]], train_idx: np.ndarray, held_idx: np.ndarray
    ) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """TF-IDF rows of one fold, vocabulary and idf fitted on its training rows only, so
        held-out rows score as unseen texts would (words only they hold are unknown)."""
        _, _, X_train, (X_held,) = self._features(
            [docs[i] for i in train_idx], [docs[i] for i in held_idx]
        )
        return X_train, X_held

    def _out_of_fold_scores(
        self,
        docs: Sequence[list[str]],
        targets: np.ndarray,
        folds: list[tuple[np.ndarray, np.ndarray]],
        grid: list[float],
    ) -> list[np.ndarray]:
        """For each C of ``grid``: every row's decision scores from a model that did not see it.

        ``targets`` are class indices, or (multi-label) the rows x genres truth matrix.

        Each fold's features are built once and shared by every C; the fold x C fits run on
        ``n_jobs`` threads (liblinear releases the GIL).
        """
        from joblib import Parallel, delayed

        features = [self.fold_features(docs, train_idx, held_idx) for train_idx, held_idx in folds]
        jobs = [(c, f) for c in range(len(grid)) for f in range(len(folds))]

        def fit_one(job: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
            train_idx, (X_train, X_held), C = folds[job[1]][0], features[job[1]], grid[job[0]]
            if targets.ndim == 2:  # genre sets: one binary SVM per genre
                coef, intercept = self._ovr_fit(X_train, targets[train_idx], C)
                return np.arange(len(self.classes_)), np.asarray(X_held @ coef.T + intercept)
            if len(np.unique(targets[train_idx])) < 2:
                return None
            svm = self._svm(targets[train_idx], C).fit(X_train, targets[train_idx])
            return svm.classes_, self._scores_of(svm, X_held)

        # Results come back in order, here on the caller's thread: each is a real step of the
        # fit for a progress bar (``moviegenre.progress.report``); the final fit is the last.
        steps = len(jobs) + 1
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")
        fitted = parallel(delayed(fit_one)(j) for j in jobs)
        scores = [np.zeros((len(targets), len(self.classes_))) for _ in grid]
        for done, ((c, f), result) in enumerate(zip(jobs, fitted, strict=True), 1):
            report(f"linear: cross-validation fit {done}/{len(jobs)}", done, steps)
            if result is not None:
                held_idx = folds[f][1]
                fold_scores = np.full((len(held_idx), len(self.classes_)), -10.0)
                fold_scores[:, result[0]] = result[1]
                scores[c][held_idx] = fold_scores
        return scores

    @staticmethod
    def _scores_of(svm: LinearSVC, X: Any) -> np.ndarray:
        scores = svm.decision_function(X)
        if scores.ndim == 1:  # two classes: sklearn returns one column
            scores = np.column_stack([-scores, scores])
        return scores

    def _full_coef(self, svm: LinearSVC) -> tuple[np.ndarray, np.ndarray]:
        """Weights with one row per class, also when sklearn stores a single binary row.

        The weights are rounded to float16 here, not only when saved, so that a reloaded
        model predicts exactly what the fitted one did while the file stays half the size.
        """
        coef = np.asarray(svm.coef_, dtype=np.float16).astype(np.float32)
        intercept = np.asarray(svm.intercept_, dtype=np.float32)
        if coef.shape[0] == 1:
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        return column_major(coef), intercept

    # -- prediction -----------------------------------------------------------------------

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The TF-IDF matrix of ``texts`` (sparse, one row per text, L2-normalised rows).

        The same numbers as the fitted TfidfVectorizer's ``transform`` (``_vectorizer_``),
        several times faster (see ``FeatureIndex``).
        """
        self._check_fitted()
        return self._index().transform(texts, self.idf_)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) < SMALL_BATCH:  # a few texts: numpy alone (see FeatureIndex.scores)
            self._check_fitted()
            scores = self._index().scores(texts, self.idf_, self.coef_.T)
            return np.asarray(scores + self.intercept_, dtype=np.float64)
        X = self.transform(texts)
        return np.asarray(X @ self.coef_.T + self.intercept_, dtype=np.float64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self, "multi_label_", False):
            return sigmoid(self.decision_function(texts) * self.platt_slope_ + self.platt_bias_)
        return softmax(self.decision_function(texts) / self.temperature_, axis=1)

    def word_weights(self, text: str, genre: str) -> list[tuple[int, int, float]]:
        """``(start, end, weight)`` of each word of ``text`` (a token of the analyzer, in
        ``text``'s own characters): what it adds to ``genre``'s decision score, exactly.

        Each feature's contribution (tf-idf x weight) goes back to the words it came from: a
        bigram's is split between its two words, a stem's between the words that carry it, so
        the weights sum to the score less the intercept (features the text lacks add 0).
        """
        self._check_fitted()
        genres = self.classes_.tolist()
        if genre not in genres:
            raise ConfigError(f"unknown genre {genre!r}; this model knows {len(genres)} genres")
        matches = list(TOKEN.finditer(text))
        words = [m.group().lower() for m in matches]
        weights = spread(self.feature_contributions(text, genres.index(genre)), words)
        return [(m.start(), m.end(), w) for m, w in zip(matches, weights, strict=True)]

    def feature_contributions(self, text: str, class_index: int) -> dict[str, float]:
        """How much each feature of ``text`` adds to one class's score (tf-idf x weight)."""
        X = self.transform([text]).tocsr()
        row = X.getrow(0)
        return {
            str(self.vocabulary_[j]): float(v * self.coef_[class_index, j])
            for j, v in zip(row.indices, row.data, strict=True)
        }

    # -- persistence ----------------------------------------------------------------------

    classes_in: ClassVar[str] = "config"
    state_arrays: ClassVar[tuple[str, ...]] = ("vocabulary", "idf", "coef", "intercept")

    def _saved_params(self) -> dict[str, Any]:
        params = super()._saved_params()
        params["C_grid"] = [float(c) for c in self.C_grid]
        return params

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config = {"temperature": self.temperature_, "C": self.C_, "cv_results": self.cv_results_}
        arrays = {
            "vocabulary": strings_to_array(self.vocabulary_.tolist()),
            "idf": self.idf_,
            "coef": self.coef_.astype(np.float16),
            "intercept": self.intercept_,
        }
        if getattr(self, "multi_label_", False):
            arrays["platt_slope"] = np.asarray(self.platt_slope_, dtype=np.float32)
            arrays["platt_bias"] = np.asarray(self.platt_bias_, dtype=np.float32)
        return config, arrays

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        self._validate_params()

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        model, cls = self, type(self)
        vocabulary = check_strings(arrays, "vocabulary", cls.kind)
        n_features, n_classes = len(vocabulary), len(model.classes_)
        model.vocabulary_ = np.array(vocabulary, dtype=object)
        model.idf_ = check_array(arrays, "idf", (n_features,), cls.kind)
        shape = (n_classes, n_features)
        model.coef_ = check_array(arrays, "coef", shape, cls.kind, column_major=True)
        model.intercept_ = check_array(arrays, "intercept", (n_classes,), cls.kind)
        model.temperature_ = check_temperature(config.get("temperature"), cls.kind)
        if model.multi_label_:
            model.platt_slope_ = check_array(arrays, "platt_slope", (n_classes,), cls.kind)
            model.platt_bias_ = check_array(arrays, "platt_bias", (n_classes,), cls.kind)
        model.C_ = check_number(config.get("C", model.C or 0.0), "linear model C", 0, 1e9)
        cv_results = config.get("cv_results", [])
        if not isinstance(cv_results, list):
            raise ModelFileError("linear model cv_results must be a list")
        model.cv_results_ = list(cv_results)
