"""The model card: ``MODEL_CARD.md`` written beside ``model.json`` from what it records.

In the spirit of Hugging Face and setfit model cards: what the model is (kind, settings,
genres), what it was trained on (files, rows, rows per genre, fingerprint), how its validation
figures were obtained and what they mean, the exact command, the package version and the files
with their checksums. Every figure is read from ``model.json`` (``meta``), so the card cannot
disagree with it; ``serialization`` writes it whenever it writes ``model.json``. Every string that
comes from the data or the model file is plain text here: Markdown punctuation is escaped and
line breaks become spaces, and the command sits in a fenced code block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

CARD_FILE = "MODEL_CARD.md"
#: The card's own line; a MODEL_CARD.md without it was written by a person and is kept.
GENERATED = "This card is written by moviegenre from `model.json`"
#: The figures of a metrics table: (key in model.json, label, what it is).
FIGURES = (
    ("accuracy", "accuracy", "share of rows whose most probable genre is the given one"),
    ("macro_f1", "macro-F1", "mean of the per-genre F1 scores: a rare genre counts as much"),
    ("weighted_f1", "weighted-F1", "per-genre F1 weighted by each genre's rows"),
    ("top3_accuracy", "top-3 accuracy", "share of rows whose given genre is among the top 3"),
)
#: The figures of a multi-label model (genre sets), in place of FIGURES.
MULTI_LABEL_FIGURES = (
    ("micro_f1", "micro-F1", "F1 over every (film, genre) pair: assigned vs true genres"),
    ("macro_f1", "macro-F1", "mean of the per-genre F1 scores: a rare genre counts as much"),
    ("samples_f1", "samples-F1", "mean over films of the F1 of its assigned vs true genres"),
    ("jaccard", "Jaccard", "mean over films of shared / all genres of assigned and true sets"),
    ("hamming_loss", "Hamming loss", "share of (film, genre) pairs decided wrongly"),
    ("hit_at_1", "hit@1", "share of films whose most probable genre is one of theirs"),
    ("hit_at_3", "hit@3", "share of films with one of their genres among the top 3"),
)
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def md(value: Any) -> str:
    """``value`` as plain text in Markdown: one line, Markdown punctuation escaped."""
    text = " ".join(str(value).split())
    return _PUNCTUATION.sub(r"\\\1", text)


def _fenced(text: str) -> str:
    """A fenced code block that no run of backticks inside ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{' '.join(text.splitlines())}\n{fence}"


def figure(value: Any) -> str:
    """A metric as the card prints it (3 decimals), or '-' when model.json has none."""
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _how_validated(training: Mapping[str, Any], rows: Any) -> str:
    how = training.get("validation")
    seed = training.get("random_state", "-")
    if how == "out-of-fold":
        return (
            f"Out-of-fold: each of the {md(rows)} training rows was predicted by a model fitted "
            f"on the other folds ({md(training.get('folds', '-'))}-fold stratified "
            f"cross-validation, seed {md(seed)}). The settings were chosen on these same "
            "predictions, so the figures are slightly optimistic."
        )
    if how == "cross-fit":
        return (
            f"Cross-fitted: each training row was predicted by members trained on the other "
            f"folds ({md(training.get('cv_folds', '-'))} folds, seed {md(seed)}); the blend was "
            "chosen on these predictions, so the figures are slightly optimistic."
        )
    if how == "holdout":
        share = training.get("val_fraction")
        part = f"{share:.0%}" if isinstance(share, int | float) else "a share"
        refit = (
            " The chosen setting was then refit on all rows: the figures are those of the "
            "model before that refit."
            if training.get("refit_on_full")
            else ""
        )
        return (
            f"Held out: {part} of the training rows (stratified, seed {md(seed)}) were kept out "
            f"of fitting and scored; the setting with the best mean of accuracy and macro-F1 "
            f"on them was chosen.{refit}"
        )
    return "model.json does not say how the validation figures were obtained."


def _metrics_table(values: Mapping[str, Any]) -> list[str]:
    lines = ["| figure | value | what it is |", "|---|---:|---|"]
    lines.append(f"| rows | {md(values.get('rows', '-'))} | rows scored |")
    shown = FIGURES if "accuracy" in values else MULTI_LABEL_FIGURES
    lines += [f"| {label} | {figure(values.get(key))} | {what} |" for key, label, what in shown]
    return lines


