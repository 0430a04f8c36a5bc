// The Campaigns page's logic: the drill-down levels (channel → source /
// medium → campaign), sorting, previous-period deltas and the chart's series.

import type { CampaignFilters, CampaignGroup, CampaignGroupBy, CampaignRow, CampaignSeriesDay } from '../api/types';

/** The report's `(other)` row: rows past the first hundred, summed. */
export const OTHER_ROW = '(other)';

/** A drill-down level: what its rows are and what it is called. */
export interface Level {
  groupBy: CampaignGroup;
  label: string;
}

export const LEVELS: readonly Level[] = [
  { groupBy: 'channel', label: 'Channel' },
  { groupBy: 'source_medium', label: 'Source / medium' },
  { groupBy: 'campaign', label: 'Campaign' },
];

/** The level a path of chosen keys (`[channel, sourceMedium]`) shows, and its filters. */
export function levelOf(path: readonly string[]): { level: Level; filters: CampaignFilters; canDrill: boolean } {
  const depth = Math.min(path.length, LEVELS.length - 1);
  const filters: CampaignFilters = {};
  for (let i = 0; i < depth; i++) filters[LEVELS[i].groupBy] = path[i];
  return { level: LEVELS[depth], filters, canDrill: depth < LEVELS.length - 1 };
}

/** What a page of the report shows: the rows of the drill-down level of `path`, or, broken down by a custom dimension, that dimension's values among the same users (the last level then). */
export function viewOf(
  path: readonly string[],
  dimension: string | null,
): { groupBy: CampaignGroupBy; label: string; filters: CampaignFilters; canDrill: boolean } {
  const { level, filters, canDrill } = levelOf(path);
  if (!dimension) return { groupBy: level.groupBy, label: level.label, filters, canDrill };
  return { groupBy: `property:${dimension}`, label: dimension.charAt(0).toUpperCase() + dimension.slice(1), filters, canDrill: false };
}

export type CampaignColumn = 'key' | 'users' | 'newUsers' | 'conversions' | 'convertedUsers' | 'conversionRate' | 'revenue';
export type SortDir = 'asc' | 'desc';

export const COLUMNS: readonly { key: CampaignColumn; label: string }[] = [
  { key: 'key', label: 'Row' },
  { key: 'users', label: 'Users' },
  { key: 'newUsers', label: 'New users' },
  { key: 'conversions', label: 'Conversions' },
  { key: 'convertedUsers', label: 'Converted users' },
  { key: 'conversionRate', label: 'Conversion rate' },
  { key: 'revenue', label: 'Revenue' },
];

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Sorted by a column; `(other)` stays last whatever the order; ties by key. */
export function sortCampaignRows(rows: readonly CampaignRow[], column: CampaignColumn, dir: SortDir): CampaignRow[] {
  const sign = dir === 'asc' ? 1 : -1;
  const rest = rows.filter((r) => r.key !== OTHER_ROW);
  const other = rows.filter((r) => r.key === OTHER_ROW);
  rest.sort((a, b) => {
    const c = column === 'key' ? collator.compare(a.key, b.key) : a[column] - b[column];
    return c !== 0 ? sign * c : collator.compare(a.key, b.key);
  });
  return [...rest, ...other];
}

/** A change against the previous period: relative for counts, in points for the rate; null when there was nothing before. */
export interface Delta {
  kind: 'relative' | 'points';
  value: number;
}

export function deltaOf(column: Exclude<CampaignColumn, 'key'>, now: CampaignRow, before: CampaignRow | undefined): Delta | null {
  if (!before) return null;
  if (column === 'conversionRate') {
    if (before.users === 0 || now.users === 0) return null;
    return { kind: 'points', value: (now.conversionRate - before.conversionRate) * 100 };
  }
  const was = before[column];
  if (was === 0) return null;
  return { kind: 'relative', value: (now[column] - was) / was };
}

/** "+12.5%", "−3.0 pp", "0.0%". */
export function formatDelta(delta: Delta): string {
  const abs = Math.abs(delta.value);
  const body = delta.kind === 'points' ? `${abs.toFixed(1)} pp` : `${(abs * 100).toFixed(1)}%`;
  if (abs < 0.0005 || body.startsWith('0.0')) return body;
  return (delta.value > 0 ? '+' : '−') + body;
}

/** The chart's lines: the `limit` rows with most users, the rest summed as "Other". */
export function chartLines(
  series: readonly CampaignSeriesDay[],
  rows: readonly CampaignRow[],
  limit = 9,
): { label: string; values: number[] }[] {
  const top = rows
    .filter((r) => r.key !== OTHER_ROW)
    .slice()
    .sort((a, b) => b.users - a.users || collator.compare(a.key, b.key))
    .slice(0, limit)
    .map((r) => r.key);
  const lines = top.map((key) => ({ label: key, values: series.map((d) => d.users[key] ?? 0) }));
  const shown = new Set(top);
  const rest = series.map((d) =>
    Object.entries(d.users).reduce((sum, [key, users]) => (shown.has(key) ? sum : sum + users), 0),
  );
  if (rest.some((n) => n !== 0)) lines.push({ label: 'Other', values: rest });
  return lines;
}

/** Unix seconds of `YYYY-MM-DD` at 00:00 UTC. */
export function daySeconds(date: string): number {
  return Date.parse(date + 'T00:00:00Z') / 1000;
}

/** The variant columns of a cross-tab: the experiment's variants in their order, then any other the data has. */
export function crossTabVariants(totals: CampaignRow | undefined, experimentVariants: readonly string[]): string[] {
  const seen = Object.keys(totals?.variants ?? {});
  return [...experimentVariants, ...seen.filter((name) => !experimentVariants.includes(name)).sort()];
}
