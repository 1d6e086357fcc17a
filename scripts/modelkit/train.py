"""Trains the tiny cross-encoder with ko-reranker's recipe: groups of 1 positive + (G-1) negatives, softmax CE.

From scratch, group cross-entropy alone barely learns on this budget, so a training-only auxiliary head predicts,
from each query token's final hidden state, whether that token also occurs in the passage (BCE, weight 0.5).
The head is dropped at export time.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import XLMRobertaConfig

from . import safetensors_io
from .bm25 import BM25
from .data import Corpus
from .pairs import assemble, pad_batch
from .tokenizer import QUERY_MAX_SHARE
from .xlmr import XLMRobertaForSequenceClassification


@dataclass
class TrainSettings:
    seed: int = 42
    steps: int = 1500
    queries_per_step: int = 16
    hard_negatives: int = 5
    random_negatives: int = 2
    hard_pool: int = 30
    max_len: int = 256
    lr: float = 5e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    aux_weight: float = 0.5
    chunk_rows: int = 32
    log_every: int = 25
    threads: int = 1  # on 2 shared cores one thread trains faster than two (measured 180 vs 57 seq/s under load)

    @property
    def group_size(self) -> int:
        return 1 + self.hard_negatives + self.random_negatives


def warmup_linear(warmup_steps: int, steps: int):
    """LambdaLR factor: linear warm-up over warmup_steps, then linear decay to 0 at steps."""
    return lambda step: min((step + 1) / warmup_steps, max(0.0, (steps - step) / (steps - warmup_steps)))


def initialize(model: XLMRobertaForSequenceClassification, generator: torch.Generator) -> None:
    """Small-model-from-scratch init: unit-variance word embeddings, sinusoidal positions, near-identity Q/K."""
    c = model.config
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(0.0, 0.02, generator=generator)
            module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()
    emb = model.roberta.embeddings
    emb.word_embeddings.weight.data.normal_(0.0, 1.0, generator=generator)
    emb.word_embeddings.weight.data[c.pad_token_id].zero_()
    emb.token_type_embeddings.weight.data.zero_()
    positions = torch.arange(c.max_position_embeddings, dtype=torch.float32)[:, None]
    rates = torch.exp(torch.arange(0, c.hidden_size, 2, dtype=torch.float32) * (-math.log(10000.0) / c.hidden_size))
    table = torch.zeros(c.max_position_embeddings, c.hidden_size)
    table[:, 0::2] = torch.sin(positions * rates)
    table[:, 1::2] = torch.cos(positions * rates)
    emb.position_embeddings.weight.data.copy_(table)
    for layer in model.roberta.encoder.layer:
        for projection in (layer.attention.self.query, layer.attention.self.key):
            projection.weight.data.add_(torch.eye(c.hidden_size))


def aux_tensors(targets: list[list[float]], shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets at the query positions (1..len(q)) of each row, and the mask selecting those positions."""
    aux = torch.zeros(shape, dtype=torch.float32)
    aux_mask = torch.zeros(shape, dtype=torch.float32)
    for i, row in enumerate(targets):
        aux[i, 1 : 1 + len(row)] = torch.tensor(row)
        aux_mask[i, 1 : 1 + len(row)] = 1.0
    return aux, aux_mask


class Batches:
    """Deterministic stream of training groups: 1 positive, BM25-hard and random negatives per query."""

    def __init__(
        self,
        corpus: Corpus,
        query_ids: dict[int, list[int]],
        passage_ids: list[list[int]],
        bm25: BM25,
        s: TrainSettings,
    ) -> None:
        self.corpus, self.query_ids, self.passage_ids, self.s = corpus, query_ids, passage_ids, s
        self.rng = random.Random(s.seed)
        self.hard = {}
        for example in corpus.train:
            positives = set(example.positives)
            top = bm25.top(example.query, s.hard_pool + len(positives))
            self.hard[example.id] = [d for d in top if d not in positives][: s.hard_pool]
        self.order: list = []

    def next_examples(self) -> list:
        picked = []
        while len(picked) < self.s.queries_per_step:
            if not self.order:
                self.order = list(self.corpus.train)
                self.rng.shuffle(self.order)
            picked.append(self.order.pop())
        return picked

    def next(self) -> tuple[list[list[int]], list[list[float]]]:
        """Token rows of queries_per_step groups (positive first in each) and the auxiliary targets of their query
        tokens."""
        rows: list[list[int]] = []
        aux_targets: list[list[float]] = []
        for example in self.next_examples():
            positives = set(example.positives)
            group = [self.rng.choice(example.positives)]
            group += self.rng.sample(self.hard[example.id], min(self.s.hard_negatives, len(self.hard[example.id])))
            while len(group) < self.s.group_size:
                candidate = self.rng.randrange(len(self.passage_ids))
                if candidate not in positives and candidate not in group:
                    group.append(candidate)
            q = self.query_ids[example.id]
            for passage in group:
                row = assemble(q, self.passage_ids[passage], self.s.max_len)
                rows.append(row)
                query_len = len(q[: int(self.s.max_len * QUERY_MAX_SHARE)])
                kept = set(row[query_len + 3 : -1])
                aux_targets.append([1.0 if t in kept else 0.0 for t in row[1 : 1 + query_len]])
        return rows, aux_targets


