// INTRA_OP_THREADS=0 (auto): onnxruntime's own default is one thread per core of the machine, which in a container
// ignores the CPU the container was given (a pod limited to 2 CPUs on a 64-core node would start 64 threads per worker,
// and the kernel would throttle them all). Auto here is the CPUs this process may use — the cgroup CPU limit (v2
// cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) and the CPU affinity mask (os.availableParallelism) — shared out
// over the workers. A pod's CPU *request* sets no limit the process can see: the Kubernetes manifests pass it in
// through the downward API (INTRA_OP_THREADS from resources.requests.cpu).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** CPUs the cgroup limit allows (fractional, e.g. 1.5), undefined when there is no limit or no cgroup to read. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = read(path.join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    const q = Number(quota);
    const p = Number(period);
    return quota === 'max' || !(q > 0) || !(p > 0) ? undefined : q / p;
  }
  const q = Number(read(path.join(root, 'cpu', 'cpu.cfs_quota_us')) ?? read(path.join(root, 'cpu.cfs_quota_us')));
  const p = Number(read(path.join(root, 'cpu', 'cpu.cfs_period_us')) ?? read(path.join(root, 'cpu.cfs_period_us')));
  return q > 0 && p > 0 ? q / p : undefined;
}

/** CPUs this process may use: the affinity mask, capped by the cgroup limit rounded up. */
export function availableCpus(root?: string): number {
  const affinity = os.availableParallelism();
  const limit = cgroupCpuLimit(root);
  return limit === undefined ? affinity : Math.max(1, Math.min(affinity, Math.ceil(limit)));
}

/** The intra-op threads of each worker: INTRA_OP_THREADS when set (> 0), else the available CPUs over the workers. */
export function intraOpThreadsFor(setting: number, workers: number, cpus = availableCpus()): number {
  return setting > 0 ? setting : Math.max(1, Math.floor(cpus / Math.max(1, workers)));
}
