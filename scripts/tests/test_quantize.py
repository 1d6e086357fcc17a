"""scripts/modelkit/quantize.py: every method writes a file whose logits do not depend on the batch, and the check that
quantize() runs catches a file whose logits do (onnxruntime's dynamic quantization). On models/ko-reranker-tiny's fp32
export, which is small enough to quantize in seconds."""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.modelkit import quantize as Q  # noqa: E402

TINY = ROOT / "models/ko-reranker-tiny"
SMALL = ROOT / "models/ko-reranker-small"
CALIBRATION = Q.CHECK_PAIRS + [("서울의 인구", "서울의 인구는 약 940만 명입니다."), ("날씨", "오늘은 맑고 따뜻합니다.")]


class QuantizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.fp32 = TINY / "onnx/model.onnx"
        cls.alone = None

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def test_every_method_is_batch_independent_and_close_to_fp32(self) -> None:
        encode = Q._encoder(TINY)
        rows = [encode(q, p) for q, p in Q.CHECK_PAIRS]
        reference = Q.score(Q.session(self.fp32), rows)
        self.assertGreater(max(reference) - min(reference), 1.0, "the check pairs must score clearly apart")
        for method in Q.METHODS:
            with self.subTest(method=method):
                out = self.dir / Q.FILE_NAMES[method]
                Q.quantize(self.fp32, out, method=method, model_dir=TINY, calibration_pairs=CALIBRATION)
                self.assertLessEqual(Q.batch_dependence(out, TINY), Q.BATCH_TOLERANCE)
                logits = Q.score(Q.session(out), rows)
                worst = max(abs(a - b) for a, b in zip(logits, reference))
                self.assertLess(worst, 0.5, f"{method}: max |logit - fp32| {worst:.3f}")
                if method in ("int8-weights", "int8-static", "int8-blockwise"):
                    self.assertLess(out.stat().st_size, 0.4 * self.fp32.stat().st_size)
                if method == "fp32":
                    self.assertEqual(worst, 0.0)

    def test_the_check_catches_dynamic_quantization(self) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        dynamic = self.dir / "model_dynamic.onnx"
        quantize_dynamic(str(self.fp32), str(dynamic), weight_type=QuantType.QInt8, per_channel=True)
        self.assertGreater(Q.batch_dependence(dynamic, TINY), 1e-3)
        with self.assertRaises(Q.BatchDependenceError):
            Q.check_batch_independence(dynamic, TINY)

    def test_unknown_or_dynamic_method_is_refused(self) -> None:
        for method in ("dynamic", "int4", ""):
            with self.assertRaises(ValueError):
                Q.quantize(self.fp32, self.dir / "x.onnx", method=method, model_dir=TINY)
        self.assertIn(Q.DEFAULT_METHOD, Q.METHODS)

    def test_shipped_files_are_batch_independent(self) -> None:
        import onnx

        for model_dir in (SMALL, TINY):
            for path in sorted((model_dir / "onnx").glob("*.onnx")):
                with self.subTest(path=str(path.relative_to(ROOT))):
                    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
                    self.assertNotIn("DynamicQuantizeLinear", ops)
                    self.assertNotIn("DynamicQuantizeMatMul", ops)
                    self.assertLessEqual(Q.batch_dependence(path, model_dir), Q.BATCH_TOLERANCE)


if __name__ == "__main__":
    unittest.main()
