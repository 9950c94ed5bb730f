"""Small shared infrastructure: the one atomic file write."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and ``os.replace`` it over.

    On any failure (a full disk, Ctrl-C) the temporary file is removed and ``path`` is left as
    it was, so a reader never sees a half-written file and no ``*.tmp`` is left behind.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
