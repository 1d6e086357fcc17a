// Helpers for the deployment checks (test/deploy/*.test.ts): Dockerfile stages, .dockerignore matching, compose
// interpolation, Kubernetes manifests, the vendored JSON schemas. Static only: no Docker engine, cluster or network.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Env, type Instruction } from 'dockerfile-ast';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const K8S_DIR = path.join(ROOT, 'deploy/k8s');
export const SCHEMA_DIR = path.join(ROOT, 'test/fixtures/schemas');

export function readRepoFile(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

// ---- Dockerfile -----------------------------------------------------------------------------------------------------

export interface Stage {
  name: string | null;
  /** FROM argument with the global ARG defaults (or buildArgs) substituted. */
  from: string;
  /** The stage this one is built FROM, when `from` names an earlier stage. */
  parent: Stage | null;
  instructions: Instruction[];
  /** ENV of this stage, including what it inherits from a parent stage. */
  env: Map<string, string>;
}

export interface ParsedDockerfile {
  args: Map<string, string>;
  stages: Stage[];
}

function substitute(text: string, vars: Map<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a, def, b) => {
    const name = a ?? b;
    return vars.get(name) ?? def ?? '';
  });
}

export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): ParsedDockerfile {
  const df = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  for (const a of df.getInitialARGs()) {
    const p = a.getProperty();
    if (p) args.set(p.getName(), p.getValue() ?? '');
  }
  for (const [k, v] of Object.entries(buildArgs)) args.set(k, v);
  const stages: Stage[] = [];
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const words = (ins.getArgumentsContent() ?? '').split(/\s+/).filter((w) => !w.startsWith('--'));
      const from = substitute(words[0] ?? '', args);
      const name = words.length >= 3 && words[1]!.toUpperCase() === 'AS' ? words[2]! : null;
      const parent = stages.find((s) => s.name === from) ?? null;
      stages.push({ name, from, parent, instructions: [], env: new Map(parent?.env ?? []) });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) continue; // global ARGs before the first FROM
    stage.instructions.push(ins);
    if (ins.getKeyword() === 'ENV') {
      for (const p of (ins as Env).getProperties()) stage.env.set(p.getName(), p.getValue() ?? '');
    }
  }
  return { args, stages };
}

export function keyword(stage: Stage, kw: string): Instruction[] {
  return stage.instructions.filter((i) => i.getKeyword() === kw);
}

/** ENTRYPOINT / CMD / HEALTHCHECK CMD in exec (JSON) form; null for the shell form. */
export function execForm(content: string | null): string[] | null {
  if (!content) return null;
  try {
    const v = JSON.parse(content.trim());
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

/** `COPY --from=X` source stage names of a stage. */
export function copyFromStages(stage: Stage): string[] {
  return keyword(stage, 'COPY')
    .map((i) => /--from=(\S+)/.exec(i.toString())?.[1])
    .filter((x): x is string => Boolean(x));
}

/** Image reference parts: registry/name, tag, digest. */
export function imageRef(ref: string): { name: string; tag: string | null; digest: string | null } {
  const [nameTag, digest = null] = ref.split('@') as [string, string?];
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > slash;
  return { name: hasTag ? nameTag.slice(0, colon) : nameTag, tag: hasTag ? nameTag.slice(colon + 1) : null, digest };
}

// ---- .dockerignore --------------------------------------------------------------------------------------------------

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether .dockerignore keeps `file` (a path relative to the context) out of the build context. */
export function dockerIgnored(dockerignore: string, file: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => ({
      negate: l.startsWith('!'),
      re: globToRegExp(path.posix.normalize(l.replace(/^!/, '').replace(/^\//, ''))),
    }));
  const parts = file.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
  return ignored;
}

// ---- YAML: compose and Kubernetes -----------------------------------------------------------------------------------

export function loadYaml(rel: string): any {
  return parseYaml(readRepoFile(rel));
}

/** Compose-style interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, $$ -> $. Returns the names it saw too. */
export function interpolate(value: unknown, env: Record<string, string> = {}, seen = new Set<string>()): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (m, a, op, def, b) => {
        if (m === '$$') return '$';
        const name = a ?? b;
        seen.add(name);
        const v = env[name];
        if (op === ':-') return v ? v : def;
        if (op === '-') return v ?? def;
        return v ?? '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, seen));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, seen)]));
  }
  return value;
}

/** Environment variable names of a compose service (map or KEY=VALUE list form). */
export function composeEnvNames(service: any): string[] {
  const env = service?.environment;
  if (!env) return [];
  if (Array.isArray(env)) return env.map((e: string) => String(e).split('=')[0]!);
  return Object.keys(env);
}

export interface Manifest {
  file: string;
  doc: any;
}

/** The committed renders of the kustomizations (scripts/k8s-validate.sh --write; CI checks they are current). */
export const RENDERED_DIR = path.join(K8S_DIR, 'rendered');

/** Directories (relative to deploy/k8s) holding a kustomization.yaml of kind Kustomization (not Component). */
export function kustomizationDirs(dir = K8S_DIR): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || path.join(dir, e.name) === RENDERED_DIR) continue;
    const sub = path.join(dir, e.name);
    const k = path.join(sub, 'kustomization.yaml');
    if (existsSync(k) && parseYaml(readFileSync(k, 'utf8'))?.kind === 'Kustomization')
      out.push(path.relative(K8S_DIR, sub));
    out.push(...kustomizationDirs(sub));
  }
  return out.sort();
}

/** The render file of a kustomization directory: overlays/hpa -> overlays-hpa.yaml. */
export const renderName = (dir: string) => `${dir.replaceAll('/', '-')}.yaml`;

export function renderedFiles(): string[] {
  return readdirSync(RENDERED_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

function parseManifests(file: string, text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const doc = d.toJS();
    if (doc) out.push({ file, doc });
  }
  return out;
}

/** The objects of one render (`overlays-hpa.yaml`). */
export function loadRendered(file: string): Manifest[] {
  return parseManifests(file, readFileSync(path.join(RENDERED_DIR, file), 'utf8'));
}

/** Every object that some kustomization renders, each once (the base's objects appear in every overlay). */
export function loadManifests(): Manifest[] {
  const seen = new Map<string, Manifest>();
  for (const file of renderedFiles()) {
    for (const m of loadRendered(file)) {
      const key = `${m.doc.apiVersion}/${m.doc.kind}/${m.doc.metadata?.namespace}/${m.doc.metadata?.name}`;
      if (!seen.has(key)) seen.set(key, m);
    }
  }
  return [...seen.values()];
}

/** Containers (init and regular) of a workload's pod template. */
export function podContainers(doc: any): any[] {
  const spec = doc?.spec?.template?.spec ?? {};
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** Env var names a manifest sets: ConfigMap data keys and containers' env entries. */
export function manifestEnvNames(doc: any): string[] {
  if (doc?.kind === 'ConfigMap') return Object.keys(doc.data ?? {});
  return podContainers(doc).flatMap((c) => (c.env ?? []).map((e: { name: string }) => e.name));
}

// ---- JSON schemas ---------------------------------------------------------------------------------------------------

export function loadSchema(file: string): any {
  return JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8'));
}

/** Key of a kind in the vendored Kubernetes bundle: kind:apps.v1.Deployment. */
export function k8sKindKey(apiVersion: string, kind: string): string {
  return `kind:${apiVersion.replaceAll('/', '.')}.${kind}`;
}
