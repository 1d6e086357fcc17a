#!/usr/bin/env python3
"""Writes a seeded random XLM-R cross-encoder checkpoint in Hugging Face's layout, for the export image's test.

    python random_checkpoint.py TOKENIZER_DIR OUT [--seed 0]

OUT gets config.json (TOKENIZER_DIR's architecture sizes, one label), model.safetensors (weights drawn from
torch.manual_seed(seed), scaled so that different pairs get clearly different logits) and TOKENIZER_DIR's tokenizer
files. scripts/image-test.sh runs it inside the export image, then the export image turns OUT into a model directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from scripts.modelkit import safetensors_io  # noqa: E402
from scripts.modelkit.xlmr import XLMRobertaForSequenceClassification, config_from_json, config_json  # noqa: E402

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokenizer_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = config_from_json(json.loads((args.tokenizer_dir / "config.json").read_text()))
    torch.manual_seed(args.seed)
    model = XLMRobertaForSequenceClassification(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
            elif "LayerNorm" not in name:
                p.normal_(0.0, 0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps(config_json(config), indent=2) + "\n")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors_io.save(state, args.out / "model.safetensors")
    for name in TOKENIZER_FILES:
        if (args.tokenizer_dir / name).exists():
            shutil.copy(args.tokenizer_dir / name, args.out / name)
    print(f"random checkpoint (seed {args.seed}, {sum(v.numel() for v in state.values())} parameters) in {args.out}")


if __name__ == "__main__":
    main()
