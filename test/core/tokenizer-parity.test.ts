// The tokenizer we ship (native `tokenizers`) produces exactly the reference ids (Python SentencePiece + our pair rule)
// for every fixture pair. (bench/experiments/tokenizers.ts checks @huggingface/transformers
// the same way; it is not shipped.)
import t from 'tap';
import { readModelDir } from '../../src/backend/model-dir.ts';
import {
  assemblePair,
  loadTokenizer,
  tokenizerChunks,
  TOKENIZER_CHUNK_CHARS,
  TOKENIZER_CHUNK_TEXTS,
} from '../../src/core/tokenizer.ts';
import { loadReference, testConfig } from '../helpers/server.ts';

const ref = await loadReference();
const model = readModelDir(ref.model_dir);

t.test('the model directory gives the fixture max_len', async (t) => {
  t.equal(model.maxLen, ref.max_len);
  t.ok(ref.pairs.length >= 10, `${ref.pairs.length} fixture pairs`);
});

{
  const impl = 'tokenizers';
  t.test(`${impl}: ids equal the reference for every fixture pair`, async (t) => {
    const tok = await loadTokenizer(model.dir);
    t.same(tok.layout, { prefix: [0], middle: [2, 2], suffix: [2], source: 'TemplateProcessing' });
    const encoded = await tok.encodeMany(ref.pairs.flatMap((p) => [p.query, p.passage]));
    ref.pairs.forEach((p, i) => {
      const pair = assemblePair(encoded[2 * i]!, encoded[2 * i + 1]!, ref.max_len, ref.query_max_share, tok.layout);
      t.same(pair.ids, p.input_ids, `${impl}: ${p.name}`);
      t.equal(pair.truncated, p.truncated, `${impl}: ${p.name} truncated flag`);
    });
  });
}

t.test('assemblePair keeps the query whole and cuts only the passage', async (t) => {
  const special = { prefix: [0], middle: [2, 2], suffix: [2], source: 'RobertaProcessing' };
  const q = Array.from({ length: 10 }, (_, i) => 100 + i);
  const p = Array.from({ length: 30 }, (_, i) => 200 + i);
  const out = assemblePair(q, p, 32, 0.75, special);
  t.equal(out.ids.length, 32);
  t.same(out.ids.slice(0, 12), [0, ...q, 2]);
  t.same(out.ids.slice(12, 13), [2]);
  t.equal(out.ids.at(-1), 2);
  t.ok(out.truncated);
  const longQ = Array.from({ length: 40 }, (_, i) => 100 + i);
  const capped = assemblePair(longQ, p, 32, 0.75, special);
  t.equal(capped.ids.length, 32, 'query capped at floor(32 * 0.75) = 24, passage gets 4');
  t.same(capped.ids.slice(1, 25), longQ.slice(0, 24));
  const short = assemblePair([5], [6], 32, 0.75, special);
  t.same(short.ids, [0, 5, 2, 2, 6, 2]);
  t.notOk(short.truncated);
});

t.test('tokenizerChunks: consecutive chunks within the text and character caps, nothing lost', async (t) => {
  const texts = Array.from({ length: 300 }, (_, i) => 'x'.repeat(i % 7 === 0 ? TOKENIZER_CHUNK_CHARS + 5 : 100 + i));
  const chunks = tokenizerChunks(texts);
  t.same(chunks.flat(), texts, 'in order, every text once');
  t.ok(chunks.length > 300 / TOKENIZER_CHUNK_TEXTS, `${chunks.length} chunks`);
  for (const c of chunks) {
    t.ok(c.length >= 1 && c.length <= TOKENIZER_CHUNK_TEXTS);
    const chars = c.reduce((n, s) => n + s.length, 0);
    t.ok(c.length === 1 || chars <= TOKENIZER_CHUNK_CHARS, `${c.length} texts, ${chars} chars`);
  }
  t.same(tokenizerChunks([]), []);
  t.same(tokenizerChunks(['a', 'b']), [['a', 'b']]);
});

t.test('a large request is tokenized in chunks with the same ids as each text alone', async (t) => {
  const tok = await loadTokenizer(testConfig().modelDir);
  const sentence = '한국의 여러 도시와 음식, 역사에 관한 긴 문단이다. ';
  const large = Array.from({ length: 1000 }, (_, i) => `${i}: ${sentence.repeat(30)}`);
  const some = [0, 1, 63, 64, 65, 500, 999];
  const alone = await Promise.all(some.map(async (i) => (await tok.encodeMany([large[i]!]))[0]));
  const ids = await tok.encodeMany(large);
  t.equal(ids.length, 1000);
  t.same(
    some.map((i) => ids[i]),
    alone,
    'chunked ids equal each text encoded alone',
  );
});
