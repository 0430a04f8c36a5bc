import { describe, expect, it } from 'vitest';
import {
  canMove, filterRows, metricsFromResults, paginate, planBulk, sortRows, type ColumnKey, type Row,
} from '../src/lib/table';
import { experiment, results } from './fixtures';

const rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ experiment: experiment(i + 1), metrics: null }));
const names = (rs: Row[]) => rs.map((r) => r.experiment.name);

describe('row metrics from results', () => {
  it('sums users, computes the pooled rate, best lift and significance', () => {
    const m = metricsFromResults(results('x', { users: [1000, 1000, 1000], converted: [100, 150, 50], lift: 0.5, p: 0.01, significant: true }))!;
    expect(m.users).toBe(3000);
    expect(m.conversionRate).toBeCloseTo(300 / 3000);
    expect(m.bestLift).toBe(0.5);
    expect(m.significant).toBe(true);
    expect(m.minPValue).toBe(0.01);
  });

  it('keeps unknown statistics as null', () => {
    const r = results('x', { users: [0, 0], converted: [0, 0], lift: null, p: null, significant: null });
    const m = metricsFromResults(r)!;
    expect(m.conversionRate).toBeNull();
    expect(m.bestLift).toBeNull();
    expect(m.significant).toBeNull();
    expect(m.minPValue).toBeNull();
    expect(metricsFromResults(null)).toBeNull();
  });
});

describe('filtering', () => {
  const all: Row[] = [
    { experiment: experiment(1, { name: 'Checkout button', status: 'ACTIVE' }), metrics: null },
    { experiment: experiment(2, { name: 'Pricing page', status: 'DRAFT', description: 'New checkout copy' }), metrics: null },
    { experiment: experiment(3, { name: 'Onboarding', status: 'ACTIVE', variants: [{ name: 'short-tour', weight: 100 }] }), metrics: null },
  ];
  it('searches name, description and variant names, ignoring case and spaces around', () => {
    expect(names(filterRows(all, '  CHECKOUT ', 'ALL'))).toEqual(['Checkout button', 'Pricing page']);
    expect(names(filterRows(all, 'tour', 'ALL'))).toEqual(['Onboarding']);
    expect(filterRows(all, '', 'ALL')).toHaveLength(3);
  });
  it('filters by status, together with the search', () => {
    expect(names(filterRows(all, '', 'ACTIVE'))).toEqual(['Checkout button', 'Onboarding']);
    expect(names(filterRows(all, 'checkout', 'ACTIVE'))).toEqual(['Checkout button']);
    expect(filterRows(all, '', 'COMPLETED')).toEqual([]);
  });
});

