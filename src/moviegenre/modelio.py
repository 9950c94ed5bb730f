"""Deprecated: ``moviegenre.modelio`` moved to the ``moviegenre.serialization`` package.

Its public names still import from here for one release, with a DeprecationWarning; new code
uses ``moviegenre.serialization`` (``ModelDir``, ``load_model``, ``save_model``...).
"""

from __future__ import annotations

import warnings
from typing import Any

import moviegenre.serialization as serialization

__all__ = serialization.__all__


def __getattr__(name: str) -> Any:
    if name not in serialization.__all__:
        raise AttributeError(f"module 'moviegenre.modelio' has no attribute {name!r}")
    warnings.warn(
        f"moviegenre.modelio is deprecated and will be removed in the next release; import "
        f"{name} from moviegenre.serialization",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(serialization, name)
