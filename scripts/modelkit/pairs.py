"""Pair assembly shared by training, evaluation and the reference fixtures."""

from __future__ import annotations

import torch

from .tokenizer import BOS, EOS, PAD, QUERY_MAX_SHARE


def assemble(query_ids: list[int], passage_ids: list[int], max_len: int) -> list[int]:
    """<s> q </s></s> p </s> with the query capped at QUERY_MAX_SHARE of max_len and the passage cut to fit."""
    q = query_ids[: int(max_len * QUERY_MAX_SHARE)]
    return [BOS, *q, EOS, EOS, *passage_ids[: max_len - 4 - len(q)], EOS]


def pad_batch(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads to the longest row: (input_ids, attention_mask), both int64."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


@torch.no_grad()
def score_rows(model: torch.nn.Module, rows: list[list[int]], batch_size: int = 64) -> list[float]:
    """Logits for many pairs, in input order, run in length-sorted batches."""
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    logits = [0.0] * len(rows)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad_batch([rows[i] for i in chunk])
        for i, value in zip(chunk, model(ids, mask)[:, 0].tolist()):
            logits[i] = value
    return logits
