// One length of bench/long-inputs.ts, in its own process so that its peak RSS is its own: a bare onnxruntime
// session (CPU, 2 intra-op threads) runs one pair of LENGTH tokens; prints JSON.
// Usage: node --import tsx bench/lib/long-run.ts ONNX LENGTH [RUNS]
import ort from 'onnxruntime-node';

const [onnx, lengthArg, runsArg] = process.argv.slice(2);
const length = Number(lengthArg);
const runs = Number(runsArg ?? 3);
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const session = await ort.InferenceSession.create(onnx!, { intraOpNumThreads: 2, executionProviders: ['cpu'] });
const rssSession = process.memoryUsage().rss;
const ids = new BigInt64Array(length).map((_, i) => BigInt(i === 0 ? 0 : i === length - 1 ? 2 : 5 + (i % 7000)));
const feeds = {
  input_ids: new ort.Tensor('int64', ids, [1, length]),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]),
};
const times: number[] = [];
for (let i = 0; i <= runs; i++) {
  const t0 = performance.now();
  await session.run(feeds);
  if (i > 0) times.push(performance.now() - t0); // the first run is the warm-up
}
times.sort((a, b) => a - b);
const peak = process.resourceUsage().maxRSS * 1024;
console.log(
  JSON.stringify({
    tokens: length,
    runs,
    medianMs: Math.round(times[Math.floor(times.length / 2)]! * 10) / 10,
    msPerToken: Math.round((times[Math.floor(times.length / 2)]! / length) * 1000) / 1000,
    rssAfterSessionMiB: mib(rssSession),
    peakRssMiB: mib(peak),
    runPeakAboveSessionMiB: mib(peak - rssSession),
  }),
);
await session.release();
