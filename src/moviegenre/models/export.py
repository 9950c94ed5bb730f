"""Export a torch network to an ONNX graph and quantize it to int8, so models serve without torch.

Used when a model is fitted (``finetune``) and for the frozen backbone (``export_backbone``,
run once per backbone version into the embedding cache). Needs torch and onnx (the
``[encoder]`` extra); the graphs it writes need only onnxruntime.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from moviegenre._util import atomic_write, require
from moviegenre.models.backbone import BackboneSpec

#: Inputs every exported graph takes, (batch, sequence) int64.
TOKEN_INPUTS = ("input_ids", "attention_mask")


def export_onnx(module: Any, path: Path, output: str, extra_inputs: tuple[str, ...] = ()) -> Path:
    """Trace ``module(input_ids, attention_mask, *extra)`` to ONNX at ``path`` (atomically).

    Batch and sequence axes stay dynamic; the trace uses a padded batch so that the attention
    mask is a real input of the graph. ``dynamo=False``: the TorchScript exporter handles BERT
    and matches torch to ~1e-6.
    """
    torch = require("torch", purpose="exporting a network to ONNX")
    names = (*TOKEN_INPUTS, *extra_inputs)
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[0, 10:] = 0
    args = (ids, mask, *(torch.zeros_like(ids) for _ in extra_inputs))
    axes = {name: {0: "batch", 1: "seq"} for name in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            str(tmp),
            input_names=list(names),
            output_names=[output],
            dynamic_axes={**axes, output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic per-channel QInt8 weights (cosine ~0.98 to fp32 on AVX2; per-tensor gives ~0.90)."""
    require("onnx", purpose="int8 quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_write(target) as tmp:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    return target


def onnx_bytes(module: Any, output: str, int8: bool) -> bytes:
    """The ONNX graph of ``module`` (fp32, or int8 when ``int8``) as bytes, via a temp folder."""
    with tempfile.TemporaryDirectory(prefix="moviegenre-export-") as folder:
        fp32 = export_onnx(module, Path(folder) / "model.onnx", output)
        final = quantize_int8(fp32, Path(folder) / "model-int8.onnx") if int8 else fp32
        return final.read_bytes()


def export_backbone(spec: BackboneSpec, path: Path, int8: bool = False) -> Path:
    """Export the backbone transformer (last hidden state) to ONNX, optionally int8, at ``path``."""
    torch = require("torch", purpose="exporting the backbone to ONNX")
    transformers = require("transformers", purpose="exporting the backbone to ONNX")
    fp32 = path.with_name("model.onnx")
    if not fp32.exists():
        bert = transformers.AutoModel.from_pretrained(
            str(spec.path()), attn_implementation="eager"
        ).eval()

        class _Wrapper(torch.nn.Module):  # keyword call + plain tensor out, for tracing
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                )
                return out.last_hidden_state

        export_onnx(_Wrapper(), fp32, "last_hidden_state", extra_inputs=("token_type_ids",))
    if int8 and not path.exists():
        quantize_int8(fp32, path)
    return path
