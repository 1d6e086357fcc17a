// Can onnxruntime-node's CUDA execution provider load here? Answered without asking onnxruntime (which prints a red
// error for every missing library): the provider files next to the binding, the NVIDIA driver, every library the
// provider needs (its ELF DT_NEEDED entries) and the cuDNN it loads at run time, each resolved the way the dynamic
// loader would (its directories, then its cache). The first thing missing is named, with what to install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { readElfDynamic } from './elf.ts';

export const CUDA_PROVIDER = 'libonnxruntime_providers_cuda.so';
export const SHARED_PROVIDER = 'libonnxruntime_providers_shared.so';
export const DRIVER_LIBRARY = 'libcuda.so.1';
/** The provider dlopens cuDNN when it creates its handles (not a DT_NEEDED entry, so ldd does not list it). */
export const CUDNN_LIBRARY = 'libcudnn.so.9';

export type CudaProbe =
  | { ok: true; providerDir: string; cudaMajor: number | undefined; resolved: Record<string, string> }
  | { ok: false; providerDir: string; missing: string; reason: string };

export interface CudaProbeOptions {
  /** Where onnxruntime-node's binding and provider libraries live (default: its bin/napi-v6/<platform>/<arch>). */
  providerDir?: string;
  /** Build-time check: the driver (libcuda.so.1) comes from the host at run time, so do not look for it. */
  skipDriver?: boolean;
  env?: NodeJS.ProcessEnv;
  platform?: string;
  arch?: string;
  /** The loader's configuration file (default /etc/ld.so.conf). */
  ldSoConf?: string;
  /** Also ask the loader's cache (`ldconfig -p`) for libraries the directories do not hold (default true). */
  ldCache?: boolean;
}

/** onnxruntime-node's native folder: the binding, libonnxruntime.so.1 and (when installed) the CUDA provider. */
export function onnxruntimeNodeBinDir(platform: string = process.platform, arch: string = process.arch): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', platform, arch);
}

const DEFAULT_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** The directories of /etc/ld.so.conf and what it includes (globs of the form dir/*.conf). */
export function ldSoConfDirs(file: string, seen = new Set<string>()): string[] {
  if (seen.has(file) || !existsSync(file)) return [];
  seen.add(file);
  const dirs: string[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const include = /^include\s+(.+)$/.exec(line);
    if (!include) {
      if (isAbsolute(line)) dirs.push(line);
      continue;
    }
    for (const pattern of include[1]!.split(/\s+/)) {
      const path = isAbsolute(pattern) ? pattern : join(dirname(file), pattern);
      const star = path.lastIndexOf('*');
      if (star < 0) {
        dirs.push(...ldSoConfDirs(path, seen));
        continue;
      }
      const dir = dirname(path);
      const [prefix, suffix] = path.slice(dir.length + 1).split('*') as [string, string];
      let names: string[] = [];
      try {
        names = readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const name of names)
        if (name.startsWith(prefix) && name.endsWith(suffix)) dirs.push(...ldSoConfDirs(join(dir, name), seen));
    }
  }
  return dirs;
}

/** Where the loader looks for a library needed by `from`: LD_LIBRARY_PATH, its RUNPATH, ld.so.conf, the defaults. */
export function searchDirs(from: string, runpath: string[], env: NodeJS.ProcessEnv, ldSoConf: string): string[] {
  const origin = dirname(from);
  const expand = (p: string) => p.replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin);
  const ld = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return [...ld, ...runpath.map(expand), ...ldSoConfDirs(ldSoConf), ...DEFAULT_DIRS];
}

export function resolveLibrary(name: string, dirs: string[], cache?: Map<string, string>): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of dirs) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  const cached = cache?.get(name);
  return cached && existsSync(cached) ? cached : undefined;
}

/** The loader's cache, `ldconfig -p` (x86-64 entries): soname -> path. Empty when ldconfig is not there. */
export function ldCacheEntries(): Map<string, string> {
  const out = new Map<string, string>();
  for (const bin of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = spawnSync(bin, ['-p'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(\S+) \(([^)]*)\) => (\S+)$/.exec(line);
      if (m && m[2]!.includes('x86-64') && !out.has(m[1]!)) out.set(m[1]!, m[3]!);
    }
    break;
  }
  return out;
}

