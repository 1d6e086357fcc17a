"""Tests of models/ko-reranker-small (scripts/test-python.sh): the backbone reader, the pruned tokenizer, and the
exported files against test/fixtures/reference-small.json (fp32 ONNX vs PyTorch logits within 1e-4)."""

from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.modelkit import e5_backbone, vocab  # noqa: E402
from scripts.modelkit.build_small_eval import load_model  # noqa: E402
from scripts.modelkit.onnx_export import OnnxScorer, export  # noqa: E402
from scripts.modelkit.pairs import pad_batch  # noqa: E402
from scripts.modelkit.tokenizer import ReferenceTokenizer  # noqa: E402
from scripts.tests.test_modelkit import assert_fixture_ids  # noqa: E402

MODEL = ROOT / "models/ko-reranker-small"
FIXTURES = json.loads((ROOT / "test/fixtures/reference-small.json").read_text(encoding="utf-8"))
CONFIG = json.loads((MODEL / "config.json").read_text())


class BackboneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.path = e5_backbone.locate()
        cls.b = e5_backbone.read(cls.path)

    def test_pinned_file_and_config(self) -> None:
        self.assertEqual(e5_backbone.sha256(self.path), e5_backbone.SHA256)
        self.assertEqual((self.b.hidden, self.b.layers, self.b.heads, self.b.intermediate), (384, 12, 12, 1536))
        self.assertEqual(self.b.pieces[:4], ["<s>", "<pad>", "</s>", "<unk>"])
        self.assertEqual(self.b.pieces[-1], "<mask>")
        self.assertEqual(len(self.b.pieces), 250002)

    def test_q4_dequantization_by_hand(self) -> None:
        """First block of emb.word row 0: w_j = (nibble - 8) * fp16 scale, byte j = weights j (low) and j + 16
        (high)."""
        _, _, raw = self.b.tensors["emb.word"]
        d = np.frombuffer(raw[:2], "<f2")[0].astype(np.float32)
        qs = np.frombuffer(raw[2:18], np.uint8)
        expected = np.concatenate([(qs & 15).astype(np.float32) - 8, (qs >> 4).astype(np.float32) - 8]) * d
        np.testing.assert_array_equal(self.b.q4("emb.word", 384, np.array([0]))[0, :32], expected)

    def test_state_dict_mapping(self) -> None:
        keep = [0, 1, 2, 3, 100, 250001]
        sd = e5_backbone.state_dict(self.b, keep, 1, torch.Generator().manual_seed(0))
        pos = sd["roberta.embeddings.position_embeddings.weight"]
        self.assertEqual(tuple(pos.shape), (514, 384))
        np.testing.assert_array_equal(pos[2:].numpy(), self.b.fp32("emb.pos").reshape(512, 384))
        self.assertEqual(float(pos[:2].abs().sum()), 0.0)
        np.testing.assert_array_equal(
            sd["roberta.embeddings.token_type_embeddings.weight"].numpy(), self.b.fp32("emb.type")[:384][None]
        )
        np.testing.assert_array_equal(
            sd["roberta.embeddings.word_embeddings.weight"][4].numpy(), self.b.q4("emb.word", 384, np.array([100]))[0]
        )
        self.assertEqual(tuple(sd["roberta.encoder.layer.0.output.dense.weight"].shape), (384, 1536))


