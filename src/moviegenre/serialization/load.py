"""Reading a model folder: ``model.json`` validated before anything is used, every listed
file checked against its size and sha256, weights read without pickle, then the model rebuilt
and probed (``safety``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre.conformal import ConformalScores
from moviegenre.errors import ModelFileError
from moviegenre.heldout import HELDOUT_FILE, TrainingPredictions
from moviegenre.models import GenreModel, model_class
from moviegenre.multilabel import LabelRule
from moviegenre.serialization.arrays import check_arrays, member_prefix, read_arrays
from moviegenre.serialization.info import ModelInfo, is_multi_label
from moviegenre.serialization.safety import (
    check_folder,
    check_requirements,
    modified,
    probe,
    verify_files,
)
from moviegenre.serialization.schema import (
    METADATA_FILE,
    WEIGHT_SUFFIXES,
    parse_metadata,
    validate_metadata,
)


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate ``model.json`` of a model directory, without touching the weights."""
    folder = Path(directory)
    if not folder.exists():
        raise ModelFileError(f"model directory {folder} does not exist")
    if not folder.is_dir():
        raise ModelFileError(
            f"{folder} is not a model directory (expected a folder with model.json)"
        )
    check_folder(folder)
    path = folder / METADATA_FILE
    return validate_metadata(parse_metadata(path), path)


def load_model(
    directory: str | os.PathLike[str], *, sources: Mapping[str, Path] | None = None
) -> tuple[GenreModel, ModelInfo]:
    """Load a model directory after validating model.json, checksums and requirements.

    ``sources`` (from the caller's code, never from the model file) reads some listed files
    from elsewhere: the bundled ``linear`` shares the blend's copy of its weights. They are
    checked against model.json's sha256 like any file.
    """
    folder = Path(directory)
    sources = dict(sources or {})
    meta = read_metadata(folder)
    cls = model_class(meta["kind"])
    kind_needs = cls.requires if isinstance(cls.requires, tuple) else ()  # blends: per partner
    check_requirements(sorted(set(meta.get("requires", [])) | set(kind_needs)))
    verify_files(folder, meta["files"], sources, hashed=False)
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, bytes] = {}
    source: dict[str, str] = {}
    for name, expected in meta["files"].items():
        if not name.endswith(WEIGHT_SUFFIXES):
            # an artifact (ONNX graph, tokenizer) is hashed once, as read: the bytes used are
            # the bytes checked (hashing the blend's 23 MB graph twice cost ~20 ms a load)
            path = sources.get(name, folder / name)
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != expected.get("sha256"):
                raise modified(path)
            files[name] = data
            continue
        for key, array in read_arrays(sources.get(name, folder / name)).items():
            key = member_prefix(name) + key
            if key in arrays:
                raise ModelFileError(f"weights {key!r} appear in both {source[key]} and {name}")
            arrays[key], source[key] = array, name
    check_arrays(arrays, source)
    config = dict(meta["config"])
    config.setdefault("classes", meta["genres"])
    try:
        model = cls.from_state(config, arrays, files)
    except ModelFileError as exc:
        raise ModelFileError(f"{folder}: {exc}") from None
    except (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{folder}: model settings or weights are inconsistent: {exc}"
        ) from None
    if list(model.classes_) != meta["genres"]:
        raise ModelFileError(
            f"{folder}: 'genres' in model.json ({len(meta['genres'])}) do not match the "
            f"model's classes ({len(model.classes_)}) in name or order"
        )
    probe(model, len(meta["genres"]), folder)
    info = ModelInfo(
        kind=meta["kind"],
        genres=list(meta["genres"]),
        config=meta["config"],
        name=meta.get("name", "moviegenre"),
        created=meta.get("created", ""),
        moviegenre_version=meta.get("moviegenre_version", ""),
        metrics=dict(meta.get("metrics", {})),
        training=dict(meta.get("training", {})),
        requires=list(meta.get("requires", [])),
        multi_label=is_multi_label(model),
    )
    where = str(folder / METADATA_FILE)
    if "multi_label" in meta and not info.multi_label:
        raise ModelFileError(f"{where} has a 'multi_label' entry but the model is single-label")
    if info.multi_label:
        info.label_rule = (
            LabelRule.from_json(meta["multi_label"], info.genres, where)
            if "multi_label" in meta
            else LabelRule.fixed(len(info.genres))
        )
    if "conformal" in meta:
        info.conformal = ConformalScores.from_json(meta["conformal"], len(info.genres), where)
    if "heldout" in meta:
        verify_files(folder, {HELDOUT_FILE: meta["heldout"]}, {})
        arrays = read_arrays(folder / HELDOUT_FILE)
        info.heldout = TrainingPredictions.from_arrays(
            arrays, len(info.genres), str(folder / HELDOUT_FILE)
        )
    return model, info
