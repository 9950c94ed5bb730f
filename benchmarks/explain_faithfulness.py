"""Are the explanations faithful? A deletion test on the shared test texts, per bundled model.

For each of ``--texts`` test descriptions (a seeded sample of those that pass the input checks),
explain the top genre, then delete words from the text and compare the explained genre's
log-probability:

- positive test: deleting the explanation's 3 highest-weighted words lowers log p(genre) more
  than deleting 3 words drawn at random (seeded per text) does;
- negative test: deleting its 3 lowest-weighted (most negative) words raises log p(genre) more
  than (i.e. ends higher than) deleting the same 3 random words.

Words are ranked by weight whether or not they lie inside their noise band (this tests the
ranking, not the colouring); a text with fewer than 3 positive (negative) words sits out the
positive (negative) test and is counted in the "too few" column. The table also gives the
share of words outside their noise band (coloured on the page) and the explanation seconds
per text. The same tests are then repeated with only the words outside their noise band (the
ones the page colours). Ctrl-C stops a model early: its row covers the texts done and says so.
``--append`` adds the table to benchmarks/RESULTS.md.

    python benchmarks/explain_faithfulness.py --texts 200 --append
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
from _results import append_results
from _setup import load

from moviegenre.explain import SampleSettings

REMOVED = 3


def sample_texts(n: int, seed: int) -> list[str]:
    """``n`` test descriptions that pass the default checks, drawn with ``seed``."""
    from moviegenre.checks import check_text

    texts = [t for t in load("test_data_solution.txt").texts if check_text(t).ok]
    picked = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(picked)]


TESTS = ("pos", "neg", "pos_coloured", "neg_coloured")


def deletion_tests(classifier: Any, result: Any, rng: np.random.Generator) -> dict[str, bool]:
    """Each test this explanation takes part in, and whether it passed (see the docstring)."""
    from moviegenre.explain import without

    text, words = result.text, result.words
    spans = [(w.start, w.end) for w in words]
    random = set(rng.choice(len(spans), size=REMOVED, replace=False).tolist())
    variants = {"random": without(text, spans, [j in random for j in range(len(spans))])}
    tests = iter(TESTS)
    for ranked in (words, [w for w in words if w.significant]):
        for sign in (1.0, -1.0):
            test = next(tests)
            top = sorted((w for w in ranked if sign * w.weight > 0), key=lambda w: -sign * w.weight)
            if len(top) >= REMOVED:
                drop = {(w.start, w.end) for w in top[:REMOVED]}
                variants[test] = without(text, spans, [span in drop for span in spans])
    genre = classifier.genres.index(result.genre)
    proba = classifier.model.predict_proba(list(variants.values()))
    logp = dict(zip(variants, np.log(np.clip(proba[:, genre], 1e-300, None)), strict=True))
    # positive: ends lower than after deleting 3 random words; negative: ends higher
    return {
        test: bool(
            logp[test] < logp["random"] if test.startswith("pos") else logp[test] > logp["random"]
        )
        for test in TESTS
        if test in logp
    }


def deletion_row(name: str, texts: list[str], seed: int, samples: Any) -> dict[str, object]:
    """Explain the texts with the bundled model ``name`` and run the tests; Ctrl-C stops early
    and the row covers the texts done (its ``texts`` cell says so)."""
    from moviegenre import GenreClassifier

    classifier = GenreClassifier.load(name or None)
    passed, tried = dict.fromkeys(TESTS, 0), dict.fromkeys(TESTS, 0)
    seconds, coloured, words, method, done = 0.0, 0, 0, "", 0
    try:
        for i, text in enumerate(texts):
            start = time.perf_counter()
            result = classifier.explain(text, top_k=1, samples=samples)
            seconds += time.perf_counter() - start
            outcome = deletion_tests(classifier, result, np.random.default_rng([seed, i]))
            for test, ok in outcome.items():
                tried[test] += 1
                passed[test] += ok
            method = result.method
            coloured += sum(w.significant for w in result.words)
            words += len(result.words)
            done += 1
            if done % 10 == 0:
                print(f"{name or 'default'}: {done}/{len(texts)}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"{name or 'default'}: stopped after {done} texts", file=sys.stderr, flush=True)
    return {
        "model": name or "default (blend)",
        "method": method,
        "texts": done if done == len(texts) else f"{done} of {len(texts)} (stopped)",
        **{test: share(passed[test], tried[test]) for test in TESTS},
        **{f"{test}_few": done - tried[test] for test in TESTS},
        "coloured": f"{coloured / max(words, 1):.0%}",
        "seconds": f"{seconds / max(done, 1):.3f}",
    }


def share(passed: int, tried: int) -> str:
    return f"{passed / tried:.1%} ({passed}/{tried})" if tried else "-"


def markdown(rows: list[dict[str, object]]) -> str:
    head = (
        "| model | method | texts | top-3 positive removed: lowers log p more than 3 random "
        "(too few) | top-3 negative removed: raises it more (too few) "
        "| same, coloured words only: positive (too few) | negative (too few) "
        "| words coloured (outside their noise band) | explanation s/text |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    keys = ["model", "method", "texts", *TESTS]

    def cells(row: dict[str, object]) -> list[str]:
        out = [
            str(row[k]) if k in ("model", "method", "texts") else f"{row[k]} ({row[k + '_few']})"
            for k in keys
        ]
        return out + [str(row["coloured"]), str(row["seconds"])]

    return head + "".join("| " + " | ".join(cells(r)) + " |\n" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200, help="test texts to explain")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and random words")
    parser.add_argument("--models", nargs="+", default=["linear", ""], help="'' is the default")
    parser.add_argument("--per-word", type=float, default=SampleSettings.per_word)
    parser.add_argument("--extra", type=int, default=SampleSettings.extra)
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()

    before = os.getloadavg()[0]
    texts = sample_texts(args.texts, args.seed)
    samples = SampleSettings(per_word=args.per_word, extra=args.extra)
    rows = [deletion_row(name, texts, args.seed, samples) for name in args.models]
    table = markdown(rows)
    print(table)
    if args.append:
        after = os.getloadavg()[0]
        note = (
            f"1-minute load average {before:.2f} at the start, {after:.2f} at the end (2 cores).\n"
        )
        append_results("Explanation faithfulness (deletion test)", table, note)


if __name__ == "__main__":
    main()
