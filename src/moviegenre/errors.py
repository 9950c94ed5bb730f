"""One error hierarchy: every message says what was wrong and what to do about it.

The CLI, the API and the web page print these without a traceback.
"""

from __future__ import annotations


class MovieGenreError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(MovieGenreError, ValueError):
    """An input data file is unreadable or malformed; the message names file, line and problem."""


class InvalidTextError(MovieGenreError, ValueError):
    """A text handed to a model fails the input checks (type, empty, too short, not English)."""


class ModelFileError(MovieGenreError):
    """A model directory is missing, truncated, tampered with, unsafe or of an unknown version."""


class MissingDependencyError(MovieGenreError, ImportError):
    """An optional package is needed; the message names the ``pip install`` that fixes it."""


class ConfigError(MovieGenreError, ValueError):
    """A setting or argument is out of range or inconsistent with another."""
