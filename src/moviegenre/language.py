"""Language identification for the input checks: py3langid's model and numbers, many texts at once.

``py3langid`` (0.4) identifies one text at a time: a Python loop over the text's bytes walks a
finite automaton that emits byte n-gram features, then numpy scores them with naive Bayes:
~400 µs a text on 2 cores, which capped ``classify`` at a fifth of the linear model's speed
(issue 20). Here a whole batch walks the automaton in lockstep (one numpy step per byte
position, over every text at once) and is scored by one sparse product. A text the checks
may refuse (its probability of English not far above their threshold) is then scored again
with py3langid's very operations, in its order and in its float32, so its numbers are the
same to the bit (tests/test_checks.py compares them with ``py3langid``'s own ``rank``); the
others keep the batch's numbers (within ~1e-5 of py3langid's), far from any decision. So
every refusal and its message are py3langid's: 62 of the 9,450 shared-data texts refused as
not English at the default threshold, the same 62, with the same messages. ~3.5x faster than
py3langid when every text is scored exactly, ~7x in the checks.

py3langid ships its model xz-compressed: 4.6 MB that take 0.7 s to unpack at every start, more
than the rest of a one-text ``predict``. The unpacked arrays are kept in the cache folder
(``$MOVIEGENRE_CACHE_DIR``, else ``~/.cache/moviegenre``) as one file of ``.npy`` records
named by the hash of py3langid's file, its float16 table stored as float32 (the exact cast
every product makes). The file is memory-mapped, not read: a one-text check touches a few
pages of its 96 MB instead of reading 68 MB and casting 14M numbers (~0.1-0.2 s of a cold
``predict``), and processes share its pages. Only plain numeric and text records are
mapped (no objects, no pickle); a missing, unreadable or odd cache is rebuilt (written
whole under a new name, then renamed), and an unwritable folder only costs the unpacking.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import math
import mmap
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import atomic_write, cache_root, count_matrix

#: The arrays of py3langid's model file and the kind of each (checked when read back).
_ARRAYS = {"ptc": "f", "pc": "f", "classes": "U", "nextmove": "u", "nextmove_row": "u"}
_ARRAYS["out_feat"] = "i"
#: Texts walked through the automaton together (sorted by length, so padding stays small).
_CHUNK = 512
#: Fewer texts than this are identified one by one as py3langid does (a Python loop over the
#: bytes): numpy's steps cost more than they save on so few rows.
_FEW = 8


def _model_file() -> Path:
    spec = find_spec("py3langid")
    if spec is None or not spec.submodule_search_locations:
        from moviegenre._util import require

        require("py3langid", purpose="checking that texts are English")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "model.npz.xz"


def _valid(arrays: dict[str, np.ndarray]) -> bool:
    if set(arrays) != set(_ARRAYS):
        return False
    if any(arrays[k].dtype.kind != kind for k, kind in _ARRAYS.items()):
        return False
    n_classes, n_states = len(arrays["pc"]), len(arrays["out_feat"])
    return (
        arrays["ptc"].ndim == 2
        and arrays["ptc"].shape[1] == n_classes == len(arrays["classes"])
        and len(arrays["nextmove_row"]) == n_states
        and len(arrays["nextmove"]) % 256 == 0
    )


def _read(source: Any) -> dict[str, np.ndarray]:
    with np.load(source, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


#: The cache file's layout: bump it when what is stored changes (old files are then ignored).
_CACHE_LAYOUT = "v2"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the cache file, memory-mapped (read-only): ``.npy`` records one after
    another, in _ARRAYS order. Raises ValueError or OSError unless the file is exactly that."""
    fmt = np.lib.format
    arrays = {}
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # ValueError if empty
        for name in _ARRAYS:
            version = fmt.read_magic(handle)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else None
            if version == (2, 0):
                read_header = fmt.read_array_header_2_0
            if read_header is None:
                raise ValueError(f"unexpected .npy version {version}")
            shape, fortran, dtype = read_header(handle)
            if dtype.hasobject:
                raise ValueError("object arrays are never read")
            start, count = handle.tell(), math.prod(shape)
            array = np.frombuffer(mapped, dtype, count, start)  # ValueError if too short
            arrays[name] = array.reshape(shape, order="F" if fortran else "C")
            handle.seek(start + count * dtype.itemsize)
        if handle.tell() != len(mapped):
            raise ValueError("trailing bytes after the arrays")
    return arrays


