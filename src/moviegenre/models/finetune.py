# Long: one kind: the end-to-end training loop, the ONNX export and torch-free serving of the graph.
"""The ``finetune`` kind: the whole encoder trained end to end with a linear head, served by ONNX.

Recipe (measured in benchmarks/RESULTS.md): mean-pooled MiniLM -> dropout 0.1 -> linear head;
AdamW, lr 5e-5 for the encoder and 1e-3 for the head, weight decay 0.01 (not on biases and
LayerNorm); 10% linear warm-up then linear decay to 0; batch 16; 6 epochs; gradient-norm clip
1.0; cross-entropy with class weights (largest count / count)^0.5 normalised to mean 1;
max_seq_length 256 (128 halves CPU time for ~0.4 points); seeded. bf16 autocast on CUDA.

Multi-label (labels are genre sets, see ``multilabel.py``): one independent logit per genre,
binary cross-entropy (``BCEWithLogitsLoss``) with ``pos_weight`` = (negatives / positives) ^
``class_weight_power`` per genre, the same knob as the single-label class weights (0 = none):
rare genres still pull on the encoder. Up-weighting positives by w multiplies the odds the
loss is minimised at by w, so after training ``log w`` is subtracted from the head's bias
(prior-shift correction): the exported graph's sigmoid gives honest probabilities again, no
temperature. The epoch kept is the one whose validation slice scores best by the project's
selection score (``selection.select``: for genre sets, the mean of micro- and macro-F1 at
per-genre thresholds chosen on the slice, as training then chooses the served thresholds; ties
go to the earlier epoch); single-label keeps the last epoch, as before.

Training needs torch + transformers + the backbone package (``[encoder]``). At the end of
``fit`` the network is exported to ONNX (int8, per-channel dynamic quantization, by default)
and every prediction, before and after saving, runs that graph with onnxruntime and the
backbone's ``tokenizer.json``: a saved model needs neither torch nor transformers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from moviegenre import selection
from moviegenre._util import require
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.metrics import score, selection_score
from moviegenre.models.backbone import (
    DEFAULT_BACKBONE,
    OnnxSession,
    backbone_spec,
    encode,
    length_batches,
    load_tokenizer,
    pad_batch,
)
from moviegenre.models.base import (
    GenreModel,
    HeldOut,
    check_number,
    check_temperature,
    check_training_data,
    fit_temperature,
    power_class_weights,
    sigmoid,
    softmax,
)
from moviegenre.multilabel import as_sets, indicator, is_multi_label
from moviegenre.progress import report

GRAPH_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: Texts per ONNX Runtime call when predicting (sorted by length, padded per batch).
INFERENCE_BATCH = 32


def _network(torch: Any, backbone_dir: str, n_classes: int, dropout: float) -> Any:
    """Backbone -> mean pooling over real tokens -> dropout -> linear head, as a torch module."""
    transformers = require("transformers", purpose="fine-tuning")

    class Network(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(bert.config.hidden_size, n_classes)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    bert = transformers.AutoModel.from_pretrained(backbone_dir, attn_implementation="eager")
    return Network(bert)


def _schedule(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


class FinetuneGenreModel(GenreModel):
    """Fine-tuned sentence encoder + linear head; predictions run an ONNX graph (no torch)."""

    kind: ClassVar[str] = "finetune"
    requires: ClassVar[tuple[str, ...]] = ("tokenizers", "onnxruntime")
    #: A second training on all rows would double a long job: keep the model fitted on the
    #: training part (validation only fits the temperature and records the curves).
    refit_on_full: ClassVar[bool] = False
    #: Its ``val_fraction`` slice (``selection.holdout``) is its validation: training fits it
    #: once on all rows, not on a slice of a slice.
    validates_in_fit: ClassVar[bool] = True
    supports_multi_label: ClassVar[bool] = True

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        max_seq_length: int = 256,
        lr: float = 5e-5,
        head_lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.1,
        dropout: float = 0.1,
        batch_size: int = 16,
        epochs: int = 6,
        class_weight_power: float = 0.5,
        val_fraction: float = 0.1,
        quantize: bool = True,
        max_steps_per_epoch: int | None = None,
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.backbone = backbone
        self.max_seq_length = max_seq_length
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.warmup_fraction = warmup_fraction
        self.dropout = dropout
        self.batch_size = batch_size
        self.epochs = epochs
        self.class_weight_power = class_weight_power
        self.val_fraction = val_fraction
        self.quantize = quantize
        self.max_steps_per_epoch = max_steps_per_epoch
        self.device = device
        self.random_state = random_state

    # -- checks ---------------------------------------------------------------------------

    def _check_params(self, training: bool = True) -> None:
        """Refuse bad settings; at load (``training=False``) the backbone need not be installed:
        the saved graph and tokenizer are all that predicting needs."""
        problems = []
        if training:
            spec = backbone_spec(self.backbone)
        elif not isinstance(self.backbone, str):
            problems.append(f"backbone must be a name, got {self.backbone!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            problems.append(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            problems.append(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        for name in ("lr", "head_lr"):
            if not (isinstance(getattr(self, name), int | float) and getattr(self, name) > 0):
                problems.append(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not (0 <= self.dropout < 1 and 0 <= self.warmup_fraction < 1):
            problems.append("dropout and warmup_fraction must be in [0, 1)")
        if not (0 <= self.val_fraction < 1):
            problems.append(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if not (isinstance(self.max_seq_length, int) and self.max_seq_length >= 8):
            problems.append(f"max_seq_length must be an integer >= 8, got {self.max_seq_length!r}")
        elif training and self.max_seq_length > spec.max_positions:
            problems.append(f"max_seq_length must be <= {spec.max_positions} for {spec.name}")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(f"device must be auto, cpu or cuda, got {self.device!r}")
        if problems:
            raise ConfigError("finetune: " + "; ".join(problems))

    # -- training -----------------------------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> FinetuneGenreModel:
        self._check_params()
        torch = require("torch", purpose="fine-tuning")
        require("transformers", purpose="fine-tuning")
        self.classes_ = check_training_data(texts, labels)
        self.multi_label_ = is_multi_label(labels)
        if self.multi_label_:  # y: the (rows x genres) 0/1 targets
            y = indicator(as_sets(labels), self.classes_).astype(np.float32)
        else:
            y = np.searchsorted(self.classes_, np.asarray(labels, dtype=object))
        if self.val_fraction > 0:
            train, val = selection.holdout(
                list(labels),
                val_fraction=self.val_fraction,
                random_state=self.random_state,
                required=False,
            )
        else:
            train, val = np.arange(len(y)), np.array([], dtype=np.int64)
        spec = backbone_spec(self.backbone)
        tokenizer = load_tokenizer(spec.path() / TOKENIZER_FILE, self.max_seq_length)
        self.tokenizer_json_ = tokenizer.to_str()  # saved without the package's fixed padding
        tokens = encode(tokenizer, texts)

        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device='cuda' was asked for but torch sees no CUDA GPU")
        use_cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        device = torch.device("cuda" if use_cuda else "cpu")
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        net = _network(torch, str(spec.path()), len(self.classes_), self.dropout).to(device)

        weights = self._loss_weights(y[train])
        class_weights = torch.tensor(weights, dtype=torch.float32, device=device)
        if self.multi_label_:
            bce = torch.nn.BCEWithLogitsLoss(pos_weight=class_weights)
        best: tuple[float, int, dict[str, Any]] | None = None  # multi-label: score, epoch, state
        epoch_trials: list[dict[str, Any]] = []
        optim = torch.optim.AdamW(self._param_groups(net), lr=self.lr)
        steps = int(np.ceil(len(train) / self.batch_size))
        if self.max_steps_per_epoch:
            steps = min(steps, self.max_steps_per_epoch)
        total = steps * self.epochs
        warmup = max(1, int(round(self.warmup_fraction * total)))
        sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _schedule(s, total, warmup))

        self.history_: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            t0 = time.perf_counter()
            net.train()
            order = rng.permutation(train)
            loss_sum, correct, seen = 0.0, 0, 0
            for b in range(steps):
                rows = order[b * self.batch_size : (b + 1) * self.batch_size]
                ids, mask = (torch.from_numpy(a).to(device) for a in pad_batch(tokens, rows))
                target = torch.from_numpy(y[rows]).to(device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda):
                    logits = net(ids, mask)
                if self.multi_label_:
                    loss = bce(logits.float(), target)
                else:
                    loss = torch.nn.functional.cross_entropy(
                        logits.float(), target, weight=class_weights
                    )
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optim.step()
                sched.step()
                loss_sum += float(loss.detach()) * len(rows)
                if not self.multi_label_:
                    correct += int((logits.argmax(1) == target).sum())
                seen += len(rows)
                done = (epoch - 1) * steps + b + 1
                report(f"fine-tuning epoch {epoch}/{self.epochs}", done, total)
            record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1)}
            if not self.multi_label_:
                record["train_accuracy"] = correct / max(seen, 1)
            record |= {"train_rows": len(train), "seconds": round(time.perf_counter() - t0, 2)}
            self.history_.append(record)
            if len(val) and self.multi_label_:
                logits = self._val_logits(torch, net, tokens, val, device) - np.log(weights)
                chosen = selection.select(
                    [{"epoch": epoch}], [sigmoid(logits)], [labels[i] for i in val], self.classes_
                )
                epoch_trials += chosen.trials
                record.update(_multi_label_record(logits, y[val], chosen.metrics))
                now = selection_score(chosen.metrics)
                if best is None or now > best[0]:
                    state = net.state_dict().items()
                    kept = {k: v.detach().to("cpu", copy=True) for k, v in state}
                    best = (now, epoch, kept)
            elif len(val):
                record.update(self._val_record(torch, net, tokens, y, val, device))
        self.train_seconds_ = round(time.perf_counter() - started, 2)
        self.device_ = str(device)
        self.best_epoch_ = self.epochs
        if best is not None:  # multi-label with a validation slice: the best epoch's weights
            self.best_epoch_ = best[1]
            net.load_state_dict(best[2])
        if self.multi_label_:
            with torch.no_grad():  # prior-shift correction of pos_weight (module doc)
                net.head.bias -= torch.log(class_weights).to(net.head.bias.device)

        report("exporting to ONNX", total, total)
        from moviegenre.models.export import onnx_bytes

        self.onnx_ = onnx_bytes(net.to("cpu").float().eval(), "logits", int8=self.quantize)
        self.temperature_ = 1.0
        self.heldout_: HeldOut | None = None
        if len(val) and self.multi_label_:
            self.heldout_ = HeldOut(
                index=val,
                proba=sigmoid(self._logits([tokens[i] for i in val])),
                protocol={"validation": "holdout", "val_fraction": self.val_fraction},
                trials=epoch_trials,
            )
        elif len(val):
            logits = self._logits([tokens[i] for i in val])
            self.temperature_ = fit_temperature(logits, y[val])
            proba = softmax(logits / self.temperature_, axis=1)
            metrics = score([labels[i] for i in val], proba, self.classes_)
            self.heldout_ = HeldOut(
                index=val,
                proba=proba,
                protocol={"validation": "holdout", "val_fraction": self.val_fraction},
                trials=[selection.trial({}, metrics)],
            )
        return self

    def heldout(self) -> HeldOut | None:
        """The ``val_fraction`` slice's probabilities (None with ``val_fraction=0``)."""
        return getattr(self, "heldout_", None)

    def _loss_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-genre loss weights from the training part's targets ``y``.

        Single-label: class weights (largest count / count) ^ power, normalised to mean 1.
        Multi-label: BCE ``pos_weight`` = (negatives / positives) ^ power (1 for a genre with
        no positive or no negative row in the training part).
        """
        n = len(self.classes_)
        if not self.multi_label_:
            counts = power_class_weights(y, n, self.class_weight_power)
            weights = np.array([counts.get(i, 0.0) for i in range(n)])
            return weights / weights[weights > 0].mean()
        positives = y.sum(axis=0)
        negatives = len(y) - positives
        ratio = np.where((positives > 0) & (negatives > 0), negatives / np.maximum(positives, 1), 1)
        return ratio**self.class_weight_power

    def _param_groups(self, net: Any) -> list[dict[str, Any]]:
        """Encoder at ``lr``, head at ``head_lr``; no weight decay on biases and LayerNorm."""
        groups: dict[tuple[bool, bool], list[Any]] = {}
        for name, param in net.named_parameters():
            is_head = name.startswith("head.")
            no_decay = name.endswith("bias") or "LayerNorm" in name
            groups.setdefault((is_head, no_decay), []).append(param)
        return [
            {
                "params": params,
                "lr": self.head_lr if is_head else self.lr,
                "weight_decay": 0.0 if no_decay else self.weight_decay,
            }
            for (is_head, no_decay), params in groups.items()
        ]

    def _val_logits(
        self, torch: Any, net: Any, tokens: list, val: np.ndarray, device: Any
    ) -> np.ndarray:
        """The network's logits (as it is now, in eval mode) of the validation rows."""
        net.eval()
        logits = np.zeros((len(val), len(self.classes_)), dtype=np.float32)
        with torch.inference_mode():
            for rows in length_batches([len(tokens[i]) for i in val], 64):
                ids, mask = (torch.from_numpy(a).to(device) for a in pad_batch(tokens, val[rows]))
                logits[rows] = net(ids, mask).float().cpu().numpy()
        return logits

    def _val_record(
        self, torch: Any, net: Any, tokens: list, y: np.ndarray, val: np.ndarray, device: Any
    ) -> dict[str, float]:
        """Validation loss and accuracy of the network as it is now (in eval mode)."""
        logits = self._val_logits(torch, net, tokens, val, device)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return {
            "val_loss": float(-logp[np.arange(len(val)), y[val]].mean()),
            "val_accuracy": float((logits.argmax(1) == y[val]).mean()),
        }

    # -- inference (onnxruntime only) ---------------------------------------------------------

    def _runtime(self) -> tuple[Any, OnnxSession]:
        """The tokenizer and ONNX session, built once per fitted model."""
        cached = self.__dict__.get("_runtime_cache")
        if cached is None:
            tok = load_tokenizer(self.tokenizer_json_, self.max_seq_length)
            cached = (tok, OnnxSession(self.onnx_))
            self.__dict__["_runtime_cache"] = cached
        return cached

    def _logits(self, tokens: list[list[int]]) -> np.ndarray:
        _, session = self._runtime()
        out = np.zeros((len(tokens), len(self.classes_)), dtype=np.float32)
        for rows in length_batches([len(t) for t in tokens], INFERENCE_BATCH):
            ids, mask = pad_batch(tokens, rows)
            out[rows] = session.run("logits", {"input_ids": ids, "attention_mask": mask})
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        tok, _ = self._runtime()
        logits = self._logits(encode(tok, texts))
        if getattr(self, "multi_label_", False):
            return sigmoid(logits)
        return softmax(logits / self.temperature_, axis=1)

    # -- persistence --------------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        self._check_fitted()
        return {GRAPH_FILE: self.onnx_, TOKENIZER_FILE: self.tokenizer_json_.encode("utf-8")}

    def training_history(self) -> dict[str, Any] | None:
        """Loss and accuracy per epoch, and the epoch kept where one was chosen (multi-label),
        which the report marks; saved as ``history.json`` (not read when loading)."""
        if not getattr(self, "history_", None):
            return None
        payload: dict[str, Any] = {"epochs": self.history_}
        best = self.best_epoch_ if getattr(self, "multi_label_", False) else None
        if best is not None:
            payload["best_epoch"] = best
        return payload

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        spec = backbone_spec(self.backbone)
        config = {
            "backbone_package": spec.pip,
            "backbone_version": spec.version(),
            "temperature": self.temperature_,
            "history": self.history_,
            "trained_on": getattr(self, "device_", "unknown"),
            "train_seconds": getattr(self, "train_seconds_", None),
        }
        if getattr(self, "multi_label_", False):  # the flag first, as model.json always had it
            config |= {"multi_label": True, "best_epoch": self.best_epoch_}
        return config, {}

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        missing = [name for name in (GRAPH_FILE, TOKENIZER_FILE) if name not in files]
        if missing:
            raise ModelFileError(f"finetune model lacks {', '.join(missing)} in model.json files")
        self._check_params(training=False)

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        self.temperature_ = check_temperature(config.get("temperature", 1.0), self.kind)
        if self.multi_label_:  # provenance only, like the history
            best = config.get("best_epoch")
            if isinstance(best, bool) or not isinstance(best, int) or best < 1:
                raise ModelFileError(f"finetune model best_epoch must be an epoch, got {best!r}")
            self.best_epoch_ = best
        history = config.get("history", [])
        if not isinstance(history, list):
            raise ModelFileError("finetune model history must be a list")
        self.history_ = list(history)
        # provenance only (never acted on); kept so that a re-saved model still says it
        device = config.get("trained_on", "unknown")
        known = isinstance(device, str) and re.fullmatch(r"cpu|cuda(:\d{1,2})?|unknown", device)
        self.device_ = device if known else "unknown"
        seconds = config.get("train_seconds")
        if seconds is not None:
            self.train_seconds_ = check_number(seconds, "finetune train_seconds", 0, 1e9)
        self.onnx_ = files[GRAPH_FILE]
        try:
            self.tokenizer_json_ = files[TOKENIZER_FILE].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError("the model's tokenizer.json is not UTF-8 text") from None
        tok, session = self._runtime()  # a bad graph or tokenizer fails here, at load
        outputs = session.run(
            "logits",
            dict(zip(("input_ids", "attention_mask"), pad_batch([[0, 0]], [0]), strict=True)),
        )
        if outputs.shape != (1, len(self.classes_)):
            raise ModelFileError(
                f"finetune graph gives {outputs.shape[-1]} scores per text, "
                f"but the model lists {len(self.classes_)} genres"
            )


def _multi_label_record(
    logits: np.ndarray, truth: np.ndarray, metrics: dict[str, Any]
) -> dict[str, float]:
    """An epoch's validation binary cross-entropy (of the prior-corrected ``logits``) and
    micro-/macro-F1 (``metrics`` of ``selection.select``), for the history."""
    # -log sigmoid(z) = logaddexp(0, -z); -log(1 - sigmoid(z)) = logaddexp(0, z)
    loss = truth * np.logaddexp(0, -logits) + (1 - truth) * np.logaddexp(0, logits)
    return {
        "val_loss": float(loss.mean()),
        "val_micro_f1": metrics["micro_f1"],
        "val_macro_f1": metrics["macro_f1"],
    }
