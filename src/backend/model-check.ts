// Start-up checks of a model directory, before the port is bound: the ONNX file is a readable ModelProto whose
// graph takes input_ids and attention_mask and gives [batch, 1] logits, tokenizer.json parses, and the tokenizer's largest id has a row in the
// model's word-embedding table. Each failure is one line naming the file and the fix (ModelDirError).
// The ONNX protobuf is walked with positional reads: tensor data is skipped, never loaded.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { ModelDirError, type ModelDir } from './model-dir.ts';

const SUPPORTED_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

class Corrupt extends Error {}

/** Positional byte reader over a file with a small window. */
class FileBytes {
  private readonly fd: number;
  readonly size: number;
  private window = Buffer.alloc(0);
  private start = 0;

  constructor(file: string) {
    this.fd = openSync(file, 'r');
    this.size = fstatSync(this.fd).size;
  }

  byte(pos: number): number {
    if (pos >= this.size) throw new Corrupt(`unexpected end of file at byte ${pos}`);
    if (pos < this.start || pos >= this.start + this.window.length) {
      this.window = Buffer.alloc(Math.min(64 * 1024, this.size - pos));
      readSync(this.fd, this.window, 0, this.window.length, pos);
      this.start = pos;
    }
    return this.window[pos - this.start]!;
  }

