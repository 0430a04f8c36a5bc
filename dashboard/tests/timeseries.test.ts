import { describe, expect, it } from 'vitest';
import type { Bucket } from '../src/api/types';
import { bucketTimes, cumulativeRates, totals, variantNames } from '../src/lib/timeseries';

const bucket = (day: number, variants: Record<string, [number, number]>): Bucket => ({
  start: `2026-11-${String(day).padStart(2, '0')}T00:00:00Z`,
  events: 0,
  conversions: 0,
  newUsers: Object.values(variants).reduce((s, [u]) => s + u, 0),
  newConvertedUsers: Object.values(variants).reduce((s, [, c]) => s + c, 0),
  variants: Object.fromEntries(Object.entries(variants).map(([k, [u, c]]) => [k, { events: u, conversions: c, newUsers: u, newConvertedUsers: c }])),
});

describe('cumulative conversion rate', () => {
  it('divides running sums of converted users by running sums of users', () => {
    const buckets = [bucket(1, { a: [10, 1], b: [20, 4] }), bucket(2, { a: [30, 5], b: [0, 0] }), bucket(3, { a: [0, 0], b: [20, 0] })];
    const r = cumulativeRates(buckets, ['a', 'b']);
    expect(r.a).toEqual([0.1, 6 / 40, 6 / 40]);
    expect(r.b).toEqual([0.2, 0.2, 4 / 40]);
  });

  it('is null until a variant has users, and handles empty buckets', () => {
    const buckets = [bucket(1, {}), bucket(2, { a: [4, 1] }), bucket(3, {})];
    expect(cumulativeRates(buckets, ['a', 'b'])).toEqual({ a: [null, 0.25, 0.25], b: [null, null, null] });
    expect(cumulativeRates([], ['a'])).toEqual({ a: [] });
  });

  it('lists the experiment variants first, then others seen', () => {
    const buckets = [bucket(1, { z: [1, 0], control: [1, 0] })];
    expect(variantNames(buckets, ['control', 'b'])).toEqual(['control', 'b', 'z']);
  });

  it('converts starts to unix seconds and totals the buckets', () => {
    const buckets = [bucket(1, { a: [10, 1] }), bucket(2, { a: [5, 2] })];
    expect(bucketTimes(buckets)).toEqual([Date.UTC(2026, 10, 1) / 1000, Date.UTC(2026, 10, 2) / 1000]);
    expect(totals(buckets)).toMatchObject({ newUsers: 15, newConvertedUsers: 3 });
  });
});
