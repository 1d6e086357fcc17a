"""P(relevant | logit) fitted on held-out (logit, label) pairs: Platt scaling, p = sigmoid(a * logit + b), by Newton's
method on the log loss with Platt's smoothed targets (Platt 1999; Lin, Lin & Weng 2007), so one class never drives a
parameter to infinity. The server (src/core/scores.ts) computes the same formula from calibration.json.

    python -m korerank_train.calibration --scores SCORES.json --out MODEL_DIR/calibration.json [--plot FILE.png]

SCORES.json: {"logits": [...], "labels": [0/1 ...], "source": "..."}."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path


class CalibrationError(Exception):
    pass


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def fit_platt(logits: list[float], labels: list[int], iterations: int = 100) -> tuple[float, float]:
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise CalibrationError(
            f"calibration needs relevant and non-relevant pairs; got {positives} relevant and {negatives} not"
        )
    hi, lo = (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0)
    targets = [hi if y else lo for y in labels]
    a, b = 1.0, math.log((negatives + 1.0) / (positives + 1.0)) * -1.0
    sigma = 1e-12

    def loss(a: float, b: float) -> float:
        total = 0.0
        for x, t in zip(logits, targets):
            z = a * x + b
            # log(1 + e^z) - t z, stable
            total += (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - t * z
        return total

    current = loss(a, b)
    for _ in range(iterations):
        g_a = g_b = h_aa = h_ab = h_bb = 0.0
        for x, t in zip(logits, targets):
            p = _sigmoid(a * x + b)
            d, w = p - t, p * (1.0 - p)
            g_a += d * x
            g_b += d
            h_aa += w * x * x
            h_ab += w * x
            h_bb += w
        h_aa += sigma
        h_bb += sigma
        det = h_aa * h_bb - h_ab * h_ab
        if det <= 0 or (abs(g_a) < 1e-9 and abs(g_b) < 1e-9):
            break
        da = -(h_bb * g_a - h_ab * g_b) / det
        db = -(-h_ab * g_a + h_aa * g_b) / det
        step = 1.0
        while step > 1e-10:
            na, nb = a + step * da, b + step * db
            new = loss(na, nb)
            if new < current + 1e-4 * step * (g_a * da + g_b * db):
                a, b, current = na, nb, new
                break
            step /= 2.0
        else:
            break
    return a, b


def reliability(probs: list[float], labels: list[int], bins: int = 10) -> list[dict]:
    """Equal-width bins of the predicted probability: mean predicted, observed share relevant, pairs."""
    out = []
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        idx = [i for i, p in enumerate(probs) if (lo <= p < hi) or (k == bins - 1 and p == 1.0)]
        if idx:
            out.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "predicted": sum(probs[i] for i in idx) / len(idx),
                    "observed": sum(labels[i] for i in idx) / len(idx),
                    "pairs": len(idx),
                }
            )
    return out


def expected_calibration_error(table: list[dict]) -> float:
    total = sum(b["pairs"] for b in table)
    return sum(b["pairs"] * abs(b["predicted"] - b["observed"]) for b in table) / total if total else 0.0


def calibrate(logits: list[float], labels: list[int], source: str) -> dict:
    if len(logits) != len(labels):
        raise CalibrationError(f"{len(logits)} logits but {len(labels)} labels")
    if any(not math.isfinite(x) for x in logits):
        raise CalibrationError("a logit is not finite")
    a, b = fit_platt(logits, labels)
    if not a > 0:
        raise CalibrationError(
            f"the fitted slope is {a:.4g}: on this data a higher logit does not mean more likely relevant, so a "
            "calibration would rank passages backwards; check the model and the data"
        )
    before = [_sigmoid(x) for x in logits]
    after = [_sigmoid(a * x + b) for x in logits]
    rel_before, rel_after = reliability(before, labels), reliability(after, labels)
    return {
        "method": "platt",
        "formula": "p = 1 / (1 + exp(-(a * logit + b)))",
        "a": a,
        "b": b,
        "pairs": len(labels),
        "relevant": sum(1 for y in labels if y),
        "source": source,
        "fitted_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "reliability": {
            "before": {"score": "sigmoid(logit)", "ece": expected_calibration_error(rel_before), "bins": rel_before},
            "after": {"score": "calibrated", "ece": expected_calibration_error(rel_after), "bins": rel_after},
        },
    }


def plot_reliability(cal: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfectly calibrated")
    for key, label, style in (
        ("before", "sigmoid(logit)", "o-"),
        ("after", "calibrated (Platt)", "s-"),
    ):
        part = cal["reliability"][key]
        bins = part["bins"]
        ax.plot(
            [b["predicted"] for b in bins],
            [b["observed"] for b in bins],
            style,
            label=f"{label}, ECE {part['ece']:.3f}",
        )
    ax.set_xlabel("predicted P(relevant)")
    ax.set_ylabel("observed share relevant")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability on {cal['pairs']:,} held-out pairs")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="calibration.json to write")
    parser.add_argument("--plot", type=Path, help="reliability diagram PNG to write")
    args = parser.parse_args()
    data = json.loads(args.scores.read_text())
    try:
        cal = calibrate([float(x) for x in data["logits"]], [int(y) for y in data["labels"]], data.get("source", ""))
    except CalibrationError as err:
        raise SystemExit(f"calibration: {err}") from err
    args.out.write_text(json.dumps(cal, indent=1) + "\n")
    if args.plot:
        plot_reliability(cal, args.plot)
    print(
        f"calibration: Platt a={cal['a']:.4f} b={cal['b']:.4f} on {cal['pairs']} pairs ({cal['relevant']} relevant); "
        f"ECE {cal['reliability']['before']['ece']:.3f} (sigmoid) -> {cal['reliability']['after']['ece']:.3f}"
    )


if __name__ == "__main__":
    main()