  bytes(pos: number, n: number): Buffer {
    if (pos + n > this.size) throw new Corrupt(`a field runs past the end of the file (byte ${pos} + ${n})`);
    const out = Buffer.alloc(n);
    readSync(this.fd, out, 0, n, pos);
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

interface Field {
  num: number;
  wire: number;
  /** varint value (wire 0) */
  value: number;
  /** payload start and end (wire 2) */
  start: number;
  end: number;
}

function varint(f: FileBytes, pos: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const b = f.byte(pos++);
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new Corrupt('a varint is longer than 10 bytes');
}

/** The fields of the message in [pos, end). */
function* fields(f: FileBytes, pos: number, end: number): Generator<Field> {
  while (pos < end) {
    let tag: number;
    [tag, pos] = varint(f, pos);
    const num = Math.floor(tag / 8);
    const wire = tag % 8;
    if (num === 0) throw new Corrupt(`field number 0 at byte ${pos}`);
    if (wire === 0) {
      let value: number;
      [value, pos] = varint(f, pos);
      yield { num, wire, value, start: pos, end: pos };
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = varint(f, pos);
      if (pos + len > end) throw new Corrupt(`field ${num} runs past its message (byte ${pos} + ${len} > ${end})`);
      yield { num, wire, value: len, start: pos, end: pos + len };
      pos += len;
    } else throw new Corrupt(`unsupported wire type ${wire} at byte ${pos}`);
    if (pos > end) throw new Corrupt(`a fixed-size field runs past its message at byte ${pos}`);
  }
}

export interface OnnxOutput {
  name: string;
  /** Dimensions: a number, a symbolic name, or undefined when the file does not say; dims undefined: no shape. */
  dims?: (number | string | undefined)[];
}

export interface OnnxSummary {
  inputs: string[];
  outputs: OnnxOutput[];
  /** Rows of the word-embedding initializer (vocabulary size), when the graph has one by that name. */
  embeddingRows?: number;
}

/** A graph output's ValueInfoProto: its name (1) and tensor shape (type 2 > tensor_type 1 > shape 2 > dim 1). */
function readValueInfo(f: FileBytes, v: Field): OnnxOutput {
  const out: OnnxOutput = { name: '' };
  const sub = (field: Field, num: number) =>
    [...fields(f, field.start, field.end)].find((x) => x.num === num && x.wire === 2);
  for (const x of fields(f, v.start, v.end)) {
    if (x.num === 1 && x.wire === 2) out.name = f.bytes(x.start, x.end - x.start).toString('utf8');
    if (x.num !== 2 || x.wire !== 2) continue;
    const tensor = sub(x, 1);
    const shape = tensor && sub(tensor, 2);
    if (!shape) continue;
    out.dims = [];
    for (const d of fields(f, shape.start, shape.end)) {
      if (d.num !== 1 || d.wire !== 2) continue;
      let dim: number | string | undefined;
      for (const y of fields(f, d.start, d.end)) {
        if (y.num === 1 && y.wire === 0) dim = y.value;
        else if (y.num === 2 && y.wire === 2) dim = f.bytes(y.start, y.end - y.start).toString('utf8');
      }
      out.dims.push(dim);
    }
  }
  return out;
}

/** Reads the graph inputs and the word-embedding shape of an ONNX file. Throws Corrupt on a malformed file. */
export function readOnnxSummary(file: string): OnnxSummary {
  const f = new FileBytes(file);
  try {
    if (f.size === 0) throw new Corrupt('the file is empty');
    let graph: Field | undefined;
    let irVersion: number | undefined;
    let opsets = 0;
    for (const field of fields(f, 0, f.size)) {
      if (field.num === 1 && field.wire === 0) irVersion = field.value;
      if (field.num === 7 && field.wire === 2) graph = field;
      if (field.num === 8 && field.wire === 2) opsets++;
    }
    if (irVersion === undefined || graph === undefined) throw new Corrupt('no ir_version or no graph');
    // Exporters write opset_import after the graph: a file cut right after its graph has none (onnxruntime refuses it).
    if (opsets === 0) throw new Corrupt('no opset_import after the graph');
    const inputs: string[] = [];
    const outputs: OnnxOutput[] = [];
    const initializers = new Set<string>();
    let embeddingRows: number | undefined;
    const pending: { name: string; type: 'input' }[] = [];
    for (const g of fields(f, graph.start, graph.end)) {
      if (g.wire !== 2) continue;
      if (g.num === 12) outputs.push(readValueInfo(f, g));
      else if (g.num === 11) {
        for (const v of fields(f, g.start, g.end))
          if (v.num === 1 && v.wire === 2)
            pending.push({ name: f.bytes(v.start, v.end - v.start).toString('utf8'), type: 'input' });
      } else if (g.num === 5) {
        let name = '';
        const dims: number[] = [];
        for (const t of fields(f, g.start, g.end)) {
          if (t.num === 8 && t.wire === 2) name = f.bytes(t.start, t.end - t.start).toString('utf8');
          else if (t.num === 1 && t.wire === 0) dims.push(t.value);
          else if (t.num === 1 && t.wire === 2) for (let p = t.start; p < t.end;) [dims[dims.length], p] = varint(f, p);
        }
        initializers.add(name);
        if (/word_embeddings/.test(name) && dims.length === 2 && embeddingRows === undefined) embeddingRows = dims[0];
      }
    }
    // Old exporters list initializers among the inputs too: those are not fed.
    for (const p of pending) if (!initializers.has(p.name)) inputs.push(p.name);
    return { inputs, outputs, embeddingRows };
  } finally {
    f.close();
  }
}

/** The largest token id tokenizer.json can produce (vocab and added tokens). */
export function tokenizerMaxId(json: unknown): number | undefined {
  const t = json as { model?: { vocab?: unknown }; added_tokens?: { id?: unknown }[] };
  let max: number | undefined;
  const see = (id: unknown) => {
    if (typeof id === 'number' && Number.isInteger(id) && (max === undefined || id > max)) max = id;
  };
  const vocab = t.model?.vocab;
  if (Array.isArray(vocab)) see(vocab.length - 1);
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) see(id);
  for (const a of t.added_tokens ?? []) see(a.id);
  return max;
}

/** What a JSON value is, for a message: `null`, `an array`, `a number`... */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Throws ModelDirError (one line: the file and the fix) when the model directory cannot be served. */
export function checkModel(model: ModelDir): OnnxSummary {
  const onnx = model.onnxPath;
  let summary: OnnxSummary;
  try {
    summary = readOnnxSummary(onnx);
  } catch (err) {
    if (!(err instanceof Corrupt)) throw new ModelDirError(`cannot read ${onnx}: ${(err as Error).message}`);
    throw new ModelDirError(
      `${onnx} is not a valid ONNX model (${err.message}): the file is corrupt or truncated; export it again (scripts/export_onnx.py) or download it again`,
    );
  }
  const missing = ['input_ids', 'attention_mask'].filter((n) => !summary.inputs.includes(n));
  const extra = summary.inputs.filter((n) => !SUPPORTED_INPUTS.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new ModelDirError(
      `${onnx} has graph inputs [${summary.inputs.join(', ')}] but a reranker needs input_ids and attention_mask (token_type_ids optional, nothing else): export a sequence-classification model (scripts/export_onnx.py, optimum task text-classification)`,
    );
  }
  const logits = summary.outputs.find((o) => o.name === 'logits') ?? summary.outputs[0];
  if (!logits)
    throw new ModelDirError(
      `${onnx} has no graph output: export a sequence-classification model (scripts/export_onnx.py)`,
    );
  const dims = logits.dims;
  const shown = dims ? `[${dims.map((d) => d ?? '?').join(', ')}]` : '';
  if (dims && dims.length !== 2)
    throw new ModelDirError(
      `${onnx}: its output ${logits.name} has shape ${shown}, not [batch, 1] logits: export a sequence-classification model with one label (scripts/export_onnx.py); models with hidden states or token logits are not rerankers`,
    );
  if (dims && typeof dims[1] === 'number' && dims[1] !== 1)
    throw new ModelDirError(
      `${onnx}: its output ${logits.name} has shape ${shown}: ${dims[1]} labels, but a reranker scores a pair with one logit (num_labels 1); a ${dims[1]}-label classifier (e.g. NLI) is not served`,
    );
  let tokenizer: unknown;
  try {
    tokenizer = JSON.parse(readFileSync(model.tokenizerPath, 'utf8'));
  } catch (err) {
    throw new ModelDirError(
      `${model.tokenizerPath} is not valid JSON (${(err as Error).message.split('\n')[0]}): copy the tokenizer.json saved with this model`,
    );
  }
  if (tokenizer === null || typeof tokenizer !== 'object' || Array.isArray(tokenizer)) {
    throw new ModelDirError(
      `${model.tokenizerPath} holds ${describeJson(tokenizer)}, not a tokenizer object: copy the tokenizer.json saved with this model`,
    );
  }
  const maxId = tokenizerMaxId(tokenizer);
  if (maxId === undefined)
    throw new ModelDirError(`${model.tokenizerPath} has no model.vocab: copy the tokenizer.json saved with this model`);
  if (summary.embeddingRows !== undefined && maxId >= summary.embeddingRows) {
    throw new ModelDirError(
      `${model.tokenizerPath} does not match ${onnx}: the tokenizer has ids up to ${maxId} but the model's word embedding has ${summary.embeddingRows} rows; use the tokenizer.json saved with this model`,
    );
  }
  return summary;
}
