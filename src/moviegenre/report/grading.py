"""Grade a model on a labelled file without using the rows it trained on.

Rows the model never trained on are predicted now; rows it trained on (found by the hashes of
their texts that training keeps, ``heldout.py``) are graded with the held-out predictions it
made of them during training; a model that keeps no hashes is not graded on a file that
model.json says it trained on (same fingerprint, or a training file of the same name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import plural
from moviegenre.classifier import GenreClassifier
from moviegenre.data import Dataset, dataset_fingerprint
from moviegenre.metrics import score


def _same_data(dataset: Dataset, classifier: GenreClassifier) -> bool:
    recorded = classifier.info.training.get("data_fingerprint")
    return bool(recorded) and recorded == dataset_fingerprint(dataset.texts, dataset.labels)


def _named_training_file(dataset: Dataset, classifier: GenreClassifier) -> bool:
    """Whether model.json names a training file with the report's file name (no row hashes)."""
    recorded = classifier.info.training.get("data")
    names = {Path(part.strip()).name for part in str(recorded or "").split(" + ")}
    mine = {Path(part.strip()).name for part in str(dataset.source).split(" + ")}
    return bool(names & mine - {""})


@dataclass
class ModelGrade:
    """The model's scores on the report's data, never computed on rows it trained on.

    Rows the model never trained on are predicted now (``live_rows``); rows it trained on are
    graded with the held-out predictions it made of them during training (``held_rows``), or
    left out when it kept none (``excluded_rows``). ``metrics`` is None when no row is left.
    """

    metrics: dict[str, Any] | None
    live_rows: int = 0
    held_rows: int = 0
    excluded_rows: int = 0
    skipped: int = 0
    #: "none": no row was trained on; "rows": row hashes found some; "file": model.json names
    #: this file (or its fingerprint matches) but keeps no row hashes; "unknown": no record.
    overlap: str = "unknown"
    protocol: str = ""

    def note(self) -> str:
        """What the grade is, in plain words."""
        live = f"{plural(self.live_rows, 'row')} the model never trained on, predicted now"
        held = (
            f"{plural(self.held_rows, 'row')} it trained on, graded with the {self.protocol} "
            "predictions it made of them during training (by models that had not seen them)"
        )
        if self.overlap == "none":
            text = f"Scored on {live}; model.json's hashes of its training rows match none."
        elif self.overlap == "rows":
            parts = [p for n, p in ((self.live_rows, live), (self.held_rows, held)) if n]
            text = "Scored on " + " and ".join(parts) + "." if parts else ""
            if self.excluded_rows:
                text += (
                    f" {plural(self.excluded_rows, 'row')} the model trained on without a held-out "
                    "prediction are left out."
                )
        elif self.overlap == "file":
            text = ""
        else:
            text = (
                "Scores on the report's data. The model keeps no record of its training rows, "
                "so if it trained on this file (or part of it) they are optimistic; a held-out "
                "file gives the fair estimate."
            )
        if self.metrics is None and self.overlap == "file":
            text += (
                "model.json says the model was trained on this file, and the model keeps no "
                "held-out predictions of its rows, so this report cannot grade it on this file; "
                "the validation figures recorded in model.json are its honest estimate."
            )
        elif self.metrics is None and self.overlap == "rows":
            text += (
                " The model trained on every row of this file and keeps no held-out prediction "
                "of them, so this report cannot grade it on this file; the validation figures "
                "recorded in model.json are its honest estimate."
            )
        if self.skipped:
            text += f" {self.skipped} empty description(s) were left out."
        return text.strip()


def model_scores(
    dataset: Dataset, classifier: GenreClassifier, *, batch_size: int = 256
) -> ModelGrade:
    """Grade ``classifier`` on the labelled, non-empty rows of ``dataset`` (see ModelGrade)."""
    if not dataset.has_labels:
        return ModelGrade(None, overlap="none")
    keep = [i for i, t in enumerate(dataset.texts) if t.strip()]
    skipped = len(dataset) - len(keep)
    texts = [dataset.texts[i] for i in keep]
    labels = [str(dataset.labels[i]) for i in keep] if dataset.labels else []
    stored = classifier.info.heldout
    held_row = np.full(len(keep), -1)
    if stored is not None:
        seen, held_row = stored.match(texts)
        overlap = "rows" if seen.any() else "none"
    elif _same_data(dataset, classifier) or _named_training_file(dataset, classifier):
        seen, overlap = np.ones(len(keep), dtype=bool), "file"
    else:
        seen, overlap = np.zeros(len(keep), dtype=bool), "unknown"
    protocol = str(classifier.info.training.get("validation", "held-out"))
    live = np.flatnonzero(~seen)
    held = np.flatnonzero(seen & (held_row >= 0))
    grade = ModelGrade(None, len(live), len(held), int(seen.sum()) - len(held), skipped,
                       overlap, protocol)  # fmt: skip
    if not len(live) and not len(held):
        return grade
    parts = []
    if len(live):
        parts.append(classifier.predict_proba([texts[i] for i in live], batch_size=batch_size))
    if len(held):
        parts.append(stored.proba[held_row[held]].astype(np.float64))  # type: ignore[union-attr]
    rows = np.concatenate([live, held])
    grade.metrics = score([labels[i] for i in rows], np.vstack(parts), classifier.genres)
    return grade
