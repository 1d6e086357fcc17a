// Every environment variable that the Dockerfile, docker-compose.yml and deploy/k8s set is a setting of src/config.ts
// (or one of the few named below, which the service does not read), and every value they give it passes the setting's
// own parser: a renamed or removed setting, or a bad value, fails here instead of in a pod.
import t from 'tap';
import { SETTINGS, loadConfig } from '../../src/config.ts';
import {
  composeEnvNames,
  interpolate,
  loadManifests,
  loadYaml,
  manifestEnvNames,
  parseDockerfile,
  podContainers,
  readRepoFile,
} from './lib.ts';

/** Variables that are not settings of the service, and why they appear. */
const NOT_SETTINGS: Record<string, string> = {
  // read by onnxruntime-node's install script (build stages): cuda12 downloads the CUDA provider, skip does not
  ONNXRUNTIME_NODE_INSTALL: 'onnxruntime-node install mode (build time)',
  // all images run as an unprivileged user without a home: HOME=/tmp is writable under a read-only root (tmpfs)
  HOME: 'writable home for node, torch and pip',
  PYTHONDONTWRITEBYTECODE: 'export image: no .pyc next to the read-only scripts',
  // deploy/k8s/model-fill: the checkpoint the export Job downloads (huggingface_hub in the export image)
  HF_MODEL: 'model-fill Job: Hugging Face model repository to export',
  HF_REVISION: 'model-fill Job: its revision',
  HF_HOME: 'model-fill Job: huggingface_hub cache directory',
  NODE_ENV: 'server images: production mode for the dependencies that read it',
  CUDA_CACHE_PATH: "gpu image: the CUDA driver's JIT cache, under /tmp",
};
/** Of those, the ones the server images may set (the rest belong to build and export stages). */
const SERVER_IMAGE_EXTRAS = new Set(['HOME', 'NODE_ENV', 'CUDA_CACHE_PATH']);
const SETTING_NAMES = new Set<string>(SETTINGS.map((s) => s.env));

interface Use {
  where: string;
  name: string;
  value?: string;
}

function dockerfileUses(text: string): Use[] {
  // a stage's env includes what it inherits from its parent stage
  return parseDockerfile(text).stages.flatMap((s) =>
    [...s.env].map(([name, value]) => ({ where: `Dockerfile stage ${s.name}`, name, value })),
  );
}

function composeUses(doc: any): Use[] {
  const seen = new Set<string>();
  const resolved = interpolate(doc, {}, seen) as any;
  const uses: Use[] = [...seen].map((name) => ({ where: 'docker-compose.yml ${...}', name }));
  for (const [svcName, svc] of Object.entries<any>(resolved.services ?? {})) {
    const env = svc.environment;
    for (const name of composeEnvNames(svc)) {
      const value = Array.isArray(env)
        ? env.find((e: string) => e.startsWith(`${name}=`))?.slice(name.length + 1)
        : env[name];
      uses.push({
        where: `docker-compose.yml service ${svcName}`,
        name,
        value: value === undefined || value === null ? undefined : String(value),
      });
    }
  }
  return uses;
}

function k8sUses(docs: { file: string; doc: any }[]): Use[] {
  return docs.flatMap(({ file, doc }) => {
    if (doc.kind === 'ConfigMap')
      return Object.entries<string>(doc.data ?? {}).map(([name, value]) => ({
        where: `deploy/k8s/rendered/${file}`,
        name,
        value,
      }));
    // A path into a mounted Secret is a file only in the pod (API_KEYS' key file): k8s.test.ts checks the mount.
    const volumes = new Map<string, any>((doc.spec?.template?.spec?.volumes ?? []).map((v: any) => [v.name, v]));
    return podContainers(doc).flatMap((c) => {
      const secretDirs = (c.volumeMounts ?? [])
        .filter((m: any) => volumes.get(m.name)?.secret)
        .map((m: any) => `${m.mountPath}/`);
      return (c.env ?? []).map((e: any) => ({
        where: `deploy/k8s/rendered/${file} container ${c.name}`,
        name: e.name,
        value: secretDirs.some((d: string) => e.value?.startsWith(d)) ? undefined : e.value,
      }));
    });
  });
}

