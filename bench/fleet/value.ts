// Every generated sample carries its identity in its value: value = seriesId · 2^SEQ_BITS + seq,
// where seq counts the samples of that series (0, 1, 2, ...). Doubles hold integers exactly
// up to 2^53, so a sink can read back (series, seq) from the value alone and check order,
// duplicates and loss without looking at labels or timestamps.

export const SEQ_BITS = 24;
export const SEQ_LIMIT = 2 ** SEQ_BITS; // 16.7 M samples per series
export const ID_LIMIT = 2 ** (53 - SEQ_BITS); // 536 M series

export function encodeValue(id: number, seq: number): number {
  return id * SEQ_LIMIT + seq;
}

/** The series id of a value; -1 when the value cannot have come from the generator. */
export function valueId(v: number): number {
  if (!(v >= 0 && v < 2 ** 53) || Math.floor(v) !== v) return -1;
  return Math.floor(v / SEQ_LIMIT);
}

export function valueSeq(v: number): number {
  return v % SEQ_LIMIT;
}
