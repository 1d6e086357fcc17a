// SageMaker's container contract: GET /ping, and POST /invocations with the Hugging Face inference toolkit's payload
// for a text-classification model (its handler calls transformers' TextClassificationPipeline) or the native body.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../../core/engine.ts';
import { ServiceError } from '../../core/errors.ts';
import { sigmoid } from '../../core/scores.ts';
import { TimeoutMs, clientSignal, refusal } from './common.ts';
import { nativeRerank, type RerankBody } from './native.ts';
import { LABEL } from './tei.ts';

const Pair = Type.Object(
  { text: Type.String({ description: 'The query.' }), text_pair: Type.String({ description: 'The passage.' }) },
  { additionalProperties: false },
);

/** function_to_apply, case-insensitive as transformers reads it (ClassificationFunction[name.upper()]). */
const caseless = (word: string) => [...word].map((c) => `[${c.toUpperCase()}${c}]`).join('');
const FUNCTIONS = ['sigmoid', 'softmax', 'none'];

/**
 * The toolkit payload; `maxLen` is the served model's max_len, the least max_length accepted (the spec of a server
 * says what that server takes).
 */
export const invocationsBody = (maxLen: number) =>
  Type.Object(
    {
      inputs: Type.Union([Pair, Type.Array(Pair, { minItems: 1 })], {
        description: 'One pair (answered with one {label, score}) or a list of pairs (answered in this order).',
      }),
      parameters: Type.Optional(
        Type.Object(
          {
            function_to_apply: Type.Optional(
              Type.String({
                pattern: `^(?:${FUNCTIONS.map(caseless).join('|')})$`,
                description:
                  "As transformers' TextClassificationPipeline (case-insensitive): sigmoid (default, the one-label default), none (the raw logit), softmax (over the one label: always 1.0).",
                ...refusal({ pattern: `must be one of ${FUNCTIONS.join(' | ')} (any case), got {value}` }),
              }),
            ),
            top_k: Type.Optional(
              Type.Integer({
                nullable: true,
                minimum: 0,
                description:
                  'Given (even null): each input is answered with a list of its top_k labels, [{label, score}] (one label).',
              }),
            ),
            truncation: Type.Optional(
              Type.Union(
                [
                  Type.Boolean(),
                  Type.Unsafe<'longest_first' | 'only_second' | 'do_not_truncate'>({
                    type: 'string',
                    enum: ['longest_first', 'only_second', 'do_not_truncate'],
                    ...refusal({
                      enum: '{value} is not supported: the passage is cut and the query kept whole (true, longest_first, only_second), or nothing is cut and pairs that do not fit are refused (false, do_not_truncate)',
                    }),
                  }),
                ],
                {
                  description:
                    'true / longest_first / only_second (default): cut the passage to fit max_len, the query kept whole. false / do_not_truncate: 422 listing the pairs that do not fit. only_first is refused.',
                },
              ),
            ),
            max_length: Type.Optional(
              Type.Integer({
                minimum: maxLen,
                description: `At least the model's max_len (${maxLen}, GET /info): accepted (pairs are cut to max_len). Smaller: refused (422).`,
                ...refusal({
                  minimum: `{value} is below the model's max_len ${maxLen}: not supported (pairs are cut to max_len, the query kept whole); omit it, or cap passages with max_tokens_per_doc on /rerank`,
                }),
              }),
            ),
            padding: Type.Optional(
              Type.Union([Type.Boolean(), Type.String()], {
                description: 'Accepted and ignored: padding does not change a score.',
              }),
            ),
            timeout_ms: Type.Optional(TimeoutMs),
          },
          { additionalProperties: false },
        ),
      ),
    },
    {
      $id: 'InvocationsRequest',
      additionalProperties: false,
      description:
        "The Hugging Face inference toolkit's text-classification payload with text pairs (transformers' TextClassificationPipeline).",
    },
  );
/** For the types and $ref: the registered schema is invocationsBody(the model's max_len) (refSchemas). */
export const InvocationsBody = invocationsBody(512);
export type InvocationsBody = Static<typeof InvocationsBody>;

