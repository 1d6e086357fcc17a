"""Training data: the seed's JSONL {"query", "pos": [...], "neg": [...]} or the eval command's CSV/TSV (a header row,
one (query, ground-truth passage) pair a row), read exactly as src/eval/data.ts reads them: texts NFC-normalized,
passages numbered in order of first appearance (one corpus over every file loaded), a query with no positive skipped.
Then the negatives of a training group: the query's given ones first, BM25-hard ones next, random ones last, never a
positive of the query."""

from __future__ import annotations

import csv
import io
import json
import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .bm25 import BM25


class DataError(Exception):
    pass


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class Corpus:
    def __init__(self) -> None:
        self.passages: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, text: str) -> int:
        t = nfc(text)
        i = self.index.get(t)
        if i is None:
            i = self.index[t] = len(self.passages)
            self.passages.append(t)
        return i


@dataclass
class Query:
    id: str | int
    query: str
    positives: list[int]
    negatives: list[int] = field(default_factory=list)

    def to_json(self, corpus: Corpus) -> dict:
        """The seed's JSONL object (what `ko-rerank eval --data` reads)."""
        row: dict = {"id": self.id, "query": self.query, "pos": [corpus.passages[i] for i in self.positives]}
        if self.negatives:
            row["neg"] = [corpus.passages[i] for i in self.negatives]
        return row


@dataclass
class Loaded:
    queries: list[Query]
    no_positive: int = 0
    empty_query: int = 0


def format_of(path: Path, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    ext = path.suffix.lower()
    return "csv" if ext == ".csv" else "tsv" if ext == ".tsv" else "jsonl"


def _strings(value: object, name: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise DataError(f'{where}: "{name}" must be a string or a list of strings')


def load(
    path: Path,
    corpus: Corpus,
    fmt: str | None = None,
    query_column: str = "query",
    passage_column: str = "passage",
) -> Loaded:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if text.startswith("\ufeff"):
        text = text[1:]
    out = Loaded([])
    kind = format_of(path, fmt)
    if kind == "jsonl":
        for n, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            where = f"{path}:{n + 1}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not JSON: {err}") from err
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object")
            if not isinstance(row.get("query"), str):
                raise DataError(f'{where}: "query" must be a string')
            pos = list(dict.fromkeys(corpus.add(p) for p in _strings(row.get("pos"), "pos", where)))
            neg = [corpus.add(p) for p in _strings(row.get("neg"), "neg", where)]
            rid = row.get("id") if isinstance(row.get("id"), (str, int)) else n
            _push(out, rid, row["query"], pos, neg)
        return out
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
    rows = [r for r in reader if r != [] and r != [""]]
    if not rows:
        raise DataError(f"{path}: empty file (expected a header row)")
    header = [h.strip() for h in rows[0]]
    for name, flag in ((query_column, "--query-column"), (passage_column, "--passage-column")):
        if name not in header:
            raise DataError(f"{path}: no column {name!r} (columns: {', '.join(map(repr, header))}); use {flag}")
    qc, pc = header.index(query_column), header.index(passage_column)
    by_query: dict[str, tuple[int, list[int]]] = {}
    for r, rec in enumerate(rows[1:], start=1):
        query = nfc(rec[qc] if qc < len(rec) else "")
        passage = rec[pc] if pc < len(rec) else ""
        entry = by_query.setdefault(query, (r, []))
        if passage.strip():
            i = corpus.add(passage)
            if i not in entry[1]:
                entry[1].append(i)
    for query, (rid, pos) in by_query.items():
        _push(out, rid, query, pos, [])
    return out


def _push(out: Loaded, rid: str | int, query: str, pos: list[int], neg: list[int]) -> None:
    q = nfc(query)
    if not pos:
        out.no_positive += 1
    elif not q.strip():
        out.empty_query += 1
    else:
        positives = set(pos)
        out.queries.append(Query(rid, q, pos, [i for i in dict.fromkeys(neg) if i not in positives]))


class NegativeMiner:
    """The negatives of each training group. Given ones first (in random order); when a query has fewer than the group
    needs, BM25-hard ones drawn from the top `hard_pool` of all passages; then random passages. A positive of the
    query (any passage equal to one of its positives after NFC) is never returned."""

    def __init__(
        self,
        corpus: Corpus,
        queries: list[Query],
        need: int,
        hard_pool: int = 30,
        bm25: BM25 | None = None,
        passages: int | None = None,
    ) -> None:
        """`passages`: only the first N passages of the corpus are negatives (those of the training data and --corpus,
        not the held-out file's, loaded after them)."""
        self.corpus = corpus
        self.size = len(corpus.passages) if passages is None else passages
        self.hard_pool = hard_pool
        self.hard: dict[int, list[int]] = {}
        needs = [q for q in queries if len(q.negatives) < need]
        self.mined = len(needs)
        if hard_pool > 0 and needs:
            index = bm25 or BM25(corpus.passages)
            for q in needs:
                top = index.top(q.query, hard_pool + len(q.positives) + len(q.negatives) + 64)
                self.hard[id(q)] = [i for i in top if i < self.size]

    def negatives(self, q: Query, count: int, rng: random.Random) -> list[int]:
        banned = set(q.positives)
        out: list[int] = []
        given = [i for i in q.negatives if i not in banned]
        rng.shuffle(given)
        out.extend(given[:count])
        taken = banned | set(out)
        if len(out) < count:
            hard = [i for i in self.hard.get(id(q), []) if i not in taken][: self.hard_pool]
            rng.shuffle(hard)
            out.extend(hard[: count - len(out)])
            taken |= set(out)
        size = self.size
        free = size - len([i for i in taken if i < size])
        tries = 0
        while len(out) < count and free > 0:
            i = rng.randrange(size)
            tries += 1
            if i not in taken:
                out.append(i)
                taken.add(i)
                free -= 1
            elif tries > 50 * count:
                rest = [j for j in range(size) if j not in taken]
                rng.shuffle(rest)
                out.extend(rest[: count - len(out)])
                break
        if len(out) < count:
            # A corpus with fewer passages than the group needs: repeat negatives (FlagEmbedding does the same).
            if not out:
                raise DataError(f"no passage other than the positives of {q.query!r} to use as a negative")
            out.extend(rng.choice(out) for _ in range(count - len(out)))
        return out
