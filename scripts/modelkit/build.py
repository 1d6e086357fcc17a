"""Rebuilds models/ko-reranker-tiny from data/msmarco-ko deterministically: `npm run model:build`.

/usr/bin/python3 -m scripts.modelkit.build [--steps N] [--out DIR] [--fixtures FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import card, fixtures, safetensors_io
from .bm25 import BM25
from .data import load_corpus, write_split
from .evaluate import bm25_candidates, rerank, table
from .onnx_export import OnnxScorer, export, quantize_int8
from .pairs import pad_batch
from .quantize import DEFAULT_METHOD, FILE_NAMES
from .tokenizer import ReferenceTokenizer, train_sentencepiece, write_hf_tokenizer
from .train import TrainSettings, train
from .xlmr import XLMRobertaForSequenceClassification, config_from_json, config_json, xlmr_config

ROOT = Path(__file__).resolve().parents[2]
SPM_VOCAB = 8000
MAX_LEN = 512
DEPTH = 20


def log(message: str) -> None:
    print(f"[model:build {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_model(out: Path) -> XLMRobertaForSequenceClassification:
    model = XLMRobertaForSequenceClassification(config_from_json(json.loads((out / "config.json").read_text())))
    model.load_state_dict(safetensors_io.load(out / "model.safetensors"))
    return model.eval()


def write_fixtures(out: Path, target: Path, corpus) -> None:
    model = load_model(out)
    tokenizer = ReferenceTokenizer(out / "sentencepiece.bpe.model", model.config.vocab_size)
    count = fixtures.write(
        corpus, BM25(corpus.passages), tokenizer, model, target, os.path.relpath(out, ROOT), out / "tokenizer.json"
    )
    log(f"fixtures: {count} pairs -> {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data/msmarco-ko/msmarco-ko.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "models/ko-reranker-tiny")
    parser.add_argument("--fixtures", type=Path, default=ROOT / "test/fixtures/reference.json")
    parser.add_argument("--steps", type=int, default=TrainSettings.steps, help="training steps (default %(default)s)")
    parser.add_argument(
        "--fixtures-only", action="store_true", help="only rewrite the fixtures from the model in --out"
    )
    parser.add_argument(
        "--reuse-weights",
        action="store_true",
        help="keep --out's model.safetensors and training_log.json; "
        "redo export, quantization, evaluation, fixtures, card",
    )
    args = parser.parse_args()
    if args.fixtures_only:
        write_fixtures(args.out, args.fixtures, load_corpus(args.data))
        return
    settings = TrainSettings(steps=args.steps)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    out: Path = args.out
    (out / "onnx").mkdir(parents=True, exist_ok=True)

    corpus = load_corpus(args.data)
    log(
        f"{len(corpus.examples)} queries ({len(corpus.train)} train, {len(corpus.dev)} dev), "
        f"{len(corpus.passages)} passages"
    )
    write_split(corpus, corpus.dev, args.data.with_name("dev.jsonl"))

    with tempfile.TemporaryDirectory() as tmp:
        spm_file = train_sentencepiece(
            [e.query for e in corpus.examples] + corpus.passages, Path(tmp) / "spm", SPM_VOCAB
        )
        (out / "sentencepiece.bpe.model").write_bytes(spm_file.read_bytes())
    vocab_size = write_hf_tokenizer(out / "sentencepiece.bpe.model", out, MAX_LEN)
    tokenizer = ReferenceTokenizer(out / "sentencepiece.bpe.model", vocab_size)
    log(f"tokenizer: {vocab_size} ids")

    query_ids = {e.id: tokenizer.encode(e.query) for e in corpus.examples}
    passage_ids = [tokenizer.encode(p) for p in corpus.passages]
    bm25 = BM25(corpus.passages)

    config = xlmr_config(vocab_size=vocab_size)
    (out / "config.json").write_text(json.dumps(config_json(config), indent=2) + "\n")
    if args.reuse_weights:
        recorded = json.loads((out / "training_log.json").read_text())
        training_log, train_seconds = recorded["log"], recorded["log"][-1]["elapsed_seconds"]
        settings = TrainSettings(**recorded["settings"])
        log(f"reusing {out / 'model.safetensors'} ({settings.steps} steps, trained in {train_seconds:.0f} s)")
    else:
        training_log = train(corpus, query_ids, passage_ids, bm25, config, settings, out)
        train_seconds = training_log[-1]["elapsed_seconds"]
        log(f"trained {settings.steps} steps in {train_seconds:.0f} s")

    model = load_model(out)
    export(model, out / "onnx/model.onnx")
    int8_file = out / "onnx" / FILE_NAMES[DEFAULT_METHOD]
    (out / "onnx/model_quantized.onnx").unlink(missing_ok=True)  # the dynamic int8 file of older builds
    quantize_int8(out / "onnx/model.onnx", int8_file, out)

    candidates = bm25_candidates(corpus, bm25, DEPTH)
    results = {"BM25 top-20 (character bigrams)": table(corpus, candidates, DEPTH)}
    scorers = {
        "reranked by ko-reranker-tiny (PyTorch fp32)": model,
        "reranked by ko-reranker-tiny (ONNX fp32)": OnnxScorer(out / "onnx/model.onnx"),
        "reranked by ko-reranker-tiny (ONNX int8)": OnnxScorer(int8_file),
    }
    for name, scorer in scorers.items():
        eval_started = time.time()
        results[name] = table(corpus, rerank(corpus, candidates, query_ids, passage_ids, scorer, MAX_LEN), DEPTH)
        results[name]["seconds"] = round(time.time() - eval_started, 1)
        log(f"{name}: {results[name]}")

    sample_rows = [[0, *query_ids[e.id], 2, 2, *passage_ids[e.positives[0]][:200], 2] for e in corpus.dev[:64]]
    ids, mask = pad_batch(sample_rows)
    with torch.no_grad():
        reference = model(ids, mask)
    onnx_diff = float((scorers["reranked by ko-reranker-tiny (ONNX fp32)"](ids, mask) - reference).abs().max())
    log(f"ONNX fp32 vs PyTorch max |diff| on 64 padded dev pairs: {onnx_diff:.2e}")

    write_fixtures(out, args.fixtures, corpus)

    summary = {
        "data": {
            "queries": len(corpus.examples),
            "train": len(corpus.train),
            "dev": len(corpus.dev),
            "passages": len(corpus.passages),
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds),
        "onnx_fp32_vs_pytorch_max_abs_diff": onnx_diff,
        "dev": results,
        "final_training": training_log[-1],
        "first_training": training_log[0],
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    card.write(out, summary, settings, config)
    log("done")


if __name__ == "__main__":
    main()
