import { describe, expect, it } from 'vitest';
import { campaignParams } from '../src/api/client';
import type { CampaignRow, CampaignSeriesDay } from '../src/api/types';
import { chartLines, crossTabVariants, deltaOf, formatDelta, levelOf, OTHER_ROW, sortCampaignRows, viewOf } from '../src/lib/campaigns';

const row = (key: string, users: number, extra: Partial<CampaignRow> = {}): CampaignRow => ({
  key,
  users,
  newUsers: 0,
  conversions: 0,
  convertedUsers: 0,
  conversionRate: 0,
  revenue: 0,
  ...extra,
});

describe('campaign drill-down', () => {
  it('goes channel → source / medium → campaign, filtering by the keys chosen', () => {
    expect(levelOf([])).toEqual({ level: { groupBy: 'channel', label: 'Channel' }, filters: {}, canDrill: true });
    expect(levelOf(['Paid Search'])).toMatchObject({ level: { groupBy: 'source_medium' }, filters: { channel: 'Paid Search' }, canDrill: true });
    expect(levelOf(['Paid Search', 'google / cpc'])).toMatchObject({
      level: { groupBy: 'campaign' },
      filters: { channel: 'Paid Search', source_medium: 'google / cpc' },
      canDrill: false,
    });
  });

  it('breaks a level down by a custom dimension, keeping its filters, with no further drill-down', () => {
    expect(viewOf(['Paid Search'], null)).toEqual({
      groupBy: 'source_medium', label: 'Source / medium', filters: { channel: 'Paid Search' }, canDrill: true,
    });
    expect(viewOf(['Paid Search'], 'device')).toEqual({
      groupBy: 'property:device', label: 'Device', filters: { channel: 'Paid Search' }, canDrill: false,
    });
    expect(viewOf([], 'plan').groupBy).toBe('property:plan');
  });

  it('sends the filters as parameters named like the groupings', () => {
    const params = campaignParams({
      groupBy: 'campaign',
      startDate: '2026-11-01',
      endDate: '2026-11-30',
      compare: true,
      interval: 'day',
      filters: { channel: 'Paid Search', source_medium: 'google / cpc' },
    });
    expect(params).toEqual({
      channel: 'Paid Search',
      source_medium: 'google / cpc',
      groupBy: 'campaign',
      startDate: '2026-11-01',
      endDate: '2026-11-30',
      compare: 'previous',
      interval: 'day',
    });
    expect(campaignParams({ groupBy: 'channel', startDate: 'a', endDate: 'b' }).compare).toBeUndefined();
    expect(campaignParams({ groupBy: 'channel', startDate: 'a', endDate: 'b', experimentId: 'exp 1' }).experimentId).toBe('exp 1');
  });
});

describe('campaign × variant table', () => {
  const cell = (users: number) => ({ users, conversions: 0, convertedUsers: 0, conversionRate: 0, revenue: 0 });
  it("shows the experiment's variants in order, then any other the data has", () => {
    const totals = row('(total)', 3, { variants: { zeta: cell(1), control: cell(1), alpha: cell(1) } });
    expect(crossTabVariants(totals, ['control', 'treatment'])).toEqual(['control', 'treatment', 'alpha', 'zeta']);
    expect(crossTabVariants(undefined, ['control'])).toEqual(['control']);
    expect(crossTabVariants(row('(total)', 0), [])).toEqual([]);
  });
});

describe('campaign table', () => {
  it('sorts by any column with (other) always last', () => {
    const rows = [row(OTHER_ROW, 50), row('b', 5, { revenue: 9 }), row('a', 10, { revenue: 1 }), row('c', 10, { revenue: 3 })];
    expect(sortCampaignRows(rows, 'users', 'desc').map((r) => r.key)).toEqual(['a', 'c', 'b', OTHER_ROW]);
    expect(sortCampaignRows(rows, 'users', 'asc').map((r) => r.key)).toEqual(['b', 'a', 'c', OTHER_ROW]);
    expect(sortCampaignRows(rows, 'revenue', 'desc').map((r) => r.key)).toEqual(['b', 'c', 'a', OTHER_ROW]);
    expect(sortCampaignRows(rows, 'key', 'desc').map((r) => r.key)).toEqual(['c', 'b', 'a', OTHER_ROW]);
  });

  it('shows changes as relative for counts and in points for the rate', () => {
    const now = row('a', 150, { conversionRate: 0.12 });
    const before = row('a', 100, { conversionRate: 0.1 });
    expect(formatDelta(deltaOf('users', now, before)!)).toBe('+50.0%');
    expect(formatDelta(deltaOf('users', before, now)!)).toBe('−33.3%');
    expect(formatDelta(deltaOf('conversionRate', now, before)!)).toBe('+2.0 pp');
    expect(formatDelta(deltaOf('users', now, now)!)).toBe('0.0%');
    // Nothing before: no change to show.
    expect(deltaOf('users', now, undefined)).toBeNull();
    expect(deltaOf('revenue', now, before)).toBeNull();
    expect(deltaOf('conversionRate', now, row('a', 0))).toBeNull();
  });

  it('charts the rows with most users and sums the rest as Other', () => {
    const rows = [row('a', 9), row('b', 7), row('c', 1), row(OTHER_ROW, 4)];
    const series: CampaignSeriesDay[] = [
      { date: '2026-11-01', users: { a: 3, b: 2, c: 1, [OTHER_ROW]: 2 }, totalUsers: 8 },
      { date: '2026-11-02', users: { a: 1 }, totalUsers: 1 },
    ];
    expect(chartLines(series, rows, 2)).toEqual([
      { label: 'a', values: [3, 1] },
      { label: 'b', values: [2, 0] },
      { label: 'Other', values: [3, 0] },
    ]);
    expect(chartLines(series.slice(1), rows, 2).map((l) => l.label)).toEqual(['a', 'b']);
  });
});
