"""Quantization whose scores do not depend on the micro-batch: every method here gives a pair the logit it gets alone.

onnxruntime's quantize_dynamic computes each MatMul's activation scale over the whole input tensor at run time, so
the passages of one request (or of another client in the same micro-batch) move a pair's logit, by more than a logit
on ko-reranker-small. No project tool writes such a file. The methods:

- ``int8-weights``: weight-only int8. MatMul weights and the word embedding are stored int8, symmetric, one scale per
  output channel (per embedding row), and Cast + Mul in the graph turn them back into fp32 (folded once when
  onnxruntime loads the file); all arithmetic is fp32, so a pair's logit is what the fp32 model gives on the rounded
  weights.
- ``int8-static``: static int8 (QDQ, per-channel weights) with activation ranges calibrated once on Korean pairs and
  stored in the file; onnxruntime runs the MatMuls in int8 with those fixed scales.
- ``int8-blockwise``: MatMulNBits with 8-bit weights (blocks of 32 along the input dimension) at accuracy level 4,
  where onnxruntime quantizes each activation row's blocks to int8 on their own (per-row activation quantization);
  the word embedding is int8 as in ``int8-weights``.
- ``fp16-weights``: weights stored fp16, cast to fp32 in the graph; fp32 arithmetic.
- ``fp32``: the export unchanged.

``quantize`` checks what it wrote: a few Korean pairs scored alone and inside mixed batches (other pairs, a long
passage, a short one) must give the same logit within BATCH_TOLERANCE, or it raises BatchDependenceError.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
METHODS: tuple[str, ...] = ("int8-weights", "int8-static", "int8-blockwise", "fp16-weights", "fp32")
DEFAULT_METHOD: str = "int8-weights"
# What a method writes, by convention (MODEL_FILE=auto in src/backend/model-dir.ts knows these names).
FILE_NAMES: dict[str, str] = {
    "int8-weights": "model_int8_weights.onnx",
    "int8-static": "model_int8_static.onnx",
    "int8-blockwise": "model_int8_blockwise.onnx",
    "fp16-weights": "model_fp16_weights.onnx",
    "fp32": "model.onnx",
}
# One line per method for model cards.
DESCRIPTIONS: dict[str, str] = {
    "int8-weights": "weight-only int8: MatMul weights int8 per output channel, word embeddings per row, dequantized in "
    "the graph by Cast + Mul (folded at load); fp32 arithmetic",
    "int8-static": "static int8 (QDQ): weights int8 per output channel, activation ranges calibrated once on Korean "
    "training-split pairs and fixed in the file; int8 MatMuls",
    "int8-blockwise": "MatMulNBits: 8-bit weights in blocks of 32, activations quantized per row and block at run time",
    "fp16-weights": "weights stored fp16, cast to fp32 in the graph; fp32 arithmetic",
    "fp32": "the fp32 export",
}
BATCH_TOLERANCE = 1e-4
MAX_LEN = 512
CALIBRATION_DATA = ROOT / "data/msmarco-ko/msmarco-ko.jsonl"
CALIBRATION_PAIRS = 96

# Scored alone and in mixed batches by the batch-independence check.
CHECK_PAIRS: list[tuple[str, str]] = [
    ("대한민국의 수도는 어디인가요?", "서울은 대한민국의 수도이며 최대 도시입니다."),
    ("대한민국의 수도는 어디인가요?", "부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다."),
    ("아이폰 15 배터리 용량", "아이폰 15 Pro Max의 배터리 용량은 4,422mAh입니다. 😀"),
    ("김치 만드는 법", "배추를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 만든 양념을 버무립니다."),
    ("나는 너를 좋아해", "너에 대한 나의 감정은 사랑 일 수도 있어"),
]
NEIGHBOURS: list[tuple[str, str]] = [
    ("날씨", "ㅋㅋㅋ " * 300),
    ("주식 시장 전망", "코스피 지수는 외국인 순매수에 힘입어 2,600선을 회복했습니다. " * 12),
    ("ㅁ", "x"),
    ("한국의 전통 음식", "비빔밥은 밥 위에 나물과 고기, 고추장을 얹어 비벼 먹는 음식입니다."),
]


class BatchDependenceError(RuntimeError):
    """A written file gives a pair a different logit next to other pairs than alone."""


def quantize(
    fp32_onnx: Path,
    out_onnx: Path,
    *,
    method: str = DEFAULT_METHOD,
    model_dir: Path,
    calibration_pairs: list[tuple[str, str]] | None = None,
) -> None:
    """Writes out_onnx from the fp32 export fp32_onnx with one of METHODS, then checks it is batch-independent.

    model_dir holds tokenizer.json (for calibration and the check). calibration_pairs (query, passage) are used by
    int8-static; by default CALIBRATION_PAIRS pairs from the train split of data/msmarco-ko (or CHECK_PAIRS)."""
    if method not in METHODS:
        raise ValueError(f"quantization method {method!r}: one of {', '.join(METHODS)} (dynamic int8 is not offered)")
    fp32_onnx, out_onnx = Path(fp32_onnx), Path(out_onnx)
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    if method == "fp32":
        if fp32_onnx.resolve() != out_onnx.resolve():
            shutil.copyfile(fp32_onnx, out_onnx)
    elif method == "int8-weights":
        _weight_only(fp32_onnx, out_onnx, embedding=True)
    elif method == "int8-blockwise":
        _blockwise(fp32_onnx, out_onnx)
    elif method == "fp16-weights":
        _fp16_weights(fp32_onnx, out_onnx)
    else:
        pairs = calibration_pairs if calibration_pairs is not None else default_calibration_pairs()
        _static(fp32_onnx, out_onnx, _encoder(model_dir), pairs)
    check_batch_independence(out_onnx, model_dir)


# ---- the methods ------------------------------------------------------------------------------------------------


def _quantized_inputs(model) -> dict[str, tuple[str, int]]:
    """fp32 initializers worth int8: {name: (op, axis of one scale per slice)}. MatMul B [K, N] gets a scale per output
    column (axis 1); Gather data (the embeddings) one per row (axis 0). Small ones (biases, LayerNorm) stay fp32."""
    from onnx import TensorProto

    inits = {i.name: i for i in model.graph.initializer}
    found: dict[str, tuple[str, int]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            name, axis = node.input[1], 1
        elif node.op_type == "Gather" and node.input[0] in inits:
            name, axis = node.input[0], 0
        else:
            continue
        init = inits[name]
        if init.data_type == TensorProto.FLOAT and len(init.dims) == 2 and init.dims[0] * init.dims[1] >= 4096:
            found[name] = (node.op_type, axis)
    return found


def _symmetric_int8(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    reduce = 1 - axis
    scale = np.abs(weights).max(axis=reduce) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    shape = (1, -1) if axis == 1 else (-1, 1)
    q = np.clip(np.rint(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def _replace_initializers(model, names: dict[str, tuple[str, int]], make) -> None:
    """Each named initializer becomes new initializers plus nodes (from make) that output a tensor of its name."""
    kept, added, nodes = [], [], []
    for init in model.graph.initializer:
        if init.name in names:
            new_inits, new_nodes = make(init, names[init.name][1])
            added += new_inits
            nodes += new_nodes
        else:
            kept.append(init)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + added)
    # Inputs that are initializers (older exporters list them) must go too.
    graph_inputs = [i for i in model.graph.input if i.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    old = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes + old)


def _weight_only(source: Path, target: Path, *, embedding: bool, only: Sequence[str] | None = None) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    names = {
        n: v
        for n, v in _quantized_inputs(model).items()
        if (embedding or v[0] != "Gather") and (only is None or n in only)
    }

    def make(init, axis: int):
        # Cast + Mul, not DequantizeLinear: onnxruntime folds Cast and Mul of initializers once at load, so the MatMuls
        # run in fp32 on exactly q * scale. With DequantizeLinear it keeps the node and its CPU provider fuses
        # DequantizeLinear + MatMul into a MatMulNBits that quantizes activations to int8 (per row and block): logits up
        # to 0.23 away from the dequantized weights' on ko-reranker-small, and slower.
        q, scale = _symmetric_int8(numpy_helper.to_array(init).astype(np.float32), axis)
        shape = (1, -1) if axis == 1 else (-1, 1)
        q_name, s_name, f_name = f"{init.name}_int8", f"{init.name}_scale", f"{init.name}_int8_as_float"
        tensors = [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale.reshape(shape), s_name)]
        nodes = [
            helper.make_node("Cast", [q_name], [f_name], name=f"{init.name}_cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f_name, s_name], [init.name], name=f"{init.name}_scale_mul"),
        ]
        return tensors, nodes

    _replace_initializers(model, names, make)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def _fp16_weights(source: Path, target: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))

    def make(init, _axis: int):
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}_fp16")
        node = helper.make_node("Cast", [half.name], [init.name], name=f"{init.name}_cast", to=TensorProto.FLOAT)
        return [half], [node]

    _replace_initializers(model, _quantized_inputs(model), make)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def _blockwise(source: Path, target: Path, block: int = 32) -> None:
    """MatMulNBits (com.microsoft; bits 8, blocks of `block` along K, symmetric: zero point 128) for the MatMuls with a
    constant weight, at accuracy level 4 (int8 activations, one scale per row and block); the embedding as in
    int8-weights. Written by hand: onnxruntime's MatMulNBitsQuantizer needs onnx_ir."""
    import onnx
    from onnx import helper, numpy_helper

    with tempfile.TemporaryDirectory() as tmp:
        embedded = Path(tmp) / "embedding_int8.onnx"
        model = onnx.load(str(source))
        embeddings = [n for n, v in _quantized_inputs(model).items() if v[0] == "Gather"]
        _weight_only(source, embedded, embedding=True, only=embeddings)
        model = onnx.load(str(embedded))
    inits = {i.name: i for i in model.graph.initializer}
    weights = {n for n, v in _quantized_inputs(model).items() if v[0] == "MatMul"}
    used = [inp for node in model.graph.node for inp in node.input]
    nodes, dropped = [], set()
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)  # [K, N]
        k, n = w.shape
        blocks = -(-k // block)
        padded = np.zeros((n, blocks * block), np.float32)
        padded[:, :k] = w.T
        padded = padded.reshape(n, blocks, block)
        scale = np.abs(padded).max(axis=2) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = (np.clip(np.rint(padded / scale[:, :, None]), -127, 127) + 128).astype(np.uint8)
        name = node.input[1]
        model.graph.initializer.extend(
            [numpy_helper.from_array(q, f"{name}_q8"), numpy_helper.from_array(scale.reshape(-1), f"{name}_scales")]
        )
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], f"{name}_q8", f"{name}_scales"],
                list(node.output),
                name=f"{node.name or name}_q8",
                domain="com.microsoft",
                K=k,
                N=n,
                bits=8,
                block_size=block,
                accuracy_level=4,
            )
        )
        if used.count(name) == 1:
            dropped.add(name)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    kept = [i for i in model.graph.initializer if i.name not in dropped]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))


