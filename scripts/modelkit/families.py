"""Seeded random cross-encoder checkpoints of each supported family, exported with scripts/export_onnx.py, with the
logits transformers gives on Korean pairs: the fixtures of test/backend/families.test.ts (the real server must give
the same logits through HTTP). Nothing is downloaded: tokenizers are built here with the `tokenizers` package
(WordPiece for BERT / ELECTRA / DeBERTa-v2) or copied from models/ko-reranker-tiny (XLM-R's Unigram vocabulary).

    PYTHONPATH=. scripts/.venv/bin/python -m scripts.modelkit.families OUT [--only NAME ...]

Writes OUT/<name>/ (a served model directory: config.json, tokenizer files, onnx/model.onnx) and OUT/<name>/
expected.json ({"max_len", "pairs": [{"query", "passage", "logit", "tokens"}]}). Weights are drawn with a large
initializer_range so that logits differ clearly between pairs (the script fails when their spread is below MIN_SPREAD).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

from . import quantize as Q

ROOT = Path(__file__).resolve().parent.parent.parent
# 31 MS MARCO-ko queries with their passages, committed with the tests (see data/msmarco-ko for the attribution).
DATA = ROOT / "test/fixtures/eval-small.jsonl"
XLMR_TOKENIZER = ROOT / "models/ko-reranker-tiny/tokenizer.json"
MIN_SPREAD = 0.5
# WordPiece vocabulary of the BERT-family tokenizers built here.
VOCAB_SIZE = 3000
# fp16 weights and activations (scripts/export_onnx.py --fp16) against transformers' fp32 logits.
FP16_TOLERANCE = 5e-2
# The served quantization (scripts/export_onnx.py --quantize int8-weights: weights rounded to int8 per output channel,
# fp32 arithmetic) against transformers' fp32 logits, on these deliberately large random weights.
INT8_TOLERANCE = 0.15  # measured 0.02-0.07 through HTTP on the five families
# Small enough for CI on two cores, large enough that every layer matters.
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}

PAIRS = [
    ("대한민국의 수도는 어디인가요?", "서울은 대한민국의 수도이며 최대 도시입니다."),
    ("대한민국의 수도는 어디인가요?", "부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다."),
    ("김치 만드는 법", "배추를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 만든 양념을 버무립니다."),
    ("아이폰 15 배터리 용량", "아이폰 15 Pro Max의 배터리 용량은 4,422mAh입니다."),
    ("나는 너를 좋아해", "너에 대한 나의 감정은 사랑 일 수도 있어"),
    ("서울 날씨", "오늘 서울은 맑고 낮 최고 기온은 25도입니다."),
]


def corpus_texts() -> list[str]:
    """Korean text to train the small WordPiece vocabularies on: the pairs, plus MS MARCO-ko when present."""
    texts = [t for pair in PAIRS for t in pair]
    if DATA.exists():
        with DATA.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                texts.append(row["query"])
                texts.extend(row.get("pos", []) + row.get("neg", []))
    return texts


def long_passage(tokens_wanted: int, count_tokens) -> str:  # noqa: ANN001
    """A Korean passage of at least tokens_wanted tokens (MS MARCO-ko passages, or the pairs' passages, repeated)."""
    pieces = [p for _, p in PAIRS]
    if DATA.exists():
        with DATA.open(encoding="utf-8") as f:
            pieces = [p for line in f for p in json.loads(line).get("pos", [])]
    text, i = "", 0
    while count_tokens(text) < tokens_wanted:
        text += pieces[i % len(pieces)] + " "
        i += 1
    return text.strip()


def wordpiece_tokenizer(template: bool):  # noqa: ANN201
    """A small BERT-style WordPiece tokenizer: TemplateProcessing (as transformers' converter writes) or
    BertProcessing; [CLS] q [SEP] p [SEP] with type ids 0 then 1 either way."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The vocabulary is chosen here, not by tokenizers' WordPieceTrainer, whose ties fall differently from run to run
    # (the same seed would then give other token ids, other logits): the specials, every character alone and as a
    # continuation (sorted), then the most frequent words (by count, then text) up to VOCAB_SIZE.
    counts: Counter[str] = Counter()
    for text in corpus_texts():
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in counts for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    words = [w for w, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])) if len(w) > 1]
    vocab += words[: max(0, VOCAB_SIZE - len(vocab))]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
    else:
        tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    return tok


def xlmr_tokenizer(roberta_processing: bool):  # noqa: ANN201
    """The XLM-R Unigram vocabulary of models/ko-reranker-tiny; RobertaProcessing or its TemplateProcessing."""
    from tokenizers import Tokenizer, processors

    tok = Tokenizer.from_file(str(XLMR_TOKENIZER))
    if roberta_processing:
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    return tok


def save_tokenizer(tok, out: Path, max_len: int, xlmr: bool) -> None:  # noqa: ANN001
    from transformers import PreTrainedTokenizerFast

    specials = (
        {"cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}
        if xlmr
        else {
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "mask_token": "[MASK]",
        }
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_len, **specials)
    fast.save_pretrained(str(out))


def family_configs() -> dict[str, dict]:
    """name -> config kwargs, transformers config class, tokenizer maker, max_len, long-pair tokens (0: none)."""
    from transformers import BertConfig, DebertaV2Config, ElectraConfig, XLMRobertaConfig

    xlmr = {"vocab_size": 8002, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    return {
        "xlmr-514": {
            "config": XLMRobertaConfig(**TINY, **xlmr, max_position_embeddings=514),
            "tokenizer": lambda: xlmr_tokenizer(False),
            "xlmr": True,
            "long": 700,
        },
        "xlmr-8194": {
            "config": XLMRobertaConfig(**TINY, **xlmr, max_position_embeddings=8194),
            "tokenizer": lambda: xlmr_tokenizer(True),
            "xlmr": True,
            "long": 3500,
        },
        "bert": {
            "config": BertConfig(
                **TINY, vocab_size=3000, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0
            ),
            "tokenizer": lambda: wordpiece_tokenizer(True),
            "xlmr": False,
            "long": 700,
        },
        "electra": {
            "config": ElectraConfig(
                **TINY, embedding_size=16, vocab_size=3000, max_position_embeddings=512, type_vocab_size=2
            ),
            "tokenizer": lambda: wordpiece_tokenizer(False),
            "xlmr": False,
            "long": 700,
        },
        "deberta-v2": {
            "config": DebertaV2Config(
                **TINY,
                vocab_size=3000,
                max_position_embeddings=512,
                type_vocab_size=0,
                relative_attention=True,
                position_buckets=64,
                max_relative_positions=-1,
                pos_att_type=["p2c", "c2p"],
                position_biased_input=False,
                pad_token_id=0,
            ),
            "tokenizer": lambda: wordpiece_tokenizer(True),
            "xlmr": False,
            "long": 700,
        },
    }


def max_len_of(config) -> int:  # noqa: ANN001
    offset = config.pad_token_id + 1 if config.model_type == "xlm-roberta" else 0
    return config.max_position_embeddings - offset


def build(name: str, spec: dict, out: Path) -> dict:
    from transformers import AutoModelForSequenceClassification

    sys.path.insert(0, str(ROOT / "scripts"))
    import export_onnx  # noqa: PLC0415 (scripts/ is not a package)

    ckpt = out / f"{name}-checkpoint"
    served = out / name
    config = spec["config"]
    config.num_labels = 1
    config.initializer_range = 0.3
    config.architectures = [type(config).__name__.replace("Config", "ForSequenceClassification")]
    max_len = max_len_of(config)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    model.save_pretrained(str(ckpt))
    save_tokenizer(spec["tokenizer"](), ckpt, max_len, spec["xlmr"])

    model, tokenizer = export_onnx.load(ckpt)
    export_onnx.copy_files(ckpt, served, tokenizer)
    names = export_onnx.export(model, tokenizer, served / "onnx/model.onnx")
    export_onnx.check(model, tokenizer, served / "onnx/model.onnx", names, 1e-4)
    export_onnx.to_fp16(served / "onnx/model.onnx", served / "onnx/model_fp16.onnx", model.config)
    export_onnx.check(model, tokenizer, served / "onnx/model_fp16.onnx", names, FP16_TOLERANCE)
    # the quantized file: quantize() also checks that a pair's logit does not move with its batch neighbours (token
    # type ids fed where the graph has them)
    int8 = served / "onnx" / Q.FILE_NAMES["int8-weights"]
    Q.quantize(served / "onnx/model.onnx", int8, method="int8-weights", model_dir=served)
    export_onnx.check(model, tokenizer, int8, names, INT8_TOLERANCE)

    pairs = list(PAIRS)
    if spec["long"]:
        count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
        pairs.append(("긴 문서의 요약", long_passage(spec["long"], count)))
    rows = []
    for q, p in pairs:
        enc = tokenizer(q, p, truncation="only_second", max_length=max_len, return_tensors="pt")
        with torch.no_grad():
            logit = float(model(**{k: v for k, v in enc.items() if k in names}).logits[0, 0])
        rows.append({"query": q, "passage": p, "logit": logit, "tokens": int(enc["input_ids"].shape[1])})
    logits = [r["logit"] for r in rows]
    spread = max(logits) - min(logits)
    if spread < MIN_SPREAD:
        raise SystemExit(
            f"{name}: logits spread {spread:.3f} < {MIN_SPREAD}: the check could not fail; draw larger weights"
        )
    layout = json.loads((served / "tokenizer.json").read_text())["post_processor"]["type"]
    expected = {
        "name": name,
        "fp16_tolerance": FP16_TOLERANCE,
        "int8_tolerance": INT8_TOLERANCE,
        "max_len": max_len,
        "inputs": names,
        "post_processor": layout,
        "pairs": rows,
    }
    (served / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1))
    longest = max(r["tokens"] for r in rows)
    print(f"{name}: max_len {max_len}, inputs {names}, {layout}, {len(rows)} pairs (longest {longest} tokens)")
    print(f"{name}: logit spread {spread:.2f}")
    return expected


def two_labels(out: Path) -> None:
    """A BERT classifier with two labels, exported as is (the exporter refuses it): the server must refuse it too."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    sys.path.insert(0, str(ROOT / "scripts"))
    import export_onnx  # noqa: PLC0415

    config = BertConfig(**TINY, vocab_size=3000, max_position_embeddings=512, num_labels=2)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    served = out / "bert-2labels"
    served.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(served))
    save_tokenizer(wordpiece_tokenizer(True), served, 512, False)
    from transformers import AutoTokenizer

    export_onnx.export(model, AutoTokenizer.from_pretrained(str(served)), served / "onnx/model.onnx")
    print("bert-2labels: exported with logits [batch, 2]")


def long_bench_model(out: Path) -> None:
    """bench/long-inputs.ts's model: a random XLM-R with 8,194 positions, wider than the test ones (hidden 256,
    4 layers, 4 heads), exported fp32 to OUT/xlmr-long."""
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

    sys.path.insert(0, str(ROOT / "scripts"))
    import export_onnx  # noqa: PLC0415

    config = XLMRobertaConfig(
        vocab_size=8002,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=8194,
        pad_token_id=1,
        type_vocab_size=1,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config).eval()
    served = out / "xlmr-long"
    served.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(served))
    save_tokenizer(xlmr_tokenizer(True), served, 8192, True)
    export_onnx.export(model, AutoTokenizer.from_pretrained(str(served)), served / "onnx/model.onnx")
    print(f"xlmr-long: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="*", help="family names (default: all)")
    parser.add_argument("--long-bench", action="store_true", help="only bench/long-inputs.ts's model (xlmr-long)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    import transformers

    transformers.logging.set_verbosity_error()
    if args.long_bench:
        long_bench_model(args.out)
        return
    specs = family_configs()
    for name in args.only or specs:
        build(name, specs[name], args.out)
    if not args.only:
        two_labels(args.out)


if __name__ == "__main__":
    main()
