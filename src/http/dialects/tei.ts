// Hugging Face text-embeddings-inference (TEI): its /rerank (POST /rerank with texts) and POST /predict.
// score = sigmoid(logit) (TEI's one-label activation) unless raw_scores; sorted on the fp32 logits, highest first.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { Engine } from '../../core/engine.ts';
import { sigmoid } from '../../core/scores.ts';
import { Passages, Query, clientSignal, refusal } from './common.ts';

const TruncationDirection = Type.Unsafe<'Right' | 'right'>({
  type: 'string',
  enum: ['Right', 'right'],
  description: "Right (default): the passage is cut at its end, the query kept whole. TEI's Left is refused (422).",
  ...refusal({
    enum: '{value} is not supported: the query is kept whole and the passage is cut at its end (Right); send Right or omit it',
  }),
});
const TeiTruncate = Type.Boolean({
  nullable: true,
  description:
    'Default (null): true, cut to fit max_len (TEI: the server default). false: 422 listing the texts that do not fit.',
});
const RawScores = Type.Boolean({ description: 'false (default): score = sigmoid(logit); true: score = the logit.' });

export const TeiRerankBody = Type.Object(
  {
    query: Query(),
    texts: Passages('Texts to rank against the query.'),
    raw_scores: Type.Optional(RawScores),
    return_text: Type.Optional(Type.Boolean({ description: 'Include each text as `text` (default false).' })),
    truncate: Type.Optional(TeiTruncate),
    truncation_direction: Type.Optional(TruncationDirection),
  },
  { $id: 'TeiRerankRequest', additionalProperties: false, description: "TEI's rerank body (POST /rerank with texts)." },
);
export type TeiRerankBody = Static<typeof TeiRerankBody>;

export const TeiRerankResponse = Type.Array(
  Type.Object({
    index: Type.Integer({ description: 'Position of the text in the request.' }),
    text: Type.Optional(Type.String({ description: 'The text, when return_text.' })),
    score: Type.Number({ description: 'sigmoid(logit), or the logit with raw_scores.' }),
  }),
  { $id: 'TeiRerankResponse', description: "TEI's bare array, sorted by score (on the fp32 logits), highest first." },
);

const SINGLE_TEXT = 'is a single text: this model is a cross-encoder and scores [query, passage] pairs';
const TeiSequence = Type.Array(Type.String(), {
  minItems: 2,
  maxItems: 2,
  description: '[query, passage]',
  ...refusal({ minItems: SINGLE_TEXT, maxItems: 'must be one [query, passage] pair: two texts' }),
});

export const PredictBody = Type.Object(
  {
    inputs: Type.Union([TeiSequence, Type.Array(TeiSequence, { minItems: 1 })], {
      description:
        'One pair [query, passage], or a batch [[query, passage], ...]. Single texts (a string, [text]) are refused: this model scores pairs.',
      ...refusal({
        anyOf:
          'must be one [query, passage] pair or a list of them: a single text is not scored, this model is a cross-encoder',
      }),
    }),
    raw_scores: Type.Optional(RawScores),
    truncate: Type.Optional(TeiTruncate),
    truncation_direction: Type.Optional(TruncationDirection),
  },
  { $id: 'PredictRequest', additionalProperties: false, description: "TEI's sequence-classification body." },
);
export type PredictBody = Static<typeof PredictBody>;

const Prediction = Type.Object({
  score: Type.Number({ description: 'sigmoid(logit), or the logit with raw_scores.' }),
  label: Type.String({ description: 'LABEL_0 (the one label of a cross-encoder).' }),
});

export const PredictResponse = Type.Union([Type.Array(Prediction), Type.Array(Type.Array(Prediction))], {
  description: 'One pair: [{score, label}]; a batch: [[{score, label}], ...] in input order.',
});

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
  const out = await engine.rank(
    body.query,
    body.texts,
    { truncate: truncation(body), signal: clientSignal(reply) },
    'texts',
  );
  return out.results.map((r) =>
    body.return_text
      ? { index: r.index, text: body.texts[r.index]!, score: score(r.logit) }
      : { index: r.index, score: score(r.logit) },
  );
}

/** One [query, passage] rather than a list of them. */
const isOnePair = (inputs: PredictBody['inputs']): inputs is string[] => inputs.every((x) => typeof x === 'string');

/** TEI's inputs as pairs: one [query, passage] or a list of them (the schema refuses single texts). */
function predictPairs(inputs: PredictBody['inputs']): { pairs: [string, string][]; single: boolean } {
  const single = isOnePair(inputs);
  const seqs = single ? [inputs] : inputs;
  return { pairs: seqs.map((s) => [s[0]!, s[1]!]), single };
}

/** POST /predict: [{score, label}] for one pair, [[{score, label}], ...] for a batch, in input order. */
export async function predict(engine: Engine, body: PredictBody, reply: FastifyReply) {
  const { pairs, single } = predictPairs(body.inputs);
  const score = scoreFn(body);
  const out = await engine.score(pairs, { truncate: truncation(body), signal: clientSignal(reply) }, 'inputs');
  const predictions = new Array<{ score: number; label: string }[]>(pairs.length);
  for (const r of out.results) predictions[r.index] = [{ score: score(r.logit), label: LABEL }];
  return single ? predictions[0]! : predictions;
}
