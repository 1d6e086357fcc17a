#!/usr/bin/env python3
"""Turns a Hugging Face XLM-RoBERTa cross-encoder checkpoint into the model directory ko-rerank serves.

    huggingface-cli download Dongjin-kr/ko-reranker --local-dir ./ko-reranker
    bash scripts/setup-python.sh
    scripts/.venv/bin/python scripts/export_onnx.py ./ko-reranker --out models/ko-reranker [--fp16] [--quantize METHOD]

Writes OUT/config.json, the tokenizer files (tokenizer.json is built from sentencepiece.bpe.model when the checkpoint
lacks it), OUT/onnx/model.onnx (fp32; inputs input_ids and attention_mask, output logits [batch, 1], as optimum
exports text classification), with --fp16, OUT/onnx/model_fp16.onnx, and with --quantize METHOD a quantized file from
scripts/modelkit/quantize.py (int8-weights: OUT/onnx/model_int8_weights.onnx, ...). Then it checks the ONNX logits
against PyTorch on Korean pairs and exits non-zero when they differ by more than --tolerance; every written file is also
checked to give a pair the same logit inside a mixed batch as alone (within 1e-4). There is no dynamic quantization:
its activation scales come from the whole batch, so one pair's neighbours would move its score.

Runs on Debian's torch alone: weights come from model.safetensors (read by hand) or pytorch_model.bin (torch.load)
into the plain-torch XLM-R module of scripts/modelkit, whose parameter names are Hugging Face's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.modelkit import safetensors_io  # noqa: E402
from scripts.modelkit.modeling import XLMRConfig, XLMRobertaForSequenceClassification  # noqa: E402
from scripts.modelkit.onnx_export import OnnxScorer, export  # noqa: E402
from scripts.modelkit.pairs import pad_batch  # noqa: E402
from scripts.modelkit.quantize import FILE_NAMES, METHODS, check_batch_independence, quantize  # noqa: E402
from scripts.modelkit.tokenizer import ReferenceTokenizer, write_hf_tokenizer  # noqa: E402

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"]
CHECK_PAIRS = [
    ("나는 너를 싫어해", "나는 너를 사랑해"),
    ("나는 너를 좋아해", "너에 대한 나의 감정은 사랑 일 수도 있어"),
    ("대한민국의 수도는 어디인가요?", "서울은 대한민국의 수도이며 최대 도시입니다."),
    ("대한민국의 수도는 어디인가요?", "부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다."),
    ("아이폰 15 배터리 용량", "아이폰 15 Pro Max의 배터리 용량은 4,422mAh입니다. 😀"),
    ("김치 만드는 법", "배추를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 만든 양념을 버무립니다. " * 40),
]
# Buffers that transformers keeps in some versions' state dicts; the module derives them instead.
IGNORED_KEYS = ("roberta.embeddings.position_ids", "roberta.embeddings.token_type_ids")


def load_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    if (checkpoint / "model.safetensors").exists():
        weights = safetensors_io.load(checkpoint / "model.safetensors")
    elif (checkpoint / "pytorch_model.bin").exists():
        weights = torch.load(checkpoint / "pytorch_model.bin", map_location="cpu")
    else:
        raise SystemExit(
            f"{checkpoint}: no model.safetensors or pytorch_model.bin (sharded checkpoints are not supported)"
        )
    return {k: v.float() for k, v in weights.items() if k not in IGNORED_KEYS}


def load_model(checkpoint: Path) -> XLMRobertaForSequenceClassification:
    config = json.loads((checkpoint / "config.json").read_text())
    if config.get("model_type") not in ("xlm-roberta", "roberta"):
        raise SystemExit(
            f"{checkpoint}/config.json: model_type {config.get('model_type')!r}; this exporter handles xlm-roberta"
        )
    num_labels = len(config.get("id2label", {"0": "LABEL_0"}))
    if num_labels != 1:
        raise SystemExit(f"{checkpoint}/config.json: {num_labels} labels; a reranker has one logit (num_labels 1)")
    model = XLMRobertaForSequenceClassification(XLMRConfig.from_hf(config))
    missing, unexpected = model.load_state_dict(load_weights(checkpoint), strict=False)
    if missing or unexpected:
        raise SystemExit(
            f"{checkpoint}: weights do not match XLMRobertaForSequenceClassification "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model.eval()


def copy_tokenizer(checkpoint: Path, out: Path, max_len: int) -> None:
    for name in TOKENIZER_FILES + ["config.json"]:
        if (checkpoint / name).exists():
            shutil.copyfile(checkpoint / name, out / name)
    if not (out / "tokenizer.json").exists():
        if not (checkpoint / "sentencepiece.bpe.model").exists():
            raise SystemExit(f"{checkpoint}: neither tokenizer.json nor sentencepiece.bpe.model")
        config = (
            json.loads((out / "tokenizer_config.json").read_text()) if (out / "tokenizer_config.json").exists() else {}
        )
        write_hf_tokenizer(checkpoint / "sentencepiece.bpe.model", out, int(config.get("model_max_length", max_len)))


def check(model: XLMRobertaForSequenceClassification, onnx_file: Path, checkpoint: Path, tolerance: float) -> float:
    """Max |ONNX - PyTorch| logit over CHECK_PAIRS, tokenized with SentencePiece (or tokenizer.json's vocabulary)."""
    spm_file = checkpoint / "sentencepiece.bpe.model"
    if spm_file.exists():
        tokenizer = ReferenceTokenizer(spm_file, model.config.vocab_size)
        rows = [tokenizer.encode_pair(q, p, 512)[0] for q, p in CHECK_PAIRS]
    else:
        from tokenizers import Tokenizer

        hf = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
        rows = [hf.encode(q, p).ids[:512] for q, p in CHECK_PAIRS]
    ids, mask = pad_batch(rows)
    with torch.no_grad():
        expected = model(ids, mask)
    got = OnnxScorer(onnx_file)(ids, mask).float()
    diff = float((got - expected).abs().max())
    print(
        f"{onnx_file.name}: max |ONNX - PyTorch| logit on {len(rows)} Korean pairs = {diff:.2e} (tolerance {tolerance})"
    )
    for (q, p), logit in zip(CHECK_PAIRS, expected[:, 0].tolist()):
        print(f"  {logit:+.4f}  {q} / {p[:40]}")
    if diff > tolerance:
        raise SystemExit(f"{onnx_file}: ONNX logits differ from PyTorch by {diff:.2e} > {tolerance}")
    return diff


def to_fp16(source: Path, target: Path, config: XLMRConfig) -> None:
    """fp16 weights and activations with fp32 logits, through onnxruntime's transformer optimizer (BERT fusions:
    attention, LayerNorm, GELU), which converts the mask arithmetic consistently; for the CUDA provider."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
    )
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
        choices=METHODS,
        metavar="METHOD",
        help=f"also write a quantized file whose scores do not depend on the batch: {', '.join(METHODS)}",
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| ONNX fp32 vs PyTorch")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX vs PyTorch check (needs onnxruntime)")
    args = parser.parse_args()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = load_model(args.checkpoint)
    (args.out / "onnx").mkdir(parents=True, exist_ok=True)
    copy_tokenizer(args.checkpoint, args.out, 512)
    onnx_file = args.out / "onnx/model.onnx"
    export(model, onnx_file)
    print(f"wrote {onnx_file} ({onnx_file.stat().st_size / 1e6:.1f} MB)")
    if not args.no_check:
        check(model, onnx_file, args.checkpoint, args.tolerance)
        check_batch_independence(onnx_file, args.out)
    if args.fp16:
        fp16_file = args.out / "onnx/model_fp16.onnx"
        to_fp16(onnx_file, fp16_file, model.config)
        print(f"wrote {fp16_file} ({fp16_file.stat().st_size / 1e6:.1f} MB)")
        if not args.no_check:
            check(model, fp16_file, args.checkpoint, max(args.tolerance, 2e-2))
            check_batch_independence(fp16_file, args.out)
    if args.quantize and args.quantize != "fp32":
        quantized = args.out / "onnx" / FILE_NAMES[args.quantize]
        quantize(onnx_file, quantized, method=args.quantize, model_dir=args.out)
        print(f"wrote {quantized} ({quantized.stat().st_size / 1e6:.1f} MB, {args.quantize}, batch-independent)")
        if not args.no_check:
            check(model, quantized, args.checkpoint, max(args.tolerance, 1.0))


if __name__ == "__main__":
    main()
