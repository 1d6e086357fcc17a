// onnxruntime session options from our settings: one place, shared by the inference worker and the raw-session
// benchmark (bench/lib/raw.ts), so "the limit" and the service always run the same session configuration.
import type ort from 'onnxruntime-node';

export interface SessionSettings {
  /** onnxruntime intra-op threads (0 = its default: one per core of the machine; compose.ts resolves INTRA_OP_THREADS=0 first, src/backend/cpu-budget.ts). */
  intraOpThreads: number;
  /** Let idle intra-op threads spin (onnxruntime's default) or sleep at once (session.intra_op.allow_spinning=0). */
  spinning: boolean;
  /** CUDA device ordinal; the only CUDA provider option onnxruntime-node 1.30's binding reads. */
  cudaDeviceId: number;
}

export function sessionOptions(provider: 'cuda' | 'cpu', s: SessionSettings): ort.InferenceSession.SessionOptions {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider === 'cuda' ? { name: 'cuda', deviceId: s.cudaDeviceId } : 'cpu'],
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
  };
  if (s.intraOpThreads > 0) opts.intraOpNumThreads = s.intraOpThreads;
  // Config entries (onnxruntime_session_options_config_keys.h); the Node binding takes string values only.
  if (!s.spinning) opts.extra = { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } };
  return opts;
}
