import { describe, expect, it } from 'vitest';
import { DASH, formatDay, formatInterval, formatLift, formatNumber, formatPercent, formatPValue, plural } from '../src/lib/format';

describe('formatting', () => {
  it('puts thousands separators in counts', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(999)).toBe('999');
    expect(formatNumber(1234)).toBe('1,234');
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(2000.4)).toBe('2,000');
  });

  it('shows a dash for missing numbers', () => {
    expect(formatNumber(null)).toBe(DASH);
    expect(formatNumber(undefined)).toBe(DASH);
    expect(formatNumber(NaN)).toBe(DASH);
    expect(formatPercent(null)).toBe(DASH);
    expect(formatLift(undefined)).toBe(DASH);
    expect(formatPValue(null)).toBe(DASH);
  });

  it('shows rates as percentages', () => {
    expect(formatPercent(0.1)).toBe('10.00%');
    expect(formatPercent(0.12345)).toBe('12.35%');
    expect(formatPercent(0.5, 0)).toBe('50%');
    expect(formatPercent(12.5)).toBe('1,250.00%');
  });

  it('signs lifts', () => {
    expect(formatLift(0.22)).toBe('+22.0%');
    expect(formatLift(-0.051)).toBe('−5.1%');
    expect(formatLift(0)).toBe('0.0%');
    expect(formatLift(0.00001)).toBe('0.0%');
  });

  it('formats p-values', () => {
    expect(formatPValue(0.0001)).toBe('<0.001');
    expect(formatPValue(0.04999)).toBe('0.050');
    expect(formatPValue(1)).toBe('1.000');
  });

  it('formats intervals, including partly unknown ones', () => {
    expect(formatInterval([0.081, 0.119], (n) => formatPercent(n, 1))).toBe('[8.1%, 11.9%]');
    expect(formatInterval([null, 0.1], (n) => formatPercent(n))).toBe(DASH);
    expect(formatInterval(null, (n) => formatPercent(n))).toBe(DASH);
  });

  it('formats days in UTC and pluralises', () => {
    expect(formatDay('2026-11-15T23:30:00-02:00')).toBe('2026-11-16');
    expect(formatDay(null)).toBe(DASH);
    expect(formatDay('nope')).toBe(DASH);
    expect(plural(1, 'experiment')).toBe('1 experiment');
    expect(plural(1200, 'experiment')).toBe('1,200 experiments');
  });
});

describe('formatUsers', () => {
  it('marks users the server estimated, never zero', async () => {
    const { formatUsers, overviewMetrics } = await import('../src/pages/Overview');
    expect(formatUsers(1987, true)).toBe('≈ 1,987');
    expect(formatUsers(0, true)).toBe('0');
    expect(formatUsers(2000, false)).toBe('2,000');
    const summary = { totalEvents: 3, uniqueUsers: 2, variants: {} };
    expect(overviewMetrics({ ...summary, usersApproximate: true }).usersApproximate).toBe(true);
    expect(overviewMetrics(summary).usersApproximate).toBe(false);
  });
});
