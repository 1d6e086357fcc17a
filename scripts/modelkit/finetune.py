"""Fine-tunes the pretrained backbone as a cross-encoder with the model card's recipe, resumably.

Groups of 1 positive + BM25-hard + random negatives (train.Batches, the tiny model's stream), group softmax
cross-entropy on the <s> logit, AdamW (weight decay 0.01 on matrices), linear warm-up then linear decay, gradient
clipping at 1.0. The new classification head gets a 10x learning rate: at the encoder's rate its 0.02-scale init
kept the loss at ln(group size) for the first 40 steps (measured), since the head's small weights also scale down
every gradient the encoder gets. The word embeddings stay frozen: most of the 20k rows never occur in 5k training
queries, and frozen rows keep the pretrained meaning of the words the training data does not show (it also saves a
third of the optimizer's work). Every `checkpoint_every` steps the model, the optimizer, the schedule and the
position in the data stream go to OUT/checkpoint.pt; a rerun with the same settings continues from there.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import XLMRobertaConfig

from . import safetensors_io
from .bm25 import BM25
from .data import Corpus
from .pairs import pad_batch
from .train import Batches, warmup_linear
from .xlmr import XLMRobertaForSequenceClassification


@dataclass
class FinetuneSettings:
    seed: int = 42
    steps: int = 160
    queries_per_step: int = 8
    hard_negatives: int = 4
    random_negatives: int = 1
    hard_pool: int = 30
    max_len: int = 192
    lr: float = 1e-4
    head_lr: float = 1e-3
    warmup_steps: int = 20
    weight_decay: float = 0.01
    chunk_rows: int = 24
    log_every: int = 10
    checkpoint_every: int = 25
    threads: int = 2
    freeze_word_embeddings: bool = True

    @property
    def group_size(self) -> int:
        return 1 + self.hard_negatives + self.random_negatives


def finetune(
    corpus: Corpus,
    query_ids: dict[int, list[int]],
    passage_ids: list[list[int]],
    bm25: BM25,
    config: XLMRobertaConfig,
    initial: dict[str, torch.Tensor],
    s: FinetuneSettings,
    out_dir: Path,
    log_path: Path | None = None,
) -> list[dict]:
    torch.manual_seed(s.seed)
    torch.set_num_threads(s.threads)
    model = XLMRobertaForSequenceClassification(config)
    model.load_state_dict(initial)
    model.roberta.embeddings.word_embeddings.weight.requires_grad_(not s.freeze_word_embeddings)
    params = [p for p in model.parameters() if p.requires_grad]
    head = {id(p) for p in model.classifier.parameters()}
    groups = []
    for in_head, lr in ((False, s.lr), (True, s.head_lr)):
        mine = [p for p in params if (id(p) in head) == in_head]
        groups.append({"params": [p for p in mine if p.dim() >= 2], "weight_decay": s.weight_decay, "lr": lr})
        groups.append({"params": [p for p in mine if p.dim() < 2], "weight_decay": 0.0, "lr": lr})
    optimizer = torch.optim.AdamW(groups, lr=s.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(s.warmup_steps, s.steps))
    batches = Batches(corpus, query_ids, passage_ids, bm25, s)  # type: ignore[arg-type]  (same fields)
    log: list[dict] = []
    first = 1
    checkpoint = out_dir / "checkpoint.pt"
    elapsed_before = 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint)
        differs = {k for k, v in asdict(s).items() if state["settings"].get(k) != v}
        if differs - {"steps"} or state["step"] >= s.steps:
            raise SystemExit(
                f"{checkpoint} was written with other settings ({sorted(differs)}); delete it to start over"
            )
        if differs:  # a shorter or longer run: the linear decay continues from here towards the new last step
            print(f"resuming a {state['settings']['steps']}-step run as a {s.steps}-step run", flush=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        for _ in range(state["step"]):
            batches.next()  # replays the deterministic stream up to the checkpoint
        batches.rng.setstate(state["rng"])
        log = state["log"]
        first = state["step"] + 1
        elapsed_before = log[-1]["elapsed_seconds"] if log else 0.0
        print(f"resuming from step {state['step']}", flush=True)

    window = {"loss": 0.0, "acc": 0.0, "n": 0, "seqs": 0}
    started = last = time.time()
    model.train()
    for step in range(first, s.steps + 1):
        rows, _ = batches.next()
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        chunk_logits = []
        for start in range(0, len(order), s.chunk_rows):
            ids, mask = pad_batch([rows[i] for i in order[start : start + s.chunk_rows]])
            chunk_logits.append(model(ids, mask)[:, 0])
        logits = torch.cat(chunk_logits)[torch.argsort(torch.tensor(order))].view(-1, s.group_size)
        loss = nn.functional.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()

        window["loss"] += loss.item()
        window["acc"] += (logits.argmax(dim=1) == 0).float().mean().item()
        window["n"] += 1
        window["seqs"] += len(rows)
        if step % s.log_every == 0 or step == s.steps:
            now = time.time()
            n = window["n"]
            entry = {
                "step": step,
                "loss": round(window["loss"] / n, 4),
                "group_accuracy": round(window["acc"] / n, 4),
                "lr": schedule.get_last_lr()[0],
                "sequences_per_second": round(window["seqs"] / (now - last), 2),
                "elapsed_seconds": round(elapsed_before + now - started, 1),
            }
            log.append(entry)
            print(json.dumps(entry), flush=True)
            if log_path:
                with log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
            window = {k: 0 if k in ("n", "seqs") else 0.0 for k in window}
            last = now
        if step % s.checkpoint_every == 0 and step < s.steps:
            tmp = checkpoint.with_suffix(".tmp")
            torch.save(
                {
                    "settings": asdict(s),
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "rng": batches.rng.getstate(),
                    "log": log,
                },
                tmp,
            )
            tmp.replace(checkpoint)
    model.eval()
    weights = {k: v.to(torch.float16) for k, v in model.state_dict().items()}
    safetensors_io.save(weights, out_dir / "model.safetensors")
    (out_dir / "training_log.json").write_text(json.dumps({"settings": asdict(s), "log": log}, indent=1) + "\n")
    checkpoint.unlink(missing_ok=True)
    return log
