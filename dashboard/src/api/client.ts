// The API client: X-API-Key on every call, JSON errors as ApiError, and
// polite retries of 429 after the server's Retry-After.

import type {
  ApiKeyInfo, Assignment, CampaignQuery, CampaignReport, CreatedKey, CreateExperiment, CreateKey, Correction, Dimensions, EngineName, Experiment, ReportTimezone, FieldError, PatchExperiment, Results, Status, Summary,
  Timeseries,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** `details` as field errors, when the API sent them (400 validation). */
  get fieldErrors(): FieldError[] {
    return Array.isArray(this.details)
      ? this.details.filter((d): d is FieldError => !!d && typeof d.field === 'string' && typeof d.message === 'string')
      : [];
  }
}

/** Human text for any error a call may throw. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'The API key was not accepted (401). Check the key, or sign in again.';
    if (err.status === 403 && /ingest/i.test(err.message)) {
      return 'This API key is an ingest (publishable) key (403): it may only send events, so it cannot read data or manage keys. Sign in with a full (secret) key.';
    }
    if (err.status === 429) return 'The API is busy (429) and asked us to slow down; try again shortly.';
    if (err.status === 0) return err.message;
    return `${err.message} (${err.status})`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export interface ClientOptions {
  /** Where `/api/...` lives: '' for the page's own origin. */
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Further attempts after a 429 (default 4). */
  maxRetries?: number;
  /** Longest wait honoured for one Retry-After (default 60 s). */
  maxRetryAfterMs?: number;
  /** Called on any 401 (the key was revoked or rotated). */
  onUnauthorized?: () => void;
  /** Called while waiting out a 429, with the wait in ms. */
  onThrottled?: (waitMs: number) => void;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; 1 s when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (header) {
    const trimmed = header.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(parseFloat(trimmed) * 1000);
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return 1000;
}

type Query = Record<string, string | number | undefined | null>;

/** What a results request may choose; an engine left out is the experiment's own. */
export type ResultsQuery = { confidence?: number; mde?: number; engine?: EngineName; correction?: Correction };

export function buildUrl(baseUrl: string, path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return baseUrl.replace(/\/+$/, '') + path + (qs ? '?' + qs : '');
}

export interface RawResponse {
  response: Response;
  text: string;
}

