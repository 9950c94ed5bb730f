"""``ModelDir``: the one door to a model folder (its file names, the check before training,
the staged save, the records ``evaluate``/``calibrate`` add, reading and loading).

Callers outside this package (classifier, CLI, batch, report) ask a ``ModelDir`` instead of
joining "model.json" or "history.json" to a path themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moviegenre._util import write_text
from moviegenre.card import CARD_FILE, GENERATED, model_card
from moviegenre.conformal import ConformalScores
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.heldout import HELDOUT_FILE, TrainingPredictions
from moviegenre.models import GenreModel
from moviegenre.multilabel import LabelRule
from moviegenre.serialization.arrays import weight_groups, write_file, write_safetensors
from moviegenre.serialization.info import ModelInfo
from moviegenre.serialization.load import load_model, read_metadata
from moviegenre.serialization.schema import HISTORY_FILE, METADATA_FILE, listable


class ModelDir:
    """A model folder, by path; nothing is read or checked until a method asks."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ModelDir({str(self.path)!r})"

    @property
    def metadata_path(self) -> Path:
        """``model.json``: what the model is, and the sha256 of every file it loads."""
        return self.path / METADATA_FILE

    @property
    def history_path(self) -> Path:
        """``history.json``: training curves some kinds leave (the report draws them)."""
        return self.path / HISTORY_FILE

    def holds_model(self) -> bool:
        """Whether the folder has a model.json (a regular file): a model folder, unchecked."""
        return self.metadata_path.is_file()

    def check_writable(self, *, overwrite: bool = False) -> Path:
        """:func:`check_output_dir`: call it before a fit, so no work is lost to a bad path."""
        return check_output_dir(self.path, overwrite=overwrite)

    def save(self, model: GenreModel, **options: Any) -> Path:
        """:func:`save_model` (staged, renamed into place whole)."""
        return save_model(model, self.path, **options)

    def read_metadata(self) -> dict[str, Any]:
        """model.json, validated (:func:`read_metadata`); the weights are not touched."""
        return read_metadata(self.path)

    def load(self, sources: Mapping[str, Path] | None = None) -> tuple[GenreModel, ModelInfo]:
        """:func:`load_model`: every file checked before it is used."""
        return load_model(self.path, sources=sources)

    def files_digest(self) -> str | None:
        """The sha256 of "name:sha256" of every file model.json lists, sorted by name (what
        identifies a saved model's weights), or None when the folder holds no model.json."""
        if not self.holds_model():
            return None
        files = self.read_metadata()["files"]
        lines = "".join(f"{name}:{files[name]['sha256']}\n" for name in sorted(files))
        return hashlib.sha256(lines.encode()).hexdigest()

    def record_metrics(self, split: str, metrics: Mapping[str, Any]) -> None:
        """Store headline metrics measured on ``split`` (e.g. "test") in ``model.json``."""
        record_metrics(self.path, split, metrics)

    def record_conformal(self, conformal: ConformalScores) -> None:
        """Store (or replace) the conformity scores in ``model.json``."""
        record_conformal(self.path, conformal)


def check_output_dir(directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """The directory a model may be saved to, checked before any work is spent on it.

    It must be new, an empty directory, or (with ``overwrite``) a model directory, which is
    then replaced whole. Training calls this first, so a long fit is never lost to a bad path.
    """
    out = Path(directory)
    if out.is_symlink():
        raise ConfigError(f"{out} is a symbolic link; give the directory it points to")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a directory; give a directory for the model")
    if out.is_dir() and any(out.iterdir()):
        if not (out / METADATA_FILE).is_file():
            raise ConfigError(f"{out} is a directory that holds other files than a model")
        if not overwrite:
            raise ConfigError(f"{out} already holds a model; pass overwrite=True to replace it")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{ancestor} is a file, so {out} cannot be created")
    try:  # a real try: permission bits do not tell (root, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=ancestor))
    except OSError as exc:
        message = f"cannot write {out}: {ancestor} refuses new entries ({exc.strerror})"
        raise ConfigError(message) from None
    return out


def save_model(
    model: GenreModel,
    directory: str | os.PathLike[str],
    *,
    name: str = "moviegenre",
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    conformal: ConformalScores | None = None,
    overwrite: bool = False,
    heldout: TrainingPredictions | None = None,
    label_rule: LabelRule | None = None,
) -> Path:
    """Write ``model`` to ``directory`` and return the directory path.

    The files are written into a hidden folder beside it that is renamed into place at the
    end, so a crash never leaves a half-written model, nor old files mixed with new ones.
    ``directory`` must pass :func:`check_output_dir`.
    """
    out = check_output_dir(directory, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    staging.mkdir()
    try:
        _write_model(model, staging, name, metrics, training, conformal, heldout, label_rule)
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` is set aside first, then deleted."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(staging, out)  # rename(2) replaces an empty directory
        return
    old = staging.with_name(staging.name.replace(".partial", ".old"))
    os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_model(
    model: GenreModel,
    staging: Path,
    name: str,
    metrics: Mapping[str, Any] | None,
    training: Mapping[str, Any] | None,
    conformal: ConformalScores | None,
    heldout: TrainingPredictions | None = None,
    label_rule: LabelRule | None = None,
) -> None:
    config, arrays = model.to_state()
    written = {}
    for file_name, (kind, group) in weight_groups(model.kind, arrays, model.member_weights).items():
        written[file_name] = write_safetensors(staging / file_name, group, kind)
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
        label_rule=label_rule,
    )
    meta = info.to_json()
    meta["files"] = written
    for name, data in model.files().items():
        if not listable(name):
            raise ModelFileError(f"a {model.kind} model asked to save an unsafe file name {name!r}")
        meta["files"][name] = write_file(staging / name, data)
    if heldout is not None:
        meta["heldout"] = write_safetensors(staging / HELDOUT_FILE, heldout.to_arrays(), "heldout")
        meta["heldout"].update(heldout.summary())
    _write_metadata(staging, meta)
    history = model.training_history()
    if history is not None:  # not part of the model: loading never reads it
        _write_json(staging / HISTORY_FILE, history)


def _write_metadata(folder: Path, meta: Mapping[str, Any]) -> None:
    """Write model.json, then MODEL_CARD.md from it (``card.py``); a card that moviegenre did
    not write (no ``card.GENERATED`` line) is a person's and is kept."""
    _write_json(folder / METADATA_FILE, meta)
    card = folder / CARD_FILE
    if card.is_file() and GENERATED not in card.read_text(encoding="utf-8", errors="replace"):
        return
    write_text(card, model_card(meta))


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def record_metrics(
    directory: str | os.PathLike[str], split: str, metrics: Mapping[str, Any]
) -> None:
    """Store headline metrics measured on ``split`` (e.g. "test") in ``model.json``."""
    folder = Path(directory)
    meta = read_metadata(folder)
    meta.setdefault("metrics", {})[split] = dict(metrics)
    _write_metadata(folder, meta)


def record_conformal(directory: str | os.PathLike[str], conformal: ConformalScores) -> None:
    """Store (or replace) the conformity scores in ``model.json`` (``moviegenre calibrate``)."""
    folder = Path(directory)
    meta = read_metadata(folder)
    meta["conformal"] = conformal.to_json()
    _write_metadata(folder, meta)
