// SageMaker container contract: GET /ping, POST /invocations as the Hugging Face inference toolkit serves a
// text-classification model (its handler calls transformers' TextClassificationPipeline), or the native /rerank body.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../../core/errors.ts';
import { sigmoid } from '../../core/scores.ts';
import { pickError, validationMessage, type SchemaError } from '../errors.ts';
import { InvocationsBody, InvocationsResponse, RerankBody, RerankResponse, StatusResponse, deadlineResponses, errorResponses } from '../schemas.ts';
import { clientSignal, type RouteDeps } from './deps.ts';
import { rerank } from './rerank.ts';
import { LABEL } from './tei.ts';

/**
 * The body is either shape (anyOf): report the error of the shape the body meant, the toolkit's when it has
 * `inputs`, the native one's when it has `query`.
 */
function invocationsError(errors: SchemaError[], context: string): ServiceError {
  // The route's anyOf error is about the whole body (ajv runs verbose: it carries the body as its data).
  const body = errors.find((e) => e.instancePath === '' && e.schemaPath === '#/anyOf')?.data;
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (isObject && !('inputs' in body) && !('query' in body)) {
    return new ServiceError('validation', `${context} must have inputs (the toolkit payload, [{text, text_pair}, ...]) or query (the native /rerank body)`);
  }
  const toolkit = isObject && 'inputs' in body;
  const branch = errors.filter((e) => !e.schemaPath?.startsWith('#/anyOf') && (e.schemaPath?.startsWith('InvocationsRequest') ?? false) === toolkit);
  if (branch[0]?.keyword === 'not') {
    return new ServiceError('validation', `${context} has documents and model, which is vLLM's rerank body: POST it to /rerank, or send passages here for the native answer`);
  }
  return new ServiceError('validation', validationMessage(pickError(branch) ?? pickError(errors)!, context));
}

type Params = NonNullable<InvocationsBody['parameters']>;
type Label = { label: string; score: number };

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
  throw new ServiceError('not_acceptable', `Accept ${JSON.stringify(accept.slice(0, 100))} is not served: /invocations answers application/json or text/csv`);
}

function csv(rows: Label[]): string {
  return `label,score\r\n${rows.map((r) => `${r.label},${r.score}\r\n`).join('')}`;
}

async function toolkit(request: FastifyRequest, reply: FastifyReply, body: InvocationsBody, deps: RouteDeps) {
  const { engine } = deps;
  const type = answerType(request);
  const p = body.parameters ?? {};
  const score = scoreFunction(p.function_to_apply);
  const truncate = truncation(p);
  const single = !Array.isArray(body.inputs);
  const inputs = Array.isArray(body.inputs) ? body.inputs : [body.inputs];
  // top_k given (null included) switches the pipeline to lists of labels, one list per input.
  const topK = 'top_k' in p;
  if (topK && type === 'csv') throw new ServiceError('not_acceptable', 'text/csv answers one row per input: drop parameters.top_k or ask for application/json');
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

export const sagemakerRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, deps) => {
  const { engine } = deps;
  app.get(
    '/ping',
    {
      schema: {
        summary: 'SageMaker health check: 200 once the model is loaded, 503 before',
        tags: ['compat'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) => (engine.ready ? { status: 'ready' } : reply.status(503).send({ status: engine.admission.shuttingDown ? 'shutting_down' : 'loading' })),
  );

  app.post(
    '/invocations',
    {
      schema: {
        summary: 'SageMaker inference: the Hugging Face toolkit payload, or the native /rerank body',
        description:
          "As the Hugging Face inference toolkit serves this model with transformers' TextClassificationPipeline: `{\"inputs\": [{\"text\": query, \"text_pair\": passage}, ...]}` → `[{\"label\": \"LABEL_0\", \"score\": ...}]` in input order; one `{text, text_pair}` → one `{label, score}`. parameters: function_to_apply (sigmoid default, none, softmax), top_k (lists of labels), truncation / max_length / padding (tokenizer options), timeout_ms. `Accept: text/csv` answers `label,score` rows; other Accept types 406. A body with `query` is answered as POST /rerank.",
        tags: ['compat'],
        body: Type.Union([Type.Ref(InvocationsBody), Type.Ref(RerankBody)]),
        response: {
          200: {
            content: {
              'application/json': { schema: Type.Union([InvocationsResponse, Type.Ref(RerankResponse)]) },
              'text/csv': { schema: Type.String({ description: 'label,score header, then one row per input (toolkit answers only).' }) },
            },
          },
          406: errorResponses[400],
          ...deadlineResponses,
        },
      },
      schemaErrorFormatter: (errors, context) => invocationsError(errors as SchemaError[], context),
    },
    async (request, reply) => {
      const body = request.body as InvocationsBody | RerankBody;
      if ('inputs' in body) return toolkit(request, reply, body, deps);
      if (answerType(request) === 'csv') throw new ServiceError('not_acceptable', 'text/csv is served for the toolkit payload (inputs) only: the native body is answered in application/json');
      return rerank(engine, body, reply);
    },
  );
};
