"""Okapi BM25 over character bigrams, the first stage of `ko-rerank eval` (src/eval/bm25.ts mirrors it: same terms,
same float operations, ties by document index). The one BM25 of the Python tools: it lives here so that scripts/train
is a self-contained SageMaker source_dir, and scripts/modelkit/bm25.py imports it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np


def char_bigrams(text: str) -> list[str]:
    """Bigrams inside each whitespace word; a one-character word is kept as a unigram."""
    terms: list[str] = []
    for word in text.lower().split():
        if len(word) == 1:
            terms.append(word)
        else:
            terms.extend(word[i : i + 2] for i in range(len(word) - 1))
    return terms


class BM25:
    def __init__(self, documents: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(documents)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.size, dtype=np.float64)
        for doc, text in enumerate(documents):
            counts = Counter(char_bigrams(text))
            lengths[doc] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((doc, tf))
        self.lengths = lengths
        self.avg_length = float(lengths.mean()) if self.size else 0.0
        self.postings = {
            term: (np.array([d for d, _ in docs]), np.array([tf for _, tf in docs], dtype=np.float64))
            for term, docs in postings.items()
        }

    def idf(self, term: str) -> float:
        df = len(self.postings[term][0])
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(self.size, dtype=np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / self.avg_length)
        for term, qtf in Counter(char_bigrams(query)).items():
            if term not in self.postings:
                continue
            docs, tf = self.postings[term]
            scores[docs] += qtf * self.idf(term) * tf * (self.k1 + 1.0) / (tf + norm[docs])
        return scores

    def top(self, query: str, k: int) -> list[int]:
        """Indexes of the k best documents, best first; ties broken by index for determinism."""
        scores = self.scores(query)
        order = np.lexsort((np.arange(self.size), -scores))
        return [int(i) for i in order[:k]]
