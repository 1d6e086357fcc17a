// Tokenization: texts -> token ids without special tokens, then our own pair assembly and truncation.
// The native Hugging Face `tokenizers` package, loading tokenizer.json from the local model directory only.
// (@huggingface/transformers was measured slower and disagrees on a fixture edge case: see
// bench/experiments/tokenizers.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { planPair } from './truncation.ts';

export interface SpecialIds {
  cls: number;
  sep: number;
}

/** Encodes texts without special tokens. Input is NFC-normalized here, before the model's own normalizer. */
export interface TextTokenizer {
  readonly special: SpecialIds;
  encodeMany(texts: readonly string[]): Promise<number[][]>;
}

/** The parts of tokenizer.json read here; any of them may be missing or of another shape in a file users bring. */
export interface TokenizerJson {
  post_processor?: {
    type?: string;
    cls?: [string, number];
    sep?: [string, number];
    single?: { SpecialToken?: { id: string } }[];
    special_tokens?: Record<string, { ids?: number[] } | undefined>;
  } | null;
  added_tokens?: { id: number; content: string }[];
}

/**
 * Reads the pair's special token ids from tokenizer.json's post-processor (TemplateProcessing or RobertaProcessing).
 */
export function readSpecialIds(tokenizerJson: TokenizerJson): SpecialIds {
  const pp = tokenizerJson.post_processor;
  const vocabId = (token: string): number | undefined => {
    const added = tokenizerJson.added_tokens ?? [];
    return added.find((t) => t.content === token)?.id;
  };
  if (pp?.type === 'RobertaProcessing' && Array.isArray(pp.cls) && Array.isArray(pp.sep)) {
    return { cls: pp.cls[1], sep: pp.sep[1] };
  }
  const table = pp?.special_tokens;
  if (pp?.type === 'TemplateProcessing' && Array.isArray(pp.single) && table) {
    const specials = pp.single.flatMap((p) => (p.SpecialToken ? [p.SpecialToken.id] : []));
    const idOf = (tok: string | undefined): number | undefined => (tok ? table[tok]?.ids?.[0] : undefined);
    const cls = idOf(specials[0]);
    const sep = idOf(specials[specials.length - 1]);
    if (cls !== undefined && sep !== undefined) return { cls, sep };
  }
  const cls = vocabId('<s>');
  const sep = vocabId('</s>');
  if (cls === undefined || sep === undefined) throw new Error('cannot find the <s> and </s> ids in tokenizer.json');
  return { cls, sep };
}

export interface EncodedPair {
  ids: number[];
  /** The passage was cut to fit max_len. */
  truncated: boolean;
}

/**
 * The reference pair rule (FlagEmbedding's reranker): the query is kept whole up to floor(maxLen * queryMaxShare)
 * tokens, only the passage is cut. ids = <s> q </s></s> p </s>.
 */
export function assemblePair(
  q: readonly number[],
  p: readonly number[],
  maxLen: number,
  queryMaxShare: number,
  special: SpecialIds,
): EncodedPair {
  const plan = planPair(q, p, { maxLen, queryMaxShare, special });
  return { ids: plan.seqs[0]!, truncated: plan.truncated };
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
    readonly special: SpecialIds,
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

/** Loads tokenizer.json from the local model directory with the native Hugging Face `tokenizers` package. */
export async function loadTokenizer(modelDir: string): Promise<TextTokenizer> {
  const file = path.join(modelDir, 'tokenizer.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
  const { Tokenizer } = await import('tokenizers');
  const tok = Tokenizer.fromFile(file);
  // tokenizer.json may carry truncation/padding settings; we truncate and pad ourselves.
  tok.disableTruncation();
  tok.disablePadding();
  return new NativeTokenizer(tok, readSpecialIds(json));
}
