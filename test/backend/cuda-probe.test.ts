// The CUDA probe resolves a provider's libraries as the dynamic loader would. The provider here is a real ELF shared
// library built with gcc, whose DT_NEEDED entries name stub libraries with the CUDA provider's sonames.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ElfError, readElfDynamic } from '../../src/backend/elf.ts';
import {
  ldCacheEntries,
  ldSoConfDirs,
  onnxruntimeNodeBinDir,
  probeCuda,
  resolveLibrary,
} from '../../src/backend/cuda-probe.ts';

const root = mkdtempSync(join(tmpdir(), 'cuda-probe-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dir = (...p: string[]) => {
  const d = join(root, ...p);
  mkdirSync(d, { recursive: true });
  return d;
};
const stubSource = join(root, 'stub.c');
writeFileSync(stubSource, 'int ko_rerank_stub(void) { return 1; }\n');
function sharedLib(out: string, soname: string, link: string[] = [], extra: string[] = []) {
  execFileSync('gcc', [
    '-shared',
    '-fPIC',
    '-o',
    out,
    stubSource,
    `-Wl,-soname,${soname}`,
    '-Wl,--no-as-needed',
    ...extra,
    ...link,
  ]);
}

const cuda = dir('cuda');
const driver = dir('driver');
const provider = dir('provider');
sharedLib(join(cuda, 'libcudart.so.13'), 'libcudart.so.13');
sharedLib(join(cuda, 'libcudnn.so.9'), 'libcudnn.so.9');
sharedLib(join(driver, 'libcuda.so.1'), 'libcuda.so.1');
sharedLib(join(provider, 'libonnxruntime_providers_shared.so'), 'libonnxruntime_providers_shared.so');
sharedLib(
  join(provider, 'libonnxruntime_providers_cuda.so'),
  'libonnxruntime_providers_cuda.so',
  [join(cuda, 'libcudart.so.13'), join(driver, 'libcuda.so.1')],
  ['-Wl,--enable-new-dtags', '-Wl,-rpath,$ORIGIN/rp'],
);
const noConf = join(root, 'no-ld.so.conf');
const base = { providerDir: provider, platform: 'linux', arch: 'x64', ldSoConf: noConf, ldCache: false };
const realDriver = resolveLibrary('libcuda.so.1', [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
]);

t.test('readElfDynamic reads DT_NEEDED, RUNPATH and SONAME', async (t) => {
  const d = readElfDynamic(join(provider, 'libonnxruntime_providers_cuda.so'));
  t.same(d.needed.slice(0, 2).sort(), ['libcuda.so.1', 'libcudart.so.13']);
  t.ok(d.needed.includes('libc.so.6'));
  t.same(d.runpath, ['$ORIGIN/rp']);
  t.equal(d.soname, 'libonnxruntime_providers_cuda.so');
  // onnxruntime-node's own library
  const ort = readElfDynamic(join(onnxruntimeNodeBinDir(), 'libonnxruntime.so.1'));
  t.equal(ort.soname, 'libonnxruntime.so.1');
  t.same(ort.runpath, ['$ORIGIN']);
  t.ok(ort.needed.includes('libstdc++.so.6'));
  writeFileSync(join(root, 'not-elf.so'), 'hello');
  t.throws(() => readElfDynamic(join(root, 'not-elf.so')), ElfError);
  const truncated = join(root, 'truncated.so');
  writeFileSync(truncated, Buffer.from(execFileSync('head', ['-c', '100', join(cuda, 'libcudart.so.13')])));
  t.throws(() => readElfDynamic(truncated), ElfError);
});

t.test("the loader's cache (ldconfig -p) knows this machine's libc", async (t) => {
  const cache = ldCacheEntries();
  if (cache.size === 0) return t.comment('no ldconfig here');
  t.ok(cache.get('libc.so.6'), 'libc.so.6 is in the cache');
  t.equal(resolveLibrary('libc.so.6', [], cache), cache.get('libc.so.6'));
  t.equal(resolveLibrary('libnot-a-library.so.1', [], cache), undefined);
});

t.test('ld.so.conf: directories and included *.conf files, in order', async (t) => {
  const conf = join(dir('etc'), 'ld.so.conf');
  const confD = dir('etc', 'ld.so.conf.d');
  writeFileSync(conf, `# comment\ninclude ${confD}/*.conf\n/opt/first\n`);
  writeFileSync(join(confD, 'b.conf'), '/opt/b\n');
  writeFileSync(join(confD, 'a.conf'), '/opt/a1 # trailing comment\n/opt/a2\ninclude ' + conf + '\n');
  writeFileSync(join(confD, 'ignored.txt'), '/opt/nope\n');
  t.same(ldSoConfDirs(conf), ['/opt/a1', '/opt/a2', '/opt/b', '/opt/first']);
  t.same(ldSoConfDirs(join(root, 'missing.conf')), []);
});

t.test('the first thing missing is named, with what to install', async (t) => {
  let p = probeCuda({ ...base, platform: 'darwin', arch: 'arm64' });
  t.match(p, { ok: false, missing: 'platform', reason: /linux\/x64 only \(this is darwin\/arm64\)/ });

  p = probeCuda({ ...base, providerDir: dir('empty') });
  t.match(p, {
    ok: false,
    missing: 'libonnxruntime_providers_shared.so',
    reason: /CUDA provider not installed: .*empty\/libonnxruntime_providers_shared\.so is missing/,
  });

  if (realDriver) t.comment(`this machine has an NVIDIA driver (${realDriver}): the no-driver case is not checked`);
  else {
    p = probeCuda({ ...base, env: {} });
    t.match(p, { ok: false, missing: 'libcuda.so.1', reason: /no NVIDIA driver: libcuda\.so\.1 not found/ });
  }

  p = probeCuda({ ...base, env: { LD_LIBRARY_PATH: driver } });
  t.match(p, {
    ok: false,
    missing: 'libcudart.so.13',
    reason:
      /libcudart\.so\.13 not found \(the provider is built for CUDA 13 \+ cuDNN 9\): install the CUDA 13 runtime \(apt cuda-cudart-13-0, pip nvidia-cuda-runtime\)/,
  });
});

t.test('libraries resolve through LD_LIBRARY_PATH, ld.so.conf and $ORIGIN runpaths', async (t) => {
  const conf = join(root, 'ld.so.conf');
  writeFileSync(conf, `${cuda}\n`);
  let p = probeCuda({ ...base, env: { LD_LIBRARY_PATH: `/nonexistent:${driver}` }, ldSoConf: conf });
  t.equal(p.ok, true, p.ok ? '' : p.reason);
  if (p.ok) {
    t.equal(p.cudaMajor, 13);
    t.equal(p.resolved['libcuda.so.1'], join(driver, 'libcuda.so.1'));
    t.equal(p.resolved['libcudart.so.13'], join(cuda, 'libcudart.so.13'));
    t.equal(p.resolved['libcudnn.so.9'], join(cuda, 'libcudnn.so.9'));
  }

  // $ORIGIN/rp next to the provider; the build-time check leaves the driver out
  const rp = dir('provider', 'rp');
  copyFileSync(join(cuda, 'libcudart.so.13'), join(rp, 'libcudart.so.13'));
  copyFileSync(join(cuda, 'libcudnn.so.9'), join(rp, 'libcudnn.so.9'));
  p = probeCuda({ ...base, env: {}, skipDriver: true });
  t.equal(p.ok, true, p.ok ? '' : p.reason);
  if (p.ok) {
    t.equal(p.resolved['libcudart.so.13'], join(rp, 'libcudart.so.13'));
    t.notOk('libcuda.so.1' in p.resolved);
  }

  // cuDNN is not a DT_NEEDED entry (the provider dlopens it), and is still looked for
  rmSync(join(rp, 'libcudnn.so.9'));
  p = probeCuda({ ...base, env: {}, skipDriver: true });
  t.match(p, {
    ok: false,
    missing: 'libcudnn.so.9',
    reason: /install cuDNN 9 for CUDA 13 \(apt libcudnn9-cuda-13, pip nvidia-cudnn-cu13\)/,
  });
});
