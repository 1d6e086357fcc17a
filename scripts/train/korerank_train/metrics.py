"""The eval command's metrics (src/eval/metrics.ts `summarize`): has-right-in-contexts (hit@contexts), MRR@depth,
hit@1, hit@5, nDCG@10 with binary gains; every ranking is cut to `depth` first."""

from __future__ import annotations

import math


def summarize(rankings: list[list[int]], relevants: list[set[int]], depth: int = 20, contexts: int = 3) -> dict:
    n = len(rankings)
    total = {"has_right_in_contexts": 0.0, "mrr": 0.0, "hit_at_1": 0.0, "hit_at_5": 0.0, "ndcg_at_10": 0.0}
    for ranking, rel in zip(rankings, relevants):
        ranking = ranking[:depth]
        first = next((i + 1 for i, d in enumerate(ranking) if d in rel), None)
        total["has_right_in_contexts"] += 1.0 if first is not None and first <= contexts else 0.0
        total["mrr"] += 1.0 / first if first is not None else 0.0
        total["hit_at_1"] += 1.0 if first == 1 else 0.0
        total["hit_at_5"] += 1.0 if first is not None and first <= 5 else 0.0
        dcg, seen = 0.0, set()
        for i, d in enumerate(ranking[:10]):
            if d in rel and d not in seen:
                dcg += 1.0 / math.log2(i + 2)
            seen.add(d)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(rel))))
        total["ndcg_at_10"] += dcg / ideal if ideal else 0.0
    out = {k: (v / n if n else 0.0) for k, v in total.items()}
    out["queries"] = n
    return out
