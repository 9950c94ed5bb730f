"""moviegenre: say which of 27 genres an English movie description belongs to, with probabilities.

The whole public surface is here::

    from moviegenre import GenreClassifier
    clf = GenreClassifier.load()            # the bundled model
    clf.predict(["A retired gunslinger ..."], top_k=3)
"""

from moviegenre._version import __version__
from moviegenre.checks import CheckSettings
from moviegenre.classifier import GenreClassifier, Prediction
from moviegenre.errors import (
    ConfigError,
    DataError,
    InvalidTextError,
    MissingDependencyError,
    ModelFileError,
    MovieGenreError,
)
from moviegenre.genres import GENRES

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
