"""models/ko-reranker-tiny/README.md, the model card, written from the build's own measurements."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import XLMRobertaConfig

from .quantize import DEFAULT_METHOD, DESCRIPTIONS, FILE_NAMES
from .train import TrainSettings

INT8 = FILE_NAMES[DEFAULT_METHOD]


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['hit@3']:.3f} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@20']:.3f} |"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


HF_CHECK = Path(__file__).resolve().parents[2] / "bench/results/2026-11-27-gpu-hf-parity.json"


def _hf_check() -> str:
    """What bench/gpu/hf_parity_and_sizing.py recorded when transformers itself loaded this directory."""
    if not HF_CHECK.exists():
        return ""
    r = json.loads(HF_CHECK.read_text())
    t = r["tokenizer"]
    return f"""
## Checked with Hugging Face transformers
`bench/gpu/hf_parity_and_sizing.py` (run on a GPU machine with transformers {r["transformers"]}, torch {r["torch"]}; result in
`{HF_CHECK.relative_to(HF_CHECK.parents[2])}`): `AutoTokenizer` gives the reference ids for {t["ids_equal_with_our_assembly"]}/{t["pairs"]}
fixture pairs, and its own `only_second` pair encoding agrees on {t["ids_equal_with_transformers_pair_encoding"]} (the remaining
pair has a query longer than max_len, which transformers refuses and we cap); `XLMRobertaForSequenceClassification.from_pretrained`
reproduces the fixture logits within {r["logits_max_abs_diff_cpu"]:.1e} on CPU and {r["logits_max_abs_diff_cuda"]:.1e} on CUDA.
"""


def write(out: Path, summary: dict, s: TrainSettings, c: XLMRobertaConfig) -> None:
    dev = summary["dev"]
    bm25 = dev["BM25 top-20 (character bigrams)"]
    fp32 = dev["reranked by ko-reranker-tiny (PyTorch fp32)"]
    onnx32 = dev["reranked by ko-reranker-tiny (ONNX fp32)"]
    int8 = dev["reranked by ko-reranker-tiny (ONNX int8)"]
    wins = [k for k in ("hit@1", "hit@3", "hit@5", "mrr@20") if fp32[k] > bm25[k]]
    losses = [k for k in ("hit@1", "hit@3", "hit@5", "mrr@20") if fp32[k] < bm25[k]]
    verdict = (
        f"Against BM25 alone the reranked list is better on {', '.join(wins) or 'nothing'}"
        f" and worse on {', '.join(losses) or 'nothing'} (MRR@20 {fp32['mrr@20']:.3f} vs {bm25['mrr@20']:.3f}): a 1.5M-parameter"
        " model trained for half an hour roughly matches a lexical first stage; it is a test fixture, not a ranker to deploy."
    )
    first, last = summary["first_training"], summary["final_training"]
    rows = "\n".join(_row(name, m) for name, m in dev.items())
    text = f"""# ko-reranker-tiny

