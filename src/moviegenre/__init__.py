"""moviegenre: say which of 27 genres an English movie description belongs to, with probabilities.

The whole public surface is here::

    from moviegenre import GenreClassifier
    clf = GenreClassifier.load()            # the bundled model
    clf.predict(["A retired gunslinger ..."], top_k=3)

``import moviegenre`` stays light (no numpy, scikit-learn, ONNX Runtime...): the names that
need the model stack (``GenreClassifier``, ``Prediction``) are imported on first use, so that
``moviegenre --version`` and ``--help`` answer at once (tests/test_imports.py checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moviegenre import _moved
from moviegenre._version import __version__
from moviegenre.checks import CheckSettings
from moviegenre.errors import (
    ConfigError,
    DataError,
    InvalidTextError,
    MissingDependencyError,
    ModelFileError,
    MovieGenreError,
)
from moviegenre.genres import GENRES

_moved.install()  # old module paths (moviegenre.api, ...) import for one more release

if TYPE_CHECKING:
    from moviegenre.classifier import GenreClassifier
    from moviegenre.results import Prediction

#: Public names imported on first use: name -> module.
_LAZY = {"GenreClassifier": "moviegenre.classifier", "Prediction": "moviegenre.results"}


def __getattr__(name: str) -> Any:
    """Import ``GenreClassifier`` and ``Prediction`` when first asked for (PEP 562)."""
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moviegenre' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "GENRES",
    "CheckSettings",
    "ConfigError",
    "DataError",
    "GenreClassifier",
    "InvalidTextError",
    "MissingDependencyError",
    "ModelFileError",
    "MovieGenreError",
    "Prediction",
    "__version__",
]
