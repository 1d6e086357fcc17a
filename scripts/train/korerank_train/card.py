"""The model card of a fine-tuned model: README.md with the data, the recipe, steps and time, the before/after table,
training.png (loss and held-out MRR over training) and, with a calibration, reliability.png (before and after).

    python -m korerank_train.card --log OUT/training/log.json --model-dir OUT/model \\
        [--evaluation OUT/training/evaluation.json] [--calibration OUT/model/calibration.json]

evaluation.json (written by `ko-rerank finetune`): {"before": ROW, "after": ROW, "bm25": ROW, "how": str}, rows with the
eval command's metric names; without it the table is the trainer's own held-out evaluation (PyTorch) at step 0 and
at the end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = (
    ("has_right_in_contexts", "has-right-in-contexts"),
    ("mrr", "MRR@{k}"),
    ("hit_at_1", "hit@1"),
    ("hit_at_5", "hit@5"),
    ("ndcg_at_10", "nDCG@10"),
)


def plot_training(log: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = log["log"]["loss"]
    evals = log["log"]["eval"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([e["step"] for e in losses], [e["loss"] for e in losses], color="tab:blue", alpha=0.35, label="loss")
    window = max(1, len(losses) // 20)
    if window > 1:
        smooth = [
            sum(e["loss"] for e in losses[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1))
            for i in range(len(losses))
        ]
        ax.plot([e["step"] for e in losses], smooth, color="tab:blue", label=f"loss ({window}-step mean)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("group softmax cross-entropy", color="tab:blue")
    if evals:
        k = log["recipe"].get("top_k", 20)
        ax2 = ax.twinx()
        ax2.plot([e["step"] for e in evals], [e["mrr"] for e in evals], "o-", color="tab:orange", label="held-out MRR")
        ax2.set_ylabel(f"held-out MRR@{k} ({evals[0]['queries']} queries, PyTorch)", color="tab:orange")
    ax.set_title(f"Fine-tuning {Path(log['base']).name}: {log['steps']} steps")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m[key]:.3f}" for key, _ in METRICS) + f" | {m['queries']:,} |"


def write_card(
    log_path: Path, model_dir: Path, evaluation: Path | None = None, calibration: Path | None = None
) -> Path:
    log = json.loads(log_path.read_text())
    r = log["recipe"]
    k = r.get("top_k", 20)
    model_dir.mkdir(parents=True, exist_ok=True)
    plot_training(log, model_dir / "training.png")
    resumed = f"; resumed at step {log['resumed_from_step']}" if log["resumed_from_step"] else ""
    name = model_dir.name if model_dir.name not in ("model", "checkpoint") else model_dir.parent.name
    lines = [
        f"# {name}",
        "",
        f"A cross-encoder reranker fine-tuned from `{log['base']}` with `ko-rerank finetune` (scripts/train, "
        "FlagEmbedding's reranker recipe). One logit per (query, passage) pair, higher = more relevant.",
        "",
        "## Data",
        f"- Training: `{log['data']}`: {log['train_queries']:,} queries, {log['passages']:,} passages in the corpus "
        f"(negatives mined by BM25 for {log['mined_queries']:,} queries with fewer given negatives than a group "
        "needs).",
        f"- Held out: {log['heldout_queries']:,} queries, never trained on ({log['eval']}).",
        "- Keep the terms and attribution of the training data with this model.",
        "",
        "## Recipe",
        "| | |",
        "|---|---|",
        f"| loss | group softmax cross-entropy: 1 positive + {r['train_group_size'] - 1} negatives per group |",
        f"| negatives | given ones first, then BM25-hard (top {r['hard_pool']}), then random; never a positive |",
        f"| optimizer | AdamW, lr {r['learning_rate']:g}, weight decay {r['weight_decay']:g} (not on biases and "
        f"LayerNorm), linear warm-up {log['warmup_steps']} steps then linear decay, grad-norm clip "
        f"{r['max_grad_norm']:g} |",
        f"| batch | {r['batch_size']} group(s) x {r['grad_accum']} accumulation = {log['groups_per_step']} groups "
        f"({log['groups_per_step'] * r['train_group_size']} pairs) per step |",
        f"| steps | {log['steps']:,} ({log['epochs_done']:g} epochs){resumed} |",
        f"| max_len | {r['max_len']} tokens per pair |",
        f"| device | {log['device_name']}, {log['precision']}; torch {log['versions']['torch']}, transformers "
        f"{log['versions']['transformers']} |",
        f"| time | {log['train_seconds']:,.0f} s training, {log['seconds_per_step']} s/step, "
        f"{log['pairs_per_second']} pairs/s; {log['total_seconds']:,.0f} s in all with held-out evaluation |",
        f"| seed | {r['seed']} |",
        *(
            [
                f"| loss on the first {log['probe']['groups']} training groups (no dropout) | "
                f"{log['probe']['loss_before']:.4f} before, {log['probe']['loss_after']:.4f} after |"
            ]
            if log.get("probe", {}).get("loss_after") is not None
            else []
        ),
        "",
        "## Held-out evaluation",
    ]
    if evaluation is not None and evaluation.exists():
        ev = json.loads(evaluation.read_text())
        lines += [ev.get("how", ""), ""]
        header = " | ".join(label.format(k=k) for _, label in METRICS)
        lines += [f"| | {header} | queries |", "|---|" + "---:|" * (len(METRICS) + 1)]
        for key, label in (("bm25", "BM25 alone"), ("before", "before (base)"), ("after", "after (this model)")):
            if key in ev:
                lines.append(_row(label, ev[key]))
    else:
        evals = log["log"]["eval"]
        if evals:
            lines += [
                f"BM25 top-{k} of each held-out query over the corpus, reranked by the PyTorch model "
                f"({evals[0]['queries']} queries).",
                "",
                f"| | {' | '.join(label.format(k=k) for _, label in METRICS)} | queries |",
                "|---|" + "---:|" * (len(METRICS) + 1),
                _row("before (step 0)", evals[0]),
                _row(f"after (step {evals[-1]['step']})", evals[-1]),
            ]
        else:
            lines.append("No held-out split.")
    lines += [
        "",
        "![loss and held-out MRR over training](training.png)",
        "",
    ]
    if calibration is not None and calibration.exists():
        cal = json.loads(calibration.read_text())
        from .calibration import plot_reliability

        plot_reliability(cal, model_dir / "reliability.png")
        rb, ra = cal["reliability"]["before"], cal["reliability"]["after"]
        lines += [
            "## Calibrated scores",
            f"`calibration.json`: Platt scaling, P(relevant) = sigmoid({cal['a']:.4f} x logit + {cal['b']:.4f}), "
            f"fitted on {cal['pairs']:,} held-out pairs ({cal['relevant']:,} relevant; {cal['source']}) at "
            f'{cal["fitted_at"]}. Ask for it with `normalize: "calibrated"` on /rerank or /score. Expected '
            f"calibration error: {rb['ece']:.3f} for sigmoid(logit), {ra['ece']:.3f} calibrated (10 bins).",
            "",
            "![reliability diagram before and after calibration](reliability.png)",
            "",
        ]
    if (model_dir / "onnx").is_dir():
        lines += [
            "## Files",
            "- `onnx/model.onnx`: fp32 export (batch-independent), served as is: "
            "`MODEL_DIR=<this directory> npx ko-rerank`.",
            "- `config.json` and the tokenizer files of the base model.",
            "- The Hugging Face checkpoint (PyTorch weights) is the `checkpoint/` directory beside this one.",
            "",
        ]
    else:
        lines += [
            "## Files",
            "- A Hugging Face model directory: `config.json`, `model.safetensors`, the tokenizer files. Export it for "
            "ko-rerank with `scripts/export_onnx.py DIR --out MODEL_DIR`, then `ko-rerank calibrate`.",
            "",
        ]
    readme = model_dir / "README.md"
    readme.write_text("\n".join(lines))
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--evaluation", type=Path)
    parser.add_argument("--calibration", type=Path)
    args = parser.parse_args()
    print(f"wrote {write_card(args.log, args.model_dir, args.evaluation, args.calibration)}")


if __name__ == "__main__":
    main()
