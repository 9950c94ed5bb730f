"""One int8 activation scale per batch (ONNX Runtime's dynamic quantization) vs one per text.

Takes a saved blend whose fine-tuned graph still has per-batch scales (a model saved before
``export.per_text_scales`` existed, e.g. by ``benchmarks/default_model.py --out DIR`` at
commit aaacae9), rewrites its graph with ``per_text_scales`` in memory and, for both graphs,
prints the blend's scores on ``test_data_solution.txt``, the fine-tuned member's speed (batches
of 32 sorted by length, and the first 150 test texts one at a time; 2 cores; median of 3
rounds, the two graphs taking turns) and how far a text's logits move between a batch of 32
and a batch of 1 (first 200 test texts). ``--append`` adds the table to benchmarks/RESULTS.md.

    python benchmarks/int8_scales.py /path/to/per-batch-blend --append
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _results import append_results
from _setup import load, require_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a saved blend with a per-batch int8 graph")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    require_data()

    import onnx

    from moviegenre.classifier import GenreClassifier
    from moviegenre.metrics import headline, score
    from moviegenre.models.backbone import encode
    from moviegenre.models.export import per_text_scales

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = load("test_data_solution.txt", require_labels=True)
    clf = GenreClassifier.load(args.model)
    partner = clf.model.partner_
    graph = onnx.load_from_string(partner.onnx_)
    if not any(n.op_type == "DynamicQuantizeLinear" for n in graph.graph.node):
        sys.exit(f"{args.model}: its graph has no per-batch quantization to compare")
    graphs = {
        "one scale per batch": partner.onnx_,
        "one scale per text": per_text_scales(graph).SerializeToString(),
    }
    tokens = encode(partner._runtime()[0], test.texts)
    lines = [
        "| int8 activations | accuracy | macro-F1 | top-3 | member desc/s, batches of 32 "
        "| member ms, one text alone | max logit change, batch 32 vs 1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    runtimes = {}
    for name, onnx_bytes in graphs.items():  # one session each, warmed up
        partner.onnx_ = onnx_bytes
        partner.__dict__.pop("_runtime_cache", None)
        partner._logits(tokens[:64])
        runtimes[name] = (onnx_bytes, partner.__dict__["_runtime_cache"])
    speeds: dict[str, list[float]] = {name: [] for name in graphs}
    single: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(3):
        for name, (onnx_bytes, runtime) in runtimes.items():
            partner.onnx_, partner.__dict__["_runtime_cache"] = onnx_bytes, runtime
            start = time.perf_counter()
            partner._logits(tokens)
            speeds[name].append(len(tokens) / (time.perf_counter() - start))
            start = time.perf_counter()
            for t in tokens[:150]:
                partner._logits([t])
            single[name].append(1000 * (time.perf_counter() - start) / 150)
    for name, (onnx_bytes, runtime) in runtimes.items():
        partner.onnx_, partner.__dict__["_runtime_cache"] = onnx_bytes, runtime
        batched = partner._logits(tokens[:200])
        alone = np.vstack([partner._logits([t]) for t in tokens[:200]])
        change = float(np.abs(batched - alone).max())
        m = headline(score(test.labels, clf.predict_proba(test.texts, batch_size=256), clf.genres))
        lines.append(
            f"| {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['top3_accuracy']:.4f} "
            f"| {np.median(speeds[name]):.1f} | {np.median(single[name]):.2f} | {change:.2g} |"
        )
        print(lines[-1], file=sys.stderr)
    text = "\n".join(lines)
    print(text)
    if args.append:
        append_results("int8 activation scales: per batch vs per text", text, "")


if __name__ == "__main__":
    main()
