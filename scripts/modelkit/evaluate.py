"""The table of ko-reranker's model card on the dev split: BM25 top-k alone vs BM25 top-k reranked by a model."""

from __future__ import annotations

from .bm25 import BM25
from .data import Corpus
from .metrics import summarize
from .pairs import assemble, score_rows


def bm25_candidates(corpus: Corpus, bm25: BM25, depth: int) -> list[list[int]]:
    return [bm25.top(example.query, depth) for example in corpus.dev]


def rerank(
    corpus: Corpus,
    candidates: list[list[int]],
    query_ids: dict[int, list[int]],
    passage_ids: list[list[int]],
    model,
    max_len: int,
) -> list[list[int]]:
    rows = [assemble(query_ids[e.id], passage_ids[d], max_len) for e, docs in zip(corpus.dev, candidates) for d in docs]
    logits = iter(score_rows(model, rows))
    reranked = []
    for docs in candidates:
        scored = [(next(logits), d) for d in docs]
        reranked.append([d for _, d in sorted(scored, key=lambda pair: (-pair[0], pair[1]))])
    return reranked


def table(corpus: Corpus, rankings: list[list[int]], depth: int) -> dict[str, float]:
    return summarize(rankings, [set(e.positives) for e in corpus.dev], depth)
