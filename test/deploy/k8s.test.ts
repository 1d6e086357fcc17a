// deploy/k8s: every manifest validates against the vendored strict Kubernetes 1.30 schemas, kustomization.yaml lists
// them all, and the objects fit together (selectors, names, probes, drain timing, GPU, security). No cluster here.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  K8S_DIR,
  k8sKindKey,
  k8sManifestFiles,
  loadManifests,
  loadSchema,
  loadYaml,
  podContainers,
  readRepoFile,
  type Manifest,
} from './lib.ts';

const bundle = loadSchema('kubernetes-v1.30.0-strict.json');
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

function k8sErrors(doc: any): string {
  if (!doc?.apiVersion || !doc?.kind) return 'no apiVersion/kind';
  const key = k8sKindKey(doc.apiVersion, doc.kind);
  if (!bundle.$defs[key]) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  const validate = ajv.getSchema(`${bundle.$id}#/$defs/${key}`)!;
  return validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

const manifests = loadManifests();
const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.doc.kind === kind);
const one = (kind: string): any => {
  const list = byKind(kind);
  if (list.length !== 1) throw new Error(`expected one ${kind}, found ${list.length}`);
  return list[0]!.doc;
};

t.test('every manifest validates against the Kubernetes 1.30 strict schema', async (t) => {
  t.ok(manifests.length >= 6);
  for (const { file, doc } of manifests) t.equal(k8sErrors(doc), '', `${file}: ${doc.kind} ${doc.metadata?.name}`);
  t.same([...new Set(manifests.map((m) => m.doc.kind))].sort(), [
    'ConfigMap',
    'Deployment',
    'HorizontalPodAutoscaler',
    'PersistentVolumeClaim',
    'PodDisruptionBudget',
    'Service',
  ]);
});

