"""test/fixtures/reference.json: token ids from the SentencePiece reference and logits from PyTorch.

Real dev pairs (each query with its positive and a BM25-hard negative) plus Korean edge cases. Each edge case's
name states the behaviour we chose, so a failing TypeScript parity test says what diverged.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from .bm25 import BM25
from .data import Corpus, nfc
from .pairs import score_rows
from .tokenizer import QUERY_MAX_SHARE, ReferenceTokenizer

SERVING_MAX_LEN = 512


def edge_cases(corpus: Corpus) -> list[tuple[str, str, str]]:
    long_passage = " ".join(corpus.passages[i] for i in range(0, 12))
    long_query = " ".join(corpus.passages[i] for i in range(12, 18))
    return [
        (
            "mixed Hangul, Latin and digits",
            "아이폰 15 Pro Max 배터리 용량",
            "아이폰 15 Pro Max의 배터리 용량은 4,422mAh이며 USB-C 충전을 지원합니다.",
        ),
        ("emoji", "오늘 날씨 어때? 😀", "오늘은 맑고 따뜻합니다 ☀️👍 산책하기 좋은 날씨예요 🌸"),
        (
            "ZWJ emoji sequence: the charsmap decides, as SentencePiece does",
            "가족 👨‍👩‍👧 여행지 추천",
            "아이와 함께하는 가족 여행 👨‍👩‍👧‍👦 제주도가 인기입니다.",
        ),
        (
            "full-width punctuation and letters are NFKC-folded",
            "서울（Seoul）의 인구는？",
            "서울의 인구는 약 ９４０만 명입니다！ ＡＢＣ 통계（２０２３）",
        ),
        (
            "decomposed Hangul jamo (NFD input) is NFC-normalized first",
            unicodedata.normalize("NFD", "한국의 수도는 어디인가요"),
            unicodedata.normalize("NFD", "대한민국의 수도는 서울특별시입니다."),
        ),
        (
            "repeated spaces, tabs and newlines collapse to one space",
            "서울의   인구는\t몇 명\n인가요",
            "서울의  인구는\n\n약 940만   명입니다.\t",
        ),
        (
            "leading and trailing whitespace is stripped",
            "   김치 만드는 법   ",
            "\n  배추를 소금에 절인 뒤 양념을 버무립니다.  \n",
        ),
        (
            "literal special tokens in user text become special ids, as in the XLM-R tokenizer",
            "이것은 <s> 특수 토큰",
            "본문 </s> 안의 <pad> 와 <mask> 그리고 <unk> 토큰",
        ),
        ("hanja and Japanese", "大韓民國 헌법 제1조", "大韓民國은 民主共和國이다. 日本語の文章も混ざっています。"),
        ("characters absent from the vocabulary become <unk>", "ᚠᚢᚦ 룬 문자", "ᚠᚢᚦᚨᚱᚲ 는 고대 룬 문자입니다 ꦲꦤꦕꦫꦏ"),
        (
            "URL, dates and numbers",
            "2024년 3월 1일 공휴일",
            "https://www.example.com/경로?q=1&lang=ko 2024년 3월 1일은 삼일절(공휴일)입니다.",
        ),
        (
            "ellipsis and repeated punctuation",
            "그래서.... 결국 어떻게 됐나요???",
            "결국..... 모두 행복하게 살았습니다!!! ~~~",
        ),
        ("one-character passage", "가", "가"),
        ("passage longer than max_len is cut, the query is kept whole", corpus.examples[0].query, long_passage),
        ("query longer than its 3/4 share of max_len is capped, the passage fills the rest", long_query, long_passage),
    ]


def real_pairs(corpus: Corpus, bm25: BM25, count: int) -> list[tuple[str, str, str]]:
    pairs = []
    for example in corpus.dev[:count]:
        positive = example.positives[0]
        negative = next(d for d in bm25.top(example.query, 5) if d not in example.positives)
        pairs.append((f"dev query {example.id}, positive", example.query, corpus.passages[positive]))
        pairs.append((f"dev query {example.id}, BM25-hard negative", example.query, corpus.passages[negative]))
    return pairs


def resolve_ties(
    tokenizer: ReferenceTokenizer, tokenizer_json: Path, name: str, query: str, passage: str, ids: list[int]
) -> tuple[str, list[int], list[int] | None]:
    """Where Hugging Face tokenizers (the Rust core the server's native tokenizer uses, and the tokenizer the real
    model is served with) splits a text differently from SentencePiece, the two segmentations must be a Viterbi tie:
    the same pieces' total score. Then the fixture records the serving tokenizer's ids and keeps SentencePiece's as
    `sentencepiece_input_ids`; anything else is a bug in tokenizer.json and stops the build."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(tokenizer_json))

    def serving(text: str) -> list[int]:
        return hf.encode(nfc(text), add_special_tokens=False).ids

    q = serving(query)[: int(SERVING_MAX_LEN * QUERY_MAX_SHARE)]
    p = serving(passage)
    hf_ids = [0, *q, 2, 2, *p[: SERVING_MAX_LEN - 4 - len(q)], 2]
    if hf_ids == ids:
        return name, ids, None
    for text in (query, passage):
        ours, theirs = tokenizer.encode(text), serving(text)
        if ours != theirs and not tokenizer.is_tie(ours, theirs):
            raise SystemExit(f"tokenizer.json disagrees with SentencePiece on {name!r} beyond a Viterbi tie")
    return (
        f"{name} (Unigram tie: the serving tokenizer's split; SentencePiece's is in sentencepiece_input_ids)",
        hf_ids,
        ids,
    )


def write(
    corpus: Corpus, bm25: BM25, tokenizer: ReferenceTokenizer, model, path: Path, model_dir: str, tokenizer_json: Path
) -> int:
    cases = real_pairs(corpus, bm25, 22) + edge_cases(corpus)
    resolved = []
    for name, query, passage in cases:
        ids, truncated = tokenizer.encode_pair(query, passage, SERVING_MAX_LEN)
        resolved.append((*resolve_ties(tokenizer, tokenizer_json, name, query, passage, ids), truncated))
    logits = score_rows(model, [ids for _, ids, _, _ in resolved], batch_size=8)
    fixture = {
        "model_dir": model_dir,
        "max_len": SERVING_MAX_LEN,
        "query_max_share": QUERY_MAX_SHARE,
        "source": "scripts/modelkit/fixtures.py: ids from SentencePiece (+1 fairseq offset), logits from PyTorch fp32",
        "pairs": [
            {
                "name": name,
                "query": query,
                "passage": passage,
                "input_ids": ids,
                **({"sentencepiece_input_ids": spm_ids} if spm_ids else {}),
                "logit": round(logit, 7),
                "truncated": truncated,
            }
            for (_, query, passage), (name, ids, spm_ids, truncated), logit in zip(cases, resolved, logits)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(cases)