const Label = Type.Object({
  label: Type.String({ description: 'LABEL_0 (the one label of a cross-encoder).' }),
  score: Type.Number({ description: 'sigmoid(logit) by default; see function_to_apply.' }),
});

export const InvocationsResponse = Type.Union([Label, Type.Array(Label), Type.Array(Type.Array(Label))], {
  description:
    'A list of pairs: [{label, score}] in input order; one pair: {label, score}; with top_k, each input gets a list: [[{label, score}]] or [{label, score}]. Accept: text/csv answers `label,score` rows.',
});

type Params = NonNullable<InvocationsBody['parameters']>;
type Label = Static<typeof Label>;

/**
 * The score function of function_to_apply (sigmoid, none or softmax in any case: the schema refuses others), as
 * TextClassificationPipeline applies it to a one-label model.
 */
function scoreFunction(fn: string | undefined): (logit: number) => number {
  switch (fn?.toLowerCase()) {
    case 'none':
      return (logit) => logit;
    case 'softmax':
      return () => 1; // softmax over the one label's logit
    default:
      return sigmoid;
  }
}

/**
 * The tokenizer options the pipeline passes through, as the engine's truncation. The schema has refused what cannot
 * be served: a max_length below the model's max_len, truncation only_first.
 */
function truncation(p: Params): boolean | undefined {
  return p.truncation === false || p.truncation === 'do_not_truncate' ? false : undefined;
}

/** The answer's media type from Accept, as the toolkit reads it: JSON unless text/csv is asked for. */
function answerType(request: FastifyRequest): 'json' | 'csv' {
  const accept = request.headers.accept;
  if (!accept) return 'json';
  for (const part of accept.split(',')) {
    const type = part.split(';')[0]!.trim().toLowerCase();
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return 'json';
    if (type === 'text/csv' || type === 'text/*') return 'csv';
  }
  throw new ServiceError(
    'not_acceptable',
    `Accept ${JSON.stringify(accept.slice(0, 100))} is not served: /invocations answers application/json or text/csv`,
  );
}

function csv(rows: Label[]): string {
  return `label,score\r\n${rows.map((r) => `${r.label},${r.score}\r\n`).join('')}`;
}

/** POST /invocations with the toolkit payload: labels in input order, as JSON or CSV. */
export async function invocations(engine: Engine, body: InvocationsBody, request: FastifyRequest, reply: FastifyReply) {
  const type = answerType(request);
  const p = body.parameters ?? {};
  const score = scoreFunction(p.function_to_apply);
  const truncate = truncation(p);
  const single = !Array.isArray(body.inputs);
  const inputs = Array.isArray(body.inputs) ? body.inputs : [body.inputs];
  // top_k given (null included) switches the pipeline to lists of labels, one list per input.
  const topK = 'top_k' in p;
  if (topK && type === 'csv')
    throw new ServiceError(
      'not_acceptable',
      'text/csv answers one row per input: drop parameters.top_k or ask for application/json',
    );
  const out = await engine.score(
    inputs.map((x) => [x.text, x.text_pair] as const),
    { truncate, timeoutMs: p.timeout_ms, signal: clientSignal(reply) },
    'inputs',
  );
  const labels = new Array<Label>(inputs.length);
  for (const r of out.results) labels[r.index] = { label: LABEL, score: score(r.logit) };
  if (type === 'csv') return reply.type('text/csv; charset=utf-8').send(csv(labels));
  const answer = topK ? labels.map((l) => [l].slice(0, p.top_k ?? 1)) : labels;
  return single ? answer[0] : answer;
}

/** POST /invocations with the native body: the /rerank answer, in JSON only. */
export async function nativeInvocation(engine: Engine, body: RerankBody, request: FastifyRequest, reply: FastifyReply) {
  if (answerType(request) === 'csv')
    throw new ServiceError(
      'not_acceptable',
      'text/csv is served for the toolkit payload (inputs) only: the native body is answered in application/json',
    );
  return nativeRerank(engine, body, reply);
}

/** GET /ping: ready once the model is loaded. */
export const ping = (engine: Engine, reply: FastifyReply) =>
  engine.ready
    ? { status: 'ready' }
    : reply.status(503).send({ status: engine.admission.shuttingDown ? 'shutting_down' : 'loading' });
