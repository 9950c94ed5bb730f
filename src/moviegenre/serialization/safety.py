"""Refusals of a model folder before and after its files are read: pickle-style files and
links that leave the folder, listed files whose size or sha256 differ from model.json, required
modules outside the fixed table (looked up, never imported), and a model that does not turn a
fixed text into valid probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import install_hint, missing_modules, sha256_file
from moviegenre.errors import MissingDependencyError, ModelFileError
from moviegenre.models import GenreModel
from moviegenre.serialization.info import is_multi_label
from moviegenre.serialization.schema import KNOWN_REQUIREMENTS, WEIGHT_SUFFIXES, show

#: Extensions of files that can run code when loaded; a model directory holding one is refused.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".h5", ".npy")
#: The first bytes of a pickle (protocols 2-5): a "weight file" starting so is refused.
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def check_folder(folder: Path) -> None:
    """Refuse pickle-style files, and links that lead out of the folder, before reading any."""
    unsafe = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise ModelFileError(
            f"refusing to load {folder}: it contains {', '.join(unsafe)}, a pickle-style file "
            "that could run code when loaded; moviegenre models never need one"
        )
    root = folder.resolve()
    for entry in sorted(folder.iterdir()):
        if not entry.is_symlink():
            continue
        try:
            inside = entry.resolve().is_relative_to(root)
        except (OSError, RuntimeError):  # a link loop
            inside = False
        if not inside:
            raise ModelFileError(
                f"refusing to load {folder}: {entry.name} is a symbolic link that points outside "
                "the model folder"
            )


def modified(path: Path) -> ModelFileError:
    """The refusal of a listed file whose bytes do not match its sha256 in model.json."""
    return ModelFileError(
        f"weight file {path} does not match its sha256 in model.json: it was modified "
        "or corrupted; re-download or re-train the model"
    )


def verify_files(
    folder: Path, files: Mapping[str, Any], sources: Mapping[str, Path], *, hashed: bool = True
) -> None:
    """Check every listed file (validated names) against its size and sha256 in model.json
    (with ``hashed=False``, the artifacts' sha256 is left to their reading)."""
    for name, expected in files.items():
        path = sources.get(name, folder / name)
        if path.is_symlink():
            raise ModelFileError(
                f"{path} is a symbolic link; the files a model lists must be regular files in "
                "its folder"
            )
        if not path.is_file():
            raise ModelFileError(f"weight file {path} is missing")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise ModelFileError(
                f"weight file {path} has {size} bytes, model.json says {expected['bytes']}: "
                "it is truncated or was replaced"
            )
        if (hashed or name.endswith(WEIGHT_SUFFIXES)) and sha256_file(path) != expected["sha256"]:
            raise modified(path)


def check_requirements(modules: list[str]) -> None:
    """Refuse early, naming the extra to install, when a module the model needs is missing.

    Only names of :data:`KNOWN_REQUIREMENTS` are accepted, and they are looked up without
    importing anything (``find_spec`` of a top-level name runs no code).
    """
    unknown = [m for m in modules if m not in KNOWN_REQUIREMENTS]
    if unknown:
        raise ModelFileError(f"unknown required module {show(unknown[0])}")
    missing = missing_modules(*modules)
    if missing:
        raise MissingDependencyError(
            f"this model needs {', '.join(missing)}, which is not installed; "
            f"run: {install_hint(missing)}"
        )


def probe(model: GenreModel, n_genres: int, folder: Path) -> None:
    """Refuse a model whose probabilities on a fixed text are not a finite distribution
    (for a multi-label model: not each in [0, 1])."""
    try:
        with np.errstate(all="ignore"):  # overflow shows up as the NaN checked below
            proba = np.asarray(model.probe_proba(), dtype=np.float64)
        sums_to_one = abs(float(proba.sum()) - 1.0) < 1e-3
        valid = (
            proba.shape == (1, n_genres)
            and bool(np.isfinite(proba).all())
            and bool((proba >= 0).all())
            and (sums_to_one or (is_multi_label(model) and bool((proba <= 1).all())))
        )
    except (ArithmeticError, IndexError, TypeError, ValueError):
        valid = False
    if not valid:
        raise ModelFileError(
            f"{folder}: the model does not give valid probabilities on a test text (NaN, "
            "infinite, or not summing to 1): its settings or weights are out of range"
        )
