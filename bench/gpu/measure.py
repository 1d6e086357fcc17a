"""The GPU kit's Python half (bench/gpu/README.md), run by bench/gpu/device.sh on the GPU machine (or here, dry):

    python3 bench/gpu/measure.py --out-dir OUT [--shape large|small] [--device cuda|cpu] [--node NODE] [--seconds S]

1. A checkpoint of ko-reranker's exact shape (XLM-R large: 24 layers, hidden 1024, 16 heads, vocab 250002), seeded
   random weights (torch.manual_seed(0)), HF names, with the embedded model's tokenizer (its ids < 8002 are valid
   rows of the larger vocabulary). --shape small is the embedded model's shape, for the dry run.
2. scripts/export_onnx.py: model.onnx (fp32, checked against PyTorch there) and, with --fp16, model_fp16.onnx.
3. bench/gpu/service-bench.ts under Node: the real service and a bare onnxruntime session (see that file).
4. PyTorch on the same token ids: the service's logits against PyTorch fp32 (fp32 ONNX <= 1e-4; fp16 ONNX <= 2e-2
   and the same order within each request), and PyTorch fp16 pairs/s at each length (transformers when present).
Writes OUT/<date>-<gpu>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from scripts.modelkit import safetensors_io  # noqa: E402
from scripts.modelkit.xlmr import (  # noqa: E402
    XLMRobertaForSequenceClassification,
    config_from_json,
    config_json,
    xlmr_config,
)

TINY = ROOT / "models/ko-reranker-tiny"
# Dongjin-kr/ko-reranker's config.json (BAAI/bge-reranker-large, XLM-RoBERTa large), the fields the shape depends on.
KO_RERANKER = dict(
    vocab_size=250002,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    max_position_embeddings=514,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
)


def make_checkpoint(shape: str, out: Path):  # noqa: ANN201
    config = (
        xlmr_config(**KO_RERANKER)
        if shape == "large"
        else config_from_json(json.loads((TINY / "config.json").read_text()))
    )
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    safetensors_io.save({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(config_json(config), indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
        if (TINY / name).exists():
            (out / name).write_bytes((TINY / name).read_bytes())
    return config


def reference_model(checkpoint: Path, device: str):
    """transformers' XLMRobertaForSequenceClassification."""
    from transformers import XLMRobertaForSequenceClassification as HF

    return HF.from_pretrained(checkpoint).eval().to(device), "transformers"


def logits_of(model, ids: list[list[int]], device: str) -> list[float]:
    x = torch.tensor(ids, device=device)
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=torch.ones_like(x))
    logits = out.logits if hasattr(out, "logits") else out
    return logits.float().reshape(-1).tolist()


def torch_pairs_per_sec(model, length: int, device: str, seconds: float) -> dict:
    rows = max(1, 16384 // length)
    x = torch.randint(5, 8000, (rows, length), device=device)
    mask = torch.ones_like(x)
    with torch.no_grad():
        for _ in range(3):
            model(input_ids=x, attention_mask=mask)
        if device == "cuda":
            torch.cuda.synchronize()
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(input_ids=x, attention_mask=mask)
            n += rows
            if device == "cuda":
                torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    return {"rows": rows, "pairsPerSec": n / secs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ko-kit/work"))
    ap.add_argument("--shape", choices=["large", "small"], default="large")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--node", default="node")
    ap.add_argument("--seconds", default="8")
    ap.add_argument("--lengths", default="128,256,512")
    ap.add_argument("--concurrency", default="1,4,16,64")
    args = ap.parse_args()
    t_start = time.perf_counter()
    report: dict = {
        "date": datetime.date.today().isoformat(),
        "shape": args.shape,
        "device": args.device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "steps": {},
    }
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    report["gpu"] = gpu

    ckpt, model_dir = args.work / "checkpoint", args.work / "model"
    t0 = time.perf_counter()
    make_checkpoint(args.shape, ckpt)
    report["steps"]["checkpoint_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    export = [sys.executable, str(ROOT / "scripts/export_onnx.py"), str(ckpt), "--out", str(model_dir)]
    files = ["model.onnx"]
    if args.device == "cuda":
        export.append("--fp16")
        files.append("model_fp16.onnx")
    subprocess.run(export, check=True)
    report["steps"]["export_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    service_json = args.work / "service.json"
    subprocess.run(
        [
            args.node,
            "--import",
            "tsx",
            str(ROOT / "bench/gpu/service-bench.ts"),
            "--model-dir",
            str(model_dir),
            "--files",
            ",".join(files),
            "--device",
            args.device,
            "--out",
            str(service_json),
            "--seconds",
            args.seconds,
            "--lengths",
            args.lengths,
            "--concurrency",
            args.concurrency,
        ],
        check=True,
        cwd=ROOT,
    )
    service = json.loads(service_json.read_text())
    report["service"] = service
    report["steps"]["service_bench_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model, impl = reference_model(ckpt, args.device)
    report["pytorch_impl"] = impl
    parity = {}
    for file, entry in service["models"].items():
        worst, same_order = 0.0, True
        for case in entry["parity"]:
            ref = logits_of(model, case["ids"], args.device)
            worst = max(worst, max(abs(a - b) for a, b in zip(ref, case["logits"])))
            same_order &= sorted(range(len(ref)), key=lambda i: -ref[i]) == sorted(
                range(len(ref)), key=lambda i: -case["logits"][i]
            )
        bound = 2e-2 if "fp16" in file else 1e-4
        parity[file] = {
            "provider": entry["info"]["provider"],
            "max_abs_diff": worst,
            "bound": bound,
            "same_order": same_order,
            "ok": worst <= bound and (same_order or "fp16" not in file),
        }
    report["parity"] = parity
    lengths = [int(x) for x in args.lengths.split(",")]
    if args.device == "cuda":
        half = model.half()
        report["pytorch_fp16"] = {str(n): torch_pairs_per_sec(half, n, "cuda", float(args.seconds)) for n in lengths}
        report["pytorch_fp16_max_memory_MiB"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        report["pytorch_fp32_cpu"] = {str(n): torch_pairs_per_sec(model, n, "cpu", 2.0) for n in lengths}
    report["steps"]["pytorch_s"] = time.perf_counter() - t0
    report["steps"]["total_s"] = time.perf_counter() - t_start

    slug = (gpu or "cpu-dry-run").lower().replace("nvidia", "").strip().replace(" ", "-")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"{report['date']}-{slug}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    for file, p in parity.items():
        print(
            f"parity {file}: provider {p['provider']}, max |diff| {p['max_abs_diff']:.2e} (bound {p['bound']}), "
            f"same order {p['same_order']}"
        )
    for file, entry in service["models"].items():
        for n, row in entry["lengths"].items():
            print(
                f"{file} {n} tokens: service {row['servicePairsPerSec']:.0f} pairs/s, "
                f"bare {row['bare']['pairsPerSec']:.0f}, ratio {row['serviceVsBare']:.2f}, "
                f"unloaded p50 {row['unloaded']['p50Ms']:.0f} ms, half-load p99 {row['halfLoad']['p99Ms']:.0f} ms"
            )
    sys.exit(0 if all(p["ok"] for p in parity.values()) else 1)


if __name__ == "__main__":
    main()
