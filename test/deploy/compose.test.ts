// docker-compose.yml validates against the Compose specification schema (vendored: test/fixtures/schemas) and wires
// the services the issue asks for. Static only here; scripts/image-test.sh (CI) runs `docker compose up` / `down`.
import t from 'tap';
import { Ajv } from 'ajv';
import { createRequire } from 'node:module';
import {
  execForm,
  imageRef,
  interpolate,
  keyword,
  loadSchema,
  loadYaml,
  parseDockerfile,
  readRepoFile,
} from './lib.ts';
import { loadConfig } from '../../src/config.ts';

const schema = loadSchema('compose-spec.json');
const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json');
// draft-07 schema (Ajv's default draft), strictSchema: an unknown keyword in the schema throws (strictTypes is a
// style lint the spec does not follow)
const ajv = new Ajv({ allErrors: true, strictSchema: true, strictTypes: false, allowUnionTypes: true });
// the spec names the draft-07 meta-schema by its https URL; Ajv knows it as http://...#: same schema, second name
ajv.addMetaSchema({ ...draft07, $id: schema.$schema });
const validate = ajv.compile(schema);

const raw = loadYaml('docker-compose.yml');
// Compose validates after interpolation; with nothing set, the defaults apply.
const compose = interpolate(raw) as any;