class _Reader:
    """CalibrationDataReader over padded batches of encoded pairs."""

    def __init__(self, rows: list, names: list[str], batch: int = 8) -> None:
        padded = [_pad(rows[i : i + batch]) for i in range(0, len(rows), batch)]
        self.batches = [{name: b[name] for name in names} for b in padded]
        self.iterator: Iterator = iter(self.batches)

    def get_next(self):
        return next(self.iterator, None)

    def rewind(self) -> None:
        self.iterator = iter(self.batches)


def _static(source: Path, target: Path, encode, pairs: list[tuple[str, str]]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not pairs:
        raise ValueError("int8-static needs calibration pairs")
    reader = _Reader([encode(q, p) for q, p in pairs], _graph_inputs(source))
    quantize_static(
        str(source),
        str(target),
        reader,
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )


# ---- inputs and the check ---------------------------------------------------------------------------------------


def default_calibration_pairs(count: int = CALIBRATION_PAIRS) -> list[tuple[str, str]]:
    """Train-split queries of data/msmarco-ko with their positive and with another query's positive (never dev)."""
    if not CALIBRATION_DATA.exists():
        return list(CHECK_PAIRS)
    from .data import load_corpus

    corpus = load_corpus(CALIBRATION_DATA)
    rng = random.Random(20261204)
    examples = rng.sample(corpus.train, min(count // 2, len(corpus.train)))
    pairs = []
    for i, e in enumerate(examples):
        other = examples[(i + 1) % len(examples)]
        pairs += [(e.query, corpus.passages[e.positives[0]]), (e.query, corpus.passages[other.positives[0]])]
    return pairs


def _encoder(model_dir: Path):
    """encode(query, passage) -> (input ids, token type ids), the pair as tokenizer.json's post-processor lays it out,
    the passage cut to the model's max length as the server cuts it."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    max_len = MAX_LEN
    config = Path(model_dir) / "tokenizer_config.json"
    if config.exists():
        max_len = min(max_len, int(json.loads(config.read_text()).get("model_max_length", MAX_LEN)))

    def encode(query: str, passage: str) -> tuple[list[int], list[int]]:
        encoding = tokenizer.encode(query, passage)
        ids, types = list(encoding.ids), list(encoding.type_ids)
        if len(ids) > max_len:
            ids, types = ids[: max_len - 1] + [ids[-1]], types[: max_len - 1] + [types[-1]]
        return ids, types

    return encode


def _pad(rows: list, pad_id: int = 1) -> dict[str, np.ndarray]:
    """input_ids, attention_mask and token_type_ids of a right-padded batch. The pad id only fills masked positions,
    which no unmasked token attends to, so it does not change a pair's logit."""
    width = max(len(r[0] if isinstance(r, tuple) else r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        row_ids, row_types = row if isinstance(row, tuple) else (row, [0] * len(row))
        ids[i, : len(row_ids)] = row_ids
        mask[i, : len(row_ids)] = 1
        types[i, : len(row_types)] = row_types
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _graph_inputs(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def session(path: Path, threads: int = 2):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def score(sess, rows: list) -> list[float]:
    """Logits of rows (input ids, or (input ids, token type ids)) as one padded batch; token_type_ids is fed only where
    the graph declares it."""
    batch = _pad(rows)
    feed = {i.name: batch[i.name] for i in sess.get_inputs()}
    (logits,) = sess.run(["logits"], feed)
    return [float(x) for x in logits[:, 0]]


def batch_dependence(path: Path, model_dir: Path, pairs: Sequence[tuple[str, str]] = CHECK_PAIRS) -> float:
    """Max |logit in a mixed batch - logit alone| over pairs, each placed in several batches: with all the other pairs,
    with long and short junk neighbours, first and last, and as several copies."""
    encode = _encoder(model_dir)
    sess = session(path)
    rows = [encode(q, p) for q, p in pairs]
    others = [encode(q, p) for q, p in NEIGHBOURS]
    alone = [score(sess, [row]) for row in rows]
    worst = 0.0
    batches: list[tuple[list[list[int]], list[int]]] = [(rows, list(range(len(rows))))]
    for i, row in enumerate(rows):
        batches.append(([row, *others], [i]))
        batches.append(([*others[::-1], row], [i]))
        batches.append(([others[0], row, row, others[2]], [i]))
    for batch, owners in batches:
        logits = score(sess, batch)
        for logit, row in zip(logits, batch):
            if row in rows:
                for i in owners:
                    if rows[i] == row:
                        worst = max(worst, abs(logit - alone[i][0]))
    return worst


def check_batch_independence(path: Path, model_dir: Path, tolerance: float = BATCH_TOLERANCE) -> float:
    worst = batch_dependence(path, model_dir)
    if worst > tolerance:
        raise BatchDependenceError(
            f"{path}: a pair's logit moves by {worst:.2e} with its batch neighbours (more than {tolerance}); "
            "this file would give clients scores that depend on each other"
        )
    return worst
