"""The 27 genres of the IMDb genre dataset, in the column order every model uses.

A model trained on a user's own data carries its own label set (see ``model.json``); this
tuple is the taxonomy of the bundled model and of the IMDb data.
"""

from __future__ import annotations

GENRES: tuple[str, ...] = (
    "action",
    "adult",
    "adventure",
    "animation",
    "biography",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "family",
    "fantasy",
    "game-show",
    "history",
    "horror",
    "music",
    "musical",
    "mystery",
    "news",
    "reality-tv",
    "romance",
    "sci-fi",
    "short",
    "sport",
    "talk-show",
    "thriller",
    "war",
    "western",
)


def normalise_label(label: str) -> str:
    """Lower-case and strip a raw label, as the IMDb files pad genres with spaces."""
    return label.strip().lower()
