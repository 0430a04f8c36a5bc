// campaign-analytics browser SDK: `init`, then `page`, `click`, `convert`,
// `track`, `identify` and `assign`. See sdk/README.md.
import { campaignOf } from './campaign';
import { bucket, choose } from './hash';
import { Queue, type QueuedEvent, type SendResult } from './queue';

export { bucket, choose, fnv1a32 } from './hash';
export { campaignOf } from './campaign';

export interface InitOptions {
  /** A publishable (`ingest`) key whose `allowedOrigins` lists this site. */
  apiKey: string;
  /** Where the API is, e.g. `https://analytics.example`; default this page's origin. */
  host?: string;
  /** Send a page view now and on every history navigation (default true). */
  autoPageviews?: boolean;
  /** Attach the landing's `utm_*`, click ids and referrer to its page view (default true). */
  autoCampaign?: boolean;
  /** Milliseconds an event may wait for a batch (default 2000). */
  flushInterval?: number;
  /** Events per request (default 50; at most 1000). */
  maxBatch?: number;
}

/** An experiment as the page runs it: its id, its variants (names, or
 * `{name, weight}`; equal weights by default) and the hashing seed
 * (`trackingKey`, default the id), as `POST /api/experiments` defines them. */
export interface Experiment {
  id: string;
  variants: Array<string | { name: string; weight?: number }>;
  trackingKey?: string;
}

export type Properties = Record<string, unknown>;

const PREFIX = 'ca_';
const MAX_QUEUED = 1000;

function storageOrNull(): Storage | null {
  try {
    const storage = window.localStorage;
    storage.setItem(PREFIX + 'probe', '1');
    storage.removeItem(PREFIX + 'probe');
    return storage;
  } catch {
    return null;
  }
}

