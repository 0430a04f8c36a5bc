// The experiments table's logic: per-row metrics from results, filtering,
// sorting (missing values last in either direction), and paging.

import type { Experiment, Results, Status } from '../api/types';

export type ColumnKey = 'name' | 'status' | 'variants' | 'users' | 'conversionRate' | 'bestLift' | 'significance';
export type SortDir = 'asc' | 'desc';

export interface RowMetrics {
  users: number | null;
  conversionRate: number | null;
  bestLift: number | null;
  /** true/false when known; null when there is too little data or no results. */
  significant: boolean | null;
  /** Smallest (adjusted) p-value of any variant against control. */
  minPValue: number | null;
}

export interface Row {
  experiment: Experiment;
  metrics: RowMetrics | null;
}

const num = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

export function metricsFromResults(results: Results | null | undefined): RowMetrics | null {
  if (!results) return null;
  let users = 0;
  let converted = 0;
  let bestLift: number | null = null;
  let significant: boolean | null = null;
  let minPValue: number | null = null;
  for (const v of results.variants ?? []) {
    users += num(v.users) ? v.users : 0;
    converted += num(v.convertedUsers) ? v.convertedUsers : 0;
    const vs = v.vsControl;
    if (!vs) continue;
    if (num(vs.relativeLift) && (bestLift === null || vs.relativeLift > bestLift)) bestLift = vs.relativeLift;
    if (vs.significant === true) significant = true;
    else if (vs.significant === false && significant === null) significant = false;
    const p = num(vs.adjustedPValue) ? vs.adjustedPValue : vs.pValue;
    if (num(p) && (minPValue === null || p < minPValue)) minPValue = p;
  }
  const totalUsers = num(results.totalUsers) ? results.totalUsers : users;
  return {
    users: totalUsers,
    conversionRate: users > 0 ? converted / users : null,
    bestLift,
    significant,
    minPValue,
  };
}

export function matchesSearch(e: Experiment, search: string): boolean {
  const q = search.trim().toLowerCase();
  if (!q) return true;
  return (
    e.name.toLowerCase().includes(q) ||
    (e.description ?? '').toLowerCase().includes(q) ||
    e.id.toLowerCase().startsWith(q) ||
    e.variants.some((v) => v.name.toLowerCase().includes(q))
  );
}

export function filterRows<T extends { experiment: Experiment }>(rows: T[], search: string, status: Status | 'ALL'): T[] {
  return rows.filter((r) => (status === 'ALL' || r.experiment.status === status) && matchesSearch(r.experiment, search));
}

const STATUS_ORDER: Record<Status, number> = { DRAFT: 0, ACTIVE: 1, PAUSED: 2, COMPLETED: 3 };

/** The value a column sorts by; null sorts last. */
export function sortValue(row: Row, key: ColumnKey): string | number | null {
  const m = row.metrics;
  switch (key) {
    case 'name':
      return row.experiment.name;
    case 'status':
      return STATUS_ORDER[row.experiment.status] ?? 99;
    case 'variants':
      return row.experiment.variants.length;
    case 'users':
      return m?.users ?? null;
    case 'conversionRate':
      return m?.conversionRate ?? null;
    case 'bestLift':
      return m?.bestLift ?? null;
    case 'significance':
      // Ascending = least significant first: 1 − p, significant rows above all others.
      if (!m || (m.significant === null && m.minPValue === null)) return null;
      return (m.significant ? 1 : 0) + (m.minPValue !== null ? 1 - m.minPValue : 0);
  }
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Stable sort; rows without a value go last whatever the direction; ties by newest first. */
export function sortRows(rows: Row[], key: ColumnKey, dir: SortDir): Row[] {
  const sign = dir === 'asc' ? 1 : -1;
  return rows
    .map((row, i) => ({ row, i, v: sortValue(row, key) }))
    .sort((a, b) => {
      if (a.v === null && b.v === null) return a.i - b.i;
      if (a.v === null) return 1;
      if (b.v === null) return -1;
      const c =
        typeof a.v === 'string' && typeof b.v === 'string' ? collator.compare(a.v, b.v) : (a.v as number) - (b.v as number);
      return c !== 0 ? sign * c : a.i - b.i;
    })
    .map((x) => x.row);
}

export interface Page<T> {
  items: T[];
  /** 1-based, clamped into range. */
  page: number;
  pageCount: number;
  total: number;
  /** 1-based index of the first and last row shown (0 when empty). */
  from: number;
  to: number;
}

export function paginate<T>(rows: T[], page: number, pageSize: number): Page<T> {
  const size = Math.max(1, Math.floor(pageSize));
  const pageCount = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(Math.max(1, Math.floor(page) || 1), pageCount);
  const start = (p - 1) * size;
  const items = rows.slice(start, start + size);
  return { items, page: p, pageCount, total: rows.length, from: items.length ? start + 1 : 0, to: start + items.length };
}

/** Columns whose values come from results (fetched per row). */
export const RESULT_COLUMNS: readonly ColumnKey[] = ['users', 'conversionRate', 'bestLift', 'significance'];

// ---- bulk status changes ----

export type BulkAction = 'activate' | 'pause' | 'complete';

export const BULK_TARGET: Record<BulkAction, Status> = { activate: 'ACTIVE', pause: 'PAUSED', complete: 'COMPLETED' };

export const BULK_LABEL: Record<BulkAction, { verb: string; past: string }> = {
  activate: { verb: 'Activate', past: 'Activated' },
  pause: { verb: 'Pause', past: 'Paused' },
  complete: { verb: 'Complete', past: 'Completed' },
};

/** The life cycle the API enforces: DRAFT→ACTIVE, ACTIVE↔PAUSED, ACTIVE/PAUSED→COMPLETED. */
export function canMove(from: Status, to: Status): boolean {
  switch (from) {
    case 'DRAFT':
      return to === 'ACTIVE';
    case 'ACTIVE':
      return to === 'PAUSED' || to === 'COMPLETED';
    case 'PAUSED':
      return to === 'ACTIVE' || to === 'COMPLETED';
    case 'COMPLETED':
      return false;
  }
}

/** Which selected experiments an action applies to, and which it skips. */
export function planBulk(experiments: Experiment[], action: BulkAction) {
  const target = BULK_TARGET[action];
  const eligible = experiments.filter((e) => canMove(e.status, target));
  const skipped = experiments.filter((e) => !canMove(e.status, target));
  return { target, eligible, skipped };
}
