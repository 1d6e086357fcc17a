// Hugging Face text-embeddings-inference (TEI): its /rerank answer (POST /rerank with texts) and POST /predict.
// score = sigmoid(logit) (TEI's one-label activation) unless raw_scores; sorted on the fp32 logits, highest first.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { Engine } from '../../core/engine.ts';
import { sigmoid } from '../../core/scores.ts';
import { PredictBody, PredictResponse, errorResponses, type TeiRerankBody } from '../schemas.ts';
import { clientSignal, type RouteDeps } from './deps.ts';

/** The one label of a cross-encoder (config.json id2label of a one-logit XLM-R classifier). */
export const LABEL = 'LABEL_0';

interface TeiOptions {
  raw_scores?: boolean;
  truncate?: boolean | null;
  /** Right only (the schema refuses Left, saying why): the passage is cut at its end. */
  truncation_direction?: 'Right' | 'right';
}

/** Engine truncation from TEI's fields. */
const truncation = (body: TeiOptions): boolean | undefined => body.truncate ?? undefined;

const scoreFn = (body: TeiOptions) => (body.raw_scores ? (logit: number) => logit : sigmoid);

/** POST /rerank with texts: TEI's bare array [{index, text?, score}]. */
export async function teiRerank(engine: Engine, body: TeiRerankBody, reply: FastifyReply) {
  const score = scoreFn(body);
  const out = await engine.rank(body.query, body.texts, { truncate: truncation(body), signal: clientSignal(reply) }, 'texts');
  return out.results.map((r) => (body.return_text ? { index: r.index, text: body.texts[r.index]!, score: score(r.logit) } : { index: r.index, score: score(r.logit) }));
}

/** TEI's inputs as pairs: one [query, passage] or a list of them (the schema refuses single texts). */
function predictPairs(inputs: PredictBody['inputs']): { pairs: [string, string][]; single: boolean } {
  const single = inputs.every((x) => typeof x === 'string');
  const seqs = (single ? [inputs] : inputs) as string[][];
  return { pairs: seqs.map((s) => [s[0]!, s[1]!]), single };
}

export const teiRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/predict',
    {
      schema: {
        summary: "TEI's pair classification",
        description:
          "text-embeddings-inference's `POST /predict`: `{inputs: [query, passage] | [[query, passage], ...], raw_scores?, truncate?, truncation_direction?}` → `[{score, label}]` for one pair, `[[{score, label}], ...]` for a batch, in input order. score = sigmoid(logit) unless raw_scores.",
        tags: ['compat'],
        body: PredictBody,
        response: { 200: PredictResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as PredictBody;
      const { pairs, single } = predictPairs(body.inputs);
      const score = scoreFn(body);
      const out = await engine.score(pairs, { truncate: truncation(body), signal: clientSignal(reply) }, 'inputs');
      const predictions = new Array<{ score: number; label: string }[]>(pairs.length);
      for (const r of out.results) predictions[r.index] = [{ score: score(r.logit), label: LABEL }];
      return single ? predictions[0]! : predictions;
    },
  );
};
