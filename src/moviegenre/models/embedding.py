"""Texts -> sentence embeddings with the frozen backbone: windows, runners, caches.

A text is tokenised with the backbone's own ``tokenizer.json``, cut into windows of
``max_seq_length`` tokens (``pooling="chunks"``) or truncated to the first window
(``pooling="truncate"``); each window is mean-pooled over its tokens, and a text's embedding
is the token-weighted mean of its windows, L2-normalised.

Three interchangeable backends run the transformer:

* ``torch``: the reference (PyTorch + transformers); also what ``finetune`` trains.
* ``onnx``: an ONNX Runtime export of the same network (matches torch to ~1e-6), much
  lighter to import, so a fresh process predicts within seconds.
* ``onnx-int8``: the ONNX export with dynamic per-channel int8 weights (faster, cosine ~0.98).

The ONNX files are derived from the package weights on first use (this needs torch once, see
:func:`moviegenre.models.export.export_backbone`) and kept in the cache directory. Embeddings
are cached on disk too, keyed by backbone + settings + a hash of each text, so re-training a
head costs seconds; without the disk cache a bounded process-wide memo serves repeats. Both
are guarded by locks: the API calls models from several threads.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import cache_root, require, write_cache
from moviegenre.errors import ConfigError
from moviegenre.models.backbone import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    OnnxSession,
    backbone_spec,
    length_batches,
    pad_batch,
)
from moviegenre.models.export import export_backbone

POOLINGS = ("truncate", "chunks")
#: Texts embedded (and written to the cache as one shard) at a time.
CACHE_BLOCK = 4096
BACKENDS = ("torch", "onnx", "onnx-int8")


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Append-only on-disk store of embeddings: shards of (text hashes, float32 rows).

    Each ``put`` writes one new, uniquely named safetensors shard atomically, so concurrent
    writers never corrupt each other; ``get`` reads all shards once.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index: dict[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._unwritable = False  # set by a failed write: the rows then stay in memory

    def _load(self) -> dict[bytes, np.ndarray]:
        """The index of every shard, read once; built whole before other threads see it."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._read_shards()
        return self._index

    def _read_shards(self) -> dict[bytes, np.ndarray]:
        from safetensors.numpy import load_file

        index: dict[bytes, np.ndarray] = {}
        if self.directory.is_dir():
            for shard in sorted(self.directory.glob("shard-*.safetensors")):
                try:
                    arrays = load_file(str(shard))
                except Exception:  # a shard from a crashed writer: ignore it
                    continue
                for key, row in zip(arrays["keys"], arrays["emb"], strict=True):
                    index[key.tobytes()] = row
        return index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def put(self, keys: Sequence[bytes], emb: np.ndarray) -> None:
        """Store the rows of ``emb`` under ``keys``: in memory, and in a new shard on disk.

        A cache that cannot be written (a full disk, a read-only folder) only costs speed:
        one warning, and from then on the rows stay in memory for this process.
        """
        if not len(keys):
            return
        from safetensors.numpy import save

        index = self._load()
        arrays = {
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1).copy(),
            "emb": np.ascontiguousarray(emb, dtype=np.float32),
        }
        if not self._unwritable:
            shard = self.directory / f"shard-{uuid.uuid4().hex}.safetensors"
            self._unwritable = not write_cache(shard, save(arrays), "embedding cache")
        for key, row in zip(keys, arrays["emb"], strict=True):
            index[key] = row


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
        graph: bytes | None = None,
    ) -> None:
        """``graph``: the backbone's ONNX graph for an ONNX ``backend``, as a model folder
        ships it; without one it is exported into the cache directory on first use (torch)."""
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
        if graph is not None and backend == "torch":
            raise ConfigError("an ONNX graph was given for the torch backend, which runs none")
        self.graph = graph
        self._tokenizer: Any = None
        self._runner: Any = None
        self._cache: EmbeddingCache | None = None

    # -- identity ---------------------------------------------------------------------------

    def cache_key(self) -> str:
        # int8 embeddings differ from fp32 ones; torch and onnx fp32 agree to ~1e-6. "pertext":
        # activation scales per text (export.per_text_scales), unlike older per-batch caches.
        numerics = "int8-pertext" if self.backend == "onnx-int8" else "fp32"
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
        with BUILD_LOCK:
            if self._tokenizer is None:
                self._tokenizer = self.spec.tokenizer()
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
        with BUILD_LOCK:
            if self._runner is None:
                if self.backend == "torch":
                    self._runner = _TorchRunner(self.spec)
                else:
                    self._runner = _OnnxRunner(self.onnx_graph())
            return self._runner

    def onnx_graph(self) -> bytes | Path:
        """The backbone's ONNX graph for this (ONNX) backend: the one given, else the cached
        export, made first where missing (which needs torch once per machine)."""
        if self.graph is not None:
            return self.graph
        int8 = self.backend == "onnx-int8"
        folder = self.root / "onnx" / f"{self.spec.name}-{self.spec.version()}"
        path = folder / ("model-int8-pertext.onnx" if int8 else "model.onnx")
        if not path.exists():
            export_backbone(self.spec, path, int8=int8)
        return path

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
        with MEMO_LOCK:
            found = {k: _MEMO[k] for k in keys if k in _MEMO}
        missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
        if missing:  # computed outside the lock: other threads keep serving meanwhile
            fresh = self._embed_uncached([texts[i] for i in missing])
            found.update((keys[i], row) for i, row in zip(missing, fresh, strict=True))
        out = np.stack([found[k] for k in keys]).astype(np.float32)
        with MEMO_LOCK:
            for k in keys:
                _MEMO[k] = found[k]
                _MEMO.move_to_end(k)
            while len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
        return out


#: Process-wide bounded memo of recent embeddings (see ``TextEncoder._embed_memo``).
MEMO_SIZE = 8192
_MEMO: OrderedDict[bytes, np.ndarray] = OrderedDict()
#: Guards ``_MEMO``; BUILD_LOCK guards lazily built tokenizers, runners and encoders (also
#: the encoder kind's): the API calls models from several threads.
MEMO_LOCK = threading.Lock()
BUILD_LOCK = threading.RLock()


class _TorchRunner:
    """The backbone in PyTorch (the reference): (ids, mask) -> last hidden state."""

    def __init__(self, spec: BackboneSpec) -> None:
        self.torch = require("torch", purpose="the torch backend")
        transformers = require("transformers", purpose="the torch backend")
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
    """The backbone's ONNX graph (``TextEncoder.onnx_graph``): (ids, mask) -> last hidden
    state."""

    def __init__(self, graph: bytes | Path) -> None:
        self.session = OnnxSession(graph)

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self.session.run("last_hidden_state", feeds)
