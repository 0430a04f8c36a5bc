// Time-series math for the charts.

import type { Bucket } from '../api/types';

/**
 * Cumulative conversion rate per variant: at bucket i,
 * sum(newConvertedUsers[0..=i]) / sum(newUsers[0..=i]); null until a variant has users.
 */
export function cumulativeRates(buckets: Bucket[], variants: string[]): Record<string, (number | null)[]> {
  const out: Record<string, (number | null)[]> = {};
  for (const name of variants) {
    let users = 0;
    let converted = 0;
    out[name] = buckets.map((b) => {
      const v = b.variants?.[name];
      users += v?.newUsers ?? 0;
      converted += v?.newConvertedUsers ?? 0;
      return users > 0 ? converted / users : null;
    });
  }
  return out;
}

/** The variants given first (in their order), then any others seen in the buckets, alphabetically. */
export function variantNames(buckets: Bucket[], preferred: string[] = []): string[] {
  const seen = new Set<string>();
  for (const b of buckets) for (const k of Object.keys(b.variants ?? {})) seen.add(k);
  const first = [...new Set(preferred)];
  const rest = [...seen].filter((n) => !first.includes(n)).sort();
  return [...first, ...rest];
}

/** Bucket starts as Unix seconds (uPlot's x values). */
export function bucketTimes(buckets: Bucket[]): number[] {
  return buckets.map((b) => Math.floor(Date.parse(b.start) / 1000));
}

/** Totals over all buckets. */
export function totals(buckets: Bucket[]) {
  return buckets.reduce(
    (acc, b) => ({
      events: acc.events + (b.events ?? 0),
      conversions: acc.conversions + (b.conversions ?? 0),
      newUsers: acc.newUsers + (b.newUsers ?? 0),
      newConvertedUsers: acc.newConvertedUsers + (b.newConvertedUsers ?? 0),
    }),
    { events: 0, conversions: 0, newUsers: 0, newConvertedUsers: 0 },
  );
}