t.test('the strict schemas reject misspelt fields and wrong types', async (t) => {
  const deployment = one('Deployment');
  const mutate = (f: (d: any) => void) => {
    const d = structuredClone(deployment);
    f(d);
    return k8sErrors(d);
  };
  t.match(
    mutate((d) => (d.spec.template.spec.containers[0].readinesProbe = {})),
    /additional properties/,
    'typo in a container field',
  );
  t.match(
    mutate((d) => (d.spec.replicas = '2')),
    /must be integer/,
    'replicas as a string',
  );
  t.match(
    mutate((d) => (d.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'] = true)),
    /must match exactly one schema/,
    'quantity as a boolean',
  );
  t.match(
    mutate((d) => delete d.spec.selector),
    /must have required property 'selector'/,
  );
  t.match(k8sErrors({ apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler' }), /no schema/);
  const hpa = structuredClone(one('HorizontalPodAutoscaler'));
  hpa.spec.metrics[0].resource.target.averageUtilization = '70%';
  t.not(k8sErrors(hpa), '');
});

t.test('kustomization.yaml lists exactly the manifests, and its image matches the container', async (t) => {
  const k = loadYaml('deploy/k8s/kustomization.yaml');
  t.equal(k.kind, 'Kustomization');
  t.same([...k.resources].sort(), k8sManifestFiles());
  const image: string = one('Deployment').spec.template.spec.containers[0].image;
  t.ok(
    k.images.some((i: any) => i.name === image.split(':')[0]),
    `images[] rewrites ${image}`,
  );
});

t.test('Deployment: GPU, probes, drain, security, model volume', async (t) => {
  const d = one('Deployment');
  const pod = d.spec.template.spec;
  const [c, ...rest] = pod.containers;
  t.equal(rest.length, 0);
  t.equal(c.resources.limits['nvidia.com/gpu'], 1, 'one GPU (limits)');
  t.equal(c.resources.requests['nvidia.com/gpu'], 1);
  t.ok(
    c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory,
    'cpu/memory requests and memory limit',
  );
  t.same(c.args, ['serve']);

  const port = c.ports.find((p: any) => p.name === 'http');
  t.equal(port.containerPort, 8080);
  t.equal(c.startupProbe.httpGet.path, '/ready');
  t.equal(c.readinessProbe.httpGet.path, '/ready');
  t.equal(c.livenessProbe.httpGet.path, '/health');
  for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe]) t.equal(p.httpGet.port, 'http');
  t.ok(
    c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 120,
    'startup allows >= 2 min for model load and warm-up',
  );

  // drain: preStop delay + in-flight time must fit in the grace period
  const cmd: string[] = c.lifecycle.preStop.exec.command;
  t.equal(cmd[0], 'sleep');
  const preStop = Number(cmd[1]);
  t.ok(preStop >= 5, 'preStop waits for endpoint removal');
  t.ok(
    pod.terminationGracePeriodSeconds >= preStop + 30,
    `grace ${pod.terminationGracePeriodSeconds}s >= preStop ${preStop}s + 30s drain`,
  );

  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(pod.securityContext.runAsUser, 10001, 'the image user');
  t.equal(c.securityContext.readOnlyRootFilesystem, true);
  t.equal(c.securityContext.allowPrivilegeEscalation, false);
  t.same(c.securityContext.capabilities.drop, ['ALL']);
  const mounts = new Map(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
  const volumes = new Map(pod.volumes.map((v: any) => [v.name, v]));
  t.ok((volumes.get(mounts.get('/tmp')) as any)?.emptyDir, '/tmp is an emptyDir');
  const models = volumes.get(mounts.get('/models')) as any;
  t.equal(models?.persistentVolumeClaim?.claimName, one('PersistentVolumeClaim').metadata.name, 'model from the PVC');

  const configMap = one('ConfigMap');
  t.same(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
  t.match(configMap.data.MODEL_DIR, /^\/models\//, 'MODEL_DIR is on the PVC');
  t.equal(configMap.data.DEVICE, 'cuda');
  t.equal(configMap.data.PORT, String(port.containerPort));
});

t.test('Service, HPA and PDB point at the Deployment', async (t) => {
  const d = one('Deployment');
  const labels = d.spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  t.same(
    d.spec.selector.matchLabels,
    Object.fromEntries(Object.keys(d.spec.selector.matchLabels).map((k) => [k, labels[k]])),
  );

  const svc = one('Service');
  t.ok(matches(svc.spec.selector), 'service selector matches the pods');
  const portNames = new Set(podContainers(d).flatMap((c) => c.ports?.map((p: any) => p.name) ?? []));
  for (const p of svc.spec.ports) t.ok(portNames.has(p.targetPort), `targetPort ${p.targetPort} is a container port`);

  const pdb = one('PodDisruptionBudget');
  t.ok(matches(pdb.spec.selector.matchLabels), 'PDB selector matches the pods');
  t.ok(pdb.spec.maxUnavailable !== undefined, 'maxUnavailable: a single replica does not block node drains');

  const hpa = one('HorizontalPodAutoscaler');
  t.same(hpa.spec.scaleTargetRef, { apiVersion: d.apiVersion, kind: 'Deployment', name: d.metadata.name });
  t.equal(hpa.spec.metrics[0].resource.name, 'cpu');
  t.ok(hpa.spec.minReplicas <= d.spec.replicas && d.spec.replicas <= hpa.spec.maxReplicas);
});

t.test('the documented custom metric is the real queue gauge', async (t) => {
  const metrics = readRepoFile('src/core/metrics.ts');
  const gauge = /name: '(ko_rerank_queue_size)'/.exec(metrics)?.[1];
  t.equal(gauge, 'ko_rerank_queue_size', 'src/core/metrics.ts defines the gauge');
  const hpaText = readFileSync(`${K8S_DIR}/hpa.yaml`, 'utf8');
  t.match(hpaText, new RegExp(`seriesQuery: '${gauge}\\{`));
  t.match(hpaText, new RegExp(`name: ${gauge}\\n`));
  // the commented Pods metric is valid HPA v2 once uncommented
  const hpa = structuredClone(one('HorizontalPodAutoscaler'));
  hpa.spec.metrics = [
    { type: 'Pods', pods: { metric: { name: gauge }, target: { type: 'AverageValue', averageValue: '64' } } },
  ];
  t.equal(k8sErrors(hpa), '');
});
