"""The schema of ``model.json``: its file names, limits, and one validator per known field.

Everything here reads untrusted JSON without trusting it: :func:`parse_metadata` refuses a file
that is too large, repeats a key or is not JSON; :func:`validate_metadata` checks the format
marker and version, that nothing nests too deeply or holds NaN/infinity, then every known
top-level key with its validator (unknown keys are ignored, never used).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moviegenre._util import MODEL_REQUIREMENTS
from moviegenre._version import __version__
from moviegenre.errors import ModelFileError
from moviegenre.heldout import HELDOUT_FILE
from moviegenre.models import MODEL_KINDS

FORMAT_NAME = "moviegenre-model"
FORMAT_VERSION = 1
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
#: Training curves (per-epoch loss and accuracy) a kind may leave beside the weights; the
#: report draws them. Not part of the model: loading never reads it.
HISTORY_FILE = "history.json"
#: Files whose arrays ``load_model`` reads and hands to the kind's ``from_state``.
WEIGHT_SUFFIXES = (".safetensors", ".npz")
#: What ``files`` in model.json may list: weights, plus artifacts (an ONNX graph, a tokenizer).
LISTED_SUFFIXES = (*WEIGHT_SUFFIXES, ".onnx", ".json")
#: The only modules a model file may name in ``requires`` (``_util.OPTIONAL_MODULES``).
#: They are looked up, never imported, and an error names only the extra.
KNOWN_REQUIREMENTS: tuple[str, ...] = MODEL_REQUIREMENTS
#: model.json larger or more deeply nested than this is refused before any field is used.
MAX_METADATA_BYTES = 2 << 20
MAX_METADATA_DEPTH = 32


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
    return f"is {show(value)}, an unknown model kind; this version knows: " + ", ".join(
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
            f"names {show(unknown[0])}, which is not a module moviegenre models use "
            f"(known: {', '.join(KNOWN_REQUIREMENTS)})"
        )
    return None


_SHA256 = re.compile(r"[0-9a-f]{64}")


def listable(name: Any) -> bool:
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
        if not listable(name):
            return (
                f"lists {show(name)}; only plain {', '.join(LISTED_SUFFIXES)} file names inside "
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


def show(value: Any) -> str:
    """A value from a model file, quoted and cut short for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(k for k in keys if keys.count(k) > 1)
        raise ModelFileError(f"repeats the key {show(repeated)}")
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


def parse_metadata(path: Path) -> Any:
    """The JSON of ``path`` (model.json), refused when it is a link, too large, repeats a key,
    nests too deeply or is not JSON; not yet validated (:func:`validate_metadata`)."""
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


def validate_metadata(meta: Any, path: Path) -> dict[str, Any]:
    """``meta`` (parsed from ``path``) after checking its format, its tree and every known
    field; the first problem is a one-line ModelFileError."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a moviegenre model description (no format marker)")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        hint = "upgrade moviegenre" if isinstance(version, int) and version > FORMAT_VERSION else ""
        raise ModelFileError(
            f"{path} has model format version {show(version)}; this moviegenre ({__version__}) "
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
