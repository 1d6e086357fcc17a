// Evaluation data: queries with their positive passages, and the corpus of every distinct passage.
// Mirrors scripts/modelkit/data.py: texts are NFC-normalized, passages are numbered in order of first appearance
// (pos before neg, line by line), queries with no positive are skipped and counted.

import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface EvalQuery {
  /**
   * JSONL: the row's "id" if it has one, else its 0-based line number. CSV: the 1-based data row
   * where the query first appears.
   */
  id: string | number;
  query: string;
  /** Corpus indexes of the relevant passages. */
  positives: Set<number>;
}

export interface EvalData {
  /** Every distinct passage, in order of first appearance. */
  passages: string[];
  queries: EvalQuery[];
  skipped: { noPositive: number; emptyQuery: number };
}

export type DataFormat = 'jsonl' | 'csv' | 'tsv';

export interface LoadOptions {
  format?: DataFormat;
  /** CSV: the query column's header (default "query"). */
  queryColumn?: string;
  /** CSV: the ground-truth passage column's header (default "passage"). */
  passageColumn?: string;
  /** Passages already in the corpus (e.g. from --corpus); new ones are appended. */
  corpus?: Corpus;
}

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export const nfc = (text: string): string => text.normalize('NFC');

/** The distinct passages, numbered in order of first appearance. */
export class Corpus {
  readonly passages: string[] = [];
  private readonly index = new Map<string, number>();

  add(text: string): number {
    const t = nfc(text);
    let i = this.index.get(t);
    if (i === undefined) {
      i = this.passages.length;
      this.index.set(t, i);
      this.passages.push(t);
    }
    return i;
  }
}

export function formatOf(file: string): DataFormat {
  const ext = path.extname(file).toLowerCase();
  return ext === '.csv' ? 'csv' : ext === '.tsv' ? 'tsv' : 'jsonl';
}

export function loadData(file: string, opts: LoadOptions = {}): EvalData {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const format = opts.format ?? formatOf(file);
  return format === 'jsonl'
    ? parseJsonl(text, opts, file)
    : parseCsv(text, { ...opts, delimiter: format === 'tsv' ? '\t' : ',' }, file);
}

function stringList(value: unknown, field: string, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new DataError(`${where}: "${field}" must be a string or a list of strings`);
}

/**
 * JSONL, one object a line: {"query": str, "pos": [str], "neg": [str]} (ko-reranker's fine-tuning format; "neg" optional,
 * "id" optional as in data/msmarco-ko). Each line is one query. Blank lines are ignored.
 */
export function parseJsonl(text: string, opts: Pick<LoadOptions, 'corpus'> = {}, name = 'input'): EvalData {
  const corpus = opts.corpus ?? new Corpus();
  const queries: EvalQuery[] = [];
  const skipped = { noPositive: 0, emptyQuery: 0 };
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = n === 0 ? lines[n]!.replace(/^\uFEFF/, '') : lines[n]!;
    if (line.trim() === '') continue;
    const where = `${name}:${n + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new DataError(`${where}: not JSON: ${(err as Error).message}`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new DataError(`${where}: expected a JSON object`);
    const r = row as Record<string, unknown>;
    if (typeof r.query !== 'string') throw new DataError(`${where}: "query" must be a string`);
    const positives = new Set(stringList(r.pos, 'pos', where).map((p) => corpus.add(p)));
    for (const neg of stringList(r.neg, 'neg', where)) corpus.add(neg);
    const id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : n;
    push(queries, skipped, id, r.query, positives);
  }
  return { passages: corpus.passages, queries, skipped };
}

function push(
  queries: EvalQuery[],
  skipped: EvalData['skipped'],
  id: string | number,
  query: string,
  positives: Set<number>,
): void {
  const q = nfc(query);
  if (positives.size === 0) skipped.noPositive++;
  else if (q.trim() === '') skipped.emptyQuery++;
  else queries.push({ id, query: q, positives });
}

/** RFC 4180 records: quoted fields may hold the delimiter, line breaks and "" for a quote; CRLF or LF line ends. */
export function parseCsvRecords(text: string, delimiter = ','): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let quoted = false;
  let line = 1;
  let quoteLine = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
          throw new DataError(`line ${line}: unexpected ${JSON.stringify(next)} after a closing quote`);
        }
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== '')
        throw new DataError(
          `line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`,
        );
      quoted = true;
      quoteLine = line;
      i++;
    } else if (c === delimiter) {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new DataError(`line ${quoteLine}: quoted field never closed`);
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  // Blank lines are not records.
  return records.filter((r) => !(r.length === 1 && r[0] === ''));
}

/**
 * CSV (or TSV) with a header row; one row = one (query, ground-truth passage) pair. Rows with the same query
 * (after NFC) are one query with several positives; a row with an empty passage adds no positive.
 */
export function parseCsv(
  text: string,
  opts: Pick<LoadOptions, 'queryColumn' | 'passageColumn' | 'corpus'> & { delimiter?: string } = {},
  name = 'input',
): EvalData {
  const corpus = opts.corpus ?? new Corpus();
  const records = parseCsvRecords(text, opts.delimiter ?? ',');
  if (records.length === 0) throw new DataError(`${name}: empty file (expected a header row)`);
  const header = records[0]!.map((h) => h.trim());
  const queryName = opts.queryColumn ?? 'query';
  const passageName = opts.passageColumn ?? 'passage';
  const qc = header.indexOf(queryName);
  const pc = header.indexOf(passageName);
  const columns = header.map((h) => JSON.stringify(h)).join(', ');
  if (qc < 0)
    throw new DataError(`${name}: no column ${JSON.stringify(queryName)} (columns: ${columns}); use --query-column`);
  if (pc < 0)
    throw new DataError(
      `${name}: no column ${JSON.stringify(passageName)} (columns: ${columns}); use --passage-column`,
    );
  const byQuery = new Map<string, { id: number; query: string; positives: Set<number> }>();
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    const query = nfc(rec[qc] ?? '');
    const passage = rec[pc] ?? '';
    let entry = byQuery.get(query);
    if (!entry) byQuery.set(query, (entry = { id: r, query, positives: new Set() }));
    if (passage.trim() !== '') entry.positives.add(corpus.add(passage));
  }
  const queries: EvalQuery[] = [];
  const skipped = { noPositive: 0, emptyQuery: 0 };
  for (const e of byQuery.values()) push(queries, skipped, e.id, e.query, e.positives);
  return { passages: corpus.passages, queries, skipped };
}
