"""Prunes the XLM-R unigram vocabulary to what Korean and English text needs, and writes it as a SentencePiece model.

Kept (old Hugging Face ids, in their original order, so the specials stay 0..3 and <mask> stays last):
  every piece the full vocabulary uses on the data (all queries and passages, train and dev: the tokenizer is not a
  learned parameter, and keeping the split pieces means the pruned vocabulary segments this data exactly as XLM-R does);
  every single-character piece (with or without the ▁ word marker) of a Hangul syllable, Hangul jamo or compatibility
  jamo, an ASCII printable character, a Latin-1 / general / CJK punctuation or symbol, or any character the data uses;
  then the highest-scoring pieces made only of ASCII letters (English words and subwords) up to `size`.
The SentencePiece model reuses the tiny model's nmt_nfkc normalizer spec: XLM-R's own sentencepiece.bpe.model was
built with the same built-in rule, so its precompiled charsmap is the same table.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from pathlib import Path

from .tokenizer import _fields

UNKNOWN, CONTROL, NORMAL = 2, 3, 1
_ASCII_WORD = re.compile(r"^\u2581?[A-Za-z]+$")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint((number << 3) | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def sentencepiece_model(pieces: list[str], scores: list[float], template: Path) -> bytes:
    """A ModelProto: <unk>, <s>, </s> then `pieces` (Hugging Face ids 4.. minus one, the fairseq layout), with the
    trainer and normalizer specs of `template` (a unigram model trained with unk=0, bos=1, eos=2, nmt_nfkc)."""
    out = bytearray()
    for piece, score, kind in [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL)] + [
        (p, s, NORMAL) for p, s in zip(pieces, scores)
    ]:
        body = (
            _field(1, 2, piece.encode("utf-8")) + _field(2, 5, struct.pack("<f", score)) + _field(3, 0, _varint(kind))
        )
        out += _field(1, 2, body)
    for number, wire, value in _fields(template.read_bytes()):
        if number != 1:
            out += _field(number, wire, value if wire == 2 else (_varint(value) if wire == 0 else value))
    return bytes(out)


def _wanted_char(ch: str) -> bool:
    cp = ord(ch)
    if (
        0xAC00 <= cp <= 0xD7A3
        or 0x1100 <= cp <= 0x11FF
        or 0x3130 <= cp <= 0x318F
        or 0xA960 <= cp <= 0xA97F
        or 0xD7B0 <= cp <= 0xD7FF
    ):
        return True
    if 0x21 <= cp <= 0x7E:
        return True
    if (
        cp < 0x3100
        and unicodedata.category(ch)[0] in "PS"
        and (cp < 0x100 or 0x2000 <= cp <= 0x2BFF or 0x3000 <= cp <= 0x303F)
    ):
        return True
    return False


def select(pieces: list[str], scores, used: set[int], used_chars: set[str], size: int) -> list[int]:
    """Old ids to keep, ascending; specials 0..3 and the last id (<mask>) always."""
    keep = set(range(4)) | {len(pieces) - 1} | used
    for i, piece in enumerate(pieces[4:-1], start=4):
        bare = piece[1:] if piece.startswith("\u2581") else piece
        if len(bare) == 1 and (bare in used_chars or _wanted_char(bare)):
            keep.add(i)
        elif piece == "\u2581":
            keep.add(i)
    english = sorted(
        (i for i, p in enumerate(pieces[4:-1], start=4) if i not in keep and _ASCII_WORD.match(p)),
        key=lambda i: -scores[i],
    )
    keep.update(english[: max(0, size - len(keep))])
    return sorted(keep)
