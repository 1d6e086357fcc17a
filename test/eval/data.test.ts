// Evaluation data: JSONL and CSV parsing, the corpus of distinct passages, NFC, skipped queries.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Corpus, DataError, loadData, parseCsv, parseCsvRecords, parseJsonl } from '../../src/eval/data.ts';

t.test('JSONL: corpus of distinct passages in order of first appearance, pos before neg', async (t) => {
  const text = [
    JSON.stringify({ query: '질문 하나', pos: ['정답 A'], neg: ['오답 B', '오답 C'] }),
    '',
    JSON.stringify({ id: 7, query: '질문 둘', pos: ['오답 B', '정답 D'] }),
    JSON.stringify({ query: '정답 없는 질문', pos: [], neg: ['오답 E'] }),
    JSON.stringify({ query: '   ', pos: ['정답 A'] }),
    JSON.stringify({ query: 'pos 없음' }),
  ].join('\r\n');
  const d = parseJsonl(text);
  t.same(d.passages, ['정답 A', '오답 B', '오답 C', '정답 D', '오답 E']);
  t.same(
    d.queries.map((q) => [q.id, q.query, [...q.positives]]),
    [
      [0, '질문 하나', [0]],
      [7, '질문 둘', [1, 3]],
    ],
    'ids: the row id, else the 0-based line number',
  );
  t.same(d.skipped, { noPositive: 2, emptyQuery: 1 });
});

t.test('JSONL: NFC-normalizes queries and passages, so decomposed and composed Hangul are one passage', async (t) => {
  const composed = '한국어';
  const decomposed = composed.normalize('NFD');
  t.not(decomposed, composed);
  const d = parseJsonl(
    [JSON.stringify({ query: decomposed, pos: [decomposed] }), JSON.stringify({ query: 'q', pos: [composed] })].join(
      '\n',
    ),
  );
  t.same(d.passages, [composed]);
  t.equal(d.queries[0]!.query, composed);
  t.same([...d.queries[1]!.positives], [0]);
});

t.test('JSONL: errors name the line', async (t) => {
  t.throws(() => parseJsonl('{"query": "a", "pos": ["b"]}\n{oops', {}, 'f.jsonl'), {
    name: 'DataError',
    message: /^f\.jsonl:2: not JSON/,
  });
  t.throws(() => parseJsonl('{"pos": ["b"]}', {}, 'f.jsonl'), { message: /f\.jsonl:1: "query" must be a string/ });
  t.throws(() => parseJsonl('{"query": "a", "pos": [1]}'), { message: /"pos" must be a string or a list of strings/ });
  t.throws(() => parseJsonl('[1, 2]'), { message: /expected a JSON object/ });
});

t.test('CSV records follow RFC 4180', async (t) => {
  t.same(parseCsvRecords('a,b\r\n1,2\r\n'), [
    ['a', 'b'],
    ['1', '2'],
  ]);
  // Quoted fields hold the delimiter, a doubled quote and a line break; empty fields stay.
  t.same(parseCsvRecords('q,p\n"a, b","say ""hi""\nnext line"\n,\n"",x'), [
    ['q', 'p'],
    ['a, b', 'say "hi"\nnext line'],
    ['', ''],
    ['', 'x'],
  ]);
  t.same(
    parseCsvRecords('\ufeffa\n\n1\n'),
    [['a'], ['1']],
    'BOM stripped, blank lines skipped, no trailing newline needed',
  );
  t.same(parseCsvRecords('a\tb\n"x\ty"\tz', '\t'), [
    ['a', 'b'],
    ['x\ty', 'z'],
  ]);
  t.throws(() => parseCsvRecords('a\n"open'), { name: 'DataError', message: /line 2: quoted field never closed/ });
  t.throws(() => parseCsvRecords('a\n"x"y'), { message: /after a closing quote/ });
  t.throws(() => parseCsvRecords('a\nx"y"'), { message: /a quote inside an unquoted field/ });
});

t.test('CSV: named columns, rows with the same query merged, empty passages skipped', async (t) => {
  const csv = [
    'id,question,answer',
    '1,"서울은 어디?","서울은 한국의 수도입니다, 그리고 큰 도시입니다."',
    '2,서울은 어디?,"서울에는 ""한강""이 흐릅니다."',
    '3,빈 정답,',
    '4,부산은?,부산은 항구 도시입니다.',
  ].join('\n');
  const d = parseCsv(csv, { queryColumn: 'question', passageColumn: 'answer' });
  t.same(d.passages, [
    '서울은 한국의 수도입니다, 그리고 큰 도시입니다.',
    '서울에는 "한강"이 흐릅니다.',
    '부산은 항구 도시입니다.',
  ]);
  t.same(
    d.queries.map((q) => [q.query, [...q.positives]]),
    [
      ['서울은 어디?', [0, 1]],
      ['부산은?', [2]],
    ],
  );
  t.same(d.skipped, { noPositive: 1, emptyQuery: 0 });
  t.throws(() => parseCsv(csv), {
    message: /no column "query" \(columns: "id", "question", "answer"\); use --query-column/,
  });
  t.throws(() => parseCsv(csv, { queryColumn: 'question' }), { message: /no column "passage".*--passage-column/ });
  t.throws(() => parseCsv(''), { message: /empty file/ });
});

t.test('loadData picks the format from the extension; a shared corpus keeps earlier passages first', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eval-data-'));
  const csv = path.join(dir, 'qa.csv');
  const tsv = path.join(dir, 'qa.tsv');
  const jsonl = path.join(dir, 'qa.jsonl');
  writeFileSync(csv, 'query,passage\n질문,"정답, 쉼표"\n');
  writeFileSync(tsv, 'query\tpassage\n질문\t정답\n');
  writeFileSync(jsonl, JSON.stringify({ query: '질문', pos: ['정답'], neg: ['다른 문단'] }) + '\n');
  t.same(loadData(csv).passages, ['정답, 쉼표']);
  t.same(loadData(tsv).passages, ['정답']);
  t.same(loadData(jsonl, { format: 'jsonl' }).passages, ['정답', '다른 문단']);
  const corpus = new Corpus();
  loadData(jsonl, { corpus });
  const d = loadData(tsv, { corpus });
  t.same(d.passages, ['정답', '다른 문단'], 'the TSV adds nothing new');
  t.same([...d.queries[0]!.positives], [0]);
  t.throws(() => loadData(path.join(dir, 'missing.jsonl')), DataError);
});
