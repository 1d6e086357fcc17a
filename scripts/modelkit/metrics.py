"""Ranking metrics of ko-reranker's model card table: has-right-in-contexts (hit@k) and MRR@k."""

from __future__ import annotations


def first_relevant_rank(ranking: list[int], relevant: set[int]) -> int | None:
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            return rank
    return None


def summarize(rankings: list[list[int]], relevants: list[set[int]], depth: int = 20) -> dict[str, float]:
    ranks = [first_relevant_rank(r[:depth], rel) for r, rel in zip(rankings, relevants)]
    n = len(ranks)

    def hit(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    return {
        "queries": n,
        "hit@1": hit(1),
        "hit@3": hit(3),
        "hit@5": hit(5),
        f"hit@{depth}": hit(depth),
        f"mrr@{depth}": sum(1.0 / r for r in ranks if r is not None) / n,
    }
