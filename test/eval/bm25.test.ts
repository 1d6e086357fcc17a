// BM25 on a hand corpus: terms, a score worked out by hand, ordering, ties and the zero-score tail.
import t from 'tap';
import { BM25, charBigrams, wordTerms } from '../../src/eval/bm25.ts';

t.test('character bigrams inside each lowercased word; one-character words kept whole', async (t) => {
  t.same(charBigrams('Hello 세계 a'), ['he', 'el', 'll', 'lo', '세계', 'a']);
  t.same(charBigrams('  한국어\t검색\n'), ['한국', '국어', '검색']);
  // Split like Python's str.split(): U+001C is whitespace there (not in JS's \s); U+FEFF is not.
  t.same(charBigrams('a\x1cb'), ['a', 'b']);
  t.same(charBigrams('a\ufeffb'), ['a\ufeff', '\ufeffb']);
  // Code points, not UTF-16 units: an emoji pair is one bigram, a lone emoji one unigram.
  t.same(charBigrams('😀😁 😀'), ['😀😁', '😀']);
  t.same(charBigrams(''), []);
  t.same(wordTerms('Hello  세계 A'), ['hello', '세계', 'a']);
});

// doc 0 "한국어 검색" -> 한국 국어 검색 (3 terms); doc 1 "검색 엔진" -> 검색 엔진 (2);
// doc 2 "a b 한국" -> a b 한국 (3).
const docs = ['한국어 검색', '검색 엔진', 'a b 한국'];

t.test('scores match the hand computation', async (t) => {
  const bm25 = new BM25(docs);
  t.equal(bm25.size, 3);
  t.equal(bm25.avgLength, 8 / 3);
  // idf(df=2 of N=3) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6) = 0.4700036
  t.ok(Math.abs(bm25.idf('한국')! - Math.log(1.6)) < 1e-15);
  t.ok(Math.abs(bm25.idf('국어')! - Math.log(1 + 2.5 / 1.5)) < 1e-15, 'df=1: ln(1 + 2.5/1.5)');
  t.equal(bm25.idf('없음'), undefined);
  // norm = k1 (1 - b + b len/avg): doc 0 and 2: 1.2 (0.25 + 0.75 * 3 / (8/3)) = 1.3125;
  //   doc 1: 1.2 (0.25 + 0.75 * 2 / (8/3)) = 0.975
  // one term, tf 1: idf (k1 + 1) / (1 + norm) -> doc 0/2: 0.4700036 * 2.2 / 2.3125 = 0.4471386;
  //   doc 1: 0.4700036 * 2.2 / 1.975 = 0.5235483
  // query "한국 검색": doc 0 has both (0.8942772), doc 1 검색 only (0.5235483), doc 2 한국 only (0.4471386).
  const s = bm25.scores('한국 검색');
  const want = [2 * ((Math.log(1.6) * 2.2) / 2.3125), (Math.log(1.6) * 2.2) / 1.975, (Math.log(1.6) * 2.2) / 2.3125];
  for (let i = 0; i < 3; i++) t.ok(Math.abs(s[i]! - want[i]!) < 1e-12, `doc ${i}: ${s[i]} ~ ${want[i]}`);
  t.ok(Math.abs(s[0]! - 0.8942772) < 1e-6 && Math.abs(s[1]! - 0.5235483) < 1e-6 && Math.abs(s[2]! - 0.4471386) < 1e-6);
  // The shorter document 1 beats document 2 for the same idf.
  t.same(bm25.top('한국 검색', 3), [0, 1, 2]);
  t.same(bm25.top('한국 검색', 1), [0]);
  // A query term repeated counts twice (qtf): "엔진 엔진" doubles doc 1's 엔진 score.
  const once = bm25.scores('엔진')[1]!;
  t.ok(Math.abs(bm25.scores('엔진 엔진')[1]! - 2 * once) < 1e-15);
  // Scratch space is reset between queries.
  t.same(bm25.top('한국 검색', 3), [0, 1, 2]);
});

t.test('ties go to the lower index; documents sharing no term fill the tail in index order', async (t) => {
  const bm25 = new BM25(['포도', '사과 배', '귤', '사과 배', '바나나']);
  t.same(bm25.top('사과', 5), [1, 3, 0, 2, 4], 'docs 1 and 3 tie; then the zero-score docs 0, 2, 4');
  t.same(bm25.top('사과', 2), [1, 3]);
  t.same(bm25.top('없는 단어', 3), [0, 1, 2], 'no matching term: index order');
  t.same(bm25.top('사과', 10).length, 5, 'k above the corpus size');
  t.same(new BM25([]).top('사과', 3), []);
});

t.test('whitespace words as terms', async (t) => {
  const bm25 = new BM25(['한국어 검색', '검색 엔진', '한국 검색'], { terms: 'words' });
  // "한국" is a whole word only in doc 2; bigrams would also match doc 0 ("한국어").
  t.same(bm25.top('한국', 1), [2]);
  t.equal(bm25.scores('한국')[0], 0);
  t.ok(new BM25(['한국어 검색', '검색 엔진', '한국 검색']).scores('한국')[0]! > 0);
});

t.test('indexes 10k passages and answers 5k queries in seconds', async (t) => {
  // Synthetic Korean-like text from a fixed syllable set (deterministic LCG).
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const syllables = Array.from({ length: 400 }, (_, i) => String.fromCharCode(0xac00 + i * 7));
  const text = (words: number) =>
    Array.from({ length: words }, () => Array.from({ length: 1 + rand(4) }, () => syllables[rand(400)]).join('')).join(
      ' ',
    );
  const passages = Array.from({ length: 10_000 }, () => text(40));
  const queries = Array.from({ length: 5_000 }, () => text(5));
  const t0 = performance.now();
  const bm25 = new BM25(passages);
  for (const q of queries) bm25.top(q, 20);
  const secs = (performance.now() - t0) / 1000;
  t.comment(`10k passages indexed + 5k queries searched in ${secs.toFixed(2)} s`);
  t.ok(secs < 20, `took ${secs.toFixed(2)} s`);
});
