#!/usr/bin/env python3
"""The embedded model's candidate files side by side: ranking quality, speed, memory, size and batch dependence.

    scripts/.venv/bin/python bench/quantization.py [--queries 50] [--out bench/results/<date>-quantization.json]

Exports fp32 ONNX from models/ko-reranker-small/model.safetensors with scripts/export_onnx.py (into
build/quantization-bench/), writes every method of scripts/modelkit/quantize.py beside it, and, for reference, measures
the dynamic int8 file the model shipped before (--dynamic FILE, when present). Each candidate runs in its own
child process (so RSS is its own), with a bare onnxruntime session of 2 intra-op threads:

- dev quality: the first --queries queries of the dev split (scripts/modelkit/data.py's fixed split of
  data/msmarco-ko; the same 1,047 queries as data/msmarco-ko/dev.jsonl), BM25 top-20 reranked; MRR@20 and hit@1 as in
  src/eval/metrics.ts (mirrored by scripts/modelkit/metrics.py); pairs tokenized by SentencePiece, cut at 512 tokens;
- speed: the same pairs in micro-batches of 16 in dev order (not length-sorted, about 1,900 padded tokens each, like
  the server's), pairs/s (wall) and CPU ms per pair (process CPU time: all onnxruntime threads);
- RSS: peak resident set (VmHWM) of the child after loading the session and scoring (Python + numpy included);
- batch dependence: max |logit in a mixed batch - logit alone| (scripts/modelkit/quantize.batch_dependence) on the
  check pairs, and on 40 dev pairs scored alone against their micro-batch logits;
- max |logit - fp32 logit| over all scored pairs, and how often the top-1 passage is fp32's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.modelkit import quantize as Q  # noqa: E402

MODEL = ROOT / "models/ko-reranker-small"
WORK = ROOT / "build/quantization-bench"
DEPTH = 20
MAX_LEN = 512
MICRO_BATCH = 16


def dev_rows(queries: int):
    from scripts.modelkit.bm25 import BM25
    from scripts.modelkit.data import load_corpus
    from scripts.modelkit.evaluate import bm25_candidates
    from scripts.modelkit.tokenizer import ReferenceTokenizer

    corpus = load_corpus(ROOT / "data/msmarco-ko/msmarco-ko.jsonl")
    config = json.loads((MODEL / "config.json").read_text())
    tokenizer = ReferenceTokenizer(MODEL / "sentencepiece.bpe.model", config["vocab_size"])
    dev = corpus.dev[:queries]
    candidates = bm25_candidates(corpus, BM25(corpus.passages), DEPTH)[:queries]
    rows = [
        tokenizer.encode_pair(e.query, corpus.passages[d], MAX_LEN)[0] for e, docs in zip(dev, candidates) for d in docs
    ]
    relevant = [set(e.positives) for e in dev]
    return rows, candidates, relevant


def peak_rss_mib() -> float:
    """VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def measure(path: str, rows: list[list[int]], result) -> None:
    """In a child process: scores rows in micro-batches, timing them; RSS; alone-vs-batch on 40 rows."""
    import os

    sess = Q.session(Path(path))
    Q.score(sess, rows[:MICRO_BATCH])  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    logits: list[float] = []
    for start in range(0, len(rows), MICRO_BATCH):
        logits += Q.score(sess, rows[start : start + MICRO_BATCH])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    alone = [Q.score(sess, [rows[i]])[0] for i in range(0, min(len(rows), 40 * 7), 7)]
    dev_dependence = max(abs(a - logits[i]) for a, i in zip(alone, range(0, len(rows), 7)))
    result.put(
        {
            "logits": logits,
            "pairs_per_second": round(len(rows) / wall, 1),
            "cpu_ms_per_pair": round(1000 * cpu / len(rows), 2),
            "rss_mib": peak_rss_mib(),
            "dev_batch_dependence": dev_dependence,
            "pid": os.getpid(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=50, help="first N dev queries (x 20 candidates)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--dynamic",
        type=Path,
        default=MODEL / "onnx/model_quantized.onnx",
        help="a dynamically quantized file to measure beside them, when it exists (the model shipped one before "
        "2026-12-04: git show 132a601:models/ko-reranker-small/onnx/model_quantized.onnx > FILE)",
    )
    args = parser.parse_args()
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = args.out or ROOT / f"bench/results/{date}-quantization.json"

    started = time.time()
    fp32_dir = WORK / "fp32"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/export_onnx.py"), str(MODEL), "--out", str(fp32_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    fp32 = fp32_dir / "onnx/model.onnx"
    files: dict[str, Path] = {}
    quantize_seconds: dict[str, float] = {}
    for method in Q.METHODS:
        target = fp32 if method == "fp32" else WORK / Q.FILE_NAMES[method]
        t = time.time()
        Q.quantize(fp32, target, method=method, model_dir=MODEL)
        quantize_seconds[method] = round(time.time() - t, 1)
        files[method] = target
    if args.dynamic.exists():
        files["dynamic-int8 (old, batch-dependent)"] = args.dynamic
    print(f"files ready in {time.time() - started:.0f} s", flush=True)

    from scripts.modelkit.metrics import summarize

    rows, candidates, relevant = dev_rows(args.queries)
    context = multiprocessing.get_context("spawn")
    results: dict[str, dict] = {}
    for name, path in files.items():
        queue = context.Queue()
        child = context.Process(target=measure, args=(str(path), rows, queue))
        child.start()
        measured = queue.get()
        child.join()
        logits = measured.pop("logits")
        measured.pop("pid")
        it = iter(logits)
        rankings = []
        for docs in candidates:
            scored = [(next(it), d) for d in docs]
            rankings.append([d for _, d in sorted(scored, key=lambda p: (-p[0], p[1]))])
        quality = summarize(rankings, relevant, DEPTH)
        results[name] = {
            "file": str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path),
            "bytes": path.stat().st_size,
            "mrr@20": round(quality["mrr@20"], 4),
            "hit@1": round(quality["hit@1"], 4),
            **measured,
            "check_pairs_batch_dependence": Q.batch_dependence(path, MODEL),
            "quantize_seconds": quantize_seconds.get(name),
            "_logits": logits,
        }
        print(name, {k: v for k, v in results[name].items() if k != "_logits"}, flush=True)
    reference = results["fp32"]["_logits"]
    for r in results.values():
        logits = r.pop("_logits")
        r["max_abs_diff_vs_fp32"] = round(max(abs(a - b) for a, b in zip(logits, reference)), 4)
        top = [
            max(range(i, i + DEPTH), key=lambda j: x[j]) for x in (logits, reference) for i in range(0, len(x), DEPTH)
        ]
        half = len(top) // 2
        r["top1_agreement_with_fp32"] = round(sum(a == b for a, b in zip(top[:half], top[half:])) / half, 4)

    report = {
        "suite": "quantization",
        "date": date,
        "command": f"scripts/.venv/bin/python bench/quantization.py --queries {args.queries}",
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} CPUs (shared), onnxruntime "
        + __import__("onnxruntime").__version__,
        "model": "models/ko-reranker-small (fp32 ONNX exported from model.safetensors by scripts/export_onnx.py)",
        "workload": f"first {args.queries} dev queries x BM25 top-{DEPTH} = {len(rows)} pairs, max_len {MAX_LEN}, "
        f"micro-batches of {MICRO_BATCH} in dev order, bare onnxruntime session, 2 intra-op threads",
        "seconds": round(time.time() - started),
        "candidates": results,
    }
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
