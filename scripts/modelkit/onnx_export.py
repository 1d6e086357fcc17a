"""ONNX export as optimum writes a text-classification model, plus int8 quantization that keeps scores independent of
the batch (scripts/modelkit/quantize.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

OPSET = 14


def export(model: torch.nn.Module, path: Path) -> None:
    """Inputs input_ids and attention_mask (int64 [batch, sequence]); output logits float32 [batch, 1]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    ids = torch.tensor([[0, 5, 6, 2, 2, 7, 8, 9, 2], [0, 5, 2, 2, 7, 2, 1, 1, 1]], dtype=torch.long)
    mask = ids.ne(1).long()
    # torch >= 2.9 defaults to the dynamo exporter; this graph and its dynamic axes are the TorchScript exporter's.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        **legacy,
    )


def quantize_int8(source: Path, target: Path, model_dir: Path) -> None:
    """int8 with scripts/modelkit/quantize.py's default method (weight-only int8: batch-independent scores), checked.

    Not onnxruntime's quantize_dynamic: its activation scales come from the whole batch, so neighbours move scores."""
    from .quantize import DEFAULT_METHOD, quantize

    quantize(source, target, method=DEFAULT_METHOD, model_dir=model_dir)


class OnnxScorer:
    """Scores pairs with an onnxruntime session, for checking the exported files against PyTorch."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run(
            ["logits"], {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        return torch.from_numpy(logits)

    def eval(self) -> OnnxScorer:
        return self
