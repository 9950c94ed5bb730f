"""Several genres per film: multi-label models vs the bundled single-label ones, thresholds,
and recall-controlled sets, on the shared IMDb multi-label sample.

Data: ``../shared/data/imdb-multilabel/imdb_movies_sample.csv`` (IMDb's comma-separated
genre lists, read by ``load_dataset`` as ``moviegenre train`` reads them: genre names
normalised, the 48 rows without a description skipped). Split: one stratified
80/20 hold-out (``selection.holdout``, the splitter training uses: each film is stratified
by its rarest genre), seeded by ``--seed``; every model is trained on the 80% exactly as
``moviegenre train`` trains it and scored on the 20% it never saw.

Reported on the test rows:

- hit@1 / hit@3 against each film's genre set, for every multi-label kind trained here and
  for the bundled single-label models (``linear`` and the default), which transfer as they are;
- the multi-label scores (micro-, macro-, samples-F1, Jaccard, Hamming loss) at the per-genre
  thresholds chosen on the training rows' out-of-fold predictions, and at one global 0.5;
- recall sets (``classify(recall=...)``, conformal risk control on the stored held-out rows):
  the achieved mean recall (share of a film's true genres in its set) and the mean set size.

Kinds: ``linear`` by default; a kind whose ``supports_multi_label`` is False in this version
(``blend`` before the encoder's multi-label head lands) is listed as skipped, not faked.

    python benchmarks/multilabel.py --append
    python benchmarks/multilabel.py linear blend --append
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
from _results import append_results
from _setup import MULTI_LABEL_DATA

RECALLS = (0.8, 0.9, 0.95)


def load_sample(path: Path):
    """The sample as a multi-label Dataset, read as ``moviegenre train`` reads it (genre lists
    split on the detected ','; rows without a description skipped, with a warning)."""
    from moviegenre.data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(path, require_labels=True)


def recall_rows(proba, truth, threshold: float) -> tuple[float, float]:
    """Achieved mean recall and mean size of the sets ``p >= threshold`` (at least the top)."""
    from moviegenre.multilabel import decide_sets

    chosen = decide_sets(proba, threshold)
    hit = (chosen & truth).sum(axis=1) / np.maximum(truth.sum(axis=1), 1)
    return float(hit.mean()), float(chosen.sum(axis=1).mean())


def _hit_row(model: str, trained_on: str, h: dict) -> str:
    return f"| {model} | {trained_on} | {h['hit_at_1']:.3f} | {h['hit_at_3']:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kinds", nargs="*", default=["linear"], help="multi-label kinds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 80/20 split")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled models")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    from moviegenre.classifier import GenreClassifier
    from moviegenre.metrics import hit_rates, multi_label_score
    from moviegenre.models import model_class
    from moviegenre.multilabel import indicator
    from moviegenre.selection import holdout
    from moviegenre.training import TrainSettings, train

    data = load_sample(MULTI_LABEL_DATA)
    train_idx, test_idx = holdout(data.labels, val_fraction=0.2, random_state=args.seed)
    train_set, test = data.subset(train_idx), data.subset(test_idx)
    sets = list(test.labels)

    hits = ["| model | trained on | hit@1 | hit@3 |", "|---|---|---:|---:|"]
    f1s = [
        "| model | thresholds | micro-F1 | macro-F1 | samples-F1 | Jaccard | Hamming loss "
        "| genres per film |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    recalls = [
        "| model | recall asked | achieved mean recall | mean set size |",
        "|---|---:|---:|---:|",
    ]
    notes = []
    for kind in args.kinds:
        if not model_class(kind).supports_multi_label:
            notes.append(f"- `{kind}`: skipped, this version's {kind} cannot learn genre sets.")
            continue
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = train(train_set, TrainSettings(kind=kind, random_state=args.seed)).classifier
        seconds = time.perf_counter() - started
        proba = clf.predict_proba(test.texts)
        rule = clf.info.label_rule
        h = hit_rates(sets, proba, clf.genres)
        hits.append(_hit_row(f"{kind} multi-label", "sample 80%", h))
        for name, thresholds in (
            ("per genre (out-of-fold F1)", rule.thresholds),
            ("global 0.5", np.full(len(clf.genres), 0.5)),
        ):
            m = multi_label_score(sets, proba, clf.genres, thresholds)
            f1s.append(
                f"| {kind} | {name} | {m['micro_f1']:.3f} | {m['macro_f1']:.3f} | "
                f"{m['samples_f1']:.3f} | {m['jaccard']:.3f} | {m['hamming_loss']:.4f} | "
                f"{m['predicted_cardinality']:.2f} |"
            )
        truth = indicator(sets, clf.genres)
        for recall in RECALLS:
            achieved, size = recall_rows(proba, truth, clf.recall_threshold(recall))
            recalls.append(f"| {kind} | {recall:.2f} | {achieved:.3f} | {size:.2f} |")
        own = ", ".join(rule.describe(clf.genres).split("; ")[1:]) or "none"
        notes.append(
            f"- `{kind}`: trained in {seconds:.0f} s; C {clf.info.training['params'].get('C')}; "
            f"{int(rule.per_genre.sum())} of {len(clf.genres)} genres got their own threshold; "
            f"global: {own}."
        )
    if not args.no_bundled:
        for name in ("linear", "default"):
            clf = GenreClassifier.load(None if name == "default" else name)
            h = hit_rates(sets, clf.predict_proba(test.texts), clf.genres)
            label = f"bundled {name} ({clf.kind}), single-label"
            hits.append(_hit_row(label, "imdb-genre train file", h))
    table = "\n\n".join(["\n".join(hits), "\n".join(f1s), "\n".join(recalls)])
    if notes:
        table += "\n\n" + "\n".join(notes)
    print(table)
    if args.append:
        note = (
            f"Data: {MULTI_LABEL_DATA.name} ({len(data):,} films with a description, read by "
            f"`load_dataset`). Split: stratified 80/20 hold-out by each film's rarest genre "
            f"(`selection.holdout`, seed {args.seed}): {len(train_set):,} training / "
            f"{len(test):,} test films; all figures on the test films. Thresholds and recall "
            f"sets come from the training rows' out-of-fold predictions only. Load average "
            f"before the run: {load}.\n"
        )
        append_results("Several genres per film (multi-label)", table, note)


if __name__ == "__main__":
    main()
