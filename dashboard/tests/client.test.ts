import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, buildUrl, errorMessage, retryAfterMs } from '../src/api/client';

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

function fakeFetch(replies: Reply[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const r = replies.shift();
    if (!r) throw new Error('no more replies');
    const text = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    return new Response(r.status === 204 ? null : text, { status: r.status, headers: r.headers });
  });
  return { fn: fn as unknown as typeof fetch, calls };
}

function client(replies: Reply[], extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}) {
  const f = fakeFetch(replies);
  const sleeps: number[] = [];
  const api = new ApiClient({ baseUrl: 'https://api.test', apiKey: 'k-1', fetch: f.fn, sleep: async (ms) => void sleeps.push(ms), ...extra });
  return { api, calls: f.calls, sleeps };
}

describe('ApiClient', () => {
  it('sends the key and builds query strings without empty values', async () => {
    const { api, calls } = client([{ status: 200, body: { totalEvents: 1, uniqueUsers: 1, variants: {} } }]);
    await api.summary({ startDate: '2026-11-01', endDate: '2026-11-30', experimentId: undefined });
    expect(calls[0].url).toBe('https://api.test/api/analytics/summary?startDate=2026-11-01&endDate=2026-11-30');
    expect((calls[0].init.headers as Record<string, string>)['X-API-Key']).toBe('k-1');
    expect(buildUrl('', '/api/x', { a: '', b: 0, c: null })).toBe('/api/x?b=0');
  });

  it('retries a 429 after Retry-After seconds, then succeeds', async () => {
    const onThrottled = vi.fn();
    const { api, calls, sleeps } = client(
      [
        { status: 429, body: { error: 'throttled', message: 'slow down' }, headers: { 'Retry-After': '2' } },
        { status: 429, body: { error: 'throttled', message: 'slow down' }, headers: { 'Retry-After': '1' } },
        { status: 200, body: [] },
      ],
      { onThrottled },
    );
    const page = await api.listExperiments();
    expect(page.items).toEqual([]);
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([2000, 1000]);
    expect(onThrottled).toHaveBeenCalledWith(2000);
  });

  it('gives up after maxRetries and throws the 429', async () => {
    const { api, calls, sleeps } = client(
      Array.from({ length: 3 }, () => ({ status: 429, body: { error: 'throttled', message: 'rate limit exceeded' }, headers: { 'Retry-After': '1' } })),
      { maxRetries: 2 },
    );
    const err = await api.health().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(429);
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([1000, 1000]);
    expect(errorMessage(err)).toMatch(/429/);
  });

  it('waits 1 s when Retry-After is missing, and caps long waits', async () => {
    const { api, sleeps } = client(
      [{ status: 429 }, { status: 429, headers: { 'Retry-After': '3600' } }, { status: 200, body: { status: 'ok' } }],
      { maxRetryAfterMs: 30_000 },
    );
    await api.health();
    expect(sleeps).toEqual([1000, 30_000]);
    expect(retryAfterMs('1.5')).toBe(1500);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('garbage')).toBe(1000);
  });

  it('turns error bodies into ApiError with field details', async () => {
    const { api } = client([
      { status: 400, body: { error: 'validation_failed', message: 'name is required', details: [{ field: 'name', message: 'is required' }] } },
    ]);
    const err = await api.createExperiment({ name: '', variants: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.code).toBe('validation_failed');
    expect(err.fieldErrors).toEqual([{ field: 'name', message: 'is required' }]);
    expect(errorMessage(err)).toBe('name is required (400)');
  });

  it('calls onUnauthorized on 401 and never retries it', async () => {
    const onUnauthorized = vi.fn();
    const { api, calls } = client([{ status: 401, body: { error: 'unauthorized', message: 'invalid API key' } }], { onUnauthorized });
    const err = await api.getExperiment('x').catch((e) => e);
    expect(err.status).toBe(401);
    expect(onUnauthorized).toHaveBeenCalledOnce();
    expect(calls).toHaveLength(1);
    expect(errorMessage(err)).toMatch(/API key was not accepted \(401\)/);
  });

  it('reports network failures and non-JSON error pages', async () => {
    const failing = new ApiClient({ baseUrl: '', apiKey: 'k', fetch: (async () => { throw new TypeError('Failed to fetch'); }) as unknown as typeof fetch });
    const err = await failing.health().catch((e) => e);
    expect(err.status).toBe(0);
    expect(errorMessage(err)).toMatch(/Could not reach the API/);
    const { api } = client([{ status: 502, body: '<html>bad gateway</html>' }]);
    const e2 = await api.health().catch((e) => e);
    expect(e2.status).toBe(502);
    expect(e2.code).toBe('http_502');
  });

  it('follows X-Next-Cursor through every page', async () => {
    const { api, calls } = client([
      { status: 200, body: [{ id: 'a' }], headers: { 'X-Next-Cursor': 'c1' } },
      { status: 200, body: [{ id: 'b' }], headers: { 'X-Next-Cursor': 'c2' } },
      { status: 200, body: [{ id: 'c' }] },
    ]);
    const all = await api.listAllExperiments();
    expect(all.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(calls.map((c) => new URL(c.url).searchParams.get('cursor'))).toEqual([null, 'c1', 'c2']);
    expect(new URL(calls[0].url).searchParams.get('limit')).toBe('100');
  });

  it('fetches results, CSV, timeseries and assignments at the documented paths', async () => {
    const { api, calls } = client([
      { status: 200, body: { experimentId: 'e 1' } },
      { status: 200, body: 'variant,users\ncontrol,1\n', headers: { 'Content-Type': 'text/csv' } },
      { status: 200, body: { interval: 'day', buckets: [] } },
      { status: 200, body: { variant: 'b' } },
    ]);
    await api.results('e 1', { confidence: 0.95, mde: 0.05 });
    expect(await api.resultsCsv('e 1')).toBe('variant,users\ncontrol,1\n');
    await api.timeseries({ experimentId: 'e 1', startDate: '2026-11-01', endDate: '2026-11-02', interval: 'day' });
    await api.assign('e 1', 'user 7');
    expect(calls.map((c) => c.url)).toEqual([
      'https://api.test/api/experiments/e%201/results?confidence=0.95&mde=0.05',
      'https://api.test/api/experiments/e%201/results?format=csv',
      'https://api.test/api/analytics/timeseries?experimentId=e+1&startDate=2026-11-01&endDate=2026-11-02&interval=day',
      'https://api.test/api/experiments/e%201/assign?userId=user+7',
    ]);
  });

  it('reads the report time zone and the dimensions at their settings paths', async () => {
    const { api, calls } = client([
      { status: 200, body: { timezone: 'Asia/Kolkata', updatedAt: null } },
      { status: 200, body: { keys: ['device'], updatedAt: null } },
    ]);
    expect((await api.timezone()).timezone).toBe('Asia/Kolkata');
    expect((await api.dimensions()).keys).toEqual(['device']);
    expect(calls.map((c) => c.url)).toEqual(['https://api.test/api/settings/timezone', 'https://api.test/api/dimensions']);
  });

  it('lists, creates and revokes keys at /api/keys', async () => {
    const listed = [{ id: 'primary', label: 'primary key', scope: 'full', allowedOrigins: [], createdAt: '2026-11-01T00:00:00Z', lastUsedDay: null }];
    const created = { id: 'k2', label: 'Web shop', scope: 'ingest', allowedOrigins: ['https://shop.example.com'], createdAt: '2026-11-02T00:00:00Z', lastUsedDay: null, key: 'ca_secret' };
    const { api, calls } = client([{ status: 200, body: { keys: listed } }, { status: 201, body: created }, { status: 204 }]);
    expect(await api.listKeys()).toEqual(listed);
    expect(await api.createKey({ scope: 'ingest', label: 'Web shop', allowedOrigins: ['https://shop.example.com'] })).toEqual(created);
    await expect(api.deleteKey('k 2')).resolves.toBeUndefined();
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET https://api.test/api/keys',
      'POST https://api.test/api/keys',
      'DELETE https://api.test/api/keys/k%202',
    ]);
    expect(JSON.parse(calls[1].init.body as string)).toEqual({ scope: 'ingest', label: 'Web shop', allowedOrigins: ['https://shop.example.com'] });
    expect((calls[1].init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(calls[2].init.body).toBeUndefined();
  });

  it('throws the 409 for the last full key and explains a 403 for an ingest key', async () => {
    const { api } = client([
      { status: 409, body: { error: 'conflict', message: "this is the tenant's last full key: create another full key before deleting it" } },
      { status: 403, body: { error: 'forbidden', message: 'this is an ingest key: it may only send events' } },
    ]);
    const conflict = await api.deleteKey('primary').catch((e) => e);
    expect(conflict).toBeInstanceOf(ApiError);
    expect(conflict.status).toBe(409);
    expect(conflict.code).toBe('conflict');
    expect(errorMessage(conflict)).toBe("this is the tenant's last full key: create another full key before deleting it (409)");
    const forbidden = await api.listKeys().catch((e) => e);
    expect(forbidden.status).toBe(403);
    expect(errorMessage(forbidden)).toMatch(/ingest \(publishable\) key \(403\).*cannot read data or manage keys/);
    expect(errorMessage(new ApiError(403, 'forbidden', 'this key may not be used from this origin'))).toBe('this key may not be used from this origin (403)');
  });
});
