// Jina's rerank client (langchain_community JinaRerank) posts Cohere v1's body to POST /v1/rerank and reads more of
// the answer than Cohere's clients: the served `model`, `usage`, and each result's document, returned by default.
import { Type } from '@sinclair/typebox';

/** The v1 body's return_documents, with Cohere's default for Cohere's clients and Jina's for the rest. */
export const JinaReturnDocuments = Type.Optional(
  Type.Boolean({
    nullable: true,
    description:
      "true: each result has its document, `{text}` or the object as sent; false: no documents. Omitted or null: Cohere's default (false) for Cohere's clients (the SDKs' `X-Fern-SDK-Name: cohere-ai` / `cohere` or a `User-Agent` of `cohere-ai/...` / `cohere/...`; else a `model` named `rerank-*`), Jina's and vLLM's default (true) for every other client.",
  }),
);

/** The v1 answer's model. */
export const JinaModel = Type.String({ description: 'The served model (Jina clients read it).' });

/** A v1 result's document. */
export const JinaDocument = Type.Optional(
  Type.Object(
    { text: Type.Optional(Type.String()) },
    { additionalProperties: Type.String(), description: 'The document as sent, when return_documents.' },
  ),
);

/** A v1 result with its document as Jina reads it (`{text}` for a string, an object as sent), when returnDocuments. */
export function withDocument<R extends object, D extends object>(item: R, doc: string | D, returnDocuments: boolean) {
  if (!returnDocuments) return item;
  return { ...item, document: typeof doc === 'string' ? { text: doc } : doc };
}
