import { describe, expect, it } from 'vitest';
import { loadConfig, normalizeBaseUrl } from '../src/config';
import { browserTimeZone, dayIn, lastDays, validateRange } from '../src/lib/dates';
import { mapPool } from '../src/lib/pool';
import { href, parseHash } from '../src/lib/router';

const respond = (status: number, body: string) => (async () => new Response(body, { status })) as unknown as typeof fetch;

describe('runtime config', () => {
  it('reads apiBaseUrl from config.json', async () => {
    expect(await loadConfig(respond(200, '{"apiBaseUrl": "https://api.example.com/prod/"}'))).toEqual({ apiBaseUrl: 'https://api.example.com/prod' });
  });
  it('falls back to the same origin when absent, 404, or not JSON', async () => {
    expect(await loadConfig(respond(404, 'nope'))).toEqual({ apiBaseUrl: '' });
    expect(await loadConfig(respond(200, '<!doctype html><html></html>'))).toEqual({ apiBaseUrl: '' });
    expect(await loadConfig(respond(200, '{}'))).toEqual({ apiBaseUrl: '' });
    expect(await loadConfig((async () => { throw new Error('offline'); }) as unknown as typeof fetch)).toEqual({ apiBaseUrl: '' });
  });
  it('accepts a base given with or without /api', () => {
    expect(normalizeBaseUrl('https://x.test/api/')).toBe('https://x.test');
    expect(normalizeBaseUrl(42)).toBe('');
  });
});

describe('dates', () => {
  it('computes inclusive UTC ranges', () => {
    const now = new Date('2026-11-29T23:59:00Z');
    expect(lastDays(7, now, 'UTC')).toEqual({ startDate: '2026-11-23', endDate: '2026-11-29' });
    expect(lastDays(30, now, 'UTC')).toEqual({ startDate: '2026-10-31', endDate: '2026-11-29' });
    expect(lastDays(7, now, undefined)).toEqual({ startDate: '2026-11-23', endDate: '2026-11-29' });
  });
  it("computes ranges of the browser's days in its time zone", () => {
    // 23:59 UTC is already the 30th in Tokyo, still the 29th in New York;
    // 03:00 UTC on the 30th is the 29th in New York.
    const now = new Date('2026-11-29T23:59:00Z');
    expect(lastDays(7, now, 'Asia/Tokyo')).toEqual({ startDate: '2026-11-24', endDate: '2026-11-30' });
    expect(lastDays(7, new Date('2026-11-30T03:00:00Z'), 'America/New_York')).toEqual({ startDate: '2026-11-23', endDate: '2026-11-29' });
    expect(dayIn(new Date('2026-11-02T19:00:00Z'), 'Asia/Kolkata')).toBe('2026-11-03');
    expect(dayIn(new Date('2026-11-02T19:00:00Z'), 'Not/AZone')).toBe('2026-11-02');
    expect(typeof browserTimeZone()).toBe('string');
  });
  it('validates custom ranges', () => {
    expect(validateRange({ startDate: '2026-11-01', endDate: '2026-11-30' })).toBeNull();
    expect(validateRange({ startDate: '2026-12-01', endDate: '2026-11-30' })).toMatch(/on or before/);
    expect(validateRange({ startDate: '', endDate: '2026-11-30' })).toMatch(/YYYY-MM-DD/);
    expect(validateRange({ startDate: '2024-01-01', endDate: '2026-11-30' })).toMatch(/366/);
  });
});

describe('hash routes', () => {
  it('parses and builds every route', () => {
    expect(parseHash('')).toEqual({ name: 'overview' });
    expect(parseHash('#/')).toEqual({ name: 'overview' });
    expect(parseHash('#/experiments')).toEqual({ name: 'experiments' });
    expect(parseHash('#/experiments/new')).toEqual({ name: 'new-experiment' });
    expect(parseHash('#/experiments/abc%20d')).toEqual({ name: 'experiment', id: 'abc d' });
    expect(parseHash('#/experiments/abc/edit')).toEqual({ name: 'edit-experiment', id: 'abc' });
    expect(parseHash('#/connect')).toEqual({ name: 'connect' });
    expect(parseHash('#/campaigns')).toEqual({ name: 'campaigns', path: [] });
    expect(parseHash('#/campaigns/Paid%20Search/google%20%2F%20cpc')).toEqual({ name: 'campaigns', path: ['Paid Search', 'google / cpc'] });
    expect(parseHash('#/campaigns/a/b/c')).toEqual({ name: 'not-found', path: '/campaigns/a/b/c' });
    expect(href({ name: 'campaigns', path: [] })).toBe('#/campaigns');
    expect(parseHash(href({ name: 'campaigns', path: ['Paid Search', 'google / cpc'] }))).toEqual({ name: 'campaigns', path: ['Paid Search', 'google / cpc'] });
    expect(parseHash('#/nope')).toEqual({ name: 'not-found', path: '/nope' });
    expect(href({ name: 'experiment', id: 'abc d' })).toBe('#/experiments/abc%20d');
    expect(parseHash(href({ name: 'edit-experiment', id: 'x/y' }))).toEqual({ name: 'edit-experiment', id: 'x/y' });
  });
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once and keeps order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5 * (8 - n)));
      running--;
      if (n === 4) throw new Error('four');
      return n * 2;
    });
    expect(peak).toBe(3);
    expect(out.map((r) => (r.status === 'fulfilled' ? r.value : 'x'))).toEqual([2, 4, 6, 'x', 10, 12, 14]);
  });
});
