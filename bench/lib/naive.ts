// The naive baseline: what a Node user would write with @huggingface/transformers alone (local files only, no
// download): one request at a time, the request's pairs tokenized by transformers.js and padded to the longest
// pair, one model call per request. Measured in-process (no HTTP), which flatters it.
import path from 'node:path';
import type { RerankRequest } from './workload.ts';

export interface NaiveResult {
  requests: number;
  pairs: number;
  seconds: number;
  pairsPerSec: number;
  latencyP50Ms: number;
  /** padded / real tokens - 1 (each request padded to its longest pair). */
  paddingWaste: number;
}

type Callable = (...args: any[]) => any;

export async function naiveBaseline(
  modelDir: string,
  modelFile: string,
  requests: readonly RerankRequest[],
  minSeconds: number,
): Promise<NaiveResult> {
  const { AutoTokenizer, AutoModelForSequenceClassification, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(path.resolve(modelDir)) + path.sep;
  const name = path.basename(modelDir);
  const tokenizer = (await AutoTokenizer.from_pretrained(name, { local_files_only: true })) as unknown as Callable;
  const model = (await AutoModelForSequenceClassification.from_pretrained(name, {
    local_files_only: true,
    dtype: modelFile.includes('quantized') ? 'q8' : 'fp32',
    device: 'cpu',
  })) as unknown as Callable;

  const rank = async (r: RerankRequest) => {
    const inputs = tokenizer(
      r.passages.map(() => r.query),
      { text_pair: r.passages, padding: true, truncation: true, max_length: 512 },
    );
    const out = await model(inputs);
    const logits = out.logits.data as Float32Array;
    const mask = inputs.attention_mask;
    const real = (mask.data as BigInt64Array).reduce((n: number, v: bigint) => n + Number(v), 0);
    return { logits, real, padded: mask.dims[0] * mask.dims[1] };
  };

  await rank(requests[0]!); // warm-up
  const latencies: number[] = [];
  let pairs = 0;
  let real = 0;
  let padded = 0;
  let i = 0;
  const t0 = performance.now();
  do {
    const r = requests[i++ % requests.length]!;
    const s = performance.now();
    const out = await rank(r);
    latencies.push(performance.now() - s);
    pairs += r.passages.length;
    real += out.real;
    padded += out.padded;
  } while (performance.now() - t0 < minSeconds * 1000);
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  await (model as unknown as { dispose(): Promise<void> }).dispose?.();
  return {
    requests: latencies.length,
    pairs,
    seconds,
    pairsPerSec: pairs / seconds,
    latencyP50Ms: latencies[Math.floor(latencies.length / 2)]!,
    paddingWaste: padded / real - 1,
  };
}
