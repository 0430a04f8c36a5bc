import { GrowthBook } from '@growthbook/growthbook';
import { describe, expect, it } from 'vitest';
import { bucket, choose, fnv1a32 } from '../src/hash';

describe('hashing', () => {
  it('matches FNV-1a and GrowthBook hash v2 reference values (as the server tests them)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(bucket('seed', 'a')).toBe(0.0505);
    expect(bucket('foo', 'ab')).toBe(0.2575);
  });

  it('chooses by cumulative weight, the top to the last', () => {
    expect([0, 0.1999, 0.2, 0.4999, 0.5, 0.9999].map((n) => choose([20, 30, 50], n))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(choose([0, 0], 0.5)).toBe(-1);
  });

  // The same user lands in the same variant as in GrowthBook's own SDK
  // (hashVersion 2, seeded like the server's trackingKey), for ASCII and
  // non-ASCII ids (UTF-16 code units).
  it.each([
    { key: 'checkout-button', weights: [0.5, 0.5] },
    { key: 'pricing', weights: [0.2, 0.3, 0.5] },
    { key: 'hero', weights: [0.1, 0.9], seed: 'hero-2026' },
    { key: 'four-way', weights: [0.25, 0.25, 0.25, 0.25] },
  ])('agrees with @growthbook/growthbook for $key', ({ key, weights, seed }) => {
    const variations = weights.map((_, i) => `v${i}`);
    let disagreements = 0;
    for (let i = 0; i < 3000; i++) {
      const id = i % 3 === 0 ? `usér-${i}-été` : `user-${i}`;
      const gb = new GrowthBook({ attributes: { id } });
      const theirs = gb.run({ key, variations, weights, hashVersion: 2, seed: seed ?? key });
      const ours = choose(weights, bucket(seed ?? key, id));
      expect(theirs.inExperiment).toBe(true);
      if (theirs.variationId !== ours) disagreements++;
    }
    expect(disagreements).toBe(0);
  });
});
