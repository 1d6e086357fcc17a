"""The Python snippets of the "Use it from ..." sections of README.md and docs/api.md, run as written
(http://localhost:8080 -> the test server): each must run and print the Seoul passage first. The boto3 (SageMaker)
snippet needs AWS and is not run."""

import contextlib
import io
import os
import re
import unittest

from common import ROOT, Server


def section(path):
    """The page's "## Use it from ..." section, up to the next "## " heading."""
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    text = text[text.index("## Use it from ...") :]
    end = text.find("\n## ", 1)
    return text if end < 0 else text[:end]


README_SNIPPETS = re.findall(r"```python\n(.*?)```", section("README.md"), re.S)
# One list, each snippet once (the README repeats docs/api.md's cohere snippet).
SNIPPETS = list(
    dict.fromkeys(
        s
        for p in ("README.md", "docs/api.md")
        for s in re.findall(r"```python\n(.*?)```", section(p), re.S)
        if "boto3" not in s
    )
)


def setUpModule():
    global srv
    srv = Server()


def tearDownModule():
    srv.close()


class ReadmeSnippets(unittest.TestCase):
    def test_every_client_has_a_snippet(self):
        for name in (
            "cohere.ClientV2",
            "langchain_cohere",
            "llama_index",
            "HuggingFaceTEIRanker",
            "JinaRerank",
            "/v1/score",
        ):
            self.assertTrue(any(name in s for s in SNIPPETS), name)

    def test_readme_snippets_are_docs_snippets(self):
        """The README's snippet is one of docs/api.md's, so both run here and stay the same."""
        self.assertTrue(README_SNIPPETS)
        for s in README_SNIPPETS:
            self.assertIn(s, re.findall(r"```python\n(.*?)```", section("docs/api.md"), re.S))

    def test_snippets_run_and_rank_seoul_first(self):
        for snippet in SNIPPETS:
            code = snippet.replace("http://localhost:8080", srv.base)
            out = io.StringIO()
            with self.subTest(snippet.splitlines()[0]), contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
            first = out.getvalue().splitlines()[0]
            self.assertTrue(
                first.startswith("서울은 대한민국의 수도이자 최대 도시이다."), f"{snippet.splitlines()[0]}: {first}"
            )


if __name__ == "__main__":
    unittest.main()
