import { describe, expect, it } from 'vitest';
import { evenWeights, parseWeight, toApiVariants, validateVariants } from '../src/lib/variants';

const v = (...pairs: [string, string][]) => pairs.map(([name, weight]) => ({ name, weight }));

describe('variant weights', () => {
  it('accepts 2–10 unique names whose weights sum to 100', () => {
    expect(validateVariants(v(['control', '50'], ['b', '50'])).valid).toBe(true);
    expect(validateVariants(v(['a', '33.33'], ['b', '33.33'], ['c', '33.34'])).valid).toBe(true);
    const ten = Array.from({ length: 10 }, (_, i) => ({ name: `v${i}`, weight: '10' }));
    expect(validateVariants(ten).valid).toBe(true);
  });

  it('refuses a sum other than 100 and reports it', () => {
    const r = validateVariants(v(['a', '50'], ['b', '60']));
    expect(r.valid).toBe(false);
    expect(r.total).toBe(110);
    expect(r.errors).toContain('Weights must sum to 100 (now 110).');
  });

  it('refuses fewer than 2 or more than 10 variants', () => {
    expect(validateVariants(v(['a', '100'])).errors[0]).toMatch(/2 to 10/);
    const eleven = Array.from({ length: 11 }, (_, i) => ({ name: `v${i}`, weight: '9.0909' }));
    expect(validateVariants(eleven).valid).toBe(false);
    expect(validateVariants(eleven).errors[0]).toMatch(/2 to 10 variants \(now 11\)/);
  });

  it('refuses duplicate and empty names, marking the rows', () => {
    const dup = validateVariants(v(['a', '50'], [' a ', '50']));
    expect(dup.valid).toBe(false);
    expect(dup.errors).toContain('Variant names must be unique.');
    expect(dup.rows[0].name).toBe('Names must be unique.');
    expect(dup.rows[1].name).toBe('Names must be unique.');
    const empty = validateVariants(v(['', '50'], ['b', '50']));
    expect(empty.valid).toBe(false);
    expect(empty.rows[0].name).toBe('Name is required.');
    expect(validateVariants(v(['x'.repeat(129), '50'], ['b', '50'])).rows[0].name).toMatch(/128/);
  });

  it('refuses weights that are not numbers in (0, 100]', () => {
    expect(validateVariants(v(['a', 'abc'], ['b', '50'])).rows[0].weight).toBe('Enter a number.');
    expect(validateVariants(v(['a', '0'], ['b', '100'])).rows[0].weight).toMatch(/Between/);
    expect(validateVariants(v(['a', '-10'], ['b', '110'])).valid).toBe(false);
    expect(parseWeight(' 12.5 ')).toBe(12.5);
    expect(parseWeight('1e2')).toBeNull();
    expect(parseWeight('')).toBeNull();
  });

  it('splits evenly to two decimals summing to exactly 100', () => {
    expect(evenWeights(2)).toEqual(['50', '50']);
    expect(evenWeights(3)).toEqual(['33.33', '33.33', '33.34']);
    for (let n = 2; n <= 10; n++) {
      const w = evenWeights(n);
      expect(validateVariants(w.map((weight, i) => ({ name: `v${i}`, weight }))).valid).toBe(true);
    }
  });

  it('converts to the API shape', () => {
    expect(toApiVariants(v([' a ', '33.33'], ['b', '66.67']))).toEqual([
      { name: 'a', weight: 33.33 },
      { name: 'b', weight: 66.67 },
    ]);
  });
});
