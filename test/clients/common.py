"""Shared by the client tests: the real server (test/clients/server.ts) and the native /rerank answer to compare
with."""

import json
import math
import os
import subprocess
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

QUERY = "대한민국의 수도는 어디인가요?"
DOCUMENTS = [
    "부산은 대한민국 남동부에 있는 항구 도시이다.",
    "서울은 대한민국의 수도이자 최대 도시이다.",
    "김치는 배추와 고춧가루로 만드는 한국의 전통 음식이다.",
]
SEOUL = 1
TOL = 1e-12


class Server:
    """node --import tsx test/clients/server.ts, started once per test module."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            ["node", "--import", "tsx", "test/clients/server.ts", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "DEVICE": "cpu"},
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server did not start (exit {self.proc.wait()})")
        self.base = json.loads(line)["base"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def post(self, path, body, headers=None):
        """(status, content type, decoded JSON or text)."""
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req) as res:
                status, ctype, text = res.status, res.headers.get("content-type", ""), res.read().decode()
        except urllib.error.HTTPError as err:
            status, ctype, text = err.code, err.headers.get("content-type", ""), err.read().decode()
        return status, ctype, json.loads(text) if ctype.startswith("application/json") else text


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class NativeCase(unittest.TestCase):
    """Holds the native /rerank answer for (QUERY, DOCUMENTS): order and logits to compare each client with."""

    srv: Server

    @classmethod
    def native(cls):
        status, _, body = cls.srv.post("/rerank", {"query": QUERY, "passages": DOCUMENTS})
        assert status == 200, body
        cls.order = [r["index"] for r in body["results"]]
        cls.logits = {r["index"]: r["logit"] for r in body["results"]}
        cls.tokens = body["usage"]["tokens"]
        assert cls.order[0] == SEOUL, f"the Seoul passage must rank first natively: {cls.order}"

    def assertRanked(self, pairs, n=None, score=sigmoid):
        """pairs: [(index, score)] as the client gave them: the native order (cut to n) and score(logit) each."""
        n = len(DOCUMENTS) if n is None else n
        self.assertEqual([i for i, _ in pairs], self.order[:n], "same ranking as native /rerank")
        self.assertEqual(pairs[0][0], SEOUL, "the Seoul passage first")
        for i, s in pairs:
            self.assertIsInstance(s, float, f"score of document {i}")
            self.assertAlmostEqual(s, score(self.logits[i]), delta=TOL, msg=f"document {i}")
