# Long: the public API of one classifier: load, checked batched predict, sets, explain, info.
"""GenreClassifier: the public face of every model kind (load, predict, predict_proba, classify).

``predict`` is for people: it checks its input (seed rules by default) and raises one clear
error naming every refused text. ``classify`` is for pipelines (API, batch): it never raises for
bad content; each result carries either genres or the reason it was refused.
``predict_proba`` is for evaluation: a probability matrix with columns in ``genres`` order.

A multi-label model (``info.multi_label``) gives independent per-genre probabilities; its
answer is the genres at or above their thresholds (``Prediction.labels``, ``predict_labels``),
and its sets control recall (``classify(recall=...)``, conformal risk control) instead of
coverage. ``predict`` still ranks the genres (top_k) for both kinds of model.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moviegenre.card import CARD_FILE
from moviegenre.checks import (
    NO_CONTENT_CHECKS,
    CheckSettings,
    TextCheck,
    as_text_list,
    check_texts,
    raise_for_problems,
)
from moviegenre.conformal import HOW_TO_ADD, ConformalScores, SetBasis, check_coverage
from moviegenre.errors import ConfigError
from moviegenre.heldout import TrainingPredictions
from moviegenre.models import GenreModel
from moviegenre.multilabel import LabelRule, check_recall, decide_sets
from moviegenre.results import GenreScores, Prediction, top_k_of
from moviegenre.serialization import METADATA_FILE, ModelDir, ModelInfo

if TYPE_CHECKING:  # explain.py is imported by explain(): a cold predict never needs it
    from moviegenre.explain import Explanation

#: Models that ship inside the package, one folder of pretrained/ each (see MODEL_CARD.md).
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
BUNDLED_MODELS: tuple[str, ...] = ("blend", "linear")
#: What ``GenreClassifier.load()`` gives without a path or $MOVIEGENRE_MODEL.
DEFAULT_MODEL = "blend"
BUNDLED_MODEL_DIR = PRETRAINED_DIR / DEFAULT_MODEL
#: Environment variable that points ``GenreClassifier.load()`` at another model directory.
MODEL_ENV = "MOVIEGENRE_MODEL"
#: Files a bundled model reads from another bundled model's folder instead of keeping a copy
#: (checked against its own model.json's sha256 at load): the default blend's linear member
#: is byte-for-byte the bundled ``linear``, so the package ships those 21 MB once.
SHARED_FILES: dict[str, dict[str, str]] = {
    "linear": {"weights.safetensors": "blend/linear.weights.safetensors"}
}

#: Why a multi-label model gives no coverage sets, and what to ask for instead.
NO_COVERAGE_SETS = (
    "coverage sets are for single-label models; this model is multi-label: ask for recall sets "
    "instead (recall=0.9, --recall 0.9: sets holding 90% of a film's genres on average)"
)


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def bundled_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or the folder of the bundled model of that name when ``path`` is not a
    model folder (it does not exist, or it has no model.json: a folder that happens to be
    called ``blend`` does not hide the bundled model; a warning says both exist)."""
    folder = Path(path)
    if str(path) not in BUNDLED_MODELS:
        return folder
    if not folder.exists():
        return PRETRAINED_DIR / str(path)
    if not ModelDir(folder).holds_model():
        warnings.warn(
            f"a folder {str(path)!r} exists here but holds no {METADATA_FILE}, so the bundled "
            f"model {str(path)!r} was loaded; pass a model folder's path to load another",
            stacklevel=3,
        )
        return PRETRAINED_DIR / str(path)
    return folder


def shared_sources(folder: Path) -> dict[str, Path]:
    """Where a bundled model folder's shared files are (``SHARED_FILES``); {} for any other
    folder, so a user's model can never read files from outside its own folder."""
    try:
        bundled = folder.resolve().parent == PRETRAINED_DIR.resolve()
    except OSError:
        return {}
    shared = SHARED_FILES.get(folder.name, {}) if bundled else {}
    return {name: PRETRAINED_DIR / where for name, where in shared.items()}


