"""The second half of build_small: export, quantization, dev evaluation, fixtures, metrics.json and the model card.

The default (served) file is SERVED (card_small.METHOD of scripts/modelkit/quantize.py, chosen by
bench/quantization.py; its scores do not depend on the batch), the only ONNX file in the model directory. The fp32
export goes to build/ko-reranker-small (gitignored, itself a servable model directory), since both files together would
exceed the repository budget; scripts/tests/test_small_model.py re-exports it from model.safetensors and checks it
against the fixtures' PyTorch logits.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import XLMRobertaConfig

from . import card_small, fixtures, safetensors_io
from .bm25 import BM25
from .card_small import METHOD, SERVED
from .evaluate import bm25_candidates, rerank, table
from .onnx_export import OnnxScorer, export
from .pairs import pad_batch
from .quantize import quantize
from .xlmr import XLMRobertaForSequenceClassification, config_from_json

DEPTH = 20
EVAL_MAX_LEN = 512
TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
)


def log(message: str) -> None:
    print(f"[model:build:small {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_model(out: Path) -> XLMRobertaForSequenceClassification:
    """model.safetensors holds fp16 values; the reference model computes in fp32 on exactly those values."""
    model = XLMRobertaForSequenceClassification(config_from_json(json.loads((out / "config.json").read_text())))
    model.load_state_dict({k: v.float() for k, v in safetensors_io.load(out / "model.safetensors").items()})
    return model.eval()


def fp32_dir(root: Path, out: Path) -> Path:
    return root / "build" / out.name


def export_all(model, out: Path, root: Path) -> Path:
    fp32 = fp32_dir(root, out)
    (fp32 / "onnx").mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(out / name, fp32 / name)
    export(model, fp32 / "onnx/model.onnx")
    for stale in (out / "onnx").glob("*.onnx"):
        stale.unlink()
    quantize(fp32 / "onnx/model.onnx", out / SERVED, method=METHOD, model_dir=out)
    return fp32 / "onnx/model.onnx"


def add_int8_logits(path: Path, scorer: OnnxScorer) -> None:
    """Each fixture pair's logit from onnxruntime (Python) on the int8 file, scored alone (batch of one)."""
    ref = json.loads(path.read_text(encoding="utf-8"))
    for pair in ref["pairs"]:
        ids = torch.tensor([pair["input_ids"]])
        pair["int8_logit"] = round(float(scorer(ids, torch.ones_like(ids))[0, 0]), 6)
    ref["source"] += f"; int8_logit from onnxruntime (Python) on {SERVED}, one pair per run"
    path.write_text(json.dumps(ref, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def finish(
    corpus,
    bm25: BM25,
    tokenizer,
    query_ids,
    passage_ids,
    config: XLMRobertaConfig,
    out: Path,
    fixture_path: Path,
    root: Path,
) -> None:
    torch.set_num_threads(2)
    model = load_model(out)
    fp32_path = export_all(model, out, root)
    int8_path = out / SERVED
    log(
        f"exported {fp32_path} ({fp32_path.stat().st_size / 1e6:.1f} MB), "
        f"{int8_path} ({int8_path.stat().st_size / 1e6:.1f} MB)"
    )
    onnx32, onnx8 = OnnxScorer(fp32_path), OnnxScorer(int8_path)

    sample_rows = [[0, *query_ids[e.id], 2, 2, *passage_ids[e.positives[0]][:200], 2] for e in corpus.dev[:64]]
    ids, mask = pad_batch(sample_rows)
    with torch.no_grad():
        reference = model(ids, mask)
    onnx_diff = float((onnx32(ids, mask) - reference).abs().max())
    log(f"ONNX fp32 vs PyTorch max |diff| on 64 padded dev pairs: {onnx_diff:.2e}")

    candidates = bm25_candidates(corpus, bm25, DEPTH)
    results = {"BM25 top-20 (character bigrams)": table(corpus, candidates, DEPTH)}
    for name, scorer in {
        f"reranked by {out.name} (ONNX fp32)": onnx32,
        f"reranked by {out.name} (ONNX int8)": onnx8,
    }.items():
        started = time.time()
        results[name] = table(corpus, rerank(corpus, candidates, query_ids, passage_ids, scorer, EVAL_MAX_LEN), DEPTH)
        results[name]["seconds"] = round(time.time() - started, 1)
        log(f"{name}: {results[name]}")

    count = fixtures.write(
        corpus, bm25, tokenizer, model, fixture_path, os.path.relpath(out, root), out / "tokenizer.json"
    )
    add_int8_logits(fixture_path, onnx8)
    log(f"fixtures: {count} pairs -> {fixture_path}")

    recorded = json.loads((out / "training_log.json").read_text())
    summary = {
        "data": {
            "queries": len(corpus.examples),
            "train": len(corpus.train),
            "dev": len(corpus.dev),
            "passages": len(corpus.passages),
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(recorded["log"][-1]["elapsed_seconds"]),
        "onnx_fp32_vs_pytorch_max_abs_diff": onnx_diff,
        "files_bytes": {
            "model.safetensors": (out / "model.safetensors").stat().st_size,
            SERVED: int8_path.stat().st_size,
            "fp32 onnx (build/, not committed)": fp32_path.stat().st_size,
        },
        "dev": results,
        "first_training": recorded["log"][0],
        "final_training": recorded["log"][-1],
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    card_small.write(out, summary, recorded["settings"], config)
    log("done")
