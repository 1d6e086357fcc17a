// Tensor helpers of the inference worker.
// float16 -> float32, for models exported in fp16 (optimum --dtype fp16): their logits come back as IEEE half
// floats, which onnxruntime-node hands over as raw 16-bit words (Node 20 has no Float16Array).

/** One IEEE 754 binary16 value (as its 16-bit pattern) to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A tensor's data as float32, whether the graph's output is float32 or float16. */
export function toFloat32(type: string, data: unknown): Float32Array {
  if (type === 'float32') return data as Float32Array;
  if (type === 'float16') {
    const words = data as Uint16Array | { length: number; [i: number]: number };
    // A Float16Array (newer runtimes) already yields numbers; raw Uint16Array words are decoded.
    if (!(words instanceof Uint16Array)) return Float32Array.from(words as ArrayLike<number>);
    const out = new Float32Array(words.length);
    for (let i = 0; i < words.length; i++) out[i] = halfToFloat(words[i]!);
    return out;
  }
  throw new Error(`model output is ${type}; expected float32 or float16 logits`);
}

/**
 * Pads a [rows, seqLen] id/mask (and token type id) set on the right to the next multiple of `multiple` (new positions
 * masked out, type 0).
 */
export function padToMultiple(
  rows: number,
  seqLen: number,
  ids: BigInt64Array,
  mask: BigInt64Array,
  multiple: number,
  padId: number,
  typeIds?: BigInt64Array,
): { seqLen: number; ids: BigInt64Array; mask: BigInt64Array; typeIds?: BigInt64Array } {
  const padded = Math.ceil(seqLen / multiple) * multiple;
  if (padded === seqLen) return { seqLen, ids, mask, typeIds };
  const outIds = new BigInt64Array(rows * padded).fill(BigInt(padId));
  const outMask = new BigInt64Array(rows * padded);
  const outTypes = typeIds ? new BigInt64Array(rows * padded) : undefined;
  for (let r = 0; r < rows; r++) {
    outIds.set(ids.subarray(r * seqLen, (r + 1) * seqLen), r * padded);
    outMask.set(mask.subarray(r * seqLen, (r + 1) * seqLen), r * padded);
    outTypes?.set(typeIds!.subarray(r * seqLen, (r + 1) * seqLen), r * padded);
  }
  return { seqLen: padded, ids: outIds, mask: outMask, typeIds: outTypes };
}