/** Problems with a list of uses: unknown names, values the setting's parser rejects. */
function problems(uses: Use[]): string[] {
  const out: string[] = [];
  for (const u of uses) {
    if (SETTING_NAMES.has(u.name)) {
      if (u.value === undefined) continue;
      try {
        loadConfig([], { [u.name]: u.value });
      } catch (err) {
        out.push(`${u.where}: ${(err as Error).message}`);
      }
    } else if (!(u.name in NOT_SETTINGS)) out.push(`${u.where}: ${u.name} is not a setting of src/config.ts`);
  }
  return out;
}

const dockerfile = readRepoFile('Dockerfile');
const compose = loadYaml('docker-compose.yml');
const manifests = loadManifests();

t.test('Dockerfile ENV: settings (or the listed build/export variables) with valid values', async (t) => {
  const uses = dockerfileUses(dockerfile);
  t.ok(
    uses.some((u) => u.name === 'DEVICE'),
    'found the ENV lines',
  );
  t.same(problems(uses), []);
  // the server images set only settings: the exceptions are for build and export stages
  for (const u of uses.filter((u) => /stage (gpu|cpu)$/.test(u.where)))
    t.ok(SETTING_NAMES.has(u.name) || SERVER_IMAGE_EXTRAS.has(u.name), `${u.where}: ${u.name}`);
});

t.test('docker-compose.yml environment and interpolated variables are settings with valid values', async (t) => {
  const uses = composeUses(compose);
  t.ok(uses.length >= 10);
  t.same(problems(uses), []);
});

t.test('Kubernetes ConfigMap keys and container env are settings with valid values', async (t) => {
  const uses = k8sUses(manifests);
  t.ok(uses.length >= 10);
  t.same(problems(uses), []);
  // the ConfigMap as a whole is a loadable configuration
  const cm = manifests.find((m) => m.doc.kind === 'ConfigMap')!.doc;
  const config = loadConfig([], cm.data);
  t.equal(config.device, 'cuda');
  t.equal(config.port, 8080);
});

t.test('the check fails on an unknown variable or a bad value', async (t) => {
  t.match(
    problems(dockerfileUses(dockerfile.replace('DEVICE=cpu', 'DEVICE=cpu MAX_BATCH=64'))).join('\n'),
    /MAX_BATCH is not a setting/,
  );
  t.match(
    problems(dockerfileUses(dockerfile.replace('DEVICE=auto HOME', 'DEVICE=gpu HOME'))).join('\n'),
    /invalid setting DEVICE/,
  );
  const c = structuredClone(compose);
  c.services['ko-rerank'].environment.MODEL_PATH = '/models/x';
  c.services['ko-rerank'].environment.MAX_WAIT_MS = 'soon';
  const p = problems(composeUses(c)).join('\n');
  t.match(p, /MODEL_PATH is not a setting/);
  t.match(p, /invalid setting MAX_WAIT_MS/);
  const c2 = structuredClone(compose);
  c2.services['ko-rerank'].ports = ['${KO_RERANK_PORT:-8080}:8080'];
  t.match(problems(composeUses(c2)).join('\n'), /KO_RERANK_PORT is not a setting/);
  const m = structuredClone(manifests);
  const dep = m.find((x) => x.doc.kind === 'Deployment')!.doc;
  dep.spec.template.spec.containers[0].env = [{ name: 'WORKER_COUNT', value: '2' }];
  m.find((x) => x.doc.kind === 'ConfigMap')!.doc.data.LOG_LEVEL = 'verbose';
  const pk = problems(k8sUses(m)).join('\n');
  t.match(pk, /WORKER_COUNT is not a setting/);
  t.match(pk, /invalid setting LOG_LEVEL/);
  t.same(manifestEnvNames(dep), ['WORKER_COUNT']);
  // a key-file path is exempt only inside a mounted Secret
  dep.spec.template.spec.containers[0].env = [{ name: 'API_KEYS', value: '/etc/elsewhere/keys' }];
  t.match(problems(k8sUses(m)).join('\n'), /invalid setting API_KEYS.*looks like a path/);
});
