"""Model directories: ``model.json`` (metadata) + ``weights.safetensors``; never unpickled.

A model directory is safe to download: loading reads JSON and raw tensors only, verifies the
sha256 and size of every weight file listed in ``model.json`` before parsing it, and refuses
directories that carry pickle-style files, unknown format versions or files outside the folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._version import __version__
from moviegenre.conformal import ConformalScores
from moviegenre.errors import MissingDependencyError, ModelFileError
from moviegenre.models import GenreModel, model_class

FORMAT_NAME = "moviegenre-model"
FORMAT_VERSION = 1
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
#: Extensions of files that can run code when loaded; a model directory holding one is refused.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".h5", ".npy")
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@dataclass
class ModelInfo:
    """Everything ``model.json`` says about a model besides its weights."""

    kind: str
    genres: list[str]
    config: dict[str, Any]
    name: str = "moviegenre"
    created: str = ""
    moviegenre_version: str = __version__
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    #: Conformity scores for ``predict_set`` (optional "conformal" key of model.json).
    conformal: ConformalScores | None = None

    def to_json(self) -> dict[str, Any]:
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "created": self.created,
            "moviegenre_version": self.moviegenre_version,
            "genres": self.genres,
            "requires": self.requires,
            "config": self.config,
            "training": self.training,
            "metrics": self.metrics,
        }
        if self.conformal is not None:
            meta["conformal"] = self.conformal.to_json()
        return meta


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_name(module: str) -> str:
    """The PyPI name of an importable module, by the usual underscore-to-dash convention."""
    return module.replace("_", "-")


def save_model(
    model: GenreModel,
    directory: str | os.PathLike[str],
    *,
    name: str = "moviegenre",
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    conformal: ConformalScores | None = None,
) -> Path:
    """Write ``model`` to ``directory`` (created if needed) and return the directory path.

    The weights are written to a temporary file and renamed, so a crash never leaves a
    half-written model that looks complete.
    """
    from safetensors.numpy import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config, arrays = model.to_state()
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with tempfile.NamedTemporaryFile(dir=out, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    save_file(arrays, str(tmp_path), metadata={"format": FORMAT_NAME, "kind": model.kind})
    weights = out / WEIGHTS_FILE
    os.chmod(tmp_path, 0o644)  # NamedTemporaryFile creates 0600; models are meant to be shared
    os.replace(tmp_path, weights)
    info = ModelInfo(
        kind=model.kind,
        genres=[str(c) for c in model.classes_],
        config=config,
        name=name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        metrics=dict(metrics or {}),
        training=dict(training or {}),
        requires=list(model.requires),
        conformal=conformal,
    )
    meta = info.to_json()
    meta["files"] = {
        WEIGHTS_FILE: {"sha256": sha256_file(weights), "bytes": weights.stat().st_size}
    }
    _write_json(out / METADATA_FILE, meta)
    model.write_extras(out)
    return out


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate ``model.json`` of a model directory, without touching the weights."""
    folder = Path(directory)
    if not folder.exists():
        raise ModelFileError(f"model directory {folder} does not exist")
    if not folder.is_dir():
        raise ModelFileError(
            f"{folder} is not a model directory (expected a folder with model.json)"
        )
    unsafe = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise ModelFileError(
            f"refusing to load {folder}: it contains {', '.join(unsafe)}, a pickle-style file "
            "that could run code when loaded; moviegenre models never need one"
        )
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ModelFileError(f"{folder} has no {METADATA_FILE}; it is not a moviegenre model")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}); the file is corrupted") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a moviegenre model description (no format marker)")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        hint = "upgrade moviegenre" if isinstance(version, int) and version > FORMAT_VERSION else ""
        raise ModelFileError(
            f"{path} has model format version {version!r}; this moviegenre ({__version__}) "
            f"reads version {FORMAT_VERSION}" + (f": {hint}" if hint else "")
        )
    for key, kind in (("kind", str), ("genres", list), ("config", dict), ("files", dict)):
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"{path} lacks a valid {key!r} entry")
    return meta


def record_metrics(
    directory: str | os.PathLike[str], split: str, metrics: Mapping[str, Any]
) -> None:
    """Store headline metrics measured on ``split`` (e.g. "test") in ``model.json``."""
    folder = Path(directory)
    meta = read_metadata(folder)
    meta.setdefault("metrics", {})[split] = dict(metrics)
    _write_json(folder / METADATA_FILE, meta)


def record_conformal(directory: str | os.PathLike[str], conformal: ConformalScores) -> None:
    """Store (or replace) the conformity scores in ``model.json`` (``moviegenre calibrate``)."""
    folder = Path(directory)
    meta = read_metadata(folder)
    meta["conformal"] = conformal.to_json()
    _write_json(folder / METADATA_FILE, meta)


def _verify_files(folder: Path, files: Mapping[str, Any]) -> None:
    for name, expected in files.items():
        if Path(name).name != name or not name.endswith((".safetensors", ".npz")):
            raise ModelFileError(
                f"model.json lists weight file {name!r}; only plain .safetensors or .npz file "
                "names inside the model folder are allowed"
            )
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"weight file {path} is missing")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise ModelFileError(
                f"weight file {path} has {size} bytes, model.json says {expected.get('bytes')}: "
                "it is truncated or was replaced"
            )
        if sha256_file(path) != expected.get("sha256"):
            raise ModelFileError(
                f"weight file {path} does not match its sha256 in model.json: it was modified "
                "or corrupted; re-download or re-train the model"
            )


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as handle:
        if handle.read(2) in _PICKLE_MAGIC:
            raise ModelFileError(f"{path} is a pickle, not a weight file; refusing to load it")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        from safetensors.numpy import load_file

        return load_file(str(path))
    except ModelFileError:
        raise
    except Exception as exc:  # safetensors/numpy raise several types for a bad file
        raise ModelFileError(f"cannot read weights {path}: {exc}") from None


def check_requirements(modules: list[str]) -> None:
    """Refuse early, naming the pip package, when a module the model needs is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        packages = " ".join(pip_name(m) for m in missing)
        raise MissingDependencyError(
            f"this model needs the package(s) {packages}, which are not installed; "
            f'run: pip install {packages}  (or pip install "moviegenre[encoder]")'
        )


def load_model(directory: str | os.PathLike[str]) -> tuple[GenreModel, ModelInfo]:
    """Load a model directory after verifying format, checksums and requirements."""
    folder = Path(directory)
    meta = read_metadata(folder)
    _verify_files(folder, meta["files"])
    check_requirements(list(meta.get("requires", [])))
    cls = model_class(meta["kind"])
    arrays: dict[str, np.ndarray] = {}
    for name in meta["files"]:
        arrays.update(_read_arrays(folder / name))
    config = dict(meta["config"])
    config.setdefault("classes", meta["genres"])
    try:
        model = cls.from_state(config, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{folder}: model settings or weights are inconsistent: {exc}"
        ) from None
    info = ModelInfo(
        kind=meta["kind"],
        genres=list(meta["genres"]),
        config=meta["config"],
        name=str(meta.get("name", "moviegenre")),
        created=str(meta.get("created", "")),
        moviegenre_version=str(meta.get("moviegenre_version", "")),
        metrics=dict(meta.get("metrics") or {}),
        training=dict(meta.get("training") or {}),
        requires=list(meta.get("requires", [])),
    )
    if "conformal" in meta:
        where = str(folder / METADATA_FILE)
        info.conformal = ConformalScores.from_json(meta["conformal"], len(info.genres), where)
    return model, info
