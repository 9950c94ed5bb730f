"""Weight files: safetensors written with one metadata entry (byte-identical for identical
arrays), members' own weight files, and reading ``.safetensors``/``.npz`` without pickle, every
weight a finite number."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import atomic_write
from moviegenre.errors import ModelFileError
from moviegenre.serialization.safety import PICKLE_MAGIC
from moviegenre.serialization.schema import FORMAT_NAME, WEIGHTS_FILE, show


def weight_groups(
    kind: str, arrays: Mapping[str, np.ndarray], member_weights: Mapping[str, str]
) -> dict[str, tuple[str, dict[str, np.ndarray]]]:
    """{file name: (kind, arrays)}: each member of ``member_weights`` gets its own
    ``<member>.weights.safetensors`` (its arrays without the prefix, byte-identical to the member
    saved alone), the rest go to ``weights.safetensors``."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    groups = {WEIGHTS_FILE: (kind, arrays)}
    for member, member_kind in member_weights.items():
        prefix = f"{member}."
        own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        groups[prefix + WEIGHTS_FILE] = (member_kind, own)
        arrays = {k: v for k, v in arrays.items() if not k.startswith(prefix)}
        groups[WEIGHTS_FILE] = (kind, arrays)
    return groups


def write_safetensors(path: Path, arrays: Mapping[str, np.ndarray], kind: str) -> dict[str, Any]:
    """Write ``arrays`` as safetensors to ``path``; return its model.json entry (sha256, bytes).

    One metadata entry: safetensors writes several in no fixed order, and identical bytes are
    what lets bundled models share a file. Serialized here and written by Python, so a full
    disk is an OSError (safetensors' own writer raises SafetensorError).
    """
    from safetensors.numpy import save

    return write_file(path, save(dict(arrays), metadata={"format": f"{FORMAT_NAME}/{kind}"}))


def write_file(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``data`` to ``path`` atomically; return its model.json entry (sha256, bytes)."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def member_prefix(name: str) -> str:
    """``"linear."`` for ``linear.weights.safetensors`` (a member's own weight file): its
    arrays are that member's, stored without the prefix so the file is byte-identical to the
    member saved alone; ``""`` for any other file."""
    member = name[: -len(WEIGHTS_FILE)] if name.endswith("." + WEIGHTS_FILE) else ""
    return member if member[:-1].isidentifier() else ""


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as handle:
        if handle.read(2) in PICKLE_MAGIC:
            raise ModelFileError(f"{path} is a pickle, not a weight file; refusing to load it")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            for key, value in arrays.items():
                # numpy returns a member without the .npy header (a pickle, text) as raw bytes
                if not isinstance(value, np.ndarray):
                    raise ModelFileError(
                        f"{path}: member {show(key)} is not a numeric array (no .npy header); "
                        "refusing to load it"
                    )
            return arrays
        from safetensors.numpy import load_file

        return load_file(str(path))
    except ModelFileError:
        raise
    except Exception as exc:  # safetensors/numpy raise several types for a bad file
        raise ModelFileError(f"cannot read weights {path}: {exc}") from None


def check_arrays(arrays: Mapping[str, np.ndarray], source: Mapping[str, str]) -> None:
    """Every weight is a plain number and every float is finite (NaN/inf weights are refused)."""
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise ModelFileError(
                f"weights {name!r} in {source[name]} have type {array.dtype}; only numbers "
                "are allowed"
            )
        if array.dtype == np.float16 and array.size:  # by the bits: ~3x numpy's isfinite
            finite = int((array.view(np.uint16) & 0x7C00).max()) != 0x7C00  # exponent all 1s
        else:
            finite = array.dtype.kind != "f" or bool(np.isfinite(array).all())
        if not finite:
            raise ModelFileError(
                f"weights {name!r} in {source[name]} hold NaN or infinite values: the model "
                "file is damaged"
            )
