"""The old paths of modules that moved into packages (issue 23), kept for one release.

``import moviegenre`` adds one import finder that answers only the old names of
:data:`ALIASES`: importing one warns (a DeprecationWarning naming the new path) and hands back
the new module itself, so ``from moviegenre.api import create_app`` keeps working and patching
an attribute through the old path patches the real module. A finder, not a file per old path:
the old files stay deleted, so git follows each rename (merges land edits in the new file),
and the top level holds no two-line stubs. Modules that were only ever internal moved without
an alias; CHANGELOG.md ("Moved") lists every move, aliased or not.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

#: Old module path -> new module path, for the old paths that still import (until 0.3).
ALIASES = {
    "moviegenre.api": "moviegenre.serve.api",
    "moviegenre.batch_io": "moviegenre.batch.store",
    "moviegenre.figures": "moviegenre.report.figures",
    "moviegenre.modelio": "moviegenre.serialization",
    "moviegenre.serve_connections": "moviegenre.serve.connections",
    "moviegenre.split": "moviegenre.data.split",
}


class AliasFinder:
    """A meta path finder and loader for the names of :data:`ALIASES`, and only those."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        return ModuleSpec(fullname, self) if fullname in ALIASES else None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        new = ALIASES[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there (the old path goes in "
            "moviegenre 0.3)",
            DeprecationWarning,
            stacklevel=2,  # the import machinery's frames are skipped: the importer's line
        )
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # the import system overwrites it; put it back
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module is the new one, already imported); only its own
        ``__spec__`` goes back, so the module still says where it lives."""
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Add the finder once (after the standard ones: a real module of that name would win)."""
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(AliasFinder())
