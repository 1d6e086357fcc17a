#!/usr/bin/env python3
"""Turns a Hugging Face cross-encoder checkpoint into the model directory ko-rerank serves.

    huggingface-cli download BAAI/bge-reranker-v2-m3 --local-dir ./bge-reranker-v2-m3
    bash scripts/setup-python.sh
    scripts/.venv/bin/python scripts/export_onnx.py ./bge-reranker-v2-m3 --out models/bge-reranker-v2-m3 [--fp16]
        [--quantize METHOD]

Any family transformers' AutoModelForSequenceClassification loads with one label (num_labels 1): XLM-RoBERTa,
RoBERTa, BERT, ELECTRA, DeBERTa-v2 (docs/model.md lists the tested ones). Writes:

- OUT/config.json and the tokenizer files, copied; tokenizer.json is built with transformers' fast tokenizer when the
  checkpoint lacks it (the server reads the pair layout from its post-processor);
- OUT/onnx/model.onnx: fp32, torch.onnx.export (opset 14), dynamic batch and sequence axes, inputs input_ids,
  attention_mask and token_type_ids when the model uses token types (type_vocab_size > 1), output logits [batch, 1];
- with --fp16, OUT/onnx/model_fp16.onnx: fp16 weights and activations, fp32 inputs and logits (for CUDA);
- with --quantize METHOD, a quantized file from scripts/modelkit/quantize.py (int8-weights:
  OUT/onnx/model_int8_weights.onnx, int8-static: model_int8_static.onnx, ...). There is no dynamic quantization: its
  activation scales come from the whole batch, so a pair's neighbours would move its score.

Each file is checked against transformers' logits on Korean pairs (padded batch, pair rule of the tokenizer, the
passage cut); the exporter exits non-zero when they differ by more than --tolerance (fp32, default 1e-4),
--fp16-tolerance or --quantized-tolerance. The fp32 and quantized files are also checked to give a pair the same
logit inside a mixed batch as alone (within 1e-4; scripts/modelkit/quantize.py's check). Decoder-only LLM rerankers
(Qwen3-Reranker, bge-reranker-v2-gemma) and classifiers with several labels are refused: the server scores one logit
of a cross-encoder pair.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.modelkit import quantize as Q  # noqa: E402

TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "spm.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
]
CHECK_PAIRS = [
    ("나는 너를 싫어해", "나는 너를 사랑해"),
    ("나는 너를 좋아해", "너에 대한 나의 감정은 사랑 일 수도 있어"),
    ("대한민국의 수도는 어디인가요?", "서울은 대한민국의 수도이며 최대 도시입니다."),
    ("대한민국의 수도는 어디인가요?", "부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다."),
    ("아이폰 15 배터리 용량", "아이폰 15 Pro Max의 배터리 용량은 4,422mAh입니다. 😀"),
    ("김치 만드는 법", "배추를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 만든 양념을 버무립니다. " * 40),
]
OPSET = 14
# Longest pair of the check (the long pair above is cut to it): long enough to cover positions past 512 on long models.
CHECK_MAX_LEN = 1024
DECODER_TYPES = {"qwen2", "qwen3", "llama", "gemma", "gemma2", "mistral", "minicpm", "phi3"}


def refuse_unservable(checkpoint: Path) -> None:
    """Refuses, from config.json alone (before transformers, which may not know a newer LLM's model_type), what the
    server cannot serve: a decoder-only LLM reranker, or a classifier with more than one label."""
    config_file = checkpoint / "config.json"
    if not config_file.exists():
        raise SystemExit(f"{config_file}: missing; a Hugging Face checkpoint directory has config.json")
    config = json.loads(config_file.read_text())
    model_type = str(config.get("model_type", ""))
    archs = [str(a) for a in config.get("architectures") or []]
    if model_type in DECODER_TYPES or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise SystemExit(
            f"model_type {model_type} ({', '.join(archs) or 'no architectures'}) is a decoder-only language "
            "model: LLM rerankers score a 'yes' token after a prompt, which ko-rerank does not serve; export a "
            "cross-encoder (...ForSequenceClassification)"
        )
    labels = config.get("num_labels") or len(config.get("id2label") or {"0": "LABEL_0"})
    if labels != 1:
        raise SystemExit(
            f"config.json: {labels} labels; a reranker has one logit (num_labels 1): "
            "a classifier with several labels (e.g. NLI) is not a reranker"
        )


def load(checkpoint: Path):  # noqa: ANN201
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    refuse_unservable(checkpoint)
    AutoConfig.from_pretrained(checkpoint)  # an unknown model_type fails here, naming it
    # Eager attention: the plain matmul-softmax graph, which every exporter and onnxruntime provider takes.
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, torch_dtype=torch.float32, attn_implementation="eager"
    )
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, use_fast=True)
    if not tokenizer.is_fast:
        raise SystemExit(f"{checkpoint}: transformers has no fast tokenizer for it, so no tokenizer.json to serve")
    return model.eval(), tokenizer


def uses_token_types(model) -> bool:  # noqa: ANN001
    """token_type_ids is a graph input when the model's forward takes it and it has more than one token type."""
    takes = "token_type_ids" in inspect.signature(model.forward).parameters
    return takes and int(getattr(model.config, "type_vocab_size", 0) or 0) > 1


class Logits(torch.nn.Module):
    """The classifier's logits alone, for a graph with exactly the inputs the server feeds."""

    def __init__(self, model, token_types: bool) -> None:  # noqa: ANN001
        super().__init__()
        self.model = model
        self.token_types = token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001, ANN201
        if self.token_types:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export(model, tokenizer, path: Path) -> list[str]:  # noqa: ANN001
    """fp32 ONNX of `model`; returns its input names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token_types = uses_token_types(model)
    sample = tokenizer(
        ["대한민국의 수도는?", "김치"],
        ["서울은 대한민국의 수도입니다.", "배추를 절인다"],
        padding=True,
        return_tensors="pt",
    )
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_types else [])
    args = tuple(sample[n] if n in sample else torch.zeros_like(sample["input_ids"]) for n in names)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    axes["logits"] = {0: "batch_size"}
    # torch >= 2.9 defaults to the dynamo exporter; this graph and its dynamic axes are the TorchScript exporter's.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    # eval(): torch.onnx.export restores the module's mode afterwards, and a wrapper left in training mode would turn
    # the model's dropout back on for the checks that follow.
    wrapper = Logits(model, token_types).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on Python conditionals and deprecated helpers inside transformers: not ours to act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            **legacy,
        )
    model.eval()
    return names


def copy_files(checkpoint: Path, out: Path, tokenizer) -> None:  # noqa: ANN001
    """config.json and the tokenizer files as saved; tokenizer.json from the fast tokenizer when the checkpoint has
    none."""
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES + ["config.json"]:
        if (checkpoint / name).exists():
            shutil.copyfile(checkpoint / name, out / name)
    if not (out / "tokenizer.json").exists():
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                if (Path(tmp) / name).exists() and not (out / name).exists():
                    shutil.copyfile(Path(tmp) / name, out / name)
        print(f"wrote {out / 'tokenizer.json'} (built by transformers' fast tokenizer)")


def check_batch(tokenizer, model_max: int):  # noqa: ANN001, ANN201
    queries, passages = zip(*CHECK_PAIRS)
    return tokenizer(
        list(queries),
        list(passages),
        padding=True,
        truncation="only_second",
        max_length=min(model_max, CHECK_MAX_LEN),
        return_tensors="pt",
    )


def model_max_len(model, tokenizer) -> int:  # noqa: ANN001
    """The longest input the checkpoint takes: its tokenizer's limit, capped by its position embeddings."""
    limit = tokenizer.model_max_length if 0 < tokenizer.model_max_length < 1e9 else 512
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        offset = model.config.pad_token_id + 1 if model.config.model_type in ("xlm-roberta", "roberta") else 0
        limit = min(limit, positions - offset)
    return int(limit)


def check(model, tokenizer, onnx_file: Path, names: list[str], tolerance: float) -> float:  # noqa: ANN001
    """Max |ONNX - transformers| logit over CHECK_PAIRS."""
    import onnxruntime

    batch = check_batch(tokenizer, model_max_len(model, tokenizer))
    with torch.no_grad():
        expected = model(**{n: batch[n] for n in names if n in batch}).logits[:, 0]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    feeds = {
        i.name: (batch[i.name] if i.name in batch else torch.zeros_like(batch["input_ids"])).numpy()
        for i in session.get_inputs()
    }
    (got,) = session.run(["logits"], feeds)
    got = torch.from_numpy(got).float()[:, 0]
    diff = float((got - expected).abs().max())
    print(
        f"{onnx_file.name}: max |ONNX - transformers| logit on {len(CHECK_PAIRS)} Korean pairs "
        f"(up to {batch['input_ids'].shape[1]} tokens) = {diff:.2e} (tolerance {tolerance})"
    )
    for (q, p), logit in zip(CHECK_PAIRS, expected.tolist()):
        print(f"  {logit:+.4f}  {q} / {p[:40]}")
    if not diff <= tolerance:
        raise SystemExit(f"{onnx_file}: ONNX logits differ from transformers by {diff:.2e} > {tolerance}")
    return diff


def to_fp16(source: Path, target: Path, config) -> None:  # noqa: ANN001
    """fp16 weights and activations, fp32 inputs and logits (keep_io_types), for the CUDA provider. BERT-like graphs
    (BERT, RoBERTa, XLM-R, ELECTRA) go through onnxruntime's transformer optimizer first (attention, LayerNorm and GELU
    fusions, which also keep the mask arithmetic consistent in fp16); other graphs are converted as exported."""
    import onnx
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.onnx_model import OnnxModel

    if config.model_type in ("bert", "roberta", "xlm-roberta", "electra"):
        model = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,
        )
    else:
        model = OnnxModel(onnx.load(str(source)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "checkpoint", type=Path, help="Hugging Face checkpoint directory (config.json + weights + tokenizer)"
    )
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument("--fp16", action="store_true", help="also write onnx/model_fp16.onnx (for CUDA)")
    parser.add_argument(
        "--quantize",
        choices=[m for m in Q.METHODS if m != "fp32"],
        metavar="METHOD",
        help="also write a quantized file whose scores do not depend on the batch: "
        + ", ".join(m for m in Q.METHODS if m != "fp32"),
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="max |logit difference| fp32 ONNX vs transformers"
    )
    parser.add_argument("--fp16-tolerance", type=float, default=5e-2, help="max |logit difference| of the fp16 file")
    parser.add_argument(
        "--quantized-tolerance", type=float, default=1.0, help="max |logit difference| of the quantized file"
    )
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX vs transformers check")
    args = parser.parse_args()

    torch.manual_seed(0)
    model, tokenizer = load(args.checkpoint)
    copy_files(args.checkpoint, args.out, tokenizer)
    onnx_file = args.out / "onnx/model.onnx"
    names = export(model, tokenizer, onnx_file)
    print(f"wrote {onnx_file} ({onnx_file.stat().st_size / 1e6:.1f} MB; inputs {', '.join(names)})")
    if not args.no_check:
        check(model, tokenizer, onnx_file, names, args.tolerance)
        Q.check_batch_independence(onnx_file, args.out)
    if args.fp16:
        fp16_file = args.out / "onnx/model_fp16.onnx"
        to_fp16(onnx_file, fp16_file, model.config)
        print(f"wrote {fp16_file} ({fp16_file.stat().st_size / 1e6:.1f} MB)")
        if not args.no_check:
            check(model, tokenizer, fp16_file, names, args.fp16_tolerance)
    if args.quantize is not None:
        # quantize() raises when the written file's scores depend on the batch; int8-static calibrates on Korean
        # train-split pairs of data/msmarco-ko (the check pairs where that data is absent)
        q_file = args.out / "onnx" / Q.FILE_NAMES[args.quantize]
        Q.quantize(onnx_file, q_file, method=args.quantize, model_dir=args.out)
        print(f"wrote {q_file} ({q_file.stat().st_size / 1e6:.1f} MB, {args.quantize}, batch-independent)")
        if not args.no_check:
            check(model, tokenizer, q_file, names, args.quantized_tolerance)
    print(json.dumps({"out": str(args.out), "inputs": names}))


if __name__ == "__main__":
    main()
