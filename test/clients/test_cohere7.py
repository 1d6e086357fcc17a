"""cohere 7.x (the latest major), ClientV2 with what it sends now (relevant_spans, priority) and Client (v1), against
the real server; run in its own process with cohere 7 first on sys.path (scripts/test-clients.sh)."""

import unittest

from common import DOCUMENTS, QUERY, NativeCase, Server


def setUpModule():
    NativeCase.srv = Server()
    NativeCase.native()


def tearDownModule():
    NativeCase.srv.close()


class Cohere7(NativeCase):
    def test_version(self):
        import cohere

        self.assertTrue(cohere.__version__.startswith("7."), cohere.__version__)

    def test_client_v2_relevant_spans_disabled(self):
        import cohere
        from cohere import RerankRelevantSpans

        client = cohere.ClientV2(api_key="unused", base_url=self.srv.base)
        res = client.rerank(
            model="ko-reranker-tiny",
            query=QUERY,
            documents=DOCUMENTS,
            top_n=2,
            max_tokens_per_doc=4096,
            relevant_spans=RerankRelevantSpans(mode="disabled"),
            priority=0,
        )
        self.assertRanked([(r.index, r.relevance_score) for r in res.results], n=2)
        self.assertEqual(res.meta.api_version.version, "2")

    def test_client_v2_relevant_spans_enabled_is_refused(self):
        import cohere
        from cohere import RerankRelevantSpans
        from cohere.core.api_error import ApiError

        client = cohere.ClientV2(api_key="unused", base_url=self.srv.base)
        with self.assertRaises(ApiError) as err:
            client.rerank(
                model="m", query=QUERY, documents=DOCUMENTS, relevant_spans=RerankRelevantSpans(mode="enabled")
            )
        self.assertEqual(err.exception.status_code, 422)
        self.assertIn("relevant spans", err.exception.body["error"]["message"])

    def test_readme_snippet(self):
        """README's cohere Python snippet, as written, on 7.x too."""
        import contextlib
        import io

        from test_readme import SNIPPETS

        (snippet,) = [s for s in SNIPPETS if "cohere.ClientV2" in s]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(snippet.replace("http://localhost:8080", self.srv.base), "README.md", "exec"), {})
        self.assertTrue(out.getvalue().startswith("서울은 대한민국의 수도이자 최대 도시이다."), out.getvalue())

    def test_client_v1(self):
        import cohere

        res = cohere.Client(api_key="unused", base_url=self.srv.base).rerank(
            model="m", query=QUERY, documents=DOCUMENTS, top_n=3
        )
        self.assertRanked([(r.index, r.relevance_score) for r in res.results])


if __name__ == "__main__":
    unittest.main()
