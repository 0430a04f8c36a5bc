// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Client } from '../src/index';
import { bucket, choose } from '../src/hash';

type Sent = { url: string; body: { events: Array<Record<string, any>>; sentAt: string } };

let sent: Sent[];

beforeEach(() => {
  localStorage.clear();
  sent = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      sent.push({ url, body: JSON.parse(String(init.body)) });
      expect((init.headers as Record<string, string>)['Content-Type']).toBe('text/plain');
      return new Response('{}', { status: 202 });
    }),
  );
  history.replaceState(null, '', '/landing?utm_source=newsletter&gclid=abc');
});

afterEach(() => vi.unstubAllGlobals());

const events = () => sent.flatMap((s) => s.body.events);

describe('client', () => {
  it('sends the landing page view with its campaign, to the batch route with the key in the URL', async () => {
    const client = new Client({ apiKey: 'pk_1', host: 'https://api.example/' });
    await client.flush();
    expect(sent[0].url).toBe('https://api.example/api/events/batch?key=pk_1');
    expect(Date.parse(sent[0].body.sentAt)).not.toBeNaN();
    const [view] = events();
    expect(view.eventType).toBe('PAGE_VIEW');
    expect(view.properties).toMatchObject({ utm_source: 'newsletter', gclid: 'abc', path: '/landing' });
    expect(view.properties.url).toContain('utm_source=newsletter');
    expect(view.eventId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps an anonymous id until identify, then uses the user id', async () => {
    const client = new Client({ apiKey: 'k', autoPageviews: false });
    const anonymous = client.userId();
    expect(new Client({ apiKey: 'k', autoPageviews: false }).userId()).toBe(anonymous);
    client.click();
    client.identify('user-42');
    client.convert({ value: 29.9 });
    await client.flush();
    expect(events().map((e) => [e.eventType, e.userId])).toEqual([
      ['CLICK', anonymous],
      ['CONVERSION', 'user-42'],
    ]);
    expect(events()[1].properties).toEqual({ value: 29.9 });
  });

  it('assigns like the server, exposes once, and tags later events', async () => {
    const client = new Client({ apiKey: 'k', autoPageviews: false });
    client.identify('user-7');
    const experiment = { id: 'exp-1', variants: [{ name: 'control', weight: 50 }, { name: 'treatment', weight: 50 }] };
    const variant = client.assign(experiment);
    expect(variant).toBe(['control', 'treatment'][choose([50, 50], bucket('exp-1', 'user-7'))]);
    expect(client.assign(experiment)).toBe(variant);
    client.convert();
    client.track('CONVERSION', { experimentId: 'other', variant: 'x' });
    await client.flush();
    expect(events().map((e) => [e.eventType, e.properties.experimentId, e.properties.variant])).toEqual([
      ['EXPOSURE', 'exp-1', variant],
      ['CONVERSION', 'exp-1', variant],
      ['CONVERSION', 'other', 'x'],
    ]);
  });

  it('sends nothing once the visitor opts out, on any page, until they opt in', async () => {
    const client = new Client({ apiKey: 'k', autoPageviews: false });
    client.click({ n: 1 });
    client.optOut();
    client.click({ n: 2 });
    const nextPage = new Client({ apiKey: 'k', autoPageviews: false });
    nextPage.click({ n: 3 });
    await nextPage.flush();
    expect(events()).toEqual([]);
    nextPage.optIn();
    nextPage.click({ n: 4 });
    await nextPage.flush();
    expect(events().map((e) => e.properties.n)).toEqual([4]);
  });

  it('refuses an event type the API does not take, before it can spoil a batch', async () => {
    const client = new Client({ apiKey: 'k', autoPageviews: false });
    const warned = vi.spyOn(console, 'warn').mockImplementation(() => {});
    client.track('SIGNUP');
    client.track('CLICK');
    await client.flush();
    expect(events().map((e) => e.eventType)).toEqual(['CLICK']);
    expect(warned).toHaveBeenCalledOnce();
    warned.mockRestore();
  });

  it('reset forgets the user, the anonymous id and the experiment', async () => {
    const client = new Client({ apiKey: 'k', autoPageviews: false });
    const first = client.userId();
    client.identify('user-1');
    client.assign({ id: 'exp', variants: ['a', 'b'] });
    client.reset();
    client.click();
    await client.flush();
    const last = events().at(-1)!;
    expect([last.userId === first, last.userId === 'user-1', last.properties.experimentId]).toEqual([false, false, undefined]);
  });

  it('counts a history navigation as a page view', async () => {
    const client = new Client({ apiKey: 'k' });
    history.pushState(null, '', '/pricing');
    history.replaceState(null, '', '/pricing');
    await client.flush();
    expect(events().map((e) => e.properties.path)).toEqual(['/landing', '/pricing']);
  });
});