**A tiny Korean cross-encoder for tests and demos. Production uses the real
[Dongjin-kr/ko-reranker](https://huggingface.co/Dongjin-kr/ko-reranker) (XLM-RoBERTa-large, 560M parameters), mounted
with `MODEL_DIR`.** This model exists so that `npm start` and `npm test` work on a fresh machine with no download, through
exactly the code path the real model takes: same architecture family, same tokenizer layout, same ONNX interface.

## Interface (identical to ko-reranker exported by optimum)
- `XLMRobertaForSequenceClassification`, one logit (`num_labels` 1): higher means more relevant. Score a candidate list
  with softmax over its logits (ko-reranker's `exp_normalize`) or a sigmoid per pair.
- Tokenizer: SentencePiece Unigram in the XLM-R id layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, pieces shifted by
  the fairseq offset, `<mask>` last), `tokenizer.json` with the Precompiled charsmap normalizer, Strip, `Replace(" {{2,}}", " ")`,
  Metaspace, pair template `<s> A </s></s> B </s>`. `sentencepiece.bpe.model` is the reference tokenizer.
- `onnx/model.onnx` (fp32, opset 14): inputs `input_ids`, `attention_mask` (int64, dynamic batch and sequence),
  output `logits` float32 `[batch, 1]`. `onnx/{INT8}`:
  `scripts/modelkit/quantize.py` method `{DEFAULT_METHOD}` ({DESCRIPTIONS[DEFAULT_METHOD]}), so a pair's logit
  does not depend on the other pairs of its batch.
- `model.safetensors`: the PyTorch weights with Hugging Face parameter names (re-export, parity tests).

## Architecture and size
| | |
|---|---|
| layers / hidden / heads / intermediate | {c.num_hidden_layers} / {c.hidden_size} / {c.num_attention_heads} / {c.intermediate_size} |
| vocabulary | {c.vocab_size} ids (SentencePiece {c.vocab_size - 2} pieces, nmt_nfkc, character coverage 1.0) |
| positions | {c.max_position_embeddings} (max_len 512), RoBERTa position ids, post-LN, exact GELU, LayerNorm eps {c.layer_norm_eps} |
| parameters | {summary["parameters"]:,} |
| files | model.onnx {_size(out / "onnx/model.onnx")}, {INT8} {_size(out / "onnx" / INT8)}, model.safetensors {_size(out / "model.safetensors")} |

## Training
- Data: `data/msmarco-ko` ({summary["data"]["queries"]:,} Korean MS MARCO queries with positives, {summary["data"]["passages"]:,}
  passages), a fixed split of {summary["data"]["train"]:,} training and {summary["data"]["dev"]:,} dev queries. The dev queries
  were never trained on.
- Recipe (ko-reranker's, FlagEmbedding style): per step {s.queries_per_step} queries × groups of {s.group_size}
  (1 positive, {s.hard_negatives} BM25-hard negatives from the top {s.hard_pool}, {s.random_negatives} random passages), softmax
  cross-entropy over each group; AdamW (lr {s.lr}, weight decay {s.weight_decay}), {s.warmup_steps} warm-up steps then linear
  decay, {s.steps} steps, max_len {s.max_len}, seed {s.seed}.
- A training-only auxiliary head predicts, from each query token's final hidden state, whether the token also occurs in
  the passage (binary cross-entropy, weight {s.aux_weight}); it is not exported. Init: word embeddings std 1.0, sinusoidal
  position table, near-identity query/key projections. Without these, this small model barely learns on a 2-core budget.
- Took {summary["train_seconds"] / 60:.1f} minutes on one thread of a shared 2-core machine (Debian's torch 1.13 with
  OpenBLAS; one thread measured faster than two there, and keeps the run deterministic).
- Loss {first["loss"]:.2f} → {last["loss"]:.2f} (ranking {first["rank_loss"]:.2f} → {last["rank_loss"]:.2f}, auxiliary
  {first["aux_loss"]:.2f} → {last["aux_loss"]:.2f}); group accuracy {first["group_accuracy"]:.2f} → {last["group_accuracy"]:.2f}
  (chance 1/{s.group_size}). The full curve is in `training_log.json`.

## Evaluation (dev split, {bm25["queries"]} queries, in the table format of ko-reranker's model card)
First stage: character-bigram BM25 over all {summary["data"]["passages"]:,} passages, top 20; the model reranks those 20.

| | has-right-in-contexts (hit@3) | hit@1 | hit@5 | MRR@20 |
|---|---|---|---|---|
{rows}

{verdict} The ONNX fp32 file matches PyTorch to {summary["onnx_fp32_vs_pytorch_max_abs_diff"]:.1e} (max |logit difference|
on padded dev batches); int8 changes MRR@20 by {int8["mrr@20"] - onnx32["mrr@20"]:+.4f}.
For comparison, ko-reranker's model card reports 0.93/0.80 → 0.96/0.87 (has-right-in-contexts / MRR) for the real ko-reranker on
its own RAG set; numbers on different data are not comparable.
{_hf_check()}
## Rebuild
`bash scripts/setup-python.sh && npm run model:build` retrains everything from `data/msmarco-ko` with fixed seeds
(SentencePiece on one thread, seeded sampling and init, torch on one thread: two 15-step runs gave byte-identical
weights) and rewrites this directory and `test/fixtures/reference.json`. `npm run model:build -- --reuse-weights` keeps the
trained weights and redoes export, quantization, evaluation, fixtures and this card; `--fixtures-only` rewrites the fixtures.

## Data and licence
Trained on a Korean translation (GPT-4o mini) of MS MARCO passage-ranking queries and positives, from the public
GitHub repository baba9811/msmarco_Kor. MS MARCO is Microsoft's dataset, released for non-commercial research use; this
model inherits those terms.
"""
    (out / "README.md").write_text(text, encoding="utf-8")