def bundled_models() -> list[dict[str, Any]]:
    """Name, kind, whether it is multi-label, size (of the files it loads; a shared file
    counts for each model that loads it) and recorded scores of each bundled model, default
    first.

    ``benchmark``: the model's recipe trained on the shared training file and scored on the
    shared test file; ``speed``: what benchmarks/serving.py measured on 2 cores.
    """
    rows = []
    for name in sorted(BUNDLED_MODELS, key=lambda n: n != DEFAULT_MODEL):
        folder = PRETRAINED_DIR / name
        meta = ModelDir(folder).read_metadata()
        shared = SHARED_FILES.get(name, {})
        size = ModelDir(folder).metadata_path.stat().st_size + sum(
            int(f["bytes"]) for f in meta["files"].values()
        )
        metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_MODEL,
                "kind": meta["kind"],
                "multi_label": meta["config"].get("multi_label") is True,
                "megabytes": round(size / 1e6, 1),
                "path": str(folder),
                "validation": metrics.get("validation", {}),
                "benchmark": metrics.get("benchmark", {}),
                "speed": metrics.get("speed", {}),
                "shares_files_with": sorted({w.split("/")[0] for w in shared.values()}),
                "card": next(
                    (
                        str(f / CARD_FILE)
                        for f in (folder, PRETRAINED_DIR)
                        if (f / CARD_FILE).is_file()
                    ),
                    None,
                ),
            }
        )
    return rows


