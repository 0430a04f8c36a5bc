// The variant editor's validation, matching the API's rules: 2–10 variants,
// unique non-empty names of at most 128 characters, weights in (0, 100]
// summing to 100.

export interface VariantDraft {
  name: string;
  /** As typed. */
  weight: string;
}

export interface VariantValidation {
  valid: boolean;
  /** Problems with the list as a whole. */
  errors: string[];
  /** Per row: a message for the name and for the weight, if any. */
  rows: { name?: string; weight?: string }[];
  total: number;
}

export const MIN_VARIANTS = 2;
export const MAX_VARIANTS = 10;
export const MAX_VARIANT_NAME = 128;
const TOLERANCE = 1e-6;

export function parseWeight(raw: string): number | null {
  const t = raw.trim();
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export function validateVariants(variants: VariantDraft[]): VariantValidation {
  const errors: string[] = [];
  const rows: VariantValidation['rows'] = variants.map(() => ({}));
  if (variants.length < MIN_VARIANTS || variants.length > MAX_VARIANTS) {
    errors.push(`Use ${MIN_VARIANTS} to ${MAX_VARIANTS} variants (now ${variants.length}).`);
  }
  const seen = new Map<string, number>();
  let total = 0;
  let weightsOk = true;
  variants.forEach((v, i) => {
    const name = v.name.trim();
    if (!name) rows[i].name = 'Name is required.';
    else if ([...name].length > MAX_VARIANT_NAME) rows[i].name = `At most ${MAX_VARIANT_NAME} characters.`;
    else if (seen.has(name)) {
      rows[i].name = 'Names must be unique.';
      const first = seen.get(name)!;
      rows[first].name ??= 'Names must be unique.';
    } else seen.set(name, i);
    const w = parseWeight(v.weight);
    if (w === null) {
      rows[i].weight = 'Enter a number.';
      weightsOk = false;
    } else if (!(w > 0 && w <= 100)) {
      rows[i].weight = 'Between 0 (exclusive) and 100.';
      weightsOk = false;
      total += w;
    } else total += w;
  });
  if (rows.some((r) => r.name === 'Names must be unique.')) errors.push('Variant names must be unique.');
  if (weightsOk && variants.length > 0 && Math.abs(total - 100) > TOLERANCE) {
    errors.push(`Weights must sum to 100 (now ${round(total)}).`);
  }
  const valid = errors.length === 0 && rows.every((r) => !r.name && !r.weight);
  return { valid, errors, rows, total: round(total) };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Equal weights with two decimals that sum to exactly 100 (the last takes the remainder). */
export function evenWeights(count: number): string[] {
  if (count <= 0) return [];
  const base = Math.floor((100 / count) * 100) / 100;
  const rest = Math.round((100 - base * (count - 1)) * 100) / 100;
  return Array.from({ length: count }, (_, i) => String(i === count - 1 ? rest : base));
}

export function toApiVariants(variants: VariantDraft[]) {
  return variants.map((v) => ({ name: v.name.trim(), weight: parseWeight(v.weight) ?? 0 }));
}
