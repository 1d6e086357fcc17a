"""The Korean MS MARCO data: queries, their positives, the passage corpus and a fixed train/dev split."""

from __future__ import annotations

import json
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DEV_FRACTION = 0.2
SPLIT_SEED = 20261127


@dataclass(frozen=True)
class Example:
    id: int
    query: str
    positives: tuple[int, ...]  # indexes into Corpus.passages


@dataclass(frozen=True)
class Corpus:
    passages: list[str]
    examples: list[Example]
    train: list[Example]
    dev: list[Example]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def load_corpus(path: Path) -> Corpus:
    """Every distinct passage of the file (pos and neg) is in the corpus; queries without a positive are skipped."""
    passages: list[str] = []
    index_of: dict[str, int] = {}

    def add(text: str) -> int:
        text = nfc(text)
        if text not in index_of:
            index_of[text] = len(passages)
            passages.append(text)
        return index_of[text]

    examples: list[Example] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            row = json.loads(line)
            positives = tuple(add(p) for p in row.get("pos", []))
            for negative in row.get("neg", []):
                add(negative)
            if positives:
                examples.append(Example(int(row.get("id", number)), nfc(row["query"]), positives))

    order = list(range(len(examples)))
    random.Random(SPLIT_SEED).shuffle(order)
    dev_size = round(len(examples) * DEV_FRACTION)
    dev_ids = set(order[:dev_size])
    dev = [e for i, e in enumerate(examples) if i in dev_ids]
    train = [e for i, e in enumerate(examples) if i not in dev_ids]
    return Corpus(passages, examples, train, dev)


def write_split(corpus: Corpus, examples: list[Example], path: Path) -> None:
    """One split in ko-reranker's JSONL format, so `ko-rerank eval --data SPLIT --corpus ALL` needs no Python."""
    with path.open("w", encoding="utf-8") as out:
        for e in examples:
            row = {"id": e.id, "query": e.query, "pos": [corpus.passages[i] for i in e.positives]}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
