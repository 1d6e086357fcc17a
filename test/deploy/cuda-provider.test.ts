// The CUDA provider we install is the one built with the onnxruntime-node we run: the version pinned for the PyPI
// source equals onnxruntime-node's (lock file and installed package), which is also the version its NuGet source
// downloads. scripts/check-cuda-provider.ts (run by .ci/run) checks the binary's CUDA major against the gpu base.
import { createRequire } from 'node:module';
import t from 'tap';
import { baseImageCuda } from '../../scripts/check-cuda-provider.ts';
import { readRepoFile } from './lib.ts';

const require = createRequire(import.meta.url);

t.test("the pinned onnxruntime-gpu version equals onnxruntime-node's", async (t) => {
  const reqs = readRepoFile('scripts/cuda-provider/requirements.txt');
  const pinned = /^onnxruntime-gpu==(\d+\.\d+\.\d+)/m.exec(reqs)?.[1];
  t.ok(pinned, 'requirements.txt pins onnxruntime-gpu==X.Y.Z');
  t.ok(/--hash=sha256:[0-9a-f]{64}/.test(reqs), 'and its wheel hashes');
  const lock = JSON.parse(readRepoFile('package-lock.json'));
  t.equal(lock.packages['node_modules/onnxruntime-node'].version, pinned, 'package-lock.json');
  t.equal(require('onnxruntime-node/package.json').version, pinned, 'installed onnxruntime-node');
  const nuget = require('onnxruntime-node/script/install-metadata-versions.js').nuget as { version: string }[];
  t.same(
    nuget.map((v) => v.version),
    [pinned],
    "the NuGet package onnxruntime-node's install script downloads",
  );
});

t.test('the gpu base image CUDA version is read off its tag', async (t) => {
  t.same(baseImageCuda(readRepoFile('Dockerfile')), {
    image: 'nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04',
    major: 13,
    cudnn: true,
  });
  t.same(baseImageCuda('ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04@sha256:abc\n'), {
    image: 'nvidia/cuda:12.8.1-runtime-ubuntu24.04@sha256:abc',
    major: 12,
    cudnn: false,
  });
  t.throws(() => baseImageCuda('FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04\n'), /no ARG CUDA_IMAGE/);
});