def model_card(meta: Mapping[str, Any]) -> str:
    """The Markdown card of the model described by ``meta`` (a validated model.json)."""
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    genres = [str(g) for g in meta.get("genres", [])]
    params = training.get("params") if isinstance(training.get("params"), dict) else {}
    settings = ", ".join(f"{md(k)} = {md(json.dumps(v))}" for k, v in params.items()) or "-"
    lines = [
        f"# Model card: {md(meta.get('name', 'moviegenre'))}",
        "",
        f"A moviegenre `{md(meta.get('kind'))}` model that classifies English movie "
        f"descriptions into {len(genres)} genres. {GENERATED} each time moviegenre writes that "
        "file; write your own notes in another file.",
        "",
        "## Model",
        "",
        "| | |",
        "|---|---|",
        f"| kind | {md(meta.get('kind'))} |",
        f"| settings (chosen or given) | {settings} |",
        f"| genres | {', '.join(md(g) for g in genres)} |",
        f"| created | {md(meta.get('created') or '-')} |",
        f"| moviegenre version | {md(meta.get('moviegenre_version') or '-')} |",
        "",
        "## Training data",
        "",
        "| | |",
        "|---|---|",
        f"| files | {md(training.get('data', '-'))} |",
        f"| rows | {md(training.get('rows', '-'))} |",
        f"| fingerprint (sha256 of texts, labels) | {md(training.get('data_fingerprint', '-'))} |",
    ]
    counts = training.get("genre_counts")
    if isinstance(counts, dict):
        lines.append(
            f"| rows per genre | {', '.join(f'{md(g)} {md(n)}' for g, n in counts.items())} |"
        )
    skipped = training.get("skipped_rows")
    if isinstance(skipped, dict) and skipped:
        left_out = ", ".join(
            f"{md(n)} {md(str(why).replace('_', ' '))}" for why, n in skipped.items()
        )
        lines.append(f"| rows left out (lacking a description or a genre) | {left_out} |")
    if isinstance(training.get("seconds"), int | float):
        lines.append(f"| training time | {training['seconds']:.1f} s |")
    lines += ["", "## Validation", ""]
    validation = metrics.get("validation")
    if isinstance(validation, dict):
        lines += [
            _how_validated(training, training.get("rows", "-")),
            "",
            *_metrics_table(validation),
        ]
    else:
        lines.append("model.json records no validation figures.")
    for name, values in metrics.items():
        if name == "validation" or not isinstance(values, dict):
            continue
        source = f" on {md(values['data'])}" if "data" in values else ""
        lines += ["", f"### Recorded as {md(name)}{source}", "", *_metrics_table(values)]
    command = training.get("command")
    lines += ["", "## How it was made", ""]
    lines += [_fenced(str(command)) if command else "model.json records no command."]
    conformal = meta.get("conformal")
    if isinstance(conformal, dict):
        lines += [
            "",
            "## Genre sets",
            "",
            f"Stores {md(len(conformal.get('scores', [])))} conformity scores "
            f"({md(conformal.get('method', '-'))}) for `predict --coverage`.",
        ]
    lines += _multi_label_lines(training.get("multi_label"))
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    heldout = meta.get("heldout")
    listed = {**files, **({"heldout.safetensors": heldout} if isinstance(heldout, dict) else {})}
    lines += ["", "## Files", "", "| file | bytes | sha256 |", "|---|---:|---|"]
    lines += [
        f"| {md(name)} | {md(entry.get('bytes', '-'))} | {md(entry.get('sha256', '-'))} |"
        for name, entry in listed.items()
        if isinstance(entry, dict)
    ]
    return "\n".join(lines) + "\n"


def _multi_label_lines(record: Any) -> list[str]:
    """The card's section on several genres per film: the training record's threshold choice."""
    if not isinstance(record, dict):
        return []
    return [
        "",
        "## Several genres per film",
        "",
        f"Multi-label: trained on genre sets (mean {md(record.get('label_cardinality', '-'))} "
        "genres per film); each genre has its own probability, and the model assigns the "
        "genres at or above their thresholds (at least the most probable one).",
        "",
        f"Thresholds: {md(record.get('thresholds', '-'))}.",
        "",
        f"Recall sets (`predict --recall`): conformal risk control on "
        f"{md(record.get('recall_rows', '-'))} held-out training rows.",
    ]
