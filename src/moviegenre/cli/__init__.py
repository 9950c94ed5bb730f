"""The ``moviegenre`` command: a thin shell over the library, a few lines per command.

Every MovieGenreError is printed as one line on stderr (no traceback) with exit code 2.
Commands live by topic: modelling (train, evaluate, calibrate, models), scoring (predict,
score), data (audit, baselines, report), servers (serve, app).
"""

from __future__ import annotations

from moviegenre.cli import data, modelling, scoring, servers  # noqa: F401  (registers commands)
from moviegenre.cli._base import app, main

__all__ = ["app", "main"]