def train(
    corpus: Corpus,
    query_ids: dict[int, list[int]],
    passage_ids: list[list[int]],
    bm25: BM25,
    config: XLMRobertaConfig,
    s: TrainSettings,
    out_dir: Path,
) -> list[dict]:
    torch.manual_seed(s.seed)
    torch.set_num_threads(s.threads)
    generator = torch.Generator().manual_seed(s.seed)
    model = XLMRobertaForSequenceClassification(config)
    initialize(model, generator)
    aux_head = nn.Linear(config.hidden_size, 1)
    aux_head.weight.data.normal_(0.0, 0.02, generator=generator)
    aux_head.bias.data.zero_()

    params = list(model.parameters()) + list(aux_head.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=s.lr
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(s.warmup_steps, s.steps))
    batches = Batches(corpus, query_ids, passage_ids, bm25, s)
    log: list[dict] = []
    window = {"loss": 0.0, "rank_loss": 0.0, "aux_loss": 0.0, "acc": 0.0, "n": 0, "seqs": 0}
    started = last = time.time()  # after the BM25 hard-negative mining, so the log times training alone
    model.train()
    for step in range(1, s.steps + 1):
        rows, aux_targets = batches.next()
        # Rows are independent in the encoder, so run them in length-sorted chunks, each padded to its own longest
        # row (a group's softmax needs only the logits): about half the padded tokens of one [128, 256] batch.
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        chunk_logits = []
        aux_sum = torch.zeros(())
        aux_count = 0
        for start in range(0, len(order), s.chunk_rows):
            chunk = order[start : start + s.chunk_rows]
            ids, mask = pad_batch([rows[i] for i in chunk])
            hidden = model.roberta(ids, mask)[0]
            chunk_logits.append(model.classifier(hidden)[:, 0])
            aux, aux_mask = aux_tensors([aux_targets[i] for i in chunk], ids.shape)
            aux_sum = (
                aux_sum
                + (
                    nn.functional.binary_cross_entropy_with_logits(aux_head(hidden)[..., 0], aux, reduction="none")
                    * aux_mask
                ).sum()
            )
            aux_count += int(aux_mask.sum())
        logits = torch.cat(chunk_logits)[torch.argsort(torch.tensor(order))].view(-1, s.group_size)
        rank_loss = nn.functional.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
        aux_loss = aux_sum / max(aux_count, 1)
        loss = rank_loss + s.aux_weight * aux_loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()

        window["loss"] += loss.item()
        window["rank_loss"] += rank_loss.item()
        window["aux_loss"] += aux_loss.item()
        window["acc"] += (logits.argmax(dim=1) == 0).float().mean().item()
        window["n"] += 1
        window["seqs"] += len(rows)
        if step % s.log_every == 0 or step == s.steps:
            now = time.time()
            n = window["n"]
            entry = {
                "step": step,
                "loss": round(window["loss"] / n, 4),
                "rank_loss": round(window["rank_loss"] / n, 4),
                "aux_loss": round(window["aux_loss"] / n, 4),
                "group_accuracy": round(window["acc"] / n, 4),
                "lr": schedule.get_last_lr()[0],
                "sequences_per_second": round(window["seqs"] / (now - last), 1),
                "elapsed_seconds": round(now - started, 1),
            }
            log.append(entry)
            print(json.dumps(entry), flush=True)
            window = {k: 0 if k in ("n", "seqs") else 0.0 for k in window}
            last = now
    model.eval()
    safetensors_io.save(model.state_dict(), out_dir / "model.safetensors")
    (out_dir / "training_log.json").write_text(json.dumps({"settings": asdict(s), "log": log}, indent=1) + "\n")
    return log