def load_arrays(cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """py3langid's model arrays, from the cache when it holds them, else unpacked (and
    cached)."""
    packed = _model_file().read_bytes()
    digest = hashlib.blake2b(packed, digest_size=12).hexdigest()
    name = f"py3langid-{_CACHE_LAYOUT}-{digest}.npy"
    cached = cache_root(cache_dir) / "langid" / name
    try:
        arrays = _read_cache(cached)
        if _valid(arrays):
            return arrays
    except (OSError, ValueError, EOFError):
        pass
    arrays = _read(io.BytesIO(lzma.decompress(packed)))
    if not _valid(arrays):
        raise ValueError(f"py3langid's model file {_model_file()} is not the expected layout")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cached) as tmp, tmp.open("wb") as handle:
            for key in _ARRAYS:
                array = arrays[key].astype(np.float32) if key == "ptc" else arrays[key]
                np.save(handle, array, allow_pickle=False)
    except OSError:
        pass  # a read-only home: unpack at each start, as py3langid does
    return arrays


@dataclass(frozen=True)
class Verdict:
    """The most likely language (ISO 639-1), its probability, and the probability of English."""

    language: str
    probability: float
    english: float


class LanguageIdentifier:
    """py3langid's ``LanguageIdentifier(norm_probs=True)``, for batches of texts."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        # float32 rows: py3langid's float16 table is cast to float32 in each product anyway
        # (exactly), so the products are the same, without a cast of ~30k numbers per text;
        # the cache holds it as float32 already (mapped, not copied)
        self.ptc = np.asarray(arrays["ptc"], dtype=np.float32)
        self.pc = np.asarray(arrays["pc"])
        self.classes = [str(c) for c in arrays["classes"].tolist()]
        self.nextmove = np.asarray(arrays["nextmove"])  # uint32 states: 39 MB, not copied
        self.rowbase = np.asarray(arrays["nextmove_row"], dtype=np.int64) << 8
        self.out_feat = np.asarray(arrays["out_feat"], dtype=np.int64)
        # for a few texts, py3langid's own walk (a Python loop) beats numpy steps on 1-row
        # arrays: memoryview and lists index fastest from Python
        self._nextmove_view = memoryview(np.ascontiguousarray(self.nextmove))
        self._rowbase_list = self.rowbase.tolist()
        self._out_list = self.out_feat.tolist()
        first: dict[str, int] = {}
        self.aliases = []  # (first column, duplicate column) of labels listed twice
        for i, label in enumerate(self.classes):
            if label in first:
                self.aliases.append((first[label], i))
            else:
                first[label] = i
        self.english = first.get("en", -1)

    @staticmethod
    def encode(text: str) -> bytes:
        """py3langid's ``_encode`` of a str: lower-cased if all capitals, NFC, UTF-8."""
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")

    def _walk(self, data: bytes) -> list[int]:
        """The features one text's walk emits, in order (py3langid's ``visit_counts``)."""
        nextmove, rowbase, out_feat = self._nextmove_view, self._rowbase_list, self._out_list
        state, found = 0, []
        for letter in data:
            state = nextmove[rowbase[state] + letter]
            feature = out_feat[state]
            if feature >= 0:
                found.append(feature)
        return found

    def _visits(self, encoded: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(text, feature) of every feature the automaton emits, in visiting order."""
        width = max(1, max(map(len, encoded)))
        padded = b"".join(e.ljust(width, b"\0") for e in encoded)
        letters = np.frombuffer(padded, dtype=np.uint8).reshape(len(encoded), width).T.copy()
        state = np.zeros(len(encoded), dtype=np.int64)
        visited = np.empty((width, len(encoded)), dtype=np.int64)
        nextmove, rowbase, out_feat = self.nextmove, self.rowbase, self.out_feat
        for position in range(width):
            state = nextmove[rowbase[state] + letters[position]]
            visited[position] = out_feat[state]
        visited = visited.T
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        text, position = np.nonzero((visited >= 0) & (np.arange(width) < lengths[:, None]))
        return text, visited[text, position]

    @staticmethod
    def _in_counter_order(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One text's distinct features and counts in the order py3langid's Counter holds
        them (where each was first visited)."""
        ids, first, counts = np.unique(features, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return ids[order].astype(np.intp), counts[order].astype(np.float32)

    def _normalised(self, scores: np.ndarray, encoded: Sequence[bytes]) -> np.ndarray:
        """py3langid's ``_decide`` after the product, row by row: temperature sqrt(bytes),
        softmax, aliases folded (the same float32 operations, so the same bits)."""
        lengths = np.fromiter((len(e) or 1 for e in encoded), np.float64, len(encoded))
        scores *= (1.0 / np.sqrt(lengths)).astype(np.float32)[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.aliases:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        return scores

    def _scores(self, encoded: Sequence[bytes], sure_english: float) -> np.ndarray:
        """Column probabilities of each text.

        All texts are scored at once by one sparse product, whose float32 sums run in
        another order than py3langid's per-text product (probabilities within ~1e-5 of its).
        Texts whose probability of English is then at least ``sure_english`` keep those
        numbers; every other text is scored again exactly as py3langid does (its product,
        per text, in Counter order), so its numbers are py3langid's to the bit.
        """
        text, feature = self._visits(encoded)
        n_texts = len(encoded)
        bounds = np.searchsorted(text, np.arange(n_texts + 1))
        scores = np.zeros((n_texts, len(self.classes)), dtype=np.float32)
        if sure_english <= 1 and self.english >= 0:
            counts = count_matrix(text, feature, (n_texts, len(self.ptc)))  # float32, exact
            counts.data = np.log1p(counts.data)
            scores = np.asarray(counts @ self.ptc + self.pc, dtype=np.float32)
            scores[np.diff(bounds) == 0] = 0.0
            scores = self._normalised(scores, encoded)
            exact = np.flatnonzero(scores[:, self.english] < sure_english)
        else:
            exact = np.arange(n_texts)
        if len(exact):
            again = np.zeros((len(exact), len(self.classes)), dtype=np.float32)
            for row, i in enumerate(exact.tolist()):
                if bounds[i + 1] > bounds[i]:
                    idx, n = self._in_counter_order(feature[bounds[i] : bounds[i + 1]])
                    again[row] = np.log1p(n) @ self.ptc[idx] + self.pc
            scores[exact] = self._normalised(again, [encoded[i] for i in exact])
        return scores

    def _one(self, data: bytes) -> np.ndarray:
        """py3langid's ``_decide`` of one text, step for step (for a few texts at a time)."""
        visits = Counter(self._walk(data))
        if visits:
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self.ptc[idx] + self.pc
        else:
            scores = np.full(len(self.classes), 0.0, dtype=np.float32)
        return self._normalised(scores[None, :], [data])[0]

    def identify(self, texts: Sequence[str], sure_english: float = 2.0) -> list[Verdict]:
        """The verdict on each text (already cut to the sample the checks read).

        With ``sure_english`` <= 1, the numbers of texts at least that likely English come
        from the batched product (see ``_scores``): a check whose threshold lies well below
        it decides every text as py3langid would, and scores only the doubtful ones exactly.
        """
        encoded = [self.encode(t) for t in texts]
        if len(encoded) < _FEW:
            verdicts_of_few = []
            for data in encoded:
                scores = self._one(data)
                best = int(scores.argmax())
                english = float(scores[self.english]) if self.english >= 0 else 0.0
                verdicts_of_few.append(Verdict(self.classes[best], float(scores[best]), english))
            return verdicts_of_few
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        verdicts: list[Verdict | None] = [None] * len(texts)
        for start in range(0, len(order), _CHUNK):
            rows = order[start : start + _CHUNK]
            scores = self._scores([encoded[i] for i in rows], sure_english)
            best = scores.argmax(axis=1)
            english = scores[:, self.english] if self.english >= 0 else np.zeros(len(rows))
            top = scores[np.arange(len(rows)), best]
            for i, b, p, e in zip(rows, best.tolist(), top.tolist(), english.tolist(), strict=True):
                verdicts[i] = Verdict(self.classes[b], p, e)
        return [v for v in verdicts if v is not None]


_LOCK = threading.Lock()
_IDENTIFIER: LanguageIdentifier | None = None


def identifier() -> LanguageIdentifier:
    """The process's identifier, built once (from the cache after the first run)."""
    global _IDENTIFIER
    if _IDENTIFIER is None:
        with _LOCK:
            if _IDENTIFIER is None:
                _IDENTIFIER = LanguageIdentifier(load_arrays())
    return _IDENTIFIER
