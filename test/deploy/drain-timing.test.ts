// The drain fits the orchestrators' kill timeouts: SHUTDOWN_GRACE_MS (as deployed, else its default) plus the
// preStop delay and a margin stays within terminationGracePeriodSeconds, and within compose's stop_grace_period.
import t from 'tap';
import { SETTINGS } from '../../src/config.ts';
import { loadManifests, loadYaml } from './lib.ts';

const MARGIN_S = 5;
const graceDefault = SETTINGS.find((s) => s.env === 'SHUTDOWN_GRACE_MS')!.default as number;
const seconds = (d: string) => {
  const m = /^(\d+)(s|m)$/.exec(d);
  if (!m) throw new Error(`unparsed duration ${d}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

t.test('Kubernetes: preStop + SHUTDOWN_GRACE_MS + margin <= terminationGracePeriodSeconds', async (t) => {
  const docs = loadManifests();
  const cm = docs.find((d) => d.doc.kind === 'ConfigMap')!.doc;
  const dep = docs.find((d) => d.doc.kind === 'Deployment')!.doc;
  const pod = dep.spec.template.spec;
  const preStop = Number(pod.containers[0].lifecycle.preStop.exec.command[1]);
  const graceMs = Number(cm.data.SHUTDOWN_GRACE_MS ?? graceDefault);
  t.ok(graceMs >= 10_000, 'the drain gets at least 10 s');
  t.ok(
    preStop + graceMs / 1000 + MARGIN_S <= pod.terminationGracePeriodSeconds,
    `${preStop} + ${graceMs / 1000} + ${MARGIN_S} <= ${pod.terminationGracePeriodSeconds}`,
  );
  const timeoutMs = Number(cm.data.REQUEST_TIMEOUT_MS ?? SETTINGS.find((s) => s.env === 'REQUEST_TIMEOUT_MS')!.default);
  t.ok(timeoutMs <= graceMs, 'a request accepted just before SIGTERM can run to its deadline within the drain');
});

t.test('docker compose: SHUTDOWN_GRACE_MS + margin <= stop_grace_period for every server', async (t) => {
  const compose = loadYaml('docker-compose.yml');
  const servers = Object.entries<any>(compose.services).filter(([, s]) => s.stop_grace_period !== undefined);
  t.ok(servers.length >= 1);
  for (const [name, svc] of servers) {
    const graceMs = Number(svc.environment?.SHUTDOWN_GRACE_MS ?? graceDefault);
    t.ok(
      graceMs / 1000 + MARGIN_S <= seconds(svc.stop_grace_period),
      `${name}: ${graceMs / 1000} + ${MARGIN_S} <= ${svc.stop_grace_period}`,
    );
  }
});
