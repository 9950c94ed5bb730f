"""Model directories: ``model.json`` (metadata) + weight files; never unpickled.

A model directory is untrusted input that must be safe to download. Loading reads JSON and raw
tensors only, and refuses anything it cannot vouch for before using it: the whole ``model.json``
is validated first (size, nesting, every known field's type and range; unknown top-level keys
are ignored, never used); pickle-style files, symbolic links that leave the folder and listed
files that are links are refused; the sha256 and size of every listed file are checked before it
is parsed; every weight must be finite; names in ``requires`` are looked up in a fixed table and
never imported; a ``cache_dir`` among the settings is ignored. Last, the model must turn a fixed
text into finite probabilities that sum to 1 (a multi-label model: each in [0, 1]).

The modules, lowest first: ``schema`` (file names, limits, the validators of model.json),
``info`` (``ModelInfo``), ``safety`` (refusals, requirement checks, the probe), ``arrays``
(weight files), ``load`` (reading a folder), ``store`` (``ModelDir``, the one door: staged
save, records, reading). Code outside this package uses ``ModelDir`` and the names below.
"""

from __future__ import annotations

from moviegenre._util import sha256_file
from moviegenre.serialization.info import ModelInfo
from moviegenre.serialization.load import load_model, read_metadata
from moviegenre.serialization.safety import UNSAFE_SUFFIXES, check_requirements
from moviegenre.serialization.schema import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HISTORY_FILE,
    KNOWN_REQUIREMENTS,
    LISTED_SUFFIXES,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    METADATA_FIELDS,
    METADATA_FILE,
    WEIGHT_SUFFIXES,
    WEIGHTS_FILE,
)
from moviegenre.serialization.store import (
    ModelDir,
    check_output_dir,
    record_conformal,
    record_metrics,
    save_model,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HISTORY_FILE",
    "KNOWN_REQUIREMENTS",
    "LISTED_SUFFIXES",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "METADATA_FIELDS",
    "METADATA_FILE",
    "UNSAFE_SUFFIXES",
    "WEIGHTS_FILE",
    "WEIGHT_SUFFIXES",
    "ModelDir",
    "ModelInfo",
    "check_output_dir",
    "check_requirements",
    "load_model",
    "read_metadata",
    "record_conformal",
    "record_metrics",
    "save_model",
    "sha256_file",
]
