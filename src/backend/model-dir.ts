// Reads a model directory laid out as optimum / Hugging Face write it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Calibration, ModelInfo } from './contract.ts';

export interface ModelDir extends ModelInfo {
  tokenizerPath: string;
  modelType: string | undefined;
}

export class ModelDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelDirError';
  }
}

function readJson(file: string, required: boolean): Record<string, unknown> {
  if (!existsSync(file)) {
    if (required) throw new ModelDirError(`missing ${file}`);
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelDirError(
      `${file} is not valid JSON (${(err as Error).message.split('\n')[0]}): copy the file saved with this model`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new ModelDirError(`${file} holds ${what}, not a JSON object: copy the file saved with this model`);
  }
  return value as Record<string, unknown>;
}

function finiteNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Model types whose position ids start at padding_idx + 1 (transformers' create_position_ids_from_input_ids). */
const OFFSET_POSITIONS = new Set(['xlm-roberta', 'roberta', 'camembert', 'xlm-roberta-xl', 'mpnet', 'data2vec-text']);

/**
 * The model's own limit: min(tokenizer model_max_length when set, max_position_embeddings less the position offset).
 * XLM-R / RoBERTa positions start at pad_token_id + 1, so 514 position embeddings give 512 usable tokens and 8,194
 * give 8,192; BERT-family positions start at 0. Not capped otherwise: MAX_LEN sets a lower one.
 */
export function computeMaxLen(config: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): number {
  const candidates: number[] = [];
  const modelMax = finiteNumber(tokenizerConfig.model_max_length);
  // HF writes a huge sentinel (1e30) when the tokenizer has no limit.
  if (modelMax !== undefined && modelMax > 0 && modelMax < 1e9) candidates.push(Math.floor(modelMax));
  const maxPos = finiteNumber(config.max_position_embeddings);
  if (maxPos !== undefined) {
    const offset = OFFSET_POSITIONS.has(String(config.model_type)) ? (finiteNumber(config.pad_token_id) ?? 1) + 1 : 0;
    candidates.push(maxPos - offset);
  }
  if (candidates.length === 0)
    throw new ModelDirError(
      "neither config.json max_position_embeddings nor tokenizer_config.json model_max_length gives the model's length limit: copy the files saved with this model",
    );
  const maxLen = Math.min(...candidates);
  if (maxLen < 8) throw new ModelDirError(`max_len ${maxLen} is too small`);
  return maxLen;
}

/**
 * Decoder-only LLM rerankers (Qwen3-Reranker, bge-reranker-v2-gemma / minicpm): they score with the logits of a "yes"
 * token after a chat prompt, not with a classification head over a cross-encoder pair; the reason, or undefined.
 */
export function causalLmReason(config: Record<string, unknown>): string | undefined {
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  const causal = archs.find((a) => /ForCausalLM$|LMHeadModel$/.test(a));
  const type = String(config.model_type ?? '');
  if (causal || /^(qwen\d*|llama|gemma\d*|mistral|minicpm\w*|phi\d*)$/.test(type))
    return `it is a decoder-only language model (model_type ${type || '?'}${causal ? `, ${causal}` : ''}): LLM rerankers such as Qwen3-Reranker score a "yes" token after a prompt, which this service does not run; serve a cross-encoder (…ForSequenceClassification)`;
  return undefined;
}

/**
 * MODEL_FILE=auto: optimum's fp32 file, else the batch-independent files scripts/modelkit/quantize.py writes (the
 * embedded models/ko-reranker-small ships only model_int8_weights.onnx), else optimum's dynamic int8 file.
 */
export const AUTO_MODEL_FILES = [
  'model.onnx',
  'model_int8_weights.onnx',
  'model_int8_static.onnx',
  'model_int8_blockwise.onnx',
  'model_fp16_weights.onnx',
  'model_quantized.onnx',
];

/**
 * MODEL_DIR/calibration.json (optional): Platt scaling's a (> 0: the probability rises with the logit) and b. A file
 * that is there but wrong refuses the model at start-up rather than serve wrong probabilities.
 */
export function readCalibration(dir: string): Calibration | undefined {
  const file = path.join(dir, 'calibration.json');
  if (!existsSync(file)) return undefined;
  const c = readJson(file, true);
  const bad = (why: string) =>
    new ModelDirError(`${file}: ${why}; refit it with \`ko-rerank calibrate --model ${dir} --data FILE\` or remove it`);
  if (c.method !== 'platt') throw bad(`method ${JSON.stringify(c.method)} is not "platt"`);
  const a = finiteNumber(c.a);
  const b = finiteNumber(c.b);
  if (a === undefined || b === undefined) throw bad('"a" and "b" must be finite numbers');
  if (a <= 0) throw bad(`slope a = ${a} is not positive (the probability must rise with the logit)`);
  const pairs = finiteNumber(c.pairs) ?? 0;
  return { method: 'platt', a, b, pairs, ...(typeof c.fitted_at === 'string' ? { fittedAt: c.fitted_at } : {}) };
}

export function readModelDir(dir: string, modelFile = 'auto'): ModelDir {
  const abs = path.resolve(dir);
  if (!existsSync(abs))
    throw new ModelDirError(
      `model directory ${abs} does not exist: set MODEL_DIR to a directory with config.json, tokenizer.json and onnx/model.onnx`,
    );
  const config = readJson(path.join(abs, 'config.json'), true);
  const llm = causalLmReason(config);
  if (llm) throw new ModelDirError(`${path.join(abs, 'config.json')} cannot be served: ${llm}`);
  const tokenizerConfig = readJson(path.join(abs, 'tokenizer_config.json'), false);
  const tokenizerPath = path.join(abs, 'tokenizer.json');
  if (!existsSync(tokenizerPath))
    throw new ModelDirError(`missing ${tokenizerPath}: copy the tokenizer.json saved with this model into MODEL_DIR`);
  const files = modelFile === 'auto' ? AUTO_MODEL_FILES : [modelFile];
  const candidates = files.flatMap((f) => [path.join(abs, 'onnx', f), path.join(abs, f)]);
  const onnxPath = candidates.find((p) => existsSync(p));
  if (!onnxPath)
    throw new ModelDirError(
      `no ONNX model: looked for ${candidates.join(', ')}; export one there (scripts/export_onnx.py) or set MODEL_FILE to the file's name`,
    );
  return {
    dir: abs,
    name: path.basename(abs),
    onnxPath,
    tokenizerPath,
    maxLen: computeMaxLen(config, tokenizerConfig),
    padId: finiteNumber(config.pad_token_id) ?? 1,
    modelType: typeof config.model_type === 'string' ? config.model_type : undefined,
    calibration: readCalibration(abs),
  };
}
