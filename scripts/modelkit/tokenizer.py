"""SentencePiece Unigram vocabulary in the XLM-RoBERTa layout, written as Hugging Face tokenizer files.

Ids follow fairseq/XLM-R: <s>=0, <pad>=1, </s>=2, <unk>=3, SentencePiece piece i (i >= 3) -> i + 1, <mask> last.
`ReferenceTokenizer` is the ground truth the TypeScript tokenizers are checked against (test/fixtures/reference.json).
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import sentencepiece as spm

from .data import nfc

BOS, PAD, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"
FAIRSEQ_OFFSET = 1
QUERY_MAX_SHARE = 0.75


def train_sentencepiece(texts: list[str], prefix: Path, vocab_size: int) -> Path:
    """Deterministic: one thread, input in file order, no sampling; run inside prefix's folder with a relative
    prefix, since the model file records it (an absolute temporary path would change the bytes on every build)."""
    cwd = os.getcwd()
    os.chdir(prefix.parent)
    try:
        _train(texts, prefix.name, vocab_size)
    finally:
        os.chdir(cwd)
    return prefix.with_suffix(".model")


def _train(texts: list[str], prefix: str, vocab_size: int) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_prefix=prefix,
        model_type="unigram",
        vocab_size=vocab_size,
        normalization_rule_name="nmt_nfkc",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        max_sentence_length=8192,
        minloglevel=2,
    )


def _fields(message: bytes):
    """(field number, wire type, value) of a protobuf message; enough wire format to walk ModelProto."""
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = message[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 1:
            yield number, wire, message[at : at + 8]
            at += 8
        elif wire == 2:
            length = varint()
            yield number, wire, message[at : at + length]
            at += length
        elif wire == 5:
            yield number, wire, message[at : at + 4]
            at += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def precompiled_charsmap(model_proto: bytes) -> bytes:
    """ModelProto.normalizer_spec (field 3) .precompiled_charsmap (field 2), read without protobuf's Python runtime
    (Debian's sentencepiece_model_pb2 and the protobuf that onnxruntime's tools need cannot share one interpreter)."""
    for number, _, value in _fields(model_proto):
        if number == 3:
            for inner, _, charsmap in _fields(value):
                if inner == 2:
                    return charsmap
    raise ValueError("sentencepiece model has no precompiled_charsmap")


def _special_entry(token_id: int, content: str, lstrip: bool = False) -> dict:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": lstrip,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def _metaspace() -> dict:
    return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}


def write_hf_tokenizer(spm_model: Path, out_dir: Path, max_len: int) -> int:
    """Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json; returns the vocabulary size."""
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    vocab = [[token, 0.0] for token in SPECIALS] + [[piece, score] for piece, score in pieces[3:]]
    mask_id = len(vocab)
    vocab.append([MASK, 0.0])
    charsmap = base64.b64encode(precompiled_charsmap(spm_model.read_bytes())).decode("ascii")

    def special(token: str, token_id: int) -> dict:
        return {"SpecialToken": {"id": token, "type_id": 0}}

    def sequence(name: str) -> dict:
        return {"Sequence": {"id": name, "type_id": 0}}

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_special_entry(i, t) for i, t in enumerate(SPECIALS)]
        + [_special_entry(mask_id, MASK, lstrip=True)],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": charsmap},
                {"type": "Strip", "strip_left": True, "strip_right": True},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": _metaspace(),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("<s>", BOS), sequence("A"), special("</s>", EOS)],
            "pair": [
                special("<s>", BOS),
                sequence("A"),
                special("</s>", EOS),
                special("</s>", EOS),
                sequence("B"),
                special("</s>", EOS),
            ],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [EOS], "tokens": ["</s>"]},
            },
        },
        "decoder": _metaspace(),
        "model": {"type": "Unigram", "unk_id": UNK, "vocab": vocab, "byte_fallback": False},
    }
    (out_dir / "tokenizer.json").write_text(
        json.dumps(tokenizer, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )

    special_map = {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": {"content": MASK, "lstrip": True, "normalized": False, "rstrip": False, "single_word": False},
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
    }
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n", encoding="utf-8")
    config = {
        "added_tokens_decoder": {
            str(entry["id"]): {k: v for k, v in entry.items() if k != "id"} for entry in tokenizer["added_tokens"]
        },
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": True,
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": MASK,
        "model_max_length": max_len,
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "tokenizer_class": "XLMRobertaTokenizer",
        "unk_token": "<unk>",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return len(vocab)


class ReferenceTokenizer:
    """SentencePiece itself, with the XLM-R id offset, Hugging Face's special-token splitting and our pair rule."""

    def __init__(self, spm_model: Path, vocab_size: int) -> None:
        self.sp = spm.SentencePieceProcessor(model_file=str(spm_model))
        self.specials = {token: i for i, token in enumerate(SPECIALS)}
        self.specials[MASK] = vocab_size - 1
        self.special_pattern = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(self.specials, key=len, reverse=True)) + ")"
        )

    def encode(self, text: str) -> list[int]:
        """Ids of one text, no special tokens added; literal special tokens in the text become their ids."""
        ids: list[int] = []
        for segment in self.special_pattern.split(nfc(text)):
            if segment in self.specials:
                ids.append(self.specials[segment])
            elif segment.strip():
                ids.extend(UNK if piece == 0 else piece + FAIRSEQ_OFFSET for piece in self.sp.encode(segment))
        return ids

    def piece_score(self, token_id: int) -> float:
        return 0.0 if token_id in self.specials.values() else self.sp.get_score(token_id - FAIRSEQ_OFFSET)

    def is_tie(self, ids: list[int], other: list[int]) -> bool:
        """Two segmentations of one text that Unigram's Viterbi search cannot tell apart: same text, same total
        score."""
        same_text = "".join(self.sp.id_to_piece(i - FAIRSEQ_OFFSET) for i in ids if i > UNK) == "".join(
            self.sp.id_to_piece(i - FAIRSEQ_OFFSET) for i in other if i > UNK
        )
        return same_text and abs(sum(map(self.piece_score, ids)) - sum(map(self.piece_score, other))) < 1e-4

    def encode_pair(self, query: str, passage: str, max_len: int) -> tuple[list[int], bool]:
        """<s> q </s></s> p </s>: the query is capped at QUERY_MAX_SHARE of max_len, only the passage is cut."""
        q = self.encode(query)[: int(max_len * QUERY_MAX_SHARE)]
        p = self.encode(passage)
        room = max_len - 4 - len(q)
        return [BOS, *q, EOS, EOS, *p[:room], EOS], len(p) > room