describe('sorting', () => {
  const withMetrics: Row[] = [
    { experiment: experiment(1, { name: 'b', status: 'PAUSED' }), metrics: { users: 50, conversionRate: 0.2, bestLift: 0.1, significant: false, minPValue: 0.3 } },
    { experiment: experiment(2, { name: 'a10', status: 'DRAFT' }), metrics: null },
    { experiment: experiment(3, { name: 'a9', status: 'ACTIVE', variants: [{ name: 'x', weight: 30 }, { name: 'y', weight: 30 }, { name: 'z', weight: 40 }] }), metrics: { users: 500, conversionRate: 0.1, bestLift: -0.2, significant: true, minPValue: 0.01 } },
    { experiment: experiment(4, { name: 'C', status: 'COMPLETED' }), metrics: { users: 5, conversionRate: null, bestLift: null, significant: null, minPValue: null } },
  ];

  it('sorts names naturally and case-insensitively, both ways', () => {
    expect(names(sortRows(withMetrics, 'name', 'asc'))).toEqual(['a9', 'a10', 'b', 'C']);
    expect(names(sortRows(withMetrics, 'name', 'desc'))).toEqual(['C', 'b', 'a10', 'a9']);
  });

  it('sorts status by life cycle', () => {
    expect(sortRows(withMetrics, 'status', 'asc').map((r) => r.experiment.status)).toEqual(['DRAFT', 'ACTIVE', 'PAUSED', 'COMPLETED']);
    expect(sortRows(withMetrics, 'status', 'desc').map((r) => r.experiment.status)).toEqual(['COMPLETED', 'PAUSED', 'ACTIVE', 'DRAFT']);
  });

  it('puts rows without a value last in either direction', () => {
    expect(names(sortRows(withMetrics, 'users', 'asc'))).toEqual(['C', 'b', 'a9', 'a10']);
    expect(names(sortRows(withMetrics, 'users', 'desc'))).toEqual(['a9', 'b', 'C', 'a10']);
    expect(names(sortRows(withMetrics, 'bestLift', 'desc'))).toEqual(['b', 'a9', 'a10', 'C']);
    expect(names(sortRows(withMetrics, 'conversionRate', 'asc'))).toEqual(['a9', 'b', 'a10', 'C']);
  });

  it('ranks significance: significant first when descending', () => {
    expect(names(sortRows(withMetrics, 'significance', 'desc'))).toEqual(['a9', 'b', 'a10', 'C']);
    expect(names(sortRows(withMetrics, 'significance', 'asc'))).toEqual(['b', 'a9', 'a10', 'C']);
  });

  it('sorts by variant count and is stable for ties', () => {
    expect(names(sortRows(withMetrics, 'variants', 'desc'))).toEqual(['a9', 'b', 'a10', 'C']);
    expect(names(sortRows(withMetrics, 'variants', 'asc'))).toEqual(['b', 'a10', 'C', 'a9']);
  });

  it('does not change the input', () => {
    const copy = [...withMetrics];
    for (const key of ['name', 'status', 'variants', 'users', 'conversionRate', 'bestLift', 'significance'] as ColumnKey[]) {
      sortRows(withMetrics, key, 'desc');
    }
    expect(withMetrics).toEqual(copy);
  });
});

describe('paging', () => {
  it('slices pages and reports the range shown', () => {
    const p = paginate(rows(25), 2, 10);
    expect(names(p.items)).toEqual(names(rows(25)).slice(10, 20));
    expect(p).toMatchObject({ page: 2, pageCount: 3, total: 25, from: 11, to: 20 });
    expect(paginate(rows(25), 3, 10)).toMatchObject({ from: 21, to: 25, pageCount: 3 });
  });

  it('clamps out-of-range pages and handles empty lists', () => {
    expect(paginate(rows(25), 9, 10).page).toBe(3);
    expect(paginate(rows(25), 0, 10).page).toBe(1);
    expect(paginate([], 1, 10)).toMatchObject({ items: [], page: 1, pageCount: 1, total: 0, from: 0, to: 0 });
  });
});

describe('bulk status changes', () => {
  it('follows the life cycle', () => {
    expect(canMove('DRAFT', 'ACTIVE')).toBe(true);
    expect(canMove('DRAFT', 'PAUSED')).toBe(false);
    expect(canMove('DRAFT', 'COMPLETED')).toBe(false);
    expect(canMove('ACTIVE', 'PAUSED')).toBe(true);
    expect(canMove('PAUSED', 'ACTIVE')).toBe(true);
    expect(canMove('ACTIVE', 'COMPLETED')).toBe(true);
    expect(canMove('PAUSED', 'COMPLETED')).toBe(true);
    expect(canMove('COMPLETED', 'ACTIVE')).toBe(false);
  });

  it('splits a selection into eligible and skipped', () => {
    const selection = [experiment(1, { status: 'DRAFT' }), experiment(2, { status: 'ACTIVE' }), experiment(3, { status: 'PAUSED' }), experiment(4, { status: 'COMPLETED' })];
    const pause = planBulk(selection, 'pause');
    expect(pause.target).toBe('PAUSED');
    expect(pause.eligible.map((e) => e.id)).toEqual(['exp-02']);
    expect(pause.skipped.map((e) => e.id)).toEqual(['exp-01', 'exp-03', 'exp-04']);
    expect(planBulk(selection, 'activate').eligible.map((e) => e.id)).toEqual(['exp-01', 'exp-03']);
    expect(planBulk(selection, 'complete').eligible.map((e) => e.id)).toEqual(['exp-02', 'exp-03']);
  });
});
