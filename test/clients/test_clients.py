"""The Python clients RAG stacks use, each through its real library against the real server on 127.0.0.1:
cohere 5.x (ClientV2, Client), langchain-cohere, llama-index-postprocessor-cohere-rerank, haystack's
HuggingFaceTEIRanker (TEI /rerank), langchain_community's JinaRerank, and raw HTTP for vLLM's and the SageMaker
toolkit's shapes. Each compares the ranking and scores with the native /rerank answer for the same request.
(cohere 7.x: test_cohere7.py, in its own process.)"""

import csv
import io
import os
import unittest
from importlib.metadata import version

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from common import DOCUMENTS, QUERY, SEOUL, TOL, NativeCase, Server, sigmoid  # noqa: E402

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def setUpModule():
    NativeCase.srv = Server()
    NativeCase.native()


def tearDownModule():
    NativeCase.srv.close()


class Cohere5(NativeCase):
    def test_version(self):
        self.assertTrue(version("cohere").startswith("5."), version("cohere"))

    def test_client_v2(self):
        import cohere

        client = cohere.ClientV2(api_key="unused", base_url=self.srv.base)
        res = client.rerank(
            model="ko-reranker-tiny", query=QUERY, documents=DOCUMENTS, top_n=2, max_tokens_per_doc=4096
        )
        self.assertRanked([(r.index, r.relevance_score) for r in res.results], n=2)
        self.assertRegex(res.id, UUID)
        self.assertEqual(res.meta.api_version.version, "2")
        self.assertEqual(res.meta.billed_units.search_units, 1)

    def test_client_v1(self):
        import cohere

        client = cohere.Client(api_key="unused", base_url=self.srv.base)
        res = client.rerank(model="ko-reranker-tiny", query=QUERY, documents=DOCUMENTS, return_documents=True)
        self.assertRanked([(r.index, r.relevance_score) for r in res.results])
        for r in res.results:
            self.assertEqual(r.document.text, DOCUMENTS[r.index])
        fields = client.rerank(
            model="m",
            query=QUERY,
            documents=[{"title": str(i), "body": d} for i, d in enumerate(DOCUMENTS)],
            rank_fields=["body"],
        )
        self.assertRanked([(r.index, r.relevance_score) for r in fields.results])


class Auth(unittest.TestCase):
    """With API_KEYS set: the SDK's key is the bearer token; a wrong one is the SDK's UnauthorizedError (401)."""

    def test_cohere_token(self):
        import cohere
        from cohere.errors import UnauthorizedError

        srv = Server("--api-key", "k-clients-test")
        try:
            ok = cohere.ClientV2(api_key="k-clients-test", base_url=srv.base).rerank(
                model="m", query=QUERY, documents=DOCUMENTS, top_n=1
            )
            self.assertEqual(ok.results[0].index, SEOUL)
            with self.assertRaises(UnauthorizedError) as err:
                cohere.ClientV2(api_key="wrong", base_url=srv.base).rerank(model="m", query=QUERY, documents=DOCUMENTS)
            self.assertEqual(err.exception.body["error"]["type"], "unauthorized")
        finally:
            srv.close()


class LangchainCohere(NativeCase):
    def test_rerank_with_base_url(self):
        from langchain_cohere import CohereRerank
        from langchain_core.documents import Document

        self.assertEqual(version("langchain-cohere"), "0.6.0")
        reranker = CohereRerank(model="ko-reranker-tiny", cohere_api_key="unused", base_url=self.srv.base, top_n=2)
        docs = [Document(page_content=d, metadata={"i": i}) for i, d in enumerate(DOCUMENTS)]
        kept = reranker.compress_documents(docs, QUERY)
        self.assertRanked([(d.metadata["i"], d.metadata["relevance_score"]) for d in kept], n=2)
        self.assertRanked([(r["index"], r["relevance_score"]) for r in reranker.rerank(DOCUMENTS, QUERY, top_n=3)])

    def test_rerank_with_client_v2(self):
        import cohere
        from langchain_cohere import CohereRerank

        reranker = CohereRerank(model="m", client=cohere.ClientV2(api_key="unused", base_url=self.srv.base), top_n=3)
        self.assertRanked([(r["index"], r["relevance_score"]) for r in reranker.rerank(DOCUMENTS, QUERY)])