class GenreClassifier:
    """A loaded model plus the input checks applied before it sees a text."""

    def __init__(
        self,
        model: GenreModel,
        info: ModelInfo,
        *,
        checks: CheckSettings | None = None,
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.info = info
        self.checks = checks if checks is not None else CheckSettings()
        self.path = path

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, checks: CheckSettings | None = None
    ) -> GenreClassifier:
        """Load a model directory, or a bundled model by name (``"linear"``).

        ``None`` means $MOVIEGENRE_MODEL, else the default bundled model. A name that is also
        an existing model folder loads the folder; a folder of that name without model.json
        loads the bundled model, with a warning.
        """
        if path is None:
            path = os.environ.get(MODEL_ENV) or BUNDLED_MODEL_DIR
        folder = bundled_path(path)
        model, info = ModelDir(folder).load(sources=shared_sources(folder))
        return cls(model, info, checks=checks, path=folder)

    @classmethod
    def from_model(
        cls,
        model: GenreModel,
        *,
        name: str = "moviegenre",
        metrics: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
        checks: CheckSettings | None = None,
        conformal: ConformalScores | None = None,
        heldout: TrainingPredictions | None = None,
        label_rule: LabelRule | None = None,
    ) -> GenreClassifier:
        """Wrap a freshly fitted model (what ``train`` returns) without saving it first.

        ``heldout``: the training rows' hashes and held-out predictions (``heldout.py``).
        ``label_rule``: a multi-label model's thresholds (training chooses them on held-out
        rows); a multi-label model given none decides at 0.5 and gives no recall sets.
        """
        info = ModelInfo.of(
            model,
            name=name,
            metrics=dict(metrics or {}),
            training=dict(training or {}),
            conformal=conformal,
            heldout=heldout,
        )
        if info.multi_label and label_rule is None:
            label_rule = LabelRule.fixed(len(info.genres))
        if not info.multi_label and label_rule is not None:
            raise ConfigError("a label_rule (decision thresholds) needs a multi-label model")
        info.label_rule = label_rule
        return cls(model, info, checks=checks)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model directory (model.json + weights.safetensors); an existing model
        there is replaced only with ``overwrite`` (see ``ModelDir.check_writable``)."""
        self.path = ModelDir(path).save(
            self.model,
            name=self.info.name,
            metrics=self.info.metrics,
            training=self.info.training,
            conformal=self.info.conformal,
            overwrite=overwrite,
            heldout=self.info.heldout,
            label_rule=self.info.label_rule,
        )
        return self.path

    # -- description ----------------------------------------------------------------------

    @property
    def genres(self) -> list[str]:
        """The labels, in the column order of ``predict_proba``."""
        return list(self.info.genres)

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.info.metrics)

    @property
    def card_path(self) -> Path | None:
        """The model's MODEL_CARD.md: in its folder (``train`` writes one), else the one its
        folder shares with its siblings (the bundled models'); None when there is none."""
        if self.path is None:
            return None
        for folder in (Path(self.path), Path(self.path).parent):
            if (folder / CARD_FILE).is_file():
                return folder / CARD_FILE
        return None

    def __repr__(self) -> str:
        return (
            f"GenreClassifier(name={self.name!r}, kind={self.kind!r}, "
            f"genres={len(self.genres)}, path={self.path})"
        )

    # -- prediction -----------------------------------------------------------------------

    def _validate(self, top_k: int | None, batch_size: int) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if top_k is not None and not 1 <= top_k <= len(self.genres):
            raise ConfigError(f"top_k must be between 1 and {len(self.genres)}, got {top_k}")

    def _proba(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.genres)))
        parts = [self.model.predict_proba(texts[s]) for s in _batches(len(texts), batch_size)]
        return np.vstack(parts)

    def _checked(self, texts: Any, check: bool) -> list[TextCheck]:
        results = check_texts(as_text_list(texts), self.checks if check else NO_CONTENT_CHECKS)
        raise_for_problems(results)
        return results

    def predict_proba(
        self, texts: Any, *, batch_size: int = 256, check: bool = False
    ) -> np.ndarray:
        """Probabilities, one row per text and one column per entry of ``genres``.

        Only non-strings and empty texts are refused unless ``check=True``, so that a labelled
        test set (whose descriptions may be short) can be scored as it is.
        """
        self._validate(None, batch_size)
        results = self._checked(texts, check)
        return self._proba([r.text for r in results], batch_size)

    def predict(
        self, texts: Any, top_k: int = 1, *, batch_size: int = 256, check: bool = True
    ) -> list[GenreScores]:
        """Top-``top_k`` (genre, probability) pairs per text, most probable first.

        Raises InvalidTextError naming each text that fails the checks (``self.checks``);
        ``check=False`` skips the word-count and language rules.
        """
        self._validate(top_k, batch_size)
        results = self._checked(texts, check)
        proba = self._proba([r.text for r in results], batch_size)
        return top_k_of(proba, self.genres, top_k)

    def classify(
        self,
        texts: Any,
        top_k: int = 1,
        *,
        batch_size: int = 256,
        check: bool = True,
        coverage: float | None = None,
        class_conditional: bool = False,
        recall: float | None = None,
    ) -> list[Prediction]:
        """Like ``predict`` but never raises for a bad text: it comes back with its error.

        With ``coverage`` each result also carries its conformal ``genre_set`` (see
        ``predict_set``). For a multi-label model each result carries its assigned genres
        (``labels``), and ``recall`` asks for sets that hold that mean share of a film's
        true genres (``recall_sets``); ``coverage`` is refused for it.
        """
        self._validate(top_k, batch_size)
        if recall is not None and coverage is not None:
            raise ConfigError(
                "ask for coverage (single-label sets) or recall (multi-label), not both"
            )
        conformal = self.require_conformal(coverage) if coverage is not None else None
        limit = self.recall_threshold(recall) if recall is not None else None
        texts = as_text_list(texts)
        results = check_texts(texts, self.checks if check else NO_CONTENT_CHECKS)
        good = [i for i, r in enumerate(results) if r.ok]
        proba = self._proba([results[i].text for i in good], batch_size)
        out = [Prediction(error=r.problem, code=r.code, truncated=r.truncated) for r in results]
        for i, scores in zip(good, top_k_of(proba, self.genres, top_k), strict=True):
            out[i].genres = scores
        if self.info.label_rule is not None:
            assigned = self._chosen(proba, self.info.label_rule.decide(proba))
            for i, labels in zip(good, assigned, strict=True):
                out[i].labels = labels
        if limit is not None and recall is not None:
            chosen = self._chosen(proba, decide_sets(proba, limit))
            for i, genre_set in zip(good, chosen, strict=True):
                out[i].genre_set = genre_set
            for result in out:
                result.recall = float(recall)
        if conformal is not None and coverage is not None:
            sets = self._sets(conformal, proba, coverage, class_conditional)
            for i, genre_set in zip(good, sets, strict=True):
                out[i].genre_set = genre_set
            for result in out:
                result.coverage = float(coverage)
        return out

    def _chosen(self, proba: np.ndarray, chosen: np.ndarray) -> list[GenreScores]:
        """Each row's chosen genres (a boolean matrix) with their probabilities, most
        probable first."""
        order = np.argsort(-proba, axis=1, kind="stable")
        return [
            [(self.genres[j], float(row[j])) for j in idx if keep[j]]
            for row, idx, keep in zip(proba, order, chosen, strict=True)
        ]

    def predict_labels(
        self, texts: Any, *, batch_size: int = 256, check: bool = True
    ) -> list[GenreScores]:
        """Per text, the genres a multi-label model assigns (each at or above its threshold,
        at least the most probable one), most probable first; a single-label model assigns
        its top genre. Raises like ``predict``."""
        self._validate(None, batch_size)
        results = self._checked(texts, check)
        proba = self._proba([r.text for r in results], batch_size)
        rule = self.info.label_rule
        chosen = rule.decide(proba) if rule is not None else decide_sets(proba, 1.0 + 1e-9)
        return self._chosen(proba, chosen)

    def recall_threshold(self, recall: Any) -> float:
        """The probability threshold of this multi-label model's sets at mean ``recall``
        (conformal risk control on the held-out rows stored with it; ``multilabel.py``).
        ConfigError for a single-label model, naming ``coverage``."""
        check_recall(recall)
        if self.info.label_rule is None:
            raise ConfigError(
                "recall sets are for multi-label models (trained on several genres per film); "
                "this model is single-label: ask for coverage sets instead (--coverage)"
            )
        return self.info.label_rule.recall_threshold(recall)

    def require_conformal(self, coverage: Any) -> ConformalScores:
        """The stored conformity scores, after checking ``coverage``; ConfigError naming the fix."""
        check_coverage(coverage)
        if self.info.multi_label:
            raise ConfigError(NO_COVERAGE_SETS)
        if self.info.conformal is None:
            where = f" {self.path}" if self.path else ""
            raise ConfigError(
                f"model{where} has no conformity scores, so it cannot give genre sets; "
                + HOW_TO_ADD
            )
        return self.info.conformal

    def _sets(
        self, conformal: ConformalScores, proba: np.ndarray, coverage: float, by_genre: bool
    ) -> list[GenreScores]:
        if not isinstance(by_genre, bool):
            raise ConfigError(f"class_conditional must be True or False, got {by_genre!r}")
        sets = conformal.sets(proba, coverage, by_genre)
        return [
            [(self.genres[j], float(row[j])) for j in idx]
            for row, idx in zip(proba, sets, strict=True)
        ]

    def predict_set(
        self,
        texts: Any,
        coverage: float = 0.9,
        *,
        batch_size: int = 256,
        class_conditional: bool = False,
        check: bool = True,
    ) -> list[GenreScores]:
        """Per text, the conformal set of genres (with probabilities, most probable first).

        Over texts like the training data, at least ``coverage`` of the sets hold the true
        genre (marginal coverage, split conformal APS; see ``moviegenre.conformal``); with
        ``class_conditional=True`` the rate holds for each true genre, with larger sets for
        rare ones. Sets are never empty. Needs scores stored with the model (``train`` and
        ``calibrate`` store them); raises ConfigError naming the fix otherwise.
        """
        self._validate(None, batch_size)
        conformal = self.require_conformal(coverage)
        results = self._checked(texts, check)
        proba = self._proba([r.text for r in results], batch_size)
        return self._sets(conformal, proba, coverage, class_conditional)

    def set_basis(self, coverage: float = 0.9, *, class_conditional: bool = False) -> SetBasis:
        """Why this model's sets at ``coverage`` are as large as they are: how often its
        ranking held the true genre on the labelled rows behind its conformity scores
        (``.describe(clf.genres)`` says it in words). Needs no text: sets depend on the text
        only through its ranking (and, for APS scores, its probabilities)."""
        return self.require_conformal(coverage).basis(coverage, class_conditional)

    def explain(self, text: str, top_k: int = 3, **options: Any) -> Explanation:
        """Top genres of ``text`` plus each word's signed weight toward the first (an Explanation).

        Uses the model's own weights when it has them, else sampled Banzhaf values with a noise
        band per word (``samples``: SampleSettings); see ``moviegenre.explain``.
        """
        from moviegenre.explain import explain

        return explain(self, text, top_k, **options)


def export_model(
    model: str | os.PathLike[str], directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write a self-contained copy of ``model`` (a bundled name or a model folder) to
    ``directory`` and return its path (``moviegenre export NAME DIR``).

    A plain copy of a bundled folder is incomplete: the bundled ``linear`` reads its weights
    from the blend's folder (``SHARED_FILES``), so its copy would lack them. Here the model is
    loaded (every file checked) and saved whole by ``GenreClassifier.save`` (serialization's staged
    save), weights byte for byte; ``calibrate`` and ``evaluate --record-as`` accept the copy.
    ``directory`` follows ``ModelDir.check_writable`` (new or empty; ``overwrite`` replaces a
    model there).
    """
    ModelDir(directory).check_writable(overwrite=overwrite)
    return GenreClassifier.load(model).save(directory, overwrite=overwrite)
