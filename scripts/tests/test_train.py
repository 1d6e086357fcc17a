"""The fine-tuning trainer (scripts/train): data loading, the negative miner, Platt calibration, the SageMaker entry
point run with SageMaker's variables, and resuming an interrupted run (on the tiny model, a few steps)."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "train"))

from korerank_train.calibration import CalibrationError, calibrate, fit_platt  # noqa: E402
from korerank_train.data import Corpus, NegativeMiner, load  # noqa: E402
from korerank_train.metrics import summarize  # noqa: E402

FIXTURE = ROOT / "test" / "fixtures" / "finetune"
TINY = ROOT / "models" / "ko-reranker-tiny"


class DataTest(unittest.TestCase):
    def test_jsonl_and_csv(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "d.csv"
            csv.write_text('query,passage\n서울,"서울은 수도, 큰 도시"\n서울,한강\n부산,\n', encoding="utf-8")
            corpus = Corpus()
            out = load(csv, corpus)
            self.assertEqual([q.query for q in out.queries], ["서울"])
            self.assertEqual(len(out.queries[0].positives), 2)
            self.assertEqual(out.no_positive, 1)
            self.assertEqual(corpus.passages[0], "서울은 수도, 큰 도시")
        loaded = load(FIXTURE / "train.jsonl", Corpus())
        self.assertEqual(len(loaded.queries), 40)
        self.assertTrue(any(q.negatives for q in loaded.queries))


class MinerTest(unittest.TestCase):
    def test_never_a_positive(self) -> None:
        corpus = Corpus()
        loaded = load(FIXTURE / "train.jsonl", corpus).queries
        q0 = loaded[0]
        # A given negative that is a positive (the same text in another Unicode form) is never used.
        decomposed = unicodedata.normalize("NFD", corpus.passages[q0.positives[0]])
        q0.negatives.append(corpus.add(decomposed))
        self.assertIn(q0.positives[0], q0.negatives)
        for need in (2, 7, 60):
            miner = NegativeMiner(corpus, loaded, need, hard_pool=10)
            for seed in range(20):
                rng = random.Random(seed)
                for q in loaded:
                    negs = miner.negatives(q, need, rng)
                    self.assertEqual(len(negs), need)
                    self.assertFalse(set(negs) & set(q.positives), f"positive among negatives of {q.query}")

    def test_held_out_passages_are_not_negatives(self) -> None:
        corpus = Corpus()
        loaded = load(FIXTURE / "train.jsonl", corpus).queries
        size = len(corpus.passages)
        load(FIXTURE / "eval.jsonl", corpus)
        self.assertGreater(len(corpus.passages), size)
        miner = NegativeMiner(corpus, loaded, 5, hard_pool=10, passages=size)
        rng = random.Random(3)
        for q in loaded:
            self.assertTrue(all(i < size for i in miner.negatives(q, 5, rng)))

    def test_given_first_then_bm25(self) -> None:
        corpus = Corpus()
        loaded = load(FIXTURE / "train.jsonl", corpus).queries
        miner = NegativeMiner(corpus, loaded, 2, hard_pool=5)
        q = next(q for q in loaded if q.negatives)
        negs = miner.negatives(q, 2, random.Random(0))
        self.assertEqual(negs[0], q.negatives[0])
        self.assertIn(negs[1], miner.hard[id(q)])


class CalibrationTest(unittest.TestCase):
    def test_platt_recovers_parameters(self) -> None:
        rng = random.Random(1)
        logits = [rng.uniform(-8, 8) for _ in range(4000)]
        labels = [1 if rng.random() < 1 / (1 + math.exp(-(0.7 * x - 1.5))) else 0 for x in logits]
        a, b = fit_platt(logits, labels)
        self.assertAlmostEqual(a, 0.7, delta=0.1)
        self.assertAlmostEqual(b, -1.5, delta=0.25)
        cal = calibrate(logits, labels, "synthetic")
        self.assertLess(cal["reliability"]["after"]["ece"], 0.05)
        for part in ("before", "after"):
            for bin_ in cal["reliability"][part]["bins"]:
                self.assertTrue(0 <= bin_["predicted"] <= 1 and 0 <= bin_["observed"] <= 1)

    def test_refusals(self) -> None:
        with self.assertRaises(CalibrationError):
            calibrate([1.0, 2.0], [1, 1], "one class")
        with self.assertRaises(CalibrationError):
            calibrate([-3.0, -2.0, 2.0, 3.0] * 10, [1, 1, 0, 0] * 10, "backwards")

    def test_metrics_match_eval(self) -> None:
        # The values src/eval/metrics.ts gives for the same rankings (test/eval/metrics.test.ts).
        m = summarize([[3, 1, 2], [5, 6, 7]], [{1}, {9}], depth=3, contexts=1)
        self.assertAlmostEqual(m["mrr"], 0.25)
        self.assertAlmostEqual(m["has_right_in_contexts"], 0.0)
        self.assertAlmostEqual(m["hit_at_5"], 0.5)
        self.assertAlmostEqual(m["ndcg_at_10"], (1 / math.log2(3)) / 2)


def run_train(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train" / "train.py"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


SMALL = ["--max-len", "32", "--eval-queries", "3", "--threads", "1", "--probe-groups", "4"]


class EntryPointTest(unittest.TestCase):
    def test_sagemaker_variables(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            train, evald, model = Path(tmp) / "train", Path(tmp) / "eval", Path(tmp) / "model"
            for d in (train, evald, model):
                d.mkdir()
            shutil.copy(FIXTURE / "train.jsonl", train / "train.jsonl")
            shutil.copy(FIXTURE / "eval.jsonl", evald / "eval.jsonl")
            env = {"SM_CHANNEL_TRAIN": str(train), "SM_CHANNEL_EVAL": str(evald), "SM_MODEL_DIR": str(model)}
            # As the Hugging Face estimator passes hyperparameters: --name value, underscores, strings.
            hp = ["--base", str(TINY), "--max_steps", "2", "--gradient_accumulation_steps", "2", "--learning_rate"]
            res = run_train([*hp, "0.0001", "--resume", "False", *SMALL], env)
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            log = json.loads((model / "training" / "log.json").read_text())
            self.assertEqual(log["steps"], 2)
            self.assertEqual(log["heldout_queries"], 12)
            self.assertEqual(log["recipe"]["learning_rate"], 1e-4)
            self.assertEqual(Path(log["data"]).name, "train.jsonl")
            for f in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "training.png"):
                self.assertTrue((model / "checkpoint" / f).exists(), f)

    def test_resume_continues_exactly(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            args = ["--base", str(TINY), "--data", str(FIXTURE / "train.jsonl"), "--eval-fraction", "0.1"]
            args += ["--out", str(out), "--max-steps", "3", "--grad-accum", "2", "--lr", "1e-4", "--save-steps", "1"]
            args += ["--keep-checkpoints", "5", *SMALL]
            res = run_train(args)
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            full = json.loads((out / "training" / "log.json").read_text())
            # Interrupted after step 1: the later checkpoint and the result are gone.
            shutil.rmtree(out / "training" / "checkpoints" / "step-2")
            shutil.rmtree(out / "checkpoint")
            (out / "training" / "log.json").unlink()
            res = run_train([*args, "--resume"])
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            resumed = json.loads((out / "training" / "log.json").read_text())
            self.assertEqual(resumed["resumed_from_step"], 1)
            self.assertEqual([e["step"] for e in resumed["log"]["loss"]], [1, 2, 3])
            for a, b in zip(full["log"]["loss"], resumed["log"]["loss"]):
                self.assertAlmostEqual(a["loss"], b["loss"], delta=1e-5)
            # A finished run is not trained again.
            res = run_train([*args, "--resume"])
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            self.assertIn("nothing to train", res.stderr)


if __name__ == "__main__":
    unittest.main()
