"""GPU-machine check (run through the device tool, not in CI): Hugging Face transformers reads the embedded model
directory as an ordinary XLM-R checkpoint, and XLM-R-large (ko-reranker's shape) throughput for sizing.

    python3 bench/gpu/hf_parity_and_sizing.py OUT.json

1. transformers' AutoTokenizer (tokenizer.json) and XLMRobertaForSequenceClassification load
   models/ko-reranker-tiny; their ids and logits are compared with test/fixtures/reference.json (CPU and CUDA).
2. A randomly initialised model of ko-reranker's exact shape (24 layers, hidden 1024, vocab 250002) is timed in
   fp16 on the GPU at several sequence lengths and batch sizes: pairs/s, for the README's GPU sizing.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

ROOT = Path(__file__).resolve().parents[2]
report: dict = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "python": platform.python_version(),
}
report["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

fixtures = json.loads((ROOT / "test/fixtures/reference.json").read_text(encoding="utf-8"))
model_dir = ROOT / fixtures["model_dir"]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
ids_equal = 0
hf_pair_equal = 0
hf_pair_errors: list[str] = []
for pair in fixtures["pairs"]:
    import unicodedata

    q = tokenizer(unicodedata.normalize("NFC", pair["query"]), add_special_tokens=False)["input_ids"][:384]
    p = tokenizer(unicodedata.normalize("NFC", pair["passage"]), add_special_tokens=False)["input_ids"]
    ours = [0, *q, 2, 2, *p[: 512 - 4 - len(q)], 2]
    ids_equal += ours == pair["input_ids"]
    # transformers' own pair encoding with only_second truncation, as FlagEmbedding does it
    try:
        hf_pair = tokenizer(
            unicodedata.normalize("NFC", pair["query"]),
            unicodedata.normalize("NFC", pair["passage"]),
            truncation="only_second",
            max_length=512,
        )["input_ids"]
        hf_pair_equal += hf_pair == pair["input_ids"]
    except Exception as error:  # a query longer than max_len: transformers refuses, we cap the query instead
        hf_pair_errors.append(f"{pair['name']}: {error}")
report["tokenizer"] = {
    "pairs": len(fixtures["pairs"]),
    "ids_equal_with_our_assembly": ids_equal,
    "ids_equal_with_transformers_pair_encoding": hf_pair_equal,
    "transformers_pair_encoding_errors": hf_pair_errors,
    "class": type(tokenizer).__name__,
}

model = XLMRobertaForSequenceClassification.from_pretrained(model_dir).eval()
rows = [pair["input_ids"] for pair in fixtures["pairs"]]
width = max(map(len, rows))
ids = torch.tensor([r + [1] * (width - len(r)) for r in rows])
# The mask comes from the lengths, not from ids != <pad>: one fixture has a literal "<pad>" inside its passage.
mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
expected = torch.tensor([pair["logit"] for pair in fixtures["pairs"]])
for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
    with torch.no_grad():
        logits = model.to(device)(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, 0].float().cpu()
    report[f"logits_max_abs_diff_{device}"] = float((logits - expected).abs().max())

if torch.cuda.is_available():
    config = XLMRobertaConfig(
        vocab_size=250002,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=514,
        type_vocab_size=1,
        num_labels=1,
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )
    large = XLMRobertaForSequenceClassification(config).half().cuda().eval()
    sizing = []
    for seq in (128, 256, 512):
        for batch in (8, 32, 64):
            x = torch.randint(5, 250000, (batch, seq), device="cuda")
            m = torch.ones_like(x)
            with torch.no_grad():
                for _ in range(3):
                    large(input_ids=x, attention_mask=m)
                torch.cuda.synchronize()
                runs = 10
                start = time.perf_counter()
                for _ in range(runs):
                    large(input_ids=x, attention_mask=m)
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / runs
            sizing.append(
                {
                    "seq_len": seq,
                    "batch": batch,
                    "pairs_per_s": round(batch / seconds, 1),
                    "tokens_per_s": round(batch * seq / seconds),
                    "ms_per_batch": round(seconds * 1000, 2),
                }
            )
            print(sizing[-1], flush=True)
    report["xlmr_large_fp16_sizing"] = sizing
    report["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)

Path(sys.argv[1]).write_text(json.dumps(report, indent=1) + "\n")
print(json.dumps({k: v for k, v in report.items() if k != "xlmr_large_fp16_sizing"}, indent=1))
