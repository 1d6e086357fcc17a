"""README.md's "Use it from ..." Python snippets, run as written (http://localhost:8080 -> the test server): each
must run and print the Seoul passage first. The boto3 (SageMaker) snippet needs AWS and is not run."""
import contextlib
import io
import os
import re
import unittest

from common import ROOT, Server

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
SECTION = README[README.index("## Use it from ...") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
SNIPPETS = [s for s in re.findall(r"```python\n(.*?)```", SECTION, re.S) if "boto3" not in s]


def setUpModule():
    global srv
    srv = Server()


def tearDownModule():
    srv.close()


class ReadmeSnippets(unittest.TestCase):
    def test_every_client_has_a_snippet(self):
        for name in ("cohere.ClientV2", "langchain_cohere", "llama_index", "HuggingFaceTEIRanker", "JinaRerank", "/v1/score"):
            self.assertTrue(any(name in s for s in SNIPPETS), name)

    def test_snippets_run_and_rank_seoul_first(self):
        for snippet in SNIPPETS:
            code = snippet.replace("http://localhost:8080", srv.base)
            out = io.StringIO()
            with self.subTest(snippet.splitlines()[0]), contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
            first = out.getvalue().splitlines()[0]
            self.assertTrue(first.startswith("서울은 대한민국의 수도이자 최대 도시이다."), f"{snippet.splitlines()[0]}: {first}")


if __name__ == "__main__":
    unittest.main()
