// What an ideal queue would do at the same load: an M/D/1 queue (Poisson arrivals, one server, the same service time
// for every request, first come first served) simulated with a seeded PRNG. bench/throughput.ts compares the service's
// half-load p99 with it, at the utilisation the service actually saw, to tell queueing from scheduling.
import { rng } from './workload.ts';

export interface QueueTail {
  utilisation: number;
  /** Sojourn times (wait + service) in units of the service time. */
  p50: number;
  p99: number;
  meanWait: number;
}

/** Simulates `arrivals` requests at `utilisation` (arrival rate x service time, < 1). */
export function mdOneTail(utilisation: number, arrivals = 200_000, seed = 20261129): QueueTail {
  if (!(utilisation > 0 && utilisation < 1)) throw new RangeError(`utilisation must be in (0, 1), got ${utilisation}`);
  const rand = rng(seed);
  const sojourn = new Float64Array(arrivals);
  let clock = 0;
  let free = 0; // when the server finishes its current work
  let waitSum = 0;
  for (let i = 0; i < arrivals; i++) {
    clock += -Math.log(1 - rand()) / utilisation; // exponential gap, mean 1/utilisation service times
    const start = Math.max(clock, free);
    free = start + 1;
    waitSum += start - clock;
    sojourn[i] = free - clock;
  }
  sojourn.sort();
  const at = (q: number) => sojourn[Math.min(arrivals - 1, Math.floor(q * arrivals))]!;
  return { utilisation, p50: at(0.5), p99: at(0.99), meanWait: waitSum / arrivals };
}
