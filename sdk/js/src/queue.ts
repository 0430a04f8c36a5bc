// Delivery: events wait in a queue kept in localStorage (so a navigation, a
// crash or a closed tab loses nothing), go out in batches on a size or time
// threshold, and leave the queue only once the server answered 2xx. On page
// hide the queue is also sent with `navigator.sendBeacon`, whose outcome is
// unknowable: those events stay queued and go again on the next page, and
// the server counts each event id once.

export interface QueuedEvent {
  eventId: string;
  userId: string;
  eventType: string;
  properties: Record<string, unknown>;
  timestamp: string;
}

/** What a send came to: delivered, worth retrying (after `retryAfterMs` if
 * the server said), or refused for good (a bad key or origin, bad events). */
export type SendResult =
  | { kind: 'ok' }
  | { kind: 'retry'; retryAfterMs?: number }
  | { kind: 'drop'; status: number }
  /** A batch refused for some of its events (the API accepts all or none):
   * those go, the rest are sent again. */
  | { kind: 'invalid'; indexes: number[] };

export interface QueueOptions {
  storage: Storage | null;
  storageKey: string;
  send: (events: QueuedEvent[]) => Promise<SendResult>;
  beacon: (events: QueuedEvent[]) => boolean;
  maxBatch: number;
  flushInterval: number;
  /** At most this many events wait; past it the oldest go. */
  maxQueued: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  random?: () => number;
}

/** Backoff after the `attempt`-th failure in a row: 1 s doubling to 60 s, ±25 %. */
export function backoffMs(attempt: number, random: () => number): number {
  const base = Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() / 2));
}

/** The largest batch a beacon carries: browsers refuse beacons past 64 KiB in flight. */
export const BEACON_BYTES = 60_000;

export class Queue {
  private memory: QueuedEvent[] = [];
  /** Set once a save failed (a full or forbidden storage): the memory copy is the queue from then on. */
  private storageFailed = false;
  private timer: unknown = null;
  private sending = false;
  private failures = 0;
  private pausedUntil = 0;
  private readonly beaconed = new Set<string>();
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly random: () => number;

  constructor(private readonly options: QueueOptions) {
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.random = options.random ?? Math.random;
  }

  /** Every waiting event, oldest first (another tab's too: they share the storage). */
  pending(): QueuedEvent[] {
    const { storage, storageKey } = this.options;
    if (!storage || this.storageFailed) return this.memory;
    try {
      const parsed = JSON.parse(storage.getItem(storageKey) ?? '[]');
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return this.memory;
    }
  }

  private save(events: QueuedEvent[]): void {
    const { storage, storageKey, maxQueued } = this.options;
    const kept = events.length > maxQueued ? events.slice(events.length - maxQueued) : events;
    this.memory = kept;
    if (!storage) return;
    try {
      storage.setItem(storageKey, JSON.stringify(kept));
    } catch {
      // Full or forbidden (private mode): the memory copy carries on.
      this.storageFailed = true;
    }
  }

  /** Forgets every waiting event (an opt-out). */
  clear(): void {
    this.save([]);
  }

  add(event: QueuedEvent): void {
    const events = this.pending();
    events.push(event);
    this.save(events);
    if (events.length >= this.options.maxBatch) void this.flush();
    else this.schedule(this.options.flushInterval);
  }

  private schedule(ms: number): void {
    if (this.timer !== null) return;
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private reschedule(ms: number): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.schedule(ms);
  }

  /** Sends what waits, a batch at a time, until the queue is empty or a send fails. */
  async flush(): Promise<void> {
    if (this.sending) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      this.reschedule(wait);
      return;
    }
    this.sending = true;
    try {
      for (;;) {
        const batch = this.pending().slice(0, this.options.maxBatch);
        if (batch.length === 0) return;
        const result = await this.options.send(batch).catch((): SendResult => ({ kind: 'retry' }));
        if (result.kind === 'retry') {
          this.failures += 1;
          const delay = result.retryAfterMs ?? backoffMs(this.failures, this.random);
          this.pausedUntil = Date.now() + delay;
          this.reschedule(delay);
          return;
        }
        this.failures = 0;
        this.pausedUntil = 0;
        // Delivered, or refused for good (retrying would fail the same way);
        // or some events refused, which go while the rest wait for the next send.
        const gone = result.kind === 'invalid' ? batch.filter((_, i) => result.indexes.includes(i)) : batch;
        if (gone.length === 0) return;
        const done = new Set(gone.map((e) => e.eventId));
        this.save(this.pending().filter((e) => !done.has(e.eventId)));
      }
    } finally {
      this.sending = false;
    }
  }

  /** On page hide: beacons what waits and was not beaconed yet from this
   * page, in batches under the beacon limit; the events stay queued. */
  flushOnHide(): void {
    const fresh = this.pending().filter((e) => !this.beaconed.has(e.eventId));
    let batch: QueuedEvent[] = [];
    let bytes = 0;
    const sendBatch = () => {
      if (batch.length && this.options.beacon(batch)) batch.forEach((e) => this.beaconed.add(e.eventId));
      batch = [];
      bytes = 0;
    };
    for (const event of fresh) {
      const size = JSON.stringify(event).length + 1;
      if (batch.length >= this.options.maxBatch || bytes + size > BEACON_BYTES) sendBatch();
      batch.push(event);
      bytes += size;
    }
    sendBatch();
  }
}