class LlamaIndexCohere(NativeCase):
    def test_postprocess_nodes(self):
        from llama_index.core.schema import NodeWithScore, TextNode
        from llama_index.postprocessor.cohere_rerank import CohereRerank

        self.assertEqual(version("llama-index-postprocessor-cohere-rerank"), "0.10.0")
        rerank = CohereRerank(
            top_n=2, model="ko-reranker-tiny", api_key="unused", base_url=self.srv.base, max_retries=1
        )
        nodes = [NodeWithScore(node=TextNode(text=d, id_=str(i))) for i, d in enumerate(DOCUMENTS)]
        out = rerank.postprocess_nodes(nodes, query_str=QUERY)
        self.assertRanked([(int(n.node.node_id), n.score) for n in out], n=2)


class HaystackTEI(NativeCase):
    """huggingface-api-haystack's HuggingFaceTEIRanker speaks TEI: POST /rerank {query, texts, raw_scores} ->
    [{index, score}]."""

    def ranker(self, **kw):
        from haystack_integrations.components.rankers.huggingface_api import HuggingFaceTEIRanker

        return HuggingFaceTEIRanker(url=self.srv.base, token=None, max_retries=1, **kw)

    def docs(self):
        from haystack import Document

        return [Document(content=d, meta={"i": i}) for i, d in enumerate(DOCUMENTS)]

    def test_sigmoid_scores(self):
        self.assertEqual(version("huggingface-api-haystack"), "3.1.0")
        out = self.ranker(top_k=3).run(query=QUERY, documents=self.docs())["documents"]
        self.assertRanked([(d.meta["i"], d.score) for d in out])

    def test_raw_scores_top_k_truncation_direction(self):
        from haystack_integrations.components.rankers.huggingface_api.ranker import TruncationDirection

        out = self.ranker(top_k=2, raw_scores=True).run(
            query=QUERY, documents=self.docs(), truncation_direction=TruncationDirection.RIGHT
        )["documents"]
        self.assertRanked([(d.meta["i"], d.score) for d in out], n=2, score=lambda logit: logit)

    def test_left_is_refused_with_a_reason(self):
        from haystack_integrations.components.rankers.huggingface_api.ranker import TruncationDirection

        with self.assertRaisesRegex(RuntimeError, r"422.*truncation_direction \\?\"Left\\?\" is not supported"):
            self.ranker().run(query=QUERY, documents=self.docs(), truncation_direction=TruncationDirection.LEFT)


