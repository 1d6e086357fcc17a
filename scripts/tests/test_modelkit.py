"""Tests of the Python model tools: `npm run test:python` (needs scripts/setup-python.sh; not part of CI's npm test)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.modelkit import safetensors_io  # noqa: E402
from scripts.modelkit.bm25 import BM25, char_bigrams  # noqa: E402
from scripts.modelkit.metrics import summarize  # noqa: E402
from scripts.modelkit.onnx_export import OnnxScorer  # noqa: E402
from scripts.modelkit.pairs import assemble, pad_batch  # noqa: E402
from scripts.modelkit.tokenizer import ReferenceTokenizer  # noqa: E402
from scripts.modelkit.xlmr import XLMRobertaForSequenceClassification, config_from_json  # noqa: E402

MODEL = ROOT / "models/ko-reranker-tiny"
FIXTURES = json.loads((ROOT / "test/fixtures/reference.json").read_text(encoding="utf-8"))


def assert_fixture_ids(test: unittest.TestCase, tokenizer: ReferenceTokenizer, fixtures: dict) -> None:
    """Every fixture pair's ids are SentencePiece's, or (recorded with sentencepiece_input_ids) a tie of equal score."""
    for pair in fixtures["pairs"]:
        expected, _ = tokenizer.encode_pair(pair["query"], pair["passage"], fixtures["max_len"])
        if "sentencepiece_input_ids" in pair:
            test.assertEqual(pair["sentencepiece_input_ids"], expected, pair["name"])
            test.assertTrue(tokenizer.is_tie(pair["input_ids"], expected), pair["name"])
        else:
            test.assertEqual(pair["input_ids"], expected, pair["name"])


class TokenizerTest(unittest.TestCase):
    tokenizer = ReferenceTokenizer(
        MODEL / "sentencepiece.bpe.model", json.loads((MODEL / "config.json").read_text())["vocab_size"]
    )

    def test_pair_layout_keeps_query_and_cuts_passage(self) -> None:
        ids, truncated = self.tokenizer.encode_pair("서울 인구", "서울의 인구는 약 940만 명입니다. " * 100, 64)
        q = self.tokenizer.encode("서울 인구")
        self.assertEqual(len(ids), 64)
        self.assertTrue(truncated)
        self.assertEqual(ids[: len(q) + 3], [0, *q, 2, 2])
        self.assertEqual(ids[-1], 2)

    def test_query_capped_at_three_quarters(self) -> None:
        long_query = "대한민국 " * 100
        self.assertEqual(len(assemble(self.tokenizer.encode(long_query), [7, 8, 9], 64)), 4 + 48 + 3)

    def test_literal_special_tokens_and_unknown_characters(self) -> None:
        self.assertEqual(self.tokenizer.encode("<s>")[0], 0)
        self.assertIn(3, self.tokenizer.encode("ᚠᚢᚦ"))

    def test_fixture_ids_are_sentencepiece_or_a_scored_tie(self) -> None:
        assert_fixture_ids(self, self.tokenizer, FIXTURES)


class Bm25Test(unittest.TestCase):
    def test_bigrams(self) -> None:
        self.assertEqual(char_bigrams("서울특별시 A"), ["서울", "울특", "특별", "별시", "a"])

    def test_ranking_and_ties(self) -> None:
        bm25 = BM25(["서울 날씨 맑음", "부산 날씨 흐림", "서울 서울 교통", "무관한 문서"])
        self.assertEqual(bm25.top("서울 날씨", 4)[:2], [0, 2])
        self.assertEqual(bm25.top("없는말", 4), [0, 1, 2, 3])  # all zero: index order


class MetricsTest(unittest.TestCase):
    def test_hand_computed(self) -> None:
        # ranks of the first relevant doc: 1, 3, none -> MRR = (1 + 1/3 + 0) / 3 = 0.4444
        m = summarize([[5, 1], [7, 8, 9], [1, 2]], [{5}, {9}, {4}], depth=20)
        self.assertAlmostEqual(m["mrr@20"], (1 + 1 / 3) / 3)
        self.assertAlmostEqual(m["hit@1"], 1 / 3)
        self.assertAlmostEqual(m["hit@3"], 2 / 3)


class ModelTest(unittest.TestCase):
    def test_hugging_face_parameter_names(self) -> None:
        names = set(safetensors_io.load(MODEL / "model.safetensors"))
        for name in (
            "roberta.embeddings.word_embeddings.weight",
            "roberta.embeddings.position_embeddings.weight",
            "roberta.embeddings.token_type_embeddings.weight",
            "roberta.embeddings.LayerNorm.weight",
            "roberta.encoder.layer.0.attention.self.query.weight",
            "roberta.encoder.layer.0.attention.output.dense.weight",
            "roberta.encoder.layer.0.attention.output.LayerNorm.bias",
            "roberta.encoder.layer.0.intermediate.dense.weight",
            "roberta.encoder.layer.0.output.dense.weight",
            "roberta.encoder.layer.0.output.LayerNorm.weight",
            "classifier.dense.weight",
            "classifier.out_proj.weight",
            "classifier.out_proj.bias",
        ):
            self.assertIn(name, names)
        self.assertFalse(any(name.startswith("aux") for name in names))

    def test_safetensors_round_trip_with_bf16(self) -> None:
        tensors = {"a": torch.randn(3, 4), "b": torch.randn(5).to(torch.bfloat16), "c": torch.arange(4)}
        with tempfile.TemporaryDirectory() as tmp:
            safetensors_io.save(tensors, Path(tmp) / "t.safetensors")
            loaded = safetensors_io.load(Path(tmp) / "t.safetensors")
        for name, tensor in tensors.items():
            self.assertTrue(torch.equal(loaded[name], tensor), name)

    def test_pytorch_logits_match_fixtures(self) -> None:
        model = XLMRobertaForSequenceClassification(config_from_json(json.loads((MODEL / "config.json").read_text())))
        model.load_state_dict(safetensors_io.load(MODEL / "model.safetensors"))
        ids, mask = pad_batch([p["input_ids"] for p in FIXTURES["pairs"]])
        with torch.no_grad():
            logits = model.eval()(ids, mask)[:, 0]
        for pair, logit in zip(FIXTURES["pairs"], logits.tolist()):
            self.assertAlmostEqual(logit, pair["logit"], delta=1e-4, msg=pair["name"])


class ExportTest(unittest.TestCase):
    def test_export_reproduces_the_committed_onnx(self) -> None:
        """scripts/export_onnx.py on the committed PyTorch weights gives the committed model.onnx within 1e-5."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "exported"
            subprocess.run(
                [sys.executable, str(ROOT / "scripts/export_onnx.py"), str(MODEL), "--out", str(out)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                self.assertEqual((out / name).read_bytes(), (MODEL / name).read_bytes(), name)
            ids, mask = pad_batch([p["input_ids"] for p in FIXTURES["pairs"]])
            exported = OnnxScorer(out / "onnx/model.onnx")(ids, mask)
            committed = OnnxScorer(MODEL / "onnx/model.onnx")(ids, mask)
        self.assertLess(float((exported - committed).abs().max()), 1e-5)

    def export_config_only(self, config: dict) -> subprocess.CompletedProcess:
        """scripts/export_onnx.py on a checkpoint directory holding only this config.json."""
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(json.dumps(config))
            return subprocess.run(
                [sys.executable, str(ROOT / "scripts/export_onnx.py"), tmp, "--out", str(Path(tmp) / "o")],
                capture_output=True,
                text=True,
            )

    def test_rejects_a_checkpoint_with_several_labels(self) -> None:
        config = json.loads((MODEL / "config.json").read_text())
        config["id2label"] = {"0": "NO", "1": "YES"}
        run = self.export_config_only(config)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("one logit", run.stderr)

    def test_refuses_a_decoder_only_llm(self) -> None:
        run = self.export_config_only({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "num_labels": 1})
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("decoder-only", run.stderr)

    def test_builds_tokenizer_json_when_the_checkpoint_has_none(self) -> None:
        """A checkpoint with sentencepiece.bpe.model only: the fast tokenizer writes tokenizer.json, which encodes
        every fixture pair as the committed one does."""
        from tokenizers import Tokenizer

        with tempfile.TemporaryDirectory() as tmp:
            ckpt, out = Path(tmp) / "ckpt", Path(tmp) / "out"
            ckpt.mkdir()
            for name in ("config.json", "model.safetensors", "sentencepiece.bpe.model", "tokenizer_config.json"):
                (ckpt / name).write_bytes((MODEL / name).read_bytes())
            subprocess.run(
                [sys.executable, str(ROOT / "scripts/export_onnx.py"), str(ckpt), "--out", str(out)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            built = Tokenizer.from_file(str(out / "tokenizer.json"))
        committed = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
        for pair in FIXTURES["pairs"]:
            q, p = pair["query"], pair["passage"]
            self.assertEqual(built.encode(q, p).ids, committed.encode(q, p).ids, pair["name"])


if __name__ == "__main__":
    unittest.main()
