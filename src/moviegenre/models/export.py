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

import numpy as np

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
    """Dynamic per-channel QInt8 weights (cosine ~0.98 to fp32 on AVX2; per-tensor gives ~0.90),
    with activation scales per text (:func:`per_text_scales`)."""
    onnx = require("onnx", purpose="int8 quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="moviegenre-int8-") as folder:
        plain = Path(folder) / "dynamic.onnx"
        quantize_dynamic(str(source), str(plain), weight_type=QuantType.QInt8, per_channel=True)
        graph = per_text_scales(onnx.load(str(plain)))
        with atomic_write(target) as tmp:
            onnx.save(graph, str(tmp))
    return target


def per_text_scales(model: Any, mask_input: str = "attention_mask") -> Any:
    """Rewrite each ``DynamicQuantizeLinear`` of an int8 graph to quantize each text (batch row)
    with its own scale and zero point, over its real tokens only, so a text's probabilities
    never depend on the texts batched with it or on their padding.

    ``quantize_dynamic`` emits one scale and zero point per *tensor*, i.e. per batch. Here each
    row gets DynamicQuantizeLinear's own formula (uint8 over [min(0, x), max(0, x)] of the row,
    padded positions left out), scale shape (batch, 1, ...). ``MatMulInteger`` takes a zero
    point per tensor only, so it is fed 0, and the row's scale x zero point x the weight
    columns' scaled sums is subtracted after the scale product. On the IMDb benchmark row this
    is as accurate as one scale per batch, ~20% slower in batches of 32, ~1.3 ms per text alone
    (benchmarks/int8_scales.py). Folding the correction into the bias instead measured as fast
    in batches but ~6 ms slower for one text, so it is not done.
    Needs ``onnx``; the graph then runs on onnxruntime alone.
    """
    onnx = require("onnx", purpose="rewriting an int8 graph")
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*graph.value_info, *graph.input, *graph.output]
    }
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consts = {
        "rowq_eps": np.array(1e-8, dtype=np.float32),
        "rowq_0": np.array(0.0, dtype=np.float32),
        "rowq_255": np.array(255.0, dtype=np.float32),
        "rowq_zero": np.array(0, dtype=np.uint8),
        "rowq_last": np.array([-1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Cast", [mask_input], ["rowq_maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["rowq_maskf", "rowq_last"], ["rowq_mask3"]),
    ]
    row_zero: dict[str, str] = {}  # the tensor that was a batch zero point -> scale * zp rows
    row_scale: set[str] = set()
    scale_of: dict[str, str] = {}  # a product of scales -> the weight scale in it
    colsum: dict[str, tuple[np.ndarray, str]] = {}
    for i, node in enumerate(graph.node):
        if node.op_type == "MatMulInteger" and len(node.input) > 2 and node.input[2] in row_zero:
            a, b, zero, b_zero = node.input
            if b not in weights or b_zero not in weights:
                raise ValueError(f"cannot rewrite {node.name}: its weights are not constants")
            columns = (weights[b].astype(np.int64) - weights[b_zero].astype(np.int64)).sum(0)
            colsum[node.output[0]] = (columns, row_zero[zero])
            inputs = [a, b, "rowq_zero", b_zero]
            nodes.append(helper.make_node("MatMulInteger", inputs, list(node.output)))
            continue
        if node.op_type == "Cast" and node.input[0] in colsum:
            colsum[node.output[0]] = colsum[node.input[0]]
            nodes.append(node)
            continue
        if node.op_type == "Mul" and node.input[0] in colsum:
            (columns, row), (t, out) = colsum[node.input[0]], (f"rowq_mm{i}_", node.output[0])
            b_scale = weights[scale_of[node.input[1]]]
            consts[t + "colsum"] = (columns * b_scale).astype(np.float32)
            nodes += [
                helper.make_node("Mul", [node.input[0], node.input[1]], [t + "raw"]),
                helper.make_node("Mul", [row, t + "colsum"], [t + "fix"]),
                helper.make_node("Sub", [t + "raw", t + "fix"], [out]),
            ]
            continue
        if node.op_type == "Mul" and node.input[0] in row_scale and node.input[1] in weights:
            scale_of[node.output[0]] = node.input[1]
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (y, scale, zero) = node.input[0], node.output
        rank = ranks.get(x)
        if rank not in (2, 3):
            raise ValueError(f"cannot rewrite {node.name}: input {x!r} has rank {rank}")
        t, axes = f"rowq{i}_", list(range(1, rank))
        real = x
        if rank == 3:  # (batch, tokens, features): padded positions count as 0, in range anyway
            nodes.append(helper.make_node("Mul", [x, "rowq_mask3"], [t + "real"]))
            real = t + "real"
        nodes += [
            helper.make_node("ReduceMin", [real], [t + "min0"], axes=axes),
            helper.make_node("ReduceMax", [real], [t + "max0"], axes=axes),
            helper.make_node("Min", [t + "min0", "rowq_0"], [t + "min"]),
            helper.make_node("Max", [t + "max0", "rowq_0"], [t + "max"]),
            helper.make_node("Sub", [t + "max", t + "min"], [t + "range"]),
            helper.make_node("Div", [t + "range", "rowq_255"], [t + "step"]),
            helper.make_node("Max", [t + "step", "rowq_eps"], [scale]),
            helper.make_node("Div", [t + "min", scale], [t + "minq"]),
            helper.make_node("Neg", [t + "minq"], [t + "negq"]),
            helper.make_node("Round", [t + "negq"], [t + "zr"]),
            helper.make_node("Clip", [t + "zr", "rowq_0", "rowq_255"], [t + "zp"]),
            helper.make_node("Mul", [t + "zp", scale], [t + "zps"]),
            helper.make_node("Cast", [t + "zp"], [t + "zp8"], to=TensorProto.UINT8),
            helper.make_node("Reshape", [scale, "rowq_last"], [t + "scale1"]),
            helper.make_node("Reshape", [t + "zp8", "rowq_last"], [t + "zp1"]),
            helper.make_node("QuantizeLinear", [x, t + "scale1", t + "zp1"], [y], axis=0),
        ]
        row_zero[zero] = t + "zps"
        row_scale.add(scale)
    fixed = sum(n.op_type == "Sub" and n.input[1].startswith("rowq_mm") for n in nodes)
    if fixed != sum(n.op_type == "MatMulInteger" for n in nodes):
        raise ValueError("cannot rewrite: a MatMulInteger is not followed by Cast and Mul")
    users = {name for n in nodes for name in n.input}
    if stray := sorted(users & set(row_zero)):
        raise ValueError(f"cannot rewrite: zero points {stray} are used outside MatMulInteger")
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.ClearField("value_info")
    return model


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
