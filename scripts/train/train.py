#!/usr/bin/env python3
"""Fine-tunes a Korean cross-encoder reranker on {"query", "pos": [...], "neg": [...]} JSONL (or the eval command's
CSV/TSV), as FlagEmbedding trains rerankers; the seed's recipe by default. `npx ko-rerank finetune` runs this and then
exports, evaluates and calibrates the result; run alone it writes OUT/checkpoint (a Hugging Face model directory),
OUT/training/log.json (losses, held-out metrics, timings), OUT/training/heldout.jsonl and resumable checkpoints.

    python scripts/train/train.py --base models/ko-reranker-small --data train.jsonl --out runs/mine [--eval dev.jsonl]

SageMaker training entry point as well (Hugging Face estimator, entry_point="train.py", source_dir="scripts/train"):
hyperparameters arrive as `--name value` (underscores or dashes); --data defaults to the file in SM_CHANNEL_TRAIN,
--eval to the file in SM_CHANNEL_EVAL, --base to SM_CHANNEL_MODEL, --out to SM_MODEL_DIR, and checkpoints go to
/opt/ml/checkpoints (synced to checkpoint_s3_uri, resumed from automatically: spot training). See docs/finetune.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from korerank_train.data import DataError  # noqa: E402
from korerank_train.trainer import Options, TrainError, train  # noqa: E402

DATA_EXTENSIONS = (".jsonl", ".json", ".csv", ".tsv")
SAGEMAKER_CHECKPOINTS = Path("/opt/ml/checkpoints")


def channel_file(channel: str, name: str | None) -> Path | None:
    """The data file of a SageMaker channel: `name` inside it, or its one data file."""
    root = os.environ.get(channel)
    if not root:
        return None
    if name:
        return Path(root) / name
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in DATA_EXTENSIONS)
    if len(files) != 1:
        raise SystemExit(
            f"{channel}={root}: expected one .jsonl/.csv/.tsv file, found {len(files)}; name it with --data-file"
        )
    return files[0]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def opt(name: str, **kw) -> None:
        # Both spellings: --max-steps (CLI) and --max_steps (SageMaker's hyperparameter dict keys).
        names = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else [])
        p.add_argument(*names, **kw)

    d = Options(base=Path("."), data=Path("."), out=Path("."))
    opt("base", type=str, help="Hugging Face model directory (or hub id) to start from; SageMaker: SM_CHANNEL_MODEL")
    opt("data", type=Path, help="training data: JSONL, CSV or TSV; SageMaker: the file in SM_CHANNEL_TRAIN")
    opt("data-file", type=str, help="SageMaker: the file's name inside SM_CHANNEL_TRAIN (when it holds several)")
    opt("out", type=Path, help="output directory; SageMaker: SM_MODEL_DIR")
    opt("eval", type=Path, help="held-out data (else a slice of --data); SageMaker: the file in SM_CHANNEL_EVAL")
    opt("eval-file", type=str, help="SageMaker: the file's name inside SM_CHANNEL_EVAL")
    opt("corpus", type=Path, action="append", default=[], help="more passages for negatives and the held-out ranking")
    opt("format", choices=["jsonl", "csv", "tsv"], help="data format (default: from the extension)")
    opt("query-column", default=d.query_column, help="CSV/TSV query column")
    opt("passage-column", default=d.passage_column, help="CSV/TSV ground-truth passage column")
    opt("eval-fraction", type=float, default=d.eval_fraction, help="share of --data held out without --eval")
    opt("eval-max-queries", type=int, default=d.eval_max_queries, help="cap on the queries held out of --data")
    opt("learning-rate", type=float, default=d.learning_rate)
    opt("lr", type=float, dest="learning_rate", help="alias of --learning-rate")
    opt("epochs", type=float, default=d.epochs)
    opt("num-train-epochs", type=float, dest="epochs", help="alias of --epochs")
    opt("max-steps", type=int, default=d.max_steps, help="optimizer steps; overrides --epochs when > 0")
    opt("batch-size", type=int, default=d.batch_size, help="training groups per forward pass")
    opt("per-device-train-batch-size", type=int, dest="batch_size", help="alias of --batch-size")
    opt("grad-accum", type=int, default=d.grad_accum, help="forward passes per optimizer step")
    opt("gradient-accumulation-steps", type=int, dest="grad_accum", help="alias of --grad-accum")
    opt("train-group-size", type=int, default=d.train_group_size, help="1 positive + N-1 negatives per group")
    opt("max-len", type=int, default=d.max_len, help="tokens per (query, passage) pair")
    opt("weight-decay", type=float, default=d.weight_decay)
    opt("warmup-ratio", type=float, default=d.warmup_ratio)
    opt("max-grad-norm", type=float, default=d.max_grad_norm)
    opt("hard-pool", type=int, default=d.hard_pool, help="BM25 top-N hard negatives are drawn from (0: random only)")
    opt("seed", type=int, default=d.seed)
    opt("device", choices=["auto", "cpu", "cuda"], default=d.device)
    opt("precision", choices=["auto", "fp32", "fp16", "bf16"], default=d.precision, help="auto: bf16/fp16 on CUDA")
    opt("save-steps", type=int, default=d.save_steps, help="checkpoint every N steps (default: steps/5, at most 500)")
    opt("keep-checkpoints", type=int, default=d.keep_checkpoints)
    opt("checkpoint-dir", type=Path, help="resumable checkpoints (default OUT/training/checkpoints)")
    opt("resume", action="store_true", help="continue from the newest checkpoint")
    opt("eval-steps", type=int, default=d.eval_steps, help="held-out MRR every N steps (0: before and after only)")
    opt("eval-queries", type=int, default=d.eval_queries, help="held-out queries scored during training")
    opt("top-k", type=int, default=d.top_k, help="BM25 candidates per held-out query; MRR@k")
    opt("contexts", type=int, default=d.contexts, help="has-right-in-contexts = hit@N")
    opt("eval-batch", type=int, default=d.eval_batch, help="pairs per forward pass when scoring")
    opt("threads", type=int, default=d.threads, help="torch CPU threads (0: torch's default)")
    opt("probe-groups", type=int, default=d.probe_groups, help="training groups whose loss is logged before and after")
    opt("log-every", type=int, default=d.log_every, help="a progress line every N steps when not on a terminal")
    return p


def main(argv: list[str] | None = None) -> int:
    # SageMaker passes hyperparameters as strings, and booleans as "True"/"False".
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--resume" in argv:
        i = argv.index("--resume")
        if i + 1 < len(argv) and argv[i + 1] in ("True", "False", "true", "false"):
            value = argv.pop(i + 1)
            if value.lower() == "false":
                argv.pop(i)
    args = parser().parse_args(argv)
    sagemaker = "SM_MODEL_DIR" in os.environ
    data = args.data or channel_file("SM_CHANNEL_TRAIN", args.data_file)
    eval_file = args.eval or channel_file("SM_CHANNEL_EVAL", args.eval_file)
    base = args.base or os.environ.get("SM_CHANNEL_MODEL")
    out = args.out or (Path(os.environ["SM_MODEL_DIR"]) if sagemaker else None)
    checkpoint_dir = args.checkpoint_dir
    resume = args.resume
    if sagemaker and checkpoint_dir is None and SAGEMAKER_CHECKPOINTS.is_dir():
        checkpoint_dir, resume = SAGEMAKER_CHECKPOINTS, True
    missing = [n for n, v in (("--base", base), ("--data", data), ("--out", out)) if v is None]
    if missing:
        print(f"train.py: {', '.join(missing)} required (or the SageMaker variables)", file=sys.stderr)
        return 2
    values = {k: v for k, v in vars(args).items() if k not in ("data_file", "eval_file") and v is not None}
    values.update(
        base=Path(base),
        data=Path(data),
        out=Path(out),
        eval=eval_file,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
    )
    try:
        train(Options(**values))
    except (DataError, TrainError) as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 1
    if sagemaker:
        from korerank_train.card import write_card

        write_card(Path(out) / "training" / "log.json", Path(out) / "checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