class Jina(NativeCase):
    """langchain_community's JinaRerank posts to its JINA_API_URL constant: pointed at /v1/rerank."""

    def test_compress_documents(self):
        from langchain_community.document_compressors import jina_rerank
        from langchain_core.documents import Document

        self.assertEqual(version("langchain-community"), "0.4.2")
        jina_rerank.JINA_API_URL = f"{self.srv.base}/v1/rerank"
        reranker = jina_rerank.JinaRerank(jina_api_key="unused", model="jina-reranker-v2-base-multilingual", top_n=3)
        docs = [Document(page_content=d, metadata={"i": i}) for i, d in enumerate(DOCUMENTS)]
        out = reranker.compress_documents(docs, QUERY)
        self.assertRanked([(d.metadata["i"], d.metadata["relevance_score"]) for d in out])

    def test_documents_returned_when_return_documents_is_omitted(self):
        status, _, body = self.srv.post(
            "/v1/rerank",
            {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": DOCUMENTS, "top_n": 3},
        )
        self.assertEqual(status, 200)
        self.assertEqual(set(body), {"id", "model", "results", "usage", "meta"})
        self.assertEqual(body["usage"]["total_tokens"], self.tokens)
        for r in body["results"]:
            self.assertEqual(r["document"], {"text": DOCUMENTS[r["index"]]})


class VllmShapes(NativeCase):
    """vLLM's documented score and rerank shapes, raw HTTP (vLLM has no client library of its own for them)."""

    def test_score(self):
        for path in ("/score", "/v1/score"):
            status, _, b = self.srv.post(path, {"model": "ko-reranker", "text_1": QUERY, "text_2": DOCUMENTS})
            self.assertEqual(status, 200, b)
            self.assertEqual(set(b), {"id", "object", "created", "model", "data", "usage"})
            self.assertRegex(b["id"], "^score-" + UUID)
            self.assertEqual(b["object"], "list")
            self.assertIsInstance(b["created"], int)
            self.assertEqual(
                b["usage"], {"prompt_tokens": self.tokens, "total_tokens": self.tokens, "completion_tokens": 0}
            )
            self.assertEqual([d["index"] for d in b["data"]], [0, 1, 2], "input order")
            for d in b["data"]:
                self.assertEqual(set(d), {"index", "object", "score"})
                self.assertEqual(d["object"], "score")
            ranked = sorted(((d["index"], d["score"]) for d in b["data"]), key=lambda p: -self.logits[p[0]])
            self.assertRanked(ranked)

    def test_rerank(self):
        for path in ("/rerank", "/v1/rerank", "/v2/rerank"):
            status, _, b = self.srv.post(
                path, {"model": "ko-reranker", "query": QUERY, "documents": DOCUMENTS, "top_n": 2}
            )
            self.assertEqual(status, 200, b)
            self.assertTrue({"id", "model", "usage", "results"} <= set(b), path)
            self.assertEqual(b["usage"]["total_tokens"], self.tokens)
            for r in b["results"]:
                self.assertEqual(set(r), {"index", "document", "relevance_score"}, path)
                self.assertEqual(r["document"], {"text": DOCUMENTS[r["index"]]})
            self.assertRanked([(r["index"], r["relevance_score"]) for r in b["results"]], n=2)

    def test_optional_fields(self):
        status, _, b = self.srv.post(
            "/rerank",
            {
                "model": "m",
                "query": QUERY,
                "documents": DOCUMENTS,
                "use_activation": False,
                "priority": 0,
                "truncate_prompt_tokens": -1,
            },
        )
        self.assertEqual(status, 200, b)
        self.assertRanked([(r["index"], r["relevance_score"]) for r in b["results"]], score=lambda logit: logit)
        status, _, b = self.srv.post("/score", {"text_1": QUERY, "text_2": DOCUMENTS, "truncate_prompt_tokens": 64})
        self.assertEqual(status, 422)
        self.assertRegex(b["error"]["message"], r"truncate_prompt_tokens 64 is not supported")


class SageMakerToolkit(NativeCase):
    """The HF inference toolkit's text-classification contract (what the ko-reranker card deploys), raw HTTP."""

    def inputs(self):
        return [{"text": QUERY, "text_pair": d} for d in DOCUMENTS]

    def ranked(self, labels):
        return sorted(((i, x["score"]) for i, x in enumerate(labels)), key=lambda p: -self.logits[p[0]])

    def test_list_and_single_dict(self):
        status, _, b = self.srv.post("/invocations", {"inputs": self.inputs()})
        self.assertEqual(status, 200, b)
        for x in b:
            self.assertEqual(set(x), {"label", "score"})
            self.assertEqual(x["label"], "LABEL_0")
        self.assertRanked(self.ranked(b))
        status, _, one = self.srv.post("/invocations", {"inputs": self.inputs()[SEOUL]})
        self.assertEqual(one, {"label": "LABEL_0", "score": b[SEOUL]["score"]})

    def test_parameters(self):
        _, _, top = self.srv.post(
            "/invocations",
            {
                "inputs": self.inputs(),
                "parameters": {"top_k": 1, "function_to_apply": "none", "truncation": True, "padding": True},
            },
        )
        self.assertRanked(self.ranked([x[0] for x in top]), score=lambda logit: logit)
        _, _, soft = self.srv.post(
            "/invocations", {"inputs": self.inputs(), "parameters": {"function_to_apply": "softmax"}}
        )
        self.assertEqual([x["score"] for x in soft], [1.0, 1.0, 1.0], "softmax over one label")

    def test_accept_csv(self):
        _, _, b = self.srv.post("/invocations", {"inputs": self.inputs()})
        status, ctype, text = self.srv.post("/invocations", {"inputs": self.inputs()}, {"accept": "text/csv"})
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/csv"), ctype)
        expected = io.StringIO()
        writer = csv.DictWriter(expected, ["label", "score"])  # what the toolkit's encode_csv does
        writer.writeheader()
        writer.writerows(b)
        self.assertEqual(text, expected.getvalue())
        rows = list(csv.DictReader(io.StringIO(text)))
        self.assertAlmostEqual(float(rows[SEOUL]["score"]), sigmoid(self.logits[SEOUL]), delta=TOL)
        status, _, err = self.srv.post("/invocations", {"inputs": self.inputs()}, {"accept": "application/x-npy"})
        self.assertEqual(status, 406)
        self.assertEqual(err["error"]["type"], "not_acceptable")


if __name__ == "__main__":
    unittest.main()