function uuid(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Milliseconds to wait from a `Retry-After` header (seconds or a date). */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** What an answer means for the batch it answered; `body` is the answer's
 * JSON, whose `details` name the invalid events of a 400. */
export function resultOf(status: number, retryAfter: string | null, body?: unknown): SendResult {
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', retryAfterMs: retryAfterMs(retryAfter) };
  const details = (body as { details?: Array<{ index?: unknown }> } | undefined)?.details;
  const indexes = Array.isArray(details)
    ? details.map((d) => d?.index).filter((i): i is number => typeof i === 'number')
    : [];
  if (status === 400 && indexes.length > 0) {
    warn(`events refused: ${JSON.stringify(details)}`);
    return { kind: 'invalid', indexes };
  }
  warn(`events refused with ${status}`);
  return { kind: 'drop', status };
}

function warn(message: string): void {
  if (typeof console !== 'undefined') console.warn(`campaign-analytics: ${message}`);
}

/** The event types the API takes. */
export const EVENT_TYPES = ['PAGE_VIEW', 'CLICK', 'CONVERSION', 'EXPOSURE'];

export class Client {
  private readonly storage = storageOrNull();
  private readonly memory: Record<string, string> = {};
  private readonly queue: Queue;
  private readonly endpoint: string;

  constructor(options: InitOptions) {
    const host = (options.host ?? location.origin).replace(/\/+$/, '');
    this.endpoint = `${host}/api/events/batch?key=${encodeURIComponent(options.apiKey)}`;
    this.queue = new Queue({
      storage: this.storage,
      storageKey: PREFIX + 'queue',
      send: (events) => this.send(events),
      beacon: (events) => this.beacon(events),
      maxBatch: Math.min(1000, Math.max(1, options.maxBatch ?? 50)),
      flushInterval: options.flushInterval ?? 2000,
      maxQueued: MAX_QUEUED,
    });
    const hide = () => this.queue.flushOnHide();
    addEventListener('pagehide', hide);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') hide();
    });
    // What a previous page left undelivered goes now.
    void this.queue.flush();
    if (options.autoPageviews !== false) {
      this.page(options.autoCampaign === false ? {} : campaignOf(location.href, document.referrer));
      this.followHistory();
    }
  }

  private get(name: string): string | null {
    try {
      // What could not be stored (a full storage) lives on in memory.
      return this.storage?.getItem(PREFIX + name) ?? this.memory[name] ?? null;
    } catch {
      return this.memory[name] ?? null;
    }
  }

  private set(name: string, value: string): void {
    this.memory[name] = value;
    try {
      this.storage?.setItem(PREFIX + name, value);
    } catch {
      // The memory copy carries on.
    }
  }

  private forget(name: string): void {
    delete this.memory[name];
    try {
      this.storage?.removeItem(PREFIX + name);
    } catch {
      // Nothing stored to forget.
    }
  }

  /** The visitor declined: nothing is sent from now on, on any page of the
   * site, and what waits is dropped, until `optIn`. */
  optOut(): void {
    this.set('optout', '1');
    this.queue.clear();
  }

  optIn(): void {
    this.forget('optout');
  }

  optedOut(): boolean {
    return this.get('optout') === '1';
  }

  /** Someone else from now on (a sign-out): a new anonymous id, no user,
   * no experiment tag. */
  reset(): void {
    for (const name of ['user', 'anon', 'exp', 'exposed']) this.forget(name);
  }

  /** The identified user, else an anonymous id kept in localStorage. */
  userId(): string {
    let id = this.get('user') ?? this.get('anon');
    if (!id) {
      id = uuid();
      this.set('anon', id);
    }
    return id;
  }

  /** From now on, events are this user's. */
  identify(userId: string): void {
    if (userId) this.set('user', String(userId));
  }

  /** Queues an event; events carry the experiment of the latest `assign` unless their properties name one. */
  track(eventType: string, properties: Properties = {}): void {
    if (this.optedOut()) return;
    if (!EVENT_TYPES.includes(eventType)) {
      warn(`${JSON.stringify(eventType)} is not an event type (${EVENT_TYPES.join(', ')}): not sent`);
      return;
    }
    const tags: Properties = {};
    const current = this.get('exp');
    if (current && properties.experimentId === undefined) {
      try {
        const [experimentId, variant] = JSON.parse(current);
        Object.assign(tags, { experimentId, variant });
      } catch {
        // A damaged entry tags nothing.
      }
    }
    const event: QueuedEvent = {
      eventId: uuid(),
      userId: this.userId(),
      eventType,
      properties: { ...tags, ...properties },
      timestamp: new Date().toISOString(),
    };
    this.queue.add(event);
  }

  page(properties: Properties = {}): void {
    this.track('PAGE_VIEW', { url: location.href, path: location.pathname, title: document.title, ...properties });
  }

  click(properties: Properties = {}): void {
    this.track('CLICK', properties);
  }

  /** A conversion; `{value: 29.9}` is its revenue. */
  convert(properties: Properties = {}): void {
    this.track('CONVERSION', properties);
  }

  /** The variant this user sees, as `GET /api/experiments/:id/assign` would
   * answer; the first call per user and experiment sends an `EXPOSURE`, and
   * later events carry the experiment and variant. */
  assign(experiment: Experiment): string | null {
    const names = experiment.variants.map((v) => (typeof v === 'string' ? v : v.name));
    const weights = experiment.variants.map((v) => (typeof v === 'string' ? 1 : (v.weight ?? 1)));
    const user = this.userId();
    const index = choose(weights, bucket(experiment.trackingKey ?? experiment.id, user));
    if (index < 0) return null;
    const variant = names[index];
    this.set('exp', JSON.stringify([experiment.id, variant]));
    let exposed: string[] = [];
    try {
      exposed = JSON.parse(this.get('exposed') ?? '[]');
    } catch {
      exposed = [];
    }
    const mark = `${user}\n${experiment.id}`;
    if (!exposed.includes(mark)) {
      this.set('exposed', JSON.stringify(exposed.concat(mark).slice(-100)));
      this.track('EXPOSURE', { experimentId: experiment.id, variant });
    }
    return variant;
  }

  /** Sends what waits now. */
  flush(): Promise<void> {
    return this.queue.flush();
  }

  private body(events: QueuedEvent[]): string {
    return JSON.stringify({ events, sentAt: new Date().toISOString() });
  }

  // `text/plain` keeps the request "simple": no CORS preflight.
  private async send(events: QueuedEvent[]): Promise<SendResult> {
    const body = this.body(events);
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body,
      credentials: 'omit',
      keepalive: body.length < 60_000,
    });
    const answer = response.status === 400 ? await response.json().catch(() => undefined) : undefined;
    return resultOf(response.status, response.headers.get('Retry-After'), answer);
  }

  private beacon(events: QueuedEvent[]): boolean {
    if (typeof navigator === 'undefined' || typeof navigator.sendBeacon !== 'function') return false;
    try {
      return navigator.sendBeacon(this.endpoint, new Blob([this.body(events)], { type: 'text/plain' }));
    } catch {
      return false;
    }
  }

  /** A page view on every `pushState`, `replaceState` to another path, and back/forward. */
  private followHistory(): void {
    let last = location.pathname + location.search;
    historyFollower = () => {
      const now = location.pathname + location.search;
      if (now !== last) {
        last = now;
        this.page();
      }
    };
    if (historyPatched) return;
    historyPatched = true;
    for (const name of ['pushState', 'replaceState'] as const) {
      const original = history[name];
      history[name] = function (this: History, ...args: Parameters<History['pushState']>) {
        const result = original.apply(this, args);
        historyFollower?.();
        return result;
      };
    }
    addEventListener('popstate', () => historyFollower?.());
  }
}

// History is patched once per page; navigations go to the latest client.
let historyPatched = false;
let historyFollower: (() => void) | null = null;

let client: Client | null = null;

/** Starts the SDK (once: later calls return the same client). */
export function init(options: InitOptions): Client {
  if (!options || !options.apiKey) throw new Error('campaign-analytics: init needs an apiKey');
  client ??= new Client(options);
  return client;
}

function started(): Client {
  if (!client) throw new Error('campaign-analytics: call init({apiKey}) first');
  return client;
}

export const page = (properties?: Properties) => started().page(properties);
export const click = (properties?: Properties) => started().click(properties);
export const convert = (properties?: Properties) => started().convert(properties);
export const track = (eventType: string, properties?: Properties) => started().track(eventType, properties);
export const identify = (userId: string) => started().identify(userId);
export const assign = (experiment: Experiment) => started().assign(experiment);
export const flush = () => started().flush();
export const optOut = () => started().optOut();
export const optIn = () => started().optIn();
export const reset = () => started().reset();