function errors(doc: unknown): string {
  return validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

t.test('docker-compose.yml validates against the compose specification', async (t) => {
  t.equal(errors(compose), '');
});

t.test('the schema rejects what compose rejects', async (t) => {
  const clone = () => structuredClone(compose);
  const typo = clone();
  typo.services['ko-rerank'].healthcheck.start_perod = '10s';
  t.not(errors(typo), '', 'unknown healthcheck key');
  const badDevices = clone();
  badDevices.services['ko-rerank'].deploy.resources.reservations.devices[0].capabilities = 'gpu';
  t.not(errors(badDevices), '', 'capabilities must be a list');
  const badService = clone();
  badService.services['ko rerank'] = { image: 'x' };
  t.not(errors(badService), '', 'service names are [a-zA-Z0-9._-]');
  const unknownTop = clone();
  unknownTop.service = {};
  t.not(errors(unknownTop), '', 'unknown top-level key');
});

t.test('GPU service: nvidia device reservation, models volume, healthcheck on /ready', async (t) => {
  const gpu = compose.services['ko-rerank'];
  t.equal(gpu.build.target, 'gpu');
  t.same(gpu.deploy.resources.reservations.devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
  t.equal(gpu.environment.DEVICE, 'cuda');
  t.ok(gpu.volumes.includes('models:/models:ro'));
  t.ok('models' in compose.volumes, 'named volume declared');
  t.equal(gpu.profiles, undefined, 'starts with a plain `docker compose up`');
  t.same(gpu.command, ['serve']);
  t.equal(gpu.read_only, true);
  t.same(gpu.tmpfs, ['/tmp']);
  t.same(gpu.ports, ['8080:8080']);
});

t.test('cpu, bench and export profiles', async (t) => {
  const cpu = compose.services['ko-rerank-cpu'];
  t.same(cpu.profiles, ['cpu']);
  t.equal(cpu.build.target, 'cpu');
  t.equal(cpu.environment.DEVICE, 'cpu');
  t.equal(cpu.deploy, undefined, 'no GPU reservation');

  const bench = compose.services.bench;
  t.same(bench.profiles, ['bench']);
  t.match(bench.command.join(' '), /autocannon@\d+\.\d+\.\d+ /, 'pinned autocannon version');
  t.same(bench.depends_on, { 'ko-rerank': { condition: 'service_healthy' } });
  t.match(bench.command.at(-1), /^http:\/\/ko-rerank:8080\/rerank$/);
  const body = JSON.parse(bench.command.find((a: string) => a.startsWith('--body='))!.slice('--body='.length));
  t.type(body.query, 'string');
  t.equal(body.passages.length, 20);

  const exp = compose.services.export;
  t.same(exp.profiles, ['export']);
  t.equal(exp.build.target, 'export');
  t.ok(exp.volumes.includes('models:/models'), 'writes into the models volume');
});

t.test('compose matches the Dockerfile: targets exist, healthcheck = the image HEALTHCHECK on port 8080', async (t) => {
  const df = parseDockerfile(readRepoFile('Dockerfile'));
  const targets = new Set(df.stages.map((s) => s.name));
  for (const [name, svc] of Object.entries<any>(compose.services)) {
    if (svc.build) t.ok(targets.has(svc.build.target), `${name}: target ${svc.build.target} is a Dockerfile stage`);
  }
  const hc = compose.services['ko-rerank'].healthcheck;
  t.equal(hc.test[0], 'CMD');
  t.match(hc.test.join(' '), /127\.0\.0\.1:8080\/ready/);
  t.same(compose.services['ko-rerank-cpu'].healthcheck, hc);
  const imageHc = keyword(
    df.stages.find((s) => s.name === 'gpu')!,
    'HEALTHCHECK',
  )[0]!.getArgumentsContent()!;
  const imageCmd = execForm(imageHc.slice(imageHc.indexOf('CMD') + 3))!;
  t.equal(imageCmd[0], hc.test[1], 'same probe program (node)');
});

t.test(
  "the export service's flags are scripts/export_onnx.py's, and --fp16 writes the file the README serves",
  async (t) => {
    const script = readRepoFile('scripts/export_onnx.py');
    const declared = new Set([...script.matchAll(/add_argument\("(--[\w-]+)"/g)].map((m) => m[1]));
    const used = (compose.services.export.command as string[]).filter((a) => a.startsWith('--'));
    t.ok(used.length >= 2);
    for (const flag of used) t.ok(declared.has(flag), `${flag} is an export_onnx.py option`);
    t.match(script, /model_fp16\.onnx/, 'MODEL_FILE=model_fp16.onnx exists after --fp16');
  },
);

t.test('images pulled from a registry are pinned to a version tag', async (t) => {
  for (const [name, svc] of Object.entries<any>(compose.services)) {
    if (svc.build) continue; // built here: the image name is a local tag
    const ref = imageRef(svc.image);
    t.ok(ref.digest || (ref.tag && ref.tag !== 'latest' && /\d+\.\d+/.test(ref.tag)), `${name}: ${svc.image}`);
  }
  t.ok(
    Object.values<any>(compose.services).some((s) => !s.build),
    'at least one pulled image (bench)',
  );
});

t.test('interpolation: MODEL_DIR picks the exported model when set', async (t) => {
  const withModel = interpolate(raw, { MODEL_DIR: '/models/ko-reranker' }) as any;
  t.equal(withModel.services['ko-rerank'].environment.MODEL_DIR, '/models/ko-reranker');
  t.equal(compose.services['ko-rerank'].environment.MODEL_DIR, '/app/models/ko-reranker-small');
});

t.test('the defaults name no ONNX file: the server picks the one the model directory ships', async (t) => {
  // A hard-coded MODEL_FILE (it was ${MODEL_FILE:-model.onnx}) crash-loops on a model that ships another file (the
  // embedded ko-reranker-small ships onnx/model_int8_weights.onnx only); the server's default, auto, picks the file.
  for (const [name, svc] of Object.entries<any>(compose.services)) {
    t.notOk('MODEL_FILE' in (svc.environment ?? {}), `${name}: no MODEL_FILE default`);
  }
  t.notMatch(readRepoFile('docker-compose.yml'), /MODEL_FILE:-/, 'no ${MODEL_FILE:-...} default either');
  t.equal(loadConfig([], {}).modelFile, 'auto', "the server's default picks the file");
  // scripts/image-test.sh starts `docker compose up` with these defaults and checks that both services serve
});
