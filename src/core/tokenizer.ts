// Tokenization: texts -> token ids without special tokens, then our own pair assembly (the layout read from the
// model's tokenizer.json post-processor) and truncation.
// The native Hugging Face `tokenizers` package, loading tokenizer.json from the local model directory only.
// (@huggingface/transformers was measured slower and disagrees on a fixture edge case: see
// bench/experiments/tokenizers.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readPairLayout, type PairLayout, type TokenizerJson } from './pair-layout.ts';
import { planPair } from './truncation.ts';

/** Encodes texts without special tokens. Input is NFC-normalized here, before the model's own normalizer. */
export interface TextTokenizer {
  readonly layout: PairLayout;
  encodeMany(texts: readonly string[]): Promise<number[][]>;
}

export interface EncodedPair {
  ids: number[];
  /** The passage was cut to fit max_len. */
  truncated: boolean;
  /** First position of token type 1 (undefined: all 0). */
  typeStart?: number;
}

/**
 * The reference pair rule (FlagEmbedding's reranker): the query is kept whole up to floor(maxLen * queryMaxShare)
 * tokens, only the passage is cut. ids = prefix q middle p suffix (XLM-R: <s> q </s></s> p </s>).
 */
export function assemblePair(
  q: readonly number[],
  p: readonly number[],
  maxLen: number,
  queryMaxShare: number,
  layout: PairLayout,
): EncodedPair {
  const plan = planPair(q, p, { maxLen, queryMaxShare, layout });
  return { ids: plan.seqs[0]!, truncated: plan.truncated, typeStart: plan.typeStart };
}

/** One tokenizer call takes at most this many texts, or this many UTF-16 code units (a text longer than that alone). */
export const TOKENIZER_CHUNK_TEXTS = 64;
export const TOKENIZER_CHUNK_CHARS = 32_768;

/** `texts` cut into consecutive chunks within TOKENIZER_CHUNK_TEXTS and TOKENIZER_CHUNK_CHARS (never empty ones). */
export function tokenizerChunks(texts: readonly string[]): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let chars = 0;
  for (const text of texts) {
    if (chunk.length > 0 && (chunk.length >= TOKENIZER_CHUNK_TEXTS || chars + text.length > TOKENIZER_CHUNK_CHARS)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(text);
    chars += text.length;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

class NativeTokenizer implements TextTokenizer {
  constructor(
    private readonly tok: import('tokenizers').Tokenizer,
    readonly layout: PairLayout,
  ) {}

  async encodeMany(texts: readonly string[]): Promise<number[][]> {
    const ids: number[][] = [];
    // encodeBatch runs on libuv's thread pool (and the library's own worker threads), off the event loop. A large
    // request goes in chunks, one after another: each call's native input and output stay bounded, and other
    // requests' calls and the event loop get a turn between chunks.
    for (const chunk of tokenizerChunks(texts)) {
      const encs = await this.tok.encodeBatch(
        chunk.map((t) => t.normalize('NFC')),
        { addSpecialTokens: false },
      );
      for (const e of encs) ids.push(e.getIds());
    }
    return ids;
  }
}

/**
 * Loads tokenizer.json from the local model directory with the native Hugging Face `tokenizers` package. Throws
 * UnsupportedTokenizerError when its post-processor gives no pair layout the service can build.
 */
export async function loadTokenizer(modelDir: string): Promise<TextTokenizer> {
  const file = path.join(modelDir, 'tokenizer.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
  const { Tokenizer } = await import('tokenizers');
  const tok = Tokenizer.fromFile(file);
  const layout = readPairLayout(json);
  // tokenizer.json may carry truncation/padding settings; we truncate and pad ourselves.
  tok.disableTruncation();
  tok.disablePadding();
  return new NativeTokenizer(tok, layout);
}
