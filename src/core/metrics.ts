// Prometheus metrics of the service, in their own registry.
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const msBuckets = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * Where the autoscaling signals are read at scrape time (src/compose.ts binds them once the engine has loaded): the
 * batcher's queue in padded tokens, admission's wait prediction, the inference workers up. docs/operations.md,
 * "Signals to scale on", says which to use when.
 */
export interface ScalingSources {
  /** Padded tokens the queued pairs would take as micro-batches (Batcher.queuedPaddedTokens). */
  queuePaddedTokens(): number;
  /** Predicted ms until a new request of the typical size would be scored (0 when nothing is admitted). */
  predictedWaitMs(): number;
  /** Inference workers up. */
  workersUp(): number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'ko_rerank_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'ko_rerank_request_duration_ms',
    help: 'HTTP request duration in milliseconds, by route',
    labelNames: ['route'] as const,
    buckets: msBuckets,
    registers: [this.registry],
  });
  readonly tokenizationDuration = new Histogram({
    name: 'ko_rerank_tokenization_duration_ms',
    help: 'Tokenization time per request in milliseconds',
    buckets: msBuckets,
    registers: [this.registry],
  });
  readonly queueDuration = new Histogram({
    name: 'ko_rerank_queue_duration_ms',
    help: 'Longest queue wait of a request pair in milliseconds',
    buckets: msBuckets,
    registers: [this.registry],
  });
  readonly inferenceDuration = new Histogram({
    name: 'ko_rerank_inference_duration_ms',
    help: 'Inference time per micro-batch in milliseconds',
    buckets: msBuckets,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'ko_rerank_batch_size',
    help: 'Pairs per micro-batch',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly batchTokens = new Histogram({
    name: 'ko_rerank_batch_tokens',
    help: 'Padded tokens per micro-batch (rows x padded length)',
    buckets: [64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
    registers: [this.registry],
  });
  readonly batchRealTokens = new Counter({
    name: 'ko_rerank_batch_real_tokens_total',
    help: 'Real (unpadded) tokens run in micro-batches; padding waste = batch_tokens_sum / this - 1',
    registers: [this.registry],
  });
  readonly batchesWithdrawn = new Counter({
    name: 'ko_rerank_batches_withdrawn_total',
    help: 'Micro-batches taken back before they ran, so that a lighter request went first (fair batching)',
    registers: [this.registry],
  });
  readonly paddingRatio = new Histogram({
    name: 'ko_rerank_batch_padding_ratio',
    help: 'Share of a micro-batch that is padding (1 - real tokens / padded tokens)',
    buckets: [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1],
    registers: [this.registry],
  });
  readonly queueSize = new Gauge({
    name: 'ko_rerank_queue_size',
    help: 'Pairs waiting in the batcher queue',
    registers: [this.registry],
  });
  /** Set by src/compose.ts once the engine has loaded; until then the gauges below read 0. */
  scaling: ScalingSources | undefined;
  readonly queuePaddedTokens: Gauge = new Gauge({
    name: 'ko_rerank_queue_padded_tokens',
    help: 'Padded tokens (rows x padded length) the pairs waiting in the batcher queue would take as micro-batches: the queue in units of inference work, for autoscaling',
    registers: [this.registry],
    collect: (): void => this.queuePaddedTokens.set(this.scaling?.queuePaddedTokens() ?? 0),
  });
  readonly predictedWait: Gauge = new Gauge({
    name: 'ko_rerank_predicted_wait_seconds',
    help: 'Predicted time until a new request would be scored if it arrived now (a request of the mean size of those admitted, its own pairs included, under fair batching, at the measured throughput; the estimate wait-based admission refuses by); 0 when nothing is admitted or before the first throughput measurement',
    registers: [this.registry],
    collect: (): void => this.predictedWait.set((this.scaling?.predictedWaitMs() ?? 0) / 1000),
  });
  readonly inferenceBusy = new Counter({
    name: 'ko_rerank_inference_busy_seconds_total',
    help: 'Time the inference workers spent running micro-batches (session.run), summed over workers; rate() / ko_rerank_inference_workers is their busy fraction',
    registers: [this.registry],
  });
  readonly inferenceWorkers: Gauge = new Gauge({
    name: 'ko_rerank_inference_workers',
    help: 'Inference workers up (WORKERS when all are)',
    registers: [this.registry],
    collect: (): void => this.inferenceWorkers.set(this.scaling?.workersUp() ?? 0),
  });
  readonly inputTokens = new Histogram({
    name: 'ko_rerank_pair_tokens',
    help: 'Tokens per encoded pair',
    buckets: [16, 32, 64, 128, 256, 384, 512],
    registers: [this.registry],
  });
  readonly truncatedPairs = new Counter({
    name: 'ko_rerank_truncated_pairs_total',
    help: 'Pairs whose passage was cut to fit max_len',
    registers: [this.registry],
  });

  readonly eventLoopActive = new Counter({
    name: 'ko_rerank_event_loop_active_seconds_total',
    help: 'Time the HTTP event loop spent running code, not waiting (performance.eventLoopUtilization); its rate is the main thread utilisation',
    registers: [this.registry],
    collect() {
      // A Counter with collect(): set to the cumulative figure on each scrape.
      this.reset();
      this.inc(performance.eventLoopUtilization().active / 1000);
    },
  });

  constructor(defaultMetrics = true) {
    // Event-loop delay sampled every 1 ms (prom-client's default is 10 ms, and a sample counts the whole
    // interval, so an idle loop would read about 10 ms); ko_rerank_nodejs_eventloop_lag_p99_seconds is
    // over the last scrape interval.
    if (defaultMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: 'ko_rerank_', eventLoopMonitoringPrecision: 1 });
  }
}
