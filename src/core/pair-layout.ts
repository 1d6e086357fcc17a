// The layout of a (query, passage) model input, read from the model's tokenizer.json post-processor: which special
// tokens go before, between and after the two texts, and which positions get token type 1.

/** The parts of tokenizer.json read here; any of them may be missing or of another shape in a file users bring. */
export interface TokenizerJson {
  post_processor?: unknown;
}

/**
 * How a (query, passage) pair becomes one model input, read from tokenizer.json's post-processor: the special token
 * ids before the query, between query and passage and after the passage, and where the token type ids turn from 0 to
 * 1 (BERT-family pairs: [CLS] q [SEP] p [SEP] with type ids 0 .. 0 1 .. 1; XLM-R / RoBERTa: all 0).
 */
export interface PairLayout {
  prefix: number[];
  middle: number[];
  suffix: number[];
  /**
   * The first position of token type 1: `offset`, plus the query's length when `afterQuery`; absent when every type
   * id is 0.
   */
  typeStart?: { offset: number; afterQuery: boolean };
  /** The post-processor it was read from (RobertaProcessing, BertProcessing, TemplateProcessing). */
  source: string;
}

/** Special tokens of one pair input: prefix + middle + suffix. */
export function layoutOverhead(layout: PairLayout): number {
  return layout.prefix.length + layout.middle.length + layout.suffix.length;
}

/** The first position of token type 1 in a pair input whose query has qLen tokens (undefined: all type 0). */
export function typeStartOf(layout: PairLayout, qLen: number): number | undefined {
  const t = layout.typeStart;
  return t === undefined ? undefined : t.offset + (t.afterQuery ? qLen : 0);
}

/** tokenizer.json's post-processor does not describe a pair layout the service can build exactly. */
export class UnsupportedTokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTokenizerError';
  }
}

type PostProcessor = {
  type?: unknown;
  cls?: unknown;
  sep?: unknown;
  pair?: unknown;
  special_tokens?: unknown;
  processors?: unknown;
};

/** [token, id] of RobertaProcessing / BertProcessing. */
function tokenId(v: unknown, what: string): number {
  if (Array.isArray(v) && typeof v[1] === 'number' && Number.isInteger(v[1])) return v[1];
  throw new UnsupportedTokenizerError(`its post_processor's ${what} is not a [token, id] pair`);
}

type Piece = { kind: 'A' | 'B' | 'special'; ids: number[]; typeId: number };

function templatePieces(pp: PostProcessor): Piece[] {
  const table = (pp.special_tokens ?? {}) as Record<string, { ids?: unknown } | undefined>;
  if (!Array.isArray(pp.pair)) throw new UnsupportedTokenizerError('its TemplateProcessing has no pair template');
  return pp.pair.map((item: unknown): Piece => {
    const it = item as {
      Sequence?: { id?: unknown; type_id?: unknown };
      SpecialToken?: { id?: unknown; type_id?: unknown };
    };
    if (it.Sequence && (it.Sequence.id === 'A' || it.Sequence.id === 'B')) {
      return { kind: it.Sequence.id, ids: [], typeId: Number(it.Sequence.type_id ?? 0) };
    }
    if (it.SpecialToken && typeof it.SpecialToken.id === 'string') {
      const ids = table[it.SpecialToken.id]?.ids;
      if (!Array.isArray(ids) || !ids.every((i) => Number.isInteger(i)))
        throw new UnsupportedTokenizerError(
          `its pair template names the special token ${JSON.stringify(it.SpecialToken.id)} without ids`,
        );
      return { kind: 'special', ids: ids as number[], typeId: Number(it.SpecialToken.type_id ?? 0) };
    }
    throw new UnsupportedTokenizerError(`its pair template has an item it cannot read: ${JSON.stringify(item)}`);
  });
}

function layoutOfPieces(pieces: Piece[], source: string): PairLayout {
  const a = pieces.findIndex((p) => p.kind === 'A');
  const b = pieces.findIndex((p) => p.kind === 'B');
  const count = (k: string) => pieces.filter((p) => p.kind === k).length;
  if (a < 0 || b < a || count('A') !== 1 || count('B') !== 1)
    throw new UnsupportedTokenizerError(
      'its pair template does not hold the query (A) once, then the passage (B) once',
    );
  const types = pieces.map((p) => p.typeId);
  if (!types.every((t, i) => (t === 0 || t === 1) && (i === 0 || t >= types[i - 1]!)))
    throw new UnsupportedTokenizerError(
      `its pair template's type ids [${types.join(', ')}] are not 0s then 1s (the only segment layout supported)`,
    );
  const ids = (from: number, to: number) => pieces.slice(from, to).flatMap((p) => p.ids);
  const layout: PairLayout = { prefix: ids(0, a), middle: ids(a + 1, b), suffix: ids(b + 1, pieces.length), source };
  const first = types.indexOf(1);
  if (first >= 0) {
    // Position of the first type-1 piece: the specials before it, plus the query's tokens when it follows the query.
    layout.typeStart = { offset: ids(0, first).length, afterQuery: first > a };
  }
  return layout;
}

const IGNORED_PROCESSORS = new Set(['ByteLevel']);

/**
 * Reads the pair layout from tokenizer.json's post-processor: RobertaProcessing (<s> q </s></s> p </s>, type ids 0),
 * BertProcessing ([CLS] q [SEP] p [SEP], type ids 0 then 1), TemplateProcessing's pair template (its special tokens
 * and type ids), or a Sequence of one of those with ByteLevel (which only moves offsets). Anything else throws
 * UnsupportedTokenizerError: the service would build pairs the model was not trained on.
 */
export function readPairLayout(tokenizerJson: TokenizerJson): PairLayout {
  const pp = tokenizerJson.post_processor as PostProcessor | null | undefined;
  if (!pp)
    throw new UnsupportedTokenizerError(
      'it has no post_processor, so the layout of a (query, passage) pair is unknown',
    );
  if (pp.type === 'Sequence') {
    const list = Array.isArray(pp.processors) ? (pp.processors as PostProcessor[]) : [];
    const pairing = list.filter((p) => !IGNORED_PROCESSORS.has(String(p?.type)));
    if (pairing.length !== 1)
      throw new UnsupportedTokenizerError(
        `its Sequence post_processor holds [${list.map((p) => String(p?.type)).join(', ')}]; one RobertaProcessing, BertProcessing or TemplateProcessing (with ByteLevel) is supported`,
      );
    return readPairLayout({ ...tokenizerJson, post_processor: pairing[0] as TokenizerJson['post_processor'] });
  }
  if (pp.type === 'RobertaProcessing') {
    const cls = tokenId(pp.cls, 'cls');
    const sep = tokenId(pp.sep, 'sep');
    return { prefix: [cls], middle: [sep, sep], suffix: [sep], source: 'RobertaProcessing' };
  }
  if (pp.type === 'BertProcessing') {
    const cls = tokenId(pp.cls, 'cls');
    const sep = tokenId(pp.sep, 'sep');
    return {
      prefix: [cls],
      middle: [sep],
      suffix: [sep],
      typeStart: { offset: 2, afterQuery: true },
      source: 'BertProcessing',
    };
  }
  if (pp.type === 'TemplateProcessing') return layoutOfPieces(templatePieces(pp), 'TemplateProcessing');
  throw new UnsupportedTokenizerError(
    `its post_processor is ${JSON.stringify(pp.type)}; supported: RobertaProcessing, BertProcessing, TemplateProcessing (or a Sequence holding one)`,
  );
}
