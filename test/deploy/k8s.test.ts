// deploy/k8s as it is applied: the committed render of every kustomization (deploy/k8s/rendered/, from
// `bash scripts/k8s-validate.sh --write`; CI re-renders with a pinned kustomize and fails when they differ) validates
// against the vendored strict Kubernetes 1.30 schemas, the ServiceMonitor and ScaledObject against their published
// CRDs' schemas; and the objects fit together: selectors, names, probes, drain, GPU placement, security, the
// autoscalers' metrics and the adapter rules, the model volume and the Job that fills it. No cluster here.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Ajv2020 } from 'ajv/dist/2020.js';
// @ts-expect-error -- a plain .mjs build script without types
import { crdBundle } from '../fixtures/schemas/build-crd-schema.mjs';
import {
  K8S_DIR,
  k8sKindKey,
  kustomizationDirs,
  loadRendered,
  loadSchema,
  loadYaml,
  podContainers,
  readRepoFile,
  renderName,
  renderedFiles,
  type Manifest,
} from './lib.ts';

const bundle = loadSchema('kubernetes-v1.30.0-strict.json');
const crds = loadSchema('crd-schemas-strict.json');
const ajv = new Ajv2020({ allErrors: true, strictSchema: true, strictTypes: false, allowUnionTypes: true });
// OpenAPI formats the schemas use
ajv.addFormat('int32', {
  type: 'number',
  validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
});
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
ajv.addSchema(bundle);
ajv.addSchema(crds);

