// INTRA_OP_THREADS=0 (auto) follows the CPUs a container may use: the cgroup CPU limit (v2 and v1 layouts, read from
// fake cgroup trees here), capped by the affinity mask, shared out over the workers.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { availableCpus, cgroupCpuLimit, intraOpThreadsFor } from '../../src/backend/cpu-budget.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), text + '\n');
  }
  return root;
}

t.test('cgroup v2 cpu.max', async (t) => {
  t.equal(cgroupCpuLimit(tree({ 'cpu.max': '150000 100000' })), 1.5);
  t.equal(cgroupCpuLimit(tree({ 'cpu.max': 'max 100000' })), undefined, 'no limit');
});

t.test('cgroup v1 cfs quota / period', async (t) => {
  t.equal(cgroupCpuLimit(tree({ 'cpu/cpu.cfs_quota_us': '400000', 'cpu/cpu.cfs_period_us': '100000' })), 4);
  t.equal(cgroupCpuLimit(tree({ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' })), undefined);
  t.equal(cgroupCpuLimit(tree({})), undefined, 'nothing to read');
});

t.test('available CPUs: the affinity mask, capped by the limit rounded up', async (t) => {
  const affinity = os.availableParallelism();
  t.equal(availableCpus(tree({ 'cpu.max': '50000 100000' })), 1, 'half a CPU still gets one thread');
  t.equal(availableCpus(tree({ 'cpu.max': 'max 100000' })), affinity);
  t.equal(availableCpus(tree({ 'cpu.max': `${(affinity + 8) * 100000} 100000` })), affinity, 'never above affinity');
});

t.test('threads per worker', async (t) => {
  t.equal(intraOpThreadsFor(3, 2, 16), 3, 'a set value wins');
  t.equal(intraOpThreadsFor(0, 1, 8), 8, 'auto: all available CPUs for one worker');
  t.equal(intraOpThreadsFor(0, 2, 8), 4, 'shared over the workers');
  t.equal(intraOpThreadsFor(0, 4, 2), 1, 'at least one');
});
