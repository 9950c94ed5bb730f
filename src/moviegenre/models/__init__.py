"""Model kinds, looked up by name so that heavy backends (torch) load only when used."""

from __future__ import annotations

from importlib import import_module

from moviegenre.errors import ModelFileError
from moviegenre.models.base import GenreModel

#: kind name -> "module:Class". Each module is imported only when its kind is used.
MODEL_KINDS: dict[str, str] = {
    "linear": "moviegenre.models.linear:LinearGenreModel",
    "encoder": "moviegenre.models.encoder:EncoderGenreModel",
    "ensemble": "moviegenre.models.ensemble:EnsembleGenreModel",
    "blend": "moviegenre.models.ensemble:BlendGenreModel",
    "finetune": "moviegenre.models.finetune:FinetuneGenreModel",
    "static": "moviegenre.models.static:StaticGenreModel",
    "fast": "moviegenre.models.static:FastGenreModel",
}


def model_class(kind: str) -> type[GenreModel]:
    """Return the class implementing ``kind``; unknown kinds get a message listing known ones."""
    try:
        target = MODEL_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(MODEL_KINDS))
        raise ModelFileError(f"unknown model kind {kind!r}; this version knows: {known}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)


__all__ = ["GenreModel", "MODEL_KINDS", "model_class"]