class PrunedTokenizerTest(unittest.TestCase):
    tokenizer = ReferenceTokenizer(MODEL / "sentencepiece.bpe.model", CONFIG["vocab_size"])

    def test_pruned_vocabulary_segments_the_data_as_the_full_one(self) -> None:
        """Every dev text of the fixtures: the same pieces from the pruned model as from XLM-R's 250k-piece
        vocabulary."""
        b = e5_backbone.read(e5_backbone.locate())
        with tempfile.TemporaryDirectory() as tmp:
            full = Path(tmp) / "full.model"
            full.write_bytes(
                vocab.sentencepiece_model(
                    b.pieces[4:-1],
                    [float(s) for s in b.scores[4:-1]],
                    ROOT / "models/ko-reranker-tiny/sentencepiece.bpe.model",
                )
            )
            sp_full = spm.SentencePieceProcessor(model_file=str(full))
        texts = [t for p in FIXTURES["pairs"] if p["name"].startswith("dev query") for t in (p["query"], p["passage"])]
        self.assertGreater(len(texts), 20)
        for text in texts:
            self.assertEqual(self.tokenizer.sp.encode(text, out_type=str), sp_full.encode(text, out_type=str))

    def test_every_hangul_ascii_and_digit_piece_of_xlmr_is_kept(self) -> None:
        """XLM-R has no piece for some rare syllables (those stay <unk>, as in XLM-R); every one it has is kept."""
        b = e5_backbone.read(e5_backbone.locate())
        kept = {self.tokenizer.sp.id_to_piece(i) for i in range(self.tokenizer.sp.get_piece_size())}
        wanted = [
            p
            for p in b.pieces[4:-1]
            if len(p.lstrip("\u2581")) == 1
            and (0xAC00 <= ord(p.lstrip("\u2581")) <= 0xD7A3 or 0x21 <= ord(p.lstrip("\u2581")) <= 0x7E)
        ]
        self.assertGreater(len(wanted), 2000)
        self.assertEqual([p for p in wanted if p not in kept], [])
        for text in ("한", "글", "7", "~", "Q"):
            self.assertNotIn(3, self.tokenizer.encode(text), text)
        self.assertEqual(self.tokenizer.encode("<mask>"), [CONFIG["vocab_size"] - 1])

    def test_fixture_ids_are_sentencepiece_or_a_scored_tie(self) -> None:
        assert_fixture_ids(self, self.tokenizer, FIXTURES)


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        torch.set_num_threads(2)
        cls.model = load_model(MODEL)
        cls.rows = [p["input_ids"] for p in FIXTURES["pairs"]]

    def test_pytorch_reproduces_the_fixture_logits(self) -> None:
        with torch.no_grad():
            logits = [
                float(self.model(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long))[0, 0]) for r in self.rows
            ]
        # 1e-4, as for ONNX vs PyTorch: fp32 sums taken in another order (thread split, kernel choice) moved a logit
        # of 2.3 by 1.0e-5 in one CI run.
        for pair, logit in zip(FIXTURES["pairs"], logits):
            self.assertAlmostEqual(logit, pair["logit"], delta=1e-4, msg=pair["name"])

    def test_fp32_onnx_matches_pytorch_within_1e4(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            export(self.model, path)
            ids, mask = pad_batch(self.rows)
            logits = OnnxScorer(path)(ids, mask)[:, 0].tolist()
        worst = max(abs(logit - p["logit"]) for logit, p in zip(logits, FIXTURES["pairs"]))
        self.assertLessEqual(worst, 1e-4)

    def test_committed_int8_file_gives_the_fixture_int8_logits(self) -> None:
        scorer = OnnxScorer(MODEL / "onnx/model_int8_weights.onnx")
        for pair in FIXTURES["pairs"]:
            ids = torch.tensor([pair["input_ids"]])
            self.assertAlmostEqual(
                float(scorer(ids, torch.ones_like(ids))[0, 0]), pair["int8_logit"], delta=1e-4, msg=pair["name"]
            )

    def test_sizes_within_budget(self) -> None:
        served = (MODEL / "onnx/model_int8_weights.onnx").stat().st_size
        added = sum(
            f.stat().st_size
            for f in MODEL.rglob("*")
            if f.is_file() and f.name not in ("checkpoint.pt", "training_log.jsonl")
        )
        self.assertLessEqual(served, 32 * 2**20)
        self.assertLessEqual(added, 64 * 2**20)


if __name__ == "__main__":
    unittest.main()