/** A campaign query as URL parameters: the filters are named like the groupings. */
export function campaignParams(q: CampaignQuery): Query {
  return {
    ...q.filters,
    groupBy: q.groupBy,
    startDate: q.startDate,
    endDate: q.endDate,
    compare: q.compare ? 'previous' : undefined,
    interval: q.interval,
    experimentId: q.experimentId,
  };
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ApiClient {
  private readonly opts: Required<Omit<ClientOptions, 'onUnauthorized' | 'onThrottled'>> &
    Pick<ClientOptions, 'onUnauthorized' | 'onThrottled'>;

  constructor(opts: ClientOptions) {
    this.opts = {
      fetch: opts.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args)),
      sleep: opts.sleep ?? defaultSleep,
      maxRetries: opts.maxRetries ?? 4,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
      ...opts,
    } as ApiClient['opts'];
  }

  /** One call, with 429 retries; non-2xx answers throw ApiError. */
  async raw(method: string, path: string, query?: Query, body?: unknown, accept = 'application/json'): Promise<RawResponse> {
    const url = buildUrl(this.opts.baseUrl, path, query);
    const headers: Record<string, string> = { 'X-API-Key': this.opts.apiKey, Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.opts.fetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new ApiError(0, 'network', 'Could not reach the API. Check your connection and the API address.', err);
      }
      if (response.status === 429 && attempt < this.opts.maxRetries) {
        const wait = Math.min(retryAfterMs(response.headers.get('Retry-After')), this.opts.maxRetryAfterMs);
        this.opts.onThrottled?.(wait);
        await this.opts.sleep(wait);
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        let code = 'http_' + response.status;
        let message = response.statusText || 'Request failed';
        let details: unknown;
        try {
          const parsed = JSON.parse(text);
          if (parsed && typeof parsed === 'object') {
            if (typeof parsed.error === 'string') code = parsed.error;
            if (typeof parsed.message === 'string') message = parsed.message;
            details = parsed.details;
          }
        } catch {
          /* not JSON: keep the status text */
        }
        if (response.status === 401) this.opts.onUnauthorized?.();
        throw new ApiError(response.status, code, message, details);
      }
      return { response, text };
    }
  }

  async json<T>(method: string, path: string, query?: Query, body?: unknown): Promise<{ data: T; headers: Headers }> {
    const { response, text } = await this.raw(method, path, query, body);
    try {
      return { data: (text ? JSON.parse(text) : null) as T, headers: response.headers };
    } catch {
      throw new ApiError(response.status, 'invalid_response', 'The API answered with something that is not JSON.');
    }
  }

  health() {
    return this.json<{ status: string }>('GET', '/api/health').then((r) => r.data);
  }

  /** `tz`: the IANA zone whose days the dates are (UTC when absent). */
  summary(q: { startDate?: string; endDate?: string; experimentId?: string; tz?: string } = {}) {
    return this.json<Summary>('GET', '/api/analytics/summary', q).then((r) => r.data);
  }

  timeseries(q: { experimentId?: string; startDate?: string; endDate?: string; interval?: 'day' | 'hour'; tz?: string }) {
    return this.json<Timeseries>('GET', '/api/analytics/timeseries', q).then((r) => r.data);
  }

  /** The campaign report over whole UTC days. */
  campaigns(q: CampaignQuery) {
    return this.json<CampaignReport>('GET', '/api/analytics/campaigns', campaignParams(q)).then((r) => r.data);
  }

  /** The tenant's custom dimensions: what the campaign report can also be broken down by. */
  dimensions() {
    return this.json<Dimensions>('GET', '/api/dimensions').then((r) => r.data);
  }

  /** The tenant's report time zone: the campaign report counts its days. */
  timezone() {
    return this.json<ReportTimezone>('GET', '/api/settings/timezone').then((r) => r.data);
  }

  async campaignsCsv(q: CampaignQuery): Promise<string> {
    const { text } = await this.raw('GET', '/api/analytics/campaigns', { ...campaignParams(q), format: 'csv' }, undefined, 'text/csv');
    return text;
  }

  /** One page, newest first; `next` is the cursor of the following page. */
  async listExperiments(q: { status?: Status; limit?: number; cursor?: string } = {}) {
    const { data, headers } = await this.json<Experiment[]>('GET', '/api/experiments', q);
    return { items: data ?? [], next: headers.get('X-Next-Cursor') || null };
  }

  /** Every experiment, following cursors (bounded by `maxPages`). */
  async listAllExperiments(maxPages = 100): Promise<Experiment[]> {
    const all: Experiment[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const { items, next } = await this.listExperiments({ limit: 100, cursor });
      all.push(...items);
      if (!next) break;
      cursor = next;
    }
    return all;
  }

  getExperiment(id: string) {
    return this.json<Experiment>('GET', `/api/experiments/${encodeURIComponent(id)}`).then((r) => r.data);
  }

  createExperiment(body: CreateExperiment) {
    return this.json<Experiment>('POST', '/api/experiments', undefined, body).then((r) => r.data);
  }

  updateExperiment(id: string, patch: PatchExperiment) {
    return this.json<Experiment>('PATCH', `/api/experiments/${encodeURIComponent(id)}`, undefined, patch).then(
      (r) => r.data,
    );
  }

  results(id: string, q: ResultsQuery = {}) {
    return this.json<Results>('GET', `/api/experiments/${encodeURIComponent(id)}/results`, q).then((r) => r.data);
  }

  /** The results as CSV: a row per variant (the goal), or per metric × variant with `table: 'metrics'`. */
  async resultsCsv(id: string, q: ResultsQuery = {}, table: 'variants' | 'metrics' = 'variants'): Promise<string> {
    const params = { ...q, format: 'csv', ...(table === 'metrics' ? { table } : {}) };
    const { text } = await this.raw('GET', `/api/experiments/${encodeURIComponent(id)}/results`, params, undefined, 'text/csv');
    return text;
  }

  assign(id: string, userId: string) {
    return this.json<Assignment>('GET', `/api/experiments/${encodeURIComponent(id)}/assign`, { userId }).then(
      (r) => r.data,
    );
  }

  /** The tenant's keys (never the keys themselves). */
  listKeys() {
    return this.json<{ keys: ApiKeyInfo[] }>('GET', '/api/keys').then((r) => r.data?.keys ?? []);
  }

  /** A new key: the answer's `key` is shown once and never again. */
  createKey(body: CreateKey) {
    return this.json<CreatedKey>('POST', '/api/keys', undefined, body).then((r) => r.data);
  }

  /** Revokes a key at once (204); the tenant's last full key is a 409. */
  async deleteKey(id: string): Promise<void> {
    await this.raw('DELETE', `/api/keys/${encodeURIComponent(id)}`);
  }
}