/** The CUDA major version a provider is built for, read off its libcudart.so.N entry. */
export function cudaMajorOf(needed: string[]): number | undefined {
  for (const lib of needed) {
    const m = /^libcudart\.so\.(\d+)$/.exec(lib);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** What to install for a missing CUDA library: the Debian/Ubuntu package (NVIDIA's apt repository) and the PyPI one. */
export function installHint(lib: string, cudaMajor: number | undefined): string {
  const n = cudaMajor ?? 'N';
  if (/^libcudart\.so/.test(lib)) return `the CUDA ${n} runtime (apt cuda-cudart-${n}-0, pip nvidia-cuda-runtime)`;
  if (/^libcublas(Lt)?\.so/.test(lib)) return `cuBLAS for CUDA ${n} (apt libcublas-${n}-0, pip nvidia-cublas)`;
  if (/^libcurand\.so/.test(lib)) return `cuRAND for CUDA ${n} (apt libcurand-${n}-0, pip nvidia-curand)`;
  if (/^libcufft\.so/.test(lib)) return `cuFFT for CUDA ${n} (apt libcufft-${n}-0, pip nvidia-cufft)`;
  if (/^libcudnn\.so/.test(lib)) return `cuDNN 9 for CUDA ${n} (apt libcudnn9-cuda-${n}, pip nvidia-cudnn-cu${n})`;
  return 'the package that provides it';
}

const GPU_IMAGE_HINT = 'or run the gpu image (Dockerfile target gpu), which has them all';

export function probeCuda(opts: CudaProbeOptions = {}): CudaProbe {
  const platform = opts.platform ?? process.platform;
  const arch = opts.arch ?? process.arch;
  const env = opts.env ?? process.env;
  const ldSoConf = opts.ldSoConf ?? '/etc/ld.so.conf';
  const providerDir = opts.providerDir ?? onnxruntimeNodeBinDir(platform, arch);
  const fail = (missing: string, reason: string): CudaProbe => ({ ok: false, providerDir, missing, reason });
  if (platform !== 'linux' || arch !== 'x64') {
    return fail(
      'platform',
      `onnxruntime-node has a CUDA execution provider for linux/x64 only (this is ${platform}/${arch})`,
    );
  }
  for (const file of [SHARED_PROVIDER, CUDA_PROVIDER]) {
    const path = join(providerDir, file);
    if (!existsSync(path)) {
      return fail(
        file,
        `CUDA provider not installed: ${path} is missing (install it with scripts/install-cuda-provider.sh, or use the gpu image)`,
      );
    }
  }
  const providerPath = join(providerDir, CUDA_PROVIDER);
  let dynamic;
  try {
    dynamic = readElfDynamic(providerPath);
  } catch (err) {
    return fail(CUDA_PROVIDER, `CUDA provider unreadable: ${(err as Error).message}`);
  }
  const cudaMajor = cudaMajorOf(dynamic.needed);
  const dirs = searchDirs(providerPath, dynamic.runpath, env, ldSoConf);
  const cache = opts.ldCache === false ? undefined : ldCacheEntries();
  const resolved: Record<string, string> = {};
  if (!opts.skipDriver) {
    const driver = resolveLibrary(DRIVER_LIBRARY, dirs, cache);
    if (!driver) {
      return fail(
        DRIVER_LIBRARY,
        `no NVIDIA driver: ${DRIVER_LIBRARY} not found, so no GPU is visible to this process (Docker: --gpus all with the NVIDIA Container Toolkit; Kubernetes: a nvidia.com/gpu limit)`,
      );
    }
    resolved[DRIVER_LIBRARY] = driver;
  }
  for (const lib of [...dynamic.needed, CUDNN_LIBRARY]) {
    if (lib === DRIVER_LIBRARY) continue;
    const path = resolveLibrary(lib, dirs, cache);
    if (!path) {
      const built = cudaMajor === undefined ? '' : ` (the provider is built for CUDA ${cudaMajor} + cuDNN 9)`;
      return fail(lib, `${lib} not found${built}: install ${installHint(lib, cudaMajor)}, ${GPU_IMAGE_HINT}`);
    }
    resolved[lib] = path;
  }
  return { ok: true, providerDir, cudaMajor, resolved };
}
