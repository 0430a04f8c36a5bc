// Variant assignment, the same as the server's `GET /api/experiments/:id/assign`
// (shared/src/domain/assignment.rs) and GrowthBook's SDKs with `hashVersion: 2`:
// FNV-1a 32 over UTF-16 code units, hashed twice, then cumulative weight ranges.

/** FNV-1a, 32 bit, over a string's UTF-16 code units. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** GrowthBook hash version 2: a number in [0, 1) with 4 decimals. */
export function bucket(seed: string, value: string): number {
  return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
}

/** The index of the variant whose cumulative weight range holds `n`; the
 * last one when rounding leaves the very top uncovered, -1 without weight. */
export function choose(weights: number[], n: number): number {
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (!(total > 0)) return -1;
  let start = 0;
  for (let i = 0; i < weights.length; i++) {
    const end = start + weights[i] / total;
    if (n >= start && n < end) return i;
    start = end;
  }
  return weights.length - 1;
}
