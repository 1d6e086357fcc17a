// Release/CI check: the CUDA provider we install (scripts/install-cuda-provider.sh) is built for the CUDA major of the
// gpu image's base (Dockerfile ARG CUDA_IMAGE). Reads the CUDA major off the provider's DT_NEEDED entries
// (libcudart.so.N), so a base on the wrong CUDA fails here, not in a pod.
// usage: npx tsx scripts/check-cuda-provider.ts [--dir DIR]   (DIR: an installed provider; default: download it)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readElfDynamic } from '../src/backend/elf.ts';
import { CUDA_PROVIDER, cudaMajorOf } from '../src/backend/cuda-probe.ts';

/**
 * The default of `ARG CUDA_IMAGE=...` in the Dockerfile and the CUDA major of its tag (nvidia/cuda:<major>.<minor>...).
 */
export function baseImageCuda(dockerfile: string): { image: string; major: number; cudnn: boolean } {
  const m = /^ARG CUDA_IMAGE=(\S+)$/m.exec(dockerfile);
  if (!m) throw new Error('Dockerfile has no ARG CUDA_IMAGE=...');
  const image = m[1]!;
  const tag = /:(\d+)\.\d+(?:\.\d+)?-([^@]*)/.exec(image);
  if (!tag) throw new Error(`cannot read a CUDA version off ${image}`);
  return { image, major: Number(tag[1]), cudnn: tag[2]!.includes('cudnn') };
}

function main(argv: string[]): number {
  const at = argv.indexOf('--dir');
  let dir = at >= 0 ? argv[at + 1] : undefined;
  let tmp: string | undefined;
  if (!dir) {
    tmp = dir = mkdtempSync(join(tmpdir(), 'cuda-provider-'));
    execFileSync('bash', ['scripts/install-cuda-provider.sh', 'pypi', '--dest', dir], { stdio: 'inherit' });
  }
  try {
    const needed = readElfDynamic(join(dir, CUDA_PROVIDER)).needed;
    const providerMajor = cudaMajorOf(needed);
    const base = baseImageCuda(readFileSync('Dockerfile', 'utf8'));
    console.log(`provider NEEDED: ${needed.join(' ')}`);
    console.log(
      `provider CUDA major: ${providerMajor ?? 'none'}; gpu base ${base.image}: CUDA ${base.major}${base.cudnn ? ' + cuDNN' : ''}`,
    );
    if (providerMajor !== base.major) {
      console.error(
        `check-cuda-provider: the provider needs CUDA ${providerMajor} but the gpu image is on CUDA ${base.major}`,
      );
      return 1;
    }
    if (!base.cudnn) {
      console.error(`check-cuda-provider: ${base.image} has no cuDNN; the provider loads libcudnn.so.9`);
      return 1;
    }
    console.log('check-cuda-provider: ok');
    return 0;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(main(process.argv.slice(2)));