function k8sErrors(doc: any): string {
  if (!doc?.apiVersion || !doc?.kind) return 'no apiVersion/kind';
  const key = k8sKindKey(doc.apiVersion, doc.kind);
  const source = bundle.$defs[key] ? bundle : crds.$defs[key] ? crds : undefined;
  if (!source) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  const validate = ajv.getSchema(`${source.$id}#/$defs/${key}`)!;
  return validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

const renders = Object.fromEntries(renderedFiles().map((f) => [f, loadRendered(f)]));
const kinds = (file: string) => renders[file]!.map((m) => m.doc.kind).sort();
const one = (file: string, kind: string): any => {
  const list = renders[file]!.filter((m: Manifest) => m.doc.kind === kind);
  if (list.length !== 1) throw new Error(`${file}: expected one ${kind}, found ${list.length}`);
  return list[0]!.doc;
};
const HPA = 'overlays-hpa.yaml';
const KEDA = 'overlays-keda.yaml';
const BASE = 'base.yaml';
const FILL = 'model-fill.yaml';

t.test('one committed render per kustomization, and every manifest file is used by one', async (t) => {
  const dirs = kustomizationDirs();
  t.same(dirs, ['base', 'model-fill', 'model-volume', 'overlays/hpa', 'overlays/keda']);
  t.same(renderedFiles(), dirs.map(renderName).sort());
  for (const f of renderedFiles())
    t.match(readFileSync(path.join(K8S_DIR, 'rendered', f), 'utf8'), /^# kustomize build deploy\/k8s\//, f);
  // every YAML under deploy/k8s (but the renders and the adapter's Helm values) is listed by a kustomization
  const listed = new Set<string>();
  const walk = (dir: string) => {
    const k = loadYaml(`deploy/k8s/${dir}/kustomization.yaml`);
    for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
      const p = path.posix.normalize(`${dir}/${r}`);
      listed.add(p);
      if (!/\.ya?ml$/.test(r)) walk(p);
    }
  };
  for (const d of dirs) walk(d);
  const files = (readdirSync(K8S_DIR, { recursive: true }) as string[])
    .filter((f) => /\.ya?ml$/.test(f) && !/(^|\/)kustomization\.yaml$/.test(f))
    .filter((f) => !f.startsWith('rendered/') && !f.startsWith('prometheus-adapter/'));
  t.ok(files.length >= 13);
  for (const f of files) t.ok(listed.has(f), `${f} is in a kustomization`);
});

t.test('every rendered object validates: Kubernetes 1.30 strict, CRDs against their own schemas', async (t) => {
  let n = 0;
  for (const [file, list] of Object.entries(renders))
    for (const { doc } of list) {
      n++;
      t.equal(k8sErrors(doc), '', `${file}: ${doc.kind} ${doc.metadata?.name}`);
    }
  t.ok(n >= 30, `${n} objects`);
  t.same(kinds(HPA), [
    'ConfigMap',
    'Deployment',
    'HorizontalPodAutoscaler',
    'Namespace',
    'NetworkPolicy',
    'PersistentVolumeClaim',
    'PodDisruptionBudget',
    'Service',
    'ServiceAccount',
    'ServiceMonitor',
  ]);
  t.same(
    kinds(KEDA),
    kinds(HPA)
      .filter((k) => k !== 'HorizontalPodAutoscaler')
      .concat('ScaledObject')
      .sort(),
  );
  t.same(kinds(FILL), ['Job', 'Namespace', 'PersistentVolumeClaim']);
  t.notOk(
    Object.values(renders)
      .flat()
      .some((m) => m.doc.metadata?.annotations?.['config.kubernetes.io/local-config']),
    'the parameters object is not rendered',
  );
});

t.test('the CRD schemas are built from the vendored CRDs', async (t) => {
  t.same(crdBundle(), crds, 'test/fixtures/schemas/crd-schemas-strict.json is current (build-crd-schema.mjs)');
});

t.test('the strict schemas reject misspelt fields and wrong types', async (t) => {
  const mutate = (doc: any, f: (d: any) => void) => {
    const d = structuredClone(doc);
    f(d);
    return k8sErrors(d);
  };
  const deployment = one(HPA, 'Deployment');
  t.match(
    mutate(deployment, (d) => (d.spec.template.spec.containers[0].readinesProbe = {})),
    /additional properties/,
    'typo in a container field',
  );
  t.match(
    mutate(deployment, (d) => (d.spec.replicas = '2')),
    /must be integer/,
  );
  t.match(
    mutate(deployment, (d) => (d.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'] = true)),
    /must match exactly one schema/,
    'quantity as a boolean',
  );
  t.match(
    mutate(deployment, (d) => delete d.spec.selector),
    /must have required property 'selector'/,
  );
  t.match(k8sErrors({ apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler' }), /no schema/);
  t.not(
    mutate(one(HPA, 'HorizontalPodAutoscaler'), (h) => (h.spec.metrics[0].pods.target.averageValue = true)),
    '',
  );
  t.match(
    mutate(one(HPA, 'ServiceMonitor'), (s) => (s.spec.endpoints[0].intervall = '15s')),
    /additional properties/,
    'ServiceMonitor: misspelt field',
  );
  t.match(
    mutate(one(KEDA, 'ScaledObject'), (s) => (s.spec.minReplicaCount = 'two')),
    /must be integer/,
    'ScaledObject: wrong type',
  );
  t.match(
    mutate(one(KEDA, 'ScaledObject'), (s) => delete s.spec.scaleTargetRef),
    /required property 'scaleTargetRef'/,
  );
});

t.test('Deployment: no replicas under an autoscaler; GPU, probes, drain, security', async (t) => {
  const d = one(HPA, 'Deployment');
  t.same(one(KEDA, 'Deployment'), d, 'both overlays deploy the same server');
  t.same(one(BASE, 'Deployment'), d);
  t.equal(d.spec.replicas, undefined, 'no replicas: the autoscaler owns the scale');
  const pod = d.spec.template.spec;
  const [c, ...rest] = pod.containers;
  t.equal(rest.length, 0);
  t.equal(c.resources.limits['nvidia.com/gpu'], 1, 'one GPU (limits)');
  t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
  t.same(c.args, ['serve']);
  const port = c.ports.find((p: any) => p.name === 'http');
  t.equal(port.containerPort, 8080);
  t.equal(c.startupProbe.httpGet.path, '/ready');
  t.equal(c.readinessProbe.httpGet.path, '/ready');
  t.equal(c.livenessProbe.httpGet.path, '/health');
  t.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 120, 'startup allows >= 2 min');
  const preStop = Number(c.lifecycle.preStop.exec.command[1]);
  t.ok(pod.terminationGracePeriodSeconds >= preStop + 30);
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(pod.securityContext.runAsUser, 10001, 'the image user');
  t.equal(c.securityContext.readOnlyRootFilesystem, true);
  t.equal(c.securityContext.allowPrivilegeEscalation, false);
  t.same(c.securityContext.capabilities.drop, ['ALL']);
  const sa = one(HPA, 'ServiceAccount');
  t.equal(pod.serviceAccountName, sa.metadata.name);
  t.equal(sa.automountServiceAccountToken, false, 'no token on the account');
  t.equal(pod.automountServiceAccountToken, false, 'nor in the pod');
});

t.test('GPU nodes with a driver for CUDA 13 (>= 580), spread over nodes and zones', async (t) => {
  const pod = one(HPA, 'Deployment').spec.template.spec;
  const terms = pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  const labels = terms.map((term: any) => {
    const driver = term.matchExpressions.find((e: any) => /cuda\.driver/.test(e.key));
    t.same(driver.operator, 'Gt');
    t.same(driver.values, ['579'], 'Gt 579: driver major >= 580');
    t.ok(
      term.matchExpressions.some(
        (e: any) => e.key === 'nvidia.com/gpu.present' && e.operator === 'In' && e.values[0] === 'true',
      ),
    );
    return driver.key;
  });
  t.same(labels.sort(), ['nvidia.com/cuda.driver-version.major', 'nvidia.com/cuda.driver.major'], 'GFD labels');
  // the gpu image's CUDA major asks for that driver (NVIDIA: CUDA 13.x needs >= 580)
  t.match(readRepoFile('Dockerfile'), /nvidia\/cuda:13\./);
  const podLabels = one(HPA, 'Deployment').spec.template.metadata.labels;
  const spread = pod.topologySpreadConstraints;
  t.same(spread.map((s: any) => s.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  for (const s of spread) {
    t.ok(
      Object.entries(s.labelSelector.matchLabels).every(([k, v]) => podLabels[k] === v),
      'selects the pods',
    );
    t.equal(s.maxSkew, 1);
  }
  t.equal(spread.find((s: any) => s.topologyKey === 'kubernetes.io/hostname').whenUnsatisfiable, 'DoNotSchedule');
});

t.test('threads from the CPU request; API keys from a Secret through the key-file setting', async (t) => {
  const d = one(HPA, 'Deployment');
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  const env = new Map(c.env.map((e: any) => [e.name, e]));
  const threads = env.get('INTRA_OP_THREADS') as any;
  t.same(threads.valueFrom.resourceFieldRef, { containerName: c.name, resource: 'requests.cpu', divisor: '1' });
  t.notOk('INTRA_OP_THREADS' in one(HPA, 'ConfigMap').data, 'not also in the ConfigMap');
  const keys = (env.get('API_KEYS') as any).value as string;
  const mount = c.volumeMounts.find((m: any) => keys.startsWith(m.mountPath + '/'));
  const volume = pod.volumes.find((v: any) => v.name === mount.name);
  t.equal(mount.readOnly, true);
  t.equal(volume.secret.secretName, 'ko-rerank-api-keys');
  t.notOk(volume.secret.optional, 'required: a pod without its keys does not start (no unauthenticated fallback)');
  t.same(volume.secret.items, [{ key: 'keys', path: path.posix.relative(mount.mountPath, keys) }]);
  t.equal(volume.secret.defaultMode & 0o007, 0, 'not world-readable');
});

t.test('model volume: parameters, and the Job that fills it where the server reads it', async (t) => {
  const params = loadYaml('deploy/k8s/model-volume/params.yaml').data;
  const pvc = one(HPA, 'PersistentVolumeClaim');
  t.same(one(FILL, 'PersistentVolumeClaim'), pvc, 'the Job and the server share one claim');
  t.equal(pvc.spec.storageClassName, params.storageClassName);
  t.same(pvc.spec.accessModes, [params.accessMode]);
  t.equal(pvc.spec.resources.requests.storage, params.size);
  const d = one(HPA, 'Deployment');
  const claim = (spec: any, mountPath: string) => {
    const m = podContainers({ spec: { template: { spec } } })
      .flatMap((c) => c.volumeMounts ?? [])
      .find((x: any) => x.mountPath === mountPath);
    return spec.volumes.find((v: any) => v.name === m.name).persistentVolumeClaim;
  };
  t.equal(claim(d.spec.template.spec, '/models').claimName, pvc.metadata.name);
  t.equal(claim(d.spec.template.spec, '/models').readOnly, true, 'the server mounts it read-only');

  const job = one(FILL, 'Job');
  const spec = job.spec.template.spec;
  t.equal(claim(spec, '/models').claimName, pvc.metadata.name);
  t.equal(spec.restartPolicy, 'Never');
  t.equal(spec.automountServiceAccountToken, false);
  const [exporter] = spec.containers;
  t.equal(exporter.image, 'ko-rerank:export', 'the Dockerfile export target');
  t.match(readRepoFile('Dockerfile'), /AS export\n/);
  const script = exporter.args.join('\n');
  // export_onnx.py CHECKPOINT --out DIR, into a scratch dir renamed to MODEL_DIR when done
  const modelDir = one(HPA, 'ConfigMap').data.MODEL_DIR;
  const out = /export_onnx\.py (\S+) \\\n\s+--out (\S+)/.exec(script);
  t.ok(out, 'runs export_onnx.py CHECKPOINT --out DIR');
  t.match(script, new RegExp(`mv ${out![2]!.replaceAll('.', '\\.')} ${modelDir}\\n`), 'renamed into MODEL_DIR');
  t.equal(modelDir, '/models/ko-reranker');
  const checkpoint = spec.initContainers[0].volumeMounts.find((m: any) => m.mountPath === out![1]);
  t.ok(checkpoint, 'the initContainer downloads into the checkpoint path');
  t.match(spec.initContainers[0].args[0], /from huggingface_hub import snapshot_download/);
  t.match(
    readRepoFile('scripts/requirements.txt'),
    /^tokenizers==/m,
    'the export venv has huggingface_hub (tokenizers)',
  );
  t.equal(spec.securityContext.runAsUser, 10001);
  for (const c of podContainers(job)) t.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
});

t.test('Service, ServiceMonitor, PDB and NetworkPolicy select the pods', async (t) => {
  const d = one(HPA, 'Deployment');
  const labels = d.spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const svc = one(HPA, 'Service');
  t.ok(matches(svc.spec.selector), 'service selector matches the pods');
  t.ok(matches(one(HPA, 'PodDisruptionBudget').spec.selector.matchLabels));
  const sm = one(HPA, 'ServiceMonitor');
  t.ok(
    Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v),
    'ServiceMonitor selects the Service',
  );
  t.ok(
    svc.spec.ports.some((p: any) => p.name === sm.spec.endpoints[0].port),
    'scrapes a named port of the Service',
  );
  t.equal(sm.spec.endpoints[0].path, '/metrics');
  t.equal(sm.metadata.namespace, d.metadata.namespace);
  const np = one(HPA, 'NetworkPolicy');
  t.ok(matches(np.spec.podSelector.matchLabels));
  t.same(np.spec.policyTypes, ['Ingress', 'Egress']);
  t.same(np.spec.ingress, [{ ports: [{ port: 'http', protocol: 'TCP' }] }], 'the http port only');
  t.same(np.spec.egress, [], 'no egress: the server calls nothing');
});

/** Metric names the service defines (src/core/metrics.ts, admission.ts), as Prometheus shows them. */
const defined = new Set(
  ['src/core/metrics.ts', 'src/core/admission.ts'].flatMap((f) =>
    [...readRepoFile(f).matchAll(/name: '(ko_rerank_\w+)'/g)].map((m) => m[1]!),
  ),
);

t.test('HPA: custom metrics served by the shipped prometheus-adapter rules, on the real metrics', async (t) => {
  const d = one(HPA, 'Deployment');
  const hpa = one(HPA, 'HorizontalPodAutoscaler');
  t.same(hpa.spec.scaleTargetRef, { apiVersion: d.apiVersion, kind: 'Deployment', name: d.metadata.name });
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
  t.ok(
    hpa.spec.metrics.every((m: any) => m.type === 'Pods'),
    'per-pod custom metrics, no CPU',
  );
  const rules = loadYaml('deploy/k8s/prometheus-adapter/values.yaml').rules.custom;
  const served = new Map<string, any>(rules.map((r: any) => [r.name.as, r]));
  for (const r of rules) {
    const series = /^'?(ko_rerank_\w+)\{namespace!="",pod!=""\}/.exec(r.seriesQuery)?.[1];
    t.ok(series && defined.has(series), `${r.name.as}: from ${series}, a metric of the service`);
    t.same(r.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    t.match(r.metricsQuery, /<<\.LabelMatchers>>/);
    t.match(r.metricsQuery, /by \(<<\.GroupBy>>\)/);
    for (const used of r.metricsQuery.matchAll(/(ko_rerank_\w+)\{/g)) t.ok(defined.has(used[1]), used[1]);
  }
  for (const m of hpa.spec.metrics) t.ok(served.has(m.pods.metric.name), `${m.pods.metric.name} has an adapter rule`);
  t.same(
    hpa.spec.metrics.map((m: any) => m.pods.metric.name),
    ['ko_rerank_predicted_wait_seconds', 'ko_rerank_queue_padded_tokens', 'ko_rerank_overloaded_per_second'],
    'wait first, queue and refusals as backstops',
  );
  t.equal(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds, 0, 'scale up at once');
  t.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 180, 'scale down after minutes');
});

t.test('KEDA: the same signals, targets and behaviour as the HPA, on this namespace and Service', async (t) => {
  const hpa = one(HPA, 'HorizontalPodAutoscaler');
  const so = one(KEDA, 'ScaledObject');
  const d = one(KEDA, 'Deployment');
  t.same(so.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name });
  t.equal(so.spec.minReplicaCount, hpa.spec.minReplicas);
  t.equal(so.spec.maxReplicaCount, hpa.spec.maxReplicas);
  t.same(so.spec.advanced.horizontalPodAutoscalerConfig.behavior, hpa.spec.behavior);
  const quantity = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
  t.same(
    so.spec.triggers.map((tr: any) => Number(tr.metadata.threshold)),
    hpa.spec.metrics.map((m: any) => quantity(m.pods.target.averageValue)),
    'thresholds equal the HPA targets',
  );
  const svc = one(KEDA, 'Service');
  for (const tr of so.spec.triggers) {
    t.equal(tr.type, 'prometheus');
    t.equal(tr.metricType, 'AverageValue');
    const q: string = tr.metadata.query;
    t.match(q, /^sum\(/, `${tr.name}: summed over pods (AverageValue divides by replicas)`);
    t.match(q, new RegExp(`namespace="${d.metadata.namespace}",service="${svc.metadata.name}"`));
    for (const used of q.matchAll(/(ko_rerank_\w+)\{/g)) t.ok(defined.has(used[1]!), `${used[1]} is a metric`);
  }
});
