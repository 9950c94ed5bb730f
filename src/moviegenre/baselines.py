"""The seed notebook's comparison: classic classifiers on TF-IDF, next to our linear model.

Each baseline is trained on the same rows and scored on the same held-out rows, so the table
answers "what does the extra work buy" on the user's own data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.svm import LinearSVC

from moviegenre.data import Dataset
from moviegenre.metrics import headline, score
from moviegenre.models.linear import LinearGenreModel
from moviegenre.progress import report


def _seed_features() -> TfidfVectorizer:
    # The seed notebook: TF-IDF over words, 100k features.
    return TfidfVectorizer(max_features=100_000, dtype=np.float32)


def _proba(model: Any, X: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return softmax(model.decision_function(X), axis=1)


BASELINES: dict[str, Callable[[], Any]] = {
    "LogisticRegression (seed)": lambda: LogisticRegression(max_iter=1000),
    "SGDClassifier": lambda: SGDClassifier(loss="modified_huber", random_state=0),
    "MultinomialNB": lambda: MultinomialNB(alpha=0.1),
    "ComplementNB": lambda: ComplementNB(alpha=0.3),
    "LinearSVC (balanced)": lambda: LinearSVC(C=0.5, class_weight="balanced"),
}


def run_baselines(train: Dataset, test: Dataset) -> list[dict[str, Any]]:
    """Fit every baseline and our linear model on ``train``; score each on ``test``.

    Each fit is announced through ``moviegenre.progress.report`` (the CLI draws a bar).
    The seed's baselines are single-label: multi-label data is refused.
    """
    for part in (train, test):
        part.require_single_label("the baselines")
    rows = []
    total = len(BASELINES) + 1
    report("TF-IDF features", 0, total)
    vectorizer = _seed_features()
    X_train = vectorizer.fit_transform(train.texts)
    X_test = vectorizer.transform(test.texts)
    y_train = np.asarray(train.labels, dtype=object)
    for step, (name, make) in enumerate(BASELINES.items()):
        report(f"fitting {name}", step, total)
        start = time.perf_counter()
        model = make().fit(X_train, y_train)
        seconds = time.perf_counter() - start
        metrics = score(test.labels or [], _proba(model, X_test), list(model.classes_))
        rows.append({"model": name, **headline(metrics), "train_seconds": seconds})
    report("fitting moviegenre linear", total - 1, total)
    start = time.perf_counter()
    ours = LinearGenreModel().fit(train.texts, train.labels or [])
    seconds = time.perf_counter() - start
    metrics = score(test.labels or [], ours.predict_proba(test.texts), list(ours.classes_))
    rows.append({"model": "moviegenre linear", **headline(metrics), "train_seconds": seconds})
    report("done", total, total)
    return rows
