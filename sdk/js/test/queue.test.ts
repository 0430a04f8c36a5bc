import { describe, expect, it, vi } from 'vitest';
import { BEACON_BYTES, Queue, backoffMs, type QueuedEvent, type SendResult } from '../src/queue';
import { resultOf, retryAfterMs } from '../src/index';

class MemoryStorage implements Storage {
  private data = new Map<string, string>();
  get length() {
    return this.data.size;
  }
  clear() {
    this.data.clear();
  }
  getItem(key: string) {
    return this.data.get(key) ?? null;
  }
  key(index: number) {
    return [...this.data.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.data.delete(key);
  }
  setItem(key: string, value: string) {
    this.data.set(key, value);
  }
}

let counter = 0;
const event = (extra: Partial<QueuedEvent> = {}): QueuedEvent => ({
  eventId: `e${++counter}`,
  userId: 'u',
  eventType: 'CLICK',
  properties: {},
  timestamp: '2026-12-01T00:00:00.000Z',
  ...extra,
});

/** A queue whose sends answer from `answers` (then ok), with timers run by hand. */
function harness(answers: SendResult[] = [], options: { maxBatch?: number; maxQueued?: number; storage?: Storage } = {}) {
  const storage = options.storage ?? new MemoryStorage();
  const sent: string[][] = [];
  const beacons: string[][] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  const queue = new Queue({
    storage,
    storageKey: 'q',
    send: async (events) => {
      sent.push(events.map((e) => e.eventId));
      return answers.shift() ?? { kind: 'ok' };
    },
    beacon: (events) => {
      beacons.push(events.map((e) => e.eventId));
      return true;
    },
    maxBatch: options.maxBatch ?? 3,
    flushInterval: 2000,
    maxQueued: options.maxQueued ?? 1000,
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => {},
    random: () => 0.5,
  });
  const runTimers = async () => {
    for (const timer of timers.splice(0)) timer.fn();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { queue, storage, sent, beacons, timers, runTimers };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('queue', () => {
  it('sends when the interval passes, or at once when a batch is full', async () => {
    counter = 0;
    const { queue, sent, timers, runTimers } = harness();
    queue.add(event());
    queue.add(event());
    await settle();
    expect(sent).toEqual([]);
    expect(timers.map((t) => t.ms)).toEqual([2000]);
    await runTimers();
    expect(sent).toEqual([['e1', 'e2']]);
    for (let i = 0; i < 4; i++) queue.add(event());
    await settle();
    // Full at the third; the fourth, added while that went out, follows it.
    expect(sent.slice(1)).toEqual([['e3', 'e4', 'e5'], ['e6']]);
    expect(queue.pending()).toEqual([]);
  });

  it('keeps a failed batch and retries it with backoff, or after Retry-After', async () => {
    counter = 0;
    const { queue, sent, timers, runTimers } = harness([{ kind: 'retry' }, { kind: 'retry', retryAfterMs: 7000 }]);
    queue.add(event());
    await queue.flush();
    expect(sent).toEqual([['e1']]);
    expect(queue.pending().length).toBe(1);
    expect(timers.at(-1)!.ms).toBe(1000);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 1000);
    await runTimers();
    expect(sent.length).toBe(2);
    expect(timers.at(-1)!.ms).toBe(7000);
    vi.setSystemTime(Date.now() + 7000);
    await runTimers();
    vi.useRealTimers();
    expect(sent).toEqual([['e1'], ['e1'], ['e1']]);
    expect(queue.pending()).toEqual([]);
  });

  it('backs off from 1 s, doubling to a minute', () => {
    expect([1, 2, 3, 7, 8, 20].map((n) => backoffMs(n, () => 0.5))).toEqual([1000, 2000, 4000, 60000, 60000, 60000]);
    expect(backoffMs(1, () => 0)).toBe(750);
    expect(backoffMs(1, () => 1)).toBe(1250);
  });

  it('drops a batch the server refuses for good, and goes on', async () => {
    counter = 0;
    const { queue, sent } = harness([{ kind: 'drop', status: 400 }], { maxBatch: 1 });
    queue.add(event());
    queue.add(event());
    await queue.flush();
    await settle();
    expect(sent).toEqual([['e1'], ['e2']]);
    expect(queue.pending()).toEqual([]);
  });

  it('drops only the events a 400 names, and sends the rest again', async () => {
    counter = 0;
    const { queue, sent } = harness([{ kind: 'invalid', indexes: [1] }]);
    for (let i = 0; i < 3; i++) queue.add(event());
    await settle();
    expect(sent).toEqual([['e1', 'e2', 'e3'], ['e1', 'e3']]);
    expect(queue.pending()).toEqual([]);
  });

  it('survives the page: a new queue on the same storage sends what the last one left', async () => {
    counter = 0;
    const storage = new MemoryStorage();
    const first = harness([{ kind: 'retry' }], { storage });
    first.queue.add(event());
    await first.queue.flush();
    const next = harness([], { storage });
    await next.queue.flush();
    expect(next.sent).toEqual([['e1']]);
    expect(next.queue.pending()).toEqual([]);
  });

  it('carries on in memory when the storage is full', async () => {
    counter = 0;
    const full = new MemoryStorage();
    full.setItem('q', '[]');
    full.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    const { queue, sent } = harness([], { storage: full, maxBatch: 2 });
    queue.add(event());
    expect(queue.pending().map((e) => e.eventId)).toEqual(['e1']);
    queue.add(event());
    await settle();
    expect(sent).toEqual([['e1', 'e2']]);
    expect(queue.pending()).toEqual([]);
  });

  it('keeps at most maxQueued events, dropping the oldest', () => {
    counter = 0;
    const { queue } = harness([], { maxBatch: 100, maxQueued: 3 });
    for (let i = 0; i < 5; i++) queue.add(event());
    expect(queue.pending().map((e) => e.eventId)).toEqual(['e3', 'e4', 'e5']);
  });

  it('beacons on hide once per page, in batches under the limit, and keeps the events queued', () => {
    counter = 0;
    const { queue, beacons } = harness([], { maxBatch: 100 });
    const big = 'x'.repeat(BEACON_BYTES / 3);
    for (let i = 0; i < 4; i++) queue.add(event({ properties: { big } }));
    queue.flushOnHide();
    expect(beacons).toEqual([['e1', 'e2'], ['e3', 'e4']]);
    queue.flushOnHide();
    expect(beacons.length).toBe(2);
    queue.add(event());
    queue.flushOnHide();
    expect(beacons[2]).toEqual(['e5']);
    expect(queue.pending().length).toBe(5);
  });
});

describe('answers', () => {
  it('retries 408, 429 and 5xx, drops other 4xx, and reads Retry-After', () => {
    expect(resultOf(202, null)).toEqual({ kind: 'ok' });
    expect(resultOf(429, '3')).toEqual({ kind: 'retry', retryAfterMs: 3000 });
    expect(resultOf(503, null)).toEqual({ kind: 'retry', retryAfterMs: undefined });
    expect(resultOf(408, null).kind).toBe('retry');
    expect(resultOf(400, null)).toEqual({ kind: 'drop', status: 400 });
    const refused = { error: 'validation_failed', details: [{ index: 2, field: 'events[2].userId', message: 'x' }] };
    expect(resultOf(400, null, refused)).toEqual({ kind: 'invalid', indexes: [2] });
    expect(resultOf(403, null).kind).toBe('drop');
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect(retryAfterMs('Tue, 01 Dec 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});
