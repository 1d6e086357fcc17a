// vLLM's score and rerank answers (POST /score, /v1/score with text_1/text_2; POST /rerank with documents + model;
// its optional fields on /v1/rerank and /v2/rerank too). relevance_score / score = sigmoid(logit) unless use_activation false.
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { Engine } from '../../core/engine.ts';
import { ServiceError } from '../../core/errors.ts';
import { sigmoid } from '../../core/scores.ts';
import type { VllmRerankBody, VllmScoreBody } from '../schemas.ts';
import { clientSignal } from './deps.ts';

export interface VllmFields {
  truncate_prompt_tokens?: number | null;
  use_activation?: boolean | null;
}

/**
 * The score function vLLM's fields ask for. truncate_prompt_tokens is -1 or null here: the schema refuses any other
 * value, saying why (every pair is cut to max_len, which is -1).
 */
export function activation(body: VllmFields): (logit: number) => number {
  return body.use_activation === false ? (logit) => logit : sigmoid;
}

/** top_n as vLLM reads it: 0 or null means all. */
export const topN = (n: number | null | undefined) => (n === undefined || n === null || n === 0 ? undefined : n);

export const usage = (tokens: number) => ({ prompt_tokens: tokens, total_tokens: tokens });

/** POST /rerank with documents + model: vLLM's RerankResponse. */
export async function vllmRerank(engine: Engine, body: VllmRerankBody, reply: FastifyReply) {
  const score = activation(body);
  const out = await engine.rank(body.query, body.documents, { topN: topN(body.top_n), timeoutMs: body.timeout_ms ?? undefined, signal: clientSignal(reply) }, 'documents');
  return {
    id: `rerank-${randomUUID()}`,
    model: engine.model.name,
    usage: usage(out.tokens),
    results: out.results.map((r) => ({ index: r.index, document: { text: body.documents[r.index]! }, relevance_score: score(r.logit) })),
  };
}

/** text_1 / text_2 as [query, passage] pairs: 1:1, 1:N (a string or one-item list) or N:N. */
export function vllmPairs(body: VllmScoreBody): [string, string][] {
  const t1 = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1;
  const t2 = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2;
  if (t1.length === 1) return t2.map((p) => [t1[0]!, p]);
  if (t1.length !== t2.length) {
    throw new ServiceError('validation', `body/text_1 has ${t1.length} items and body/text_2 ${t2.length}: give one text_1 or as many as text_2`);
  }
  return t1.map((q, i) => [q, t2[i]!]);
}

/** POST /score or /v1/score with text_1 / text_2: vLLM's ScoreResponse, data in input order. */
export async function vllmScore(engine: Engine, body: VllmScoreBody, reply: FastifyReply) {
  const score = activation(body);
  const pairs = vllmPairs(body);
  const out = await engine.score(pairs, { timeoutMs: body.timeout_ms ?? undefined, signal: clientSignal(reply) }, 'text_2');
  const data = new Array<{ index: number; object: 'score'; score: number }>(pairs.length);
  for (const r of out.results) data[r.index] = { index: r.index, object: 'score', score: score(r.logit) };
  return {
    id: `score-${randomUUID()}`,
    object: 'list' as const,
    created: Math.floor(Date.now() / 1000),
    model: engine.model.name,
    data,
    usage: { ...usage(out.tokens), completion_tokens: 0 },
  };
}
