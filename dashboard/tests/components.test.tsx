import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import type { ComponentChildren } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type ApiClient } from '../src/api/client';
import type { ApiKeyInfo, CreatedKey, CreateKey, Experiment, PatchExperiment } from '../src/api/types';
import { App } from '../src/app';
import { ToastProvider } from '../src/components/Toasts';
import { AppContext } from '../src/context';
import { ExperimentForm } from '../src/pages/ExperimentForm';
import { ExperimentsPage } from '../src/pages/Experiments';
import { KeysPage } from '../src/pages/Keys';
import { experiment, results } from './fixtures';

function withApp(api: Partial<ApiClient>, children: ComponentChildren) {
  return (
    <ToastProvider>
      <AppContext.Provider value={{ api: api as ApiClient, apiBaseUrl: '', theme: 'light' }}>{children}</AppContext.Provider>
    </ToastProvider>
  );
}

function fakeApi(list: Experiment[]) {
  let inFlight = 0;
  const stats = { peak: 0, resultCalls: [] as string[] };
  const api = {
    listAllExperiments: vi.fn(async () => list.map((e) => ({ ...e }))),
    results: vi.fn(async (id: string) => {
      stats.resultCalls.push(id);
      inFlight++;
      stats.peak = Math.max(stats.peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      const n = Number(id.slice(-2));
      return results(id, { users: [1000 * n, 1000 * n], converted: [100 * n, 120 * n], lift: n / 100, p: 0.5 / n, significant: n > 20 });
    }),
    updateExperiment: vi.fn(async (id: string, patch: PatchExperiment) => {
      if (id === 'exp-03') throw new ApiError(409, 'conflict', 'cannot move an experiment from DRAFT to ACTIVE');
      return { ...list.find((e) => e.id === id)!, ...patch } as Experiment;
    }),
  };
  return { api, stats };
}

const list = Array.from({ length: 25 }, (_, i) => experiment(25 - i, { status: i % 2 ? 'ACTIVE' : 'DRAFT' }));
const rowNames = () => screen.queryAllByTestId('experiment-name').map((a) => a.textContent);
const pageInfo = () => screen.getByTestId('page-info').textContent;

afterEach(() => {
  cleanup();
  localStorage.clear();
  window.location.hash = '';
  vi.unstubAllGlobals();
});

describe('experiments table', () => {
  it('shows the first page with formatted numbers, fetching results only for visible rows, 4 at a time', async () => {
    const { api, stats } = fakeApi(list);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(10));
    expect(pageInfo()).toBe('1–10 of 25 · Page 1 of 3');
    await waitFor(() => expect(screen.getAllByText('50,000').length).toBeGreaterThan(0));
    const first = screen.getAllByTestId('experiment-row')[0];
    expect(within(first).getByText('Experiment 25')).toBeTruthy();
    expect(within(first).getByText('11.00%')).toBeTruthy();
    expect(within(first).getByText('+25.0%')).toBeTruthy();
    expect(within(first).getByText('Significant')).toBeTruthy();
    await waitFor(() => expect(stats.resultCalls).toHaveLength(10));
    await new Promise((r) => setTimeout(r, 50));
    expect(stats.resultCalls).toHaveLength(10);
    expect(stats.peak).toBeLessThanOrEqual(4);
  });

  it('debounces the search and resets to page 1 when a filter changes', async () => {
    const { api } = fakeApi(list);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(10));
    fireEvent.click(screen.getByTestId('next-page'));
    expect(pageInfo()).toContain('Page 2 of 3');
    fireEvent.input(screen.getByTestId('search'), { target: { value: 'Experiment 1' } });
    expect(pageInfo()).toContain('Page 2 of 3'); // not yet: debounced
    await waitFor(() => expect(pageInfo()).toBe('1–10 of 10 · Page 1 of 1'));
    fireEvent.change(screen.getByTestId('status-filter'), { target: { value: 'ACTIVE' } });
    await waitFor(() => expect(rowNames().length).toBeLessThan(10));
    expect(screen.getAllByTestId('experiment-row').every((r) => r.dataset.status === 'ACTIVE')).toBe(true);
  });

  it('sorts on a header click and reverses on the second', async () => {
    const { api } = fakeApi(list);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(10));
    fireEvent.click(screen.getByTestId('sort-name'));
    expect(rowNames()[0]).toBe('Experiment 01');
    expect(screen.getByTestId('sort-name').closest('th')!.getAttribute('aria-sort')).toBe('ascending');
    fireEvent.click(screen.getByTestId('sort-name'));
    expect(rowNames()[0]).toBe('Experiment 25');
    expect(screen.getByTestId('sort-name').closest('th')!.getAttribute('aria-sort')).toBe('descending');
    fireEvent.click(screen.getByTestId('sort-users'));
    // Sorting by a results column fetches every filtered row's results.
    await waitFor(() => expect(api.results).toHaveBeenCalledTimes(25));
    await waitFor(() => expect(rowNames()[0]).toBe('Experiment 01'));
  });

  it('changes page size', async () => {
    const { api } = fakeApi(list);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(10));
    fireEvent.change(screen.getByTestId('page-size'), { target: { value: '25' } });
    await waitFor(() => expect(rowNames()).toHaveLength(25));
    expect(pageInfo()).toBe('1–25 of 25 · Page 1 of 1');
  });

  it('runs a bulk action after confirmation, with one toast per outcome', async () => {
    const { api } = fakeApi(list);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(10));
    fireEvent.click(screen.getByTestId('select-all'));
    expect(screen.getByTestId('selected-count').textContent).toBe('10 experiments selected');
    fireEvent.click(screen.getByTestId('bulk-activate'));
    const dialog = screen.getByRole('dialog');
    // Rows 25..16: drafts are 25, 23, 21, 19, 17 (can activate), the others are active already.
    expect(within(dialog).getByText('Activate 5 experiments?')).toBeTruthy();
    expect(dialog.textContent).toContain('5 selected experiments cannot move to active');
    fireEvent.click(within(dialog).getByText('Activate 5 experiments'));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(api.updateExperiment).toHaveBeenCalledTimes(5);
    expect(api.updateExperiment).toHaveBeenCalledWith('exp-25', { status: 'ACTIVE' });
    const toasts = screen.getAllByTestId('toast').map((t) => t.textContent);
    expect(toasts.filter((t) => t!.includes('Activated 5 experiments.'))).toHaveLength(1);
    expect(toasts.filter((t) => t!.includes('Skipped 5 experiments'))).toHaveLength(1);
    expect(toasts).toHaveLength(2);
    expect(screen.getAllByTestId('experiment-row').every((r) => r.dataset.status === 'ACTIVE')).toBe(true);
  });

  it('reports failures in one error toast and keeps them selected', async () => {
    const small = [experiment(3), experiment(4)];
    const { api } = fakeApi(small);
    render(withApp(api, <ExperimentsPage />));
    await waitFor(() => expect(rowNames()).toHaveLength(2));
    fireEvent.click(screen.getByTestId('select-all'));
    fireEvent.click(screen.getByTestId('bulk-activate'));
    fireEvent.click(within(screen.getByRole('dialog')).getByText('Activate 2 experiments'));
    await waitFor(() => expect(screen.getAllByTestId('toast')).toHaveLength(2));
    const toasts = screen.getAllByTestId('toast').map((t) => t.textContent);
    expect(toasts[0]).toContain('Activated 1 experiment.');
    expect(toasts[1]).toContain('Could not activate 1 experiment');
    expect(toasts[1]).toContain('cannot move an experiment from DRAFT to ACTIVE');
    expect(screen.getByTestId('selected-count').textContent).toBe('1 experiment selected');
  });

  it('shows empty and error states', async () => {
    render(withApp({ listAllExperiments: vi.fn(async () => []) }, <ExperimentsPage />));
    await screen.findByText(/No experiments yet/);
    cleanup();
    render(withApp({ listAllExperiments: vi.fn(async () => { throw new ApiError(500, 'internal', 'internal error'); }) }, <ExperimentsPage />));
    await screen.findByText('Could not load experiments');
    expect(screen.getByText('internal error (500)')).toBeTruthy();
  });
});

describe('experiment form', () => {
  it('validates weights live and creates with the API shape', async () => {
    const created = experiment(1, { id: 'new-1', name: 'Checkout' });
    const api = { createExperiment: vi.fn(async () => created) };
    render(withApp(api, <ExperimentForm />));
    fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'Checkout' } });
    fireEvent.input(screen.getByLabelText('Variant 2 weight'), { target: { value: '70' } });
    expect(screen.getByTestId('weight-total').textContent).toBe('Total 120%');
    expect(screen.getByTestId('variant-errors').textContent).toContain('Weights must sum to 100 (now 120).');
    fireEvent.click(screen.getByText('Create experiment'));
    await screen.findByText('Please fix the highlighted fields.');
    expect(api.createExperiment).not.toHaveBeenCalled();

    fireEvent.click(screen.getByText('Split evenly'));
    expect(screen.getByTestId('weight-total').textContent).toBe('Total 100%');
    fireEvent.click(screen.getByText('Add variant'));
    expect(screen.getAllByTestId('variant-row')).toHaveLength(3);
    fireEvent.input(screen.getByLabelText('Variant 1 name'), { target: { value: 'baseline' } });
    fireEvent.click(screen.getByText('Create experiment'));
    await waitFor(() => expect(api.createExperiment).toHaveBeenCalledOnce());
    expect(api.createExperiment).toHaveBeenCalledWith({
      name: 'Checkout',
      description: undefined,
      variants: [
        { name: 'baseline', weight: 33.33 },
        { name: 'variant-b', weight: 33.33 },
        { name: 'variant-c', weight: 33.34 },
      ],
      status: 'DRAFT',
      controlVariant: 'baseline',
      startDate: undefined,
      endDate: undefined,
    });
    await waitFor(() => expect(window.location.hash).toBe('#/experiments/new-1'));
  });

  it('shows field errors the API sends back', async () => {
    const api = {
      createExperiment: vi.fn(async () => {
        throw new ApiError(400, 'validation_failed', 'name too long', [{ field: 'name', message: 'must be at most 200 characters' }]);
      }),
    };
    render(withApp(api, <ExperimentForm />));
    fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'X' } });
    fireEvent.click(screen.getByText('Create experiment'));
    await screen.findByText('must be at most 200 characters');
  });

  it('locks variants once an experiment has left DRAFT and sends only changes', async () => {
    const active = experiment(7, { status: 'ACTIVE', name: 'Old name' });
    const api = {
      getExperiment: vi.fn(async () => active),
      updateExperiment: vi.fn(async (_id: string, patch: PatchExperiment) => ({ ...active, ...patch }) as Experiment),
    };
    render(withApp(api, <ExperimentForm id="exp-07" />));
    await screen.findByDisplayValue('Old name');
    expect(screen.getByText('Variants can change only while the experiment is a draft.')).toBeTruthy();
    expect((screen.getByLabelText('Variant 1 name') as HTMLInputElement).closest('fieldset')!.disabled).toBe(true);
    fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'New name' } });
    fireEvent.click(screen.getByText('Save changes'));
    await waitFor(() => expect(api.updateExperiment).toHaveBeenCalledWith('exp-07', { name: 'New name' }));
  });
});

const PRIMARY: ApiKeyInfo = { id: 'primary', label: 'primary key', scope: 'full', allowedOrigins: [], createdAt: '2026-11-01T08:00:00Z', lastUsedDay: '2026-11-20' };
const SHOP: ApiKeyInfo = { id: 'k-shop', label: 'Web shop', scope: 'ingest', allowedOrigins: ['https://shop.example.com'], createdAt: '2026-11-02T08:00:00Z', lastUsedDay: null };

function fakeKeysApi(initial: ApiKeyInfo[]) {
  let keys = initial.map((k) => ({ ...k }));
  const api = {
    listKeys: vi.fn(async () => keys.map((k) => ({ ...k }))),
    createKey: vi.fn(async (body: CreateKey): Promise<CreatedKey> => {
      const info: ApiKeyInfo = { id: 'k-new', label: body.label, scope: body.scope, allowedOrigins: body.allowedOrigins ?? [], createdAt: '2026-11-03T08:00:00Z', lastUsedDay: null };
      keys = [...keys, info];
      return { ...info, key: 'ca_0123456789abcdef' };
    }),
    deleteKey: vi.fn(async (id: string) => {
      const full = keys.filter((k) => k.scope === 'full');
      if (full.length === 1 && full[0].id === id) throw new ApiError(409, 'conflict', "this is the tenant's last full key: create another full key before deleting it");
      keys = keys.filter((k) => k.id !== id);
    }),
  };
  return api;
}

const keyRow = (id: string) => screen.getAllByTestId('key-row').find((r) => r.dataset.id === id)!;

describe('keys page', () => {
  afterEach(() => {
    delete (navigator as { clipboard?: unknown }).clipboard;
  });

  it('lists keys with their scope explained, origins, created and last-used days', async () => {
    render(withApp(fakeKeysApi([PRIMARY, SHOP, { ...SHOP, id: 'k-old', label: 'Old', allowedOrigins: [], lastUsedDay: undefined }]), <KeysPage />));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(3));
    const primary = keyRow('primary');
    expect(primary.dataset.scope).toBe('full');
    expect(within(primary).getByText('Full')).toBeTruthy();
    expect(primary.textContent).toContain('Secret: may do everything');
    expect(primary.textContent).toContain('2026-11-01');
    expect(primary.textContent).toContain('2026-11-20');
    expect(within(primary).getByTestId('key-origins').textContent).toContain('—');
    const shop = keyRow('k-shop');
    expect(shop.textContent).toContain('Publishable: may only send events; safe in a web page.');
    expect(within(shop).getByTestId('key-origins').textContent).toBe('https://shop.example.com');
    expect(within(shop).getByText('never')).toBeTruthy();
    const old = keyRow('k-old');
    expect(within(old).getByTestId('key-origins').textContent).toMatch(/server-side use only/);
    expect(within(old).queryByText('never')).toBeNull();
  });

  it('creates an ingest key, shows it once with Copy, and forgets it on Done', async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const api = fakeKeysApi([PRIMARY]);
    render(withApp(api, <KeysPage />));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(1));
    expect((screen.getByLabelText(/Ingest/) as HTMLInputElement).checked).toBe(true);
    fireEvent.input(screen.getByLabelText('Label'), { target: { value: 'Web shop' } });
    fireEvent.input(screen.getByLabelText('Allowed origins (optional)'), { target: { value: 'https://Shop.example.com/\nhttps://m.shop.example.com' } });
    fireEvent.click(screen.getByText('Create key', { selector: 'button' }));
    await waitFor(() => expect(api.createKey).toHaveBeenCalledOnce());
    expect(api.createKey).toHaveBeenCalledWith({ scope: 'ingest', label: 'Web shop', allowedOrigins: ['https://shop.example.com', 'https://m.shop.example.com'] });
    const panel = await screen.findByTestId('new-key-panel');
    expect(panel.textContent).toMatch(/shown only once/);
    expect((screen.getByTestId('new-key') as HTMLInputElement).value).toBe('ca_0123456789abcdef');
    await waitFor(() => expect(document.activeElement?.id).toBe('new-key-title'));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(2));
    expect(api.listKeys).toHaveBeenCalledTimes(2);
    expect((screen.getByLabelText('Label') as HTMLInputElement).value).toBe('');
    expect(screen.getAllByTestId('toast').map((t) => t.textContent).join()).toContain('Created the ingest key “Web shop”.');

    fireEvent.click(screen.getByTestId('copy-key'));
    await waitFor(() => expect(screen.getByTestId('copy-note').textContent).toBe('Copied to the clipboard.'));
    expect(writeText).toHaveBeenCalledWith('ca_0123456789abcdef');
    expect(JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })).not.toContain('ca_0123456789abcdef');

    fireEvent.click(screen.getByTestId('new-key-done'));
    expect(screen.queryByTestId('new-key-panel')).toBeNull();
    expect(document.body.innerHTML).not.toContain('ca_0123456789abcdef');
  });

  it('selects the key for copying by hand when the clipboard is unavailable', async () => {
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: vi.fn(async () => { throw new DOMException('denied', 'NotAllowedError'); }) }, configurable: true });
    render(withApp(fakeKeysApi([PRIMARY]), <KeysPage />));
    await screen.findByText('primary key');
    fireEvent.click(screen.getByLabelText(/Full/));
    expect(screen.queryByLabelText('Allowed origins (optional)')).toBeNull();
    fireEvent.input(screen.getByLabelText('Label'), { target: { value: 'CI' } });
    fireEvent.click(screen.getByText('Create key', { selector: 'button' }));
    const input = (await screen.findByTestId('new-key')) as HTMLInputElement;
    expect(screen.getByTestId('new-key-panel').textContent).toMatch(/never in a web page/);
    fireEvent.click(screen.getByTestId('copy-key'));
    await waitFor(() => expect(screen.getByTestId('copy-note').textContent).toMatch(/the key is selected, press Ctrl\+C/));
    expect(input.selectionStart).toBe(0);
    expect(input.selectionEnd).toBe(input.value.length);
  });

  it('checks obvious mistakes before sending and shows the API field errors next to the fields', async () => {
    const api = {
      listKeys: vi.fn(async () => [PRIMARY]),
      createKey: vi.fn(async () => {
        throw new ApiError(400, 'validation_error', 'invalid key', [
          { field: 'allowedOrigins[0]', message: 'must be an origin like https://shop.example or http://localhost:8080 (no path, no *)' },
          { field: 'label', message: 'must be a string of 1 to 100 characters' },
        ]);
      }),
    };
    render(withApp(api, <KeysPage />));
    await screen.findByText('primary key');
    fireEvent.click(screen.getByText('Create key', { selector: 'button' }));
    await screen.findByText('A label is required.');
    fireEvent.input(screen.getByLabelText('Label'), { target: { value: 'Web shop' } });
    fireEvent.input(screen.getByLabelText('Allowed origins (optional)'), { target: { value: 'https://shop.example.com/cart' } });
    fireEvent.click(screen.getByText('Create key', { selector: 'button' }));
    expect(document.getElementById('k-origins-error')!.textContent).toMatch(/^Not an origin: https:\/\/shop\.example\.com\/cart/);
    expect(api.createKey).not.toHaveBeenCalled();

    fireEvent.input(screen.getByLabelText('Allowed origins (optional)'), { target: { value: 'https://shop.example.com' } });
    fireEvent.click(screen.getByText('Create key', { selector: 'button' }));
    await waitFor(() => expect(document.getElementById('k-origins-error')?.textContent).toBe(
      'https://shop.example.com must be an origin like https://shop.example or http://localhost:8080 (no path, no *).',
    ));
    expect(document.getElementById('k-label-error')!.textContent).toBe('Label must be a string of 1 to 100 characters.');
    expect(screen.getByLabelText('Label').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Label').getAttribute('aria-describedby')).toBe('k-label-hint k-label-error');
    expect(screen.queryByTestId('new-key-panel')).toBeNull();
  });

  it('revokes after a confirmation that warns, then refreshes the list', async () => {
    const api = fakeKeysApi([PRIMARY, SHOP]);
    render(withApp(api, <KeysPage />));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(2));
    fireEvent.click(within(keyRow('k-shop')).getByTestId('revoke-key'));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByText('Revoke “Web shop”?')).toBeTruthy();
    expect(dialog.textContent).toMatch(/stop working at once/);
    fireEvent.click(within(dialog).getByText('Cancel'));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(api.deleteKey).not.toHaveBeenCalled();

    fireEvent.click(within(keyRow('k-shop')).getByTestId('revoke-key'));
    fireEvent.click(within(screen.getByRole('dialog')).getByText('Revoke key'));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(1));
    expect(api.deleteKey).toHaveBeenCalledWith('k-shop');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getAllByTestId('toast').map((t) => t.textContent).join()).toContain('Revoked “Web shop”');
  });

  it('explains why the last full key cannot be revoked', async () => {
    const api = fakeKeysApi([PRIMARY, SHOP]);
    render(withApp(api, <KeysPage />));
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(2));
    fireEvent.click(within(keyRow('primary')).getByTestId('revoke-key'));
    const dialog = screen.getByRole('dialog');
    expect(dialog.textContent).toMatch(/signed in with this key, it will be signed out/);
    fireEvent.click(within(dialog).getByText('Revoke key'));
    const toast = await screen.findByRole('alert');
    expect(toast.textContent).toContain("Could not revoke “primary key”: this is the tenant's last full key: create another full key before deleting it.");
    expect(screen.getAllByTestId('key-row')).toHaveLength(2);
  });

  it('shows a load error, such as an ingest key refused with 403', async () => {
    render(withApp({ listKeys: vi.fn(async () => { throw new ApiError(403, 'forbidden', 'this is an ingest key: it may only send events'); }) }, <KeysPage />));
    await screen.findByText('Could not load keys');
    expect(screen.getByText(/ingest \(publishable\) key \(403\)/)).toBeTruthy();
  });
});

describe('app shell', () => {
  beforeEach(() => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        const key = (init?.headers as Record<string, string> | undefined)?.['X-API-Key'];
        if (key === 'ingest-key') return new Response(JSON.stringify({ error: 'forbidden', message: 'this is an ingest key: it may only send events' }), { status: 403 });
        if (key !== 'good-key') return new Response(JSON.stringify({ error: 'unauthorized', message: 'invalid API key' }), { status: 401 });
        if (url.startsWith('/api/experiments')) return new Response('[]', { status: 200 });
        if (url === '/api/keys') return new Response(JSON.stringify({ keys: [PRIMARY] }), { status: 200 });
        if (url.startsWith('/api/analytics/summary'))
          return new Response(JSON.stringify({ totalEvents: 4956, uniqueUsers: 2000, variants: { a: { events: 1, users: 1000, conversions: 100, convertedUsers: 100, conversionRate: 0.1 } } }), { status: 200 });
        return new Response(JSON.stringify({ error: 'not_found', message: 'no route' }), { status: 404 });
      }),
    );
  });

  it('connects: a 401 is explained, a good key is stored, sign-out removes it', async () => {
    render(<App apiBaseUrl="" />);
    fireEvent.input(screen.getByLabelText('API key'), { target: { value: 'bad' } });
    fireEvent.click(screen.getByText('Connect', { selector: 'button' }));
    expect((await screen.findByTestId('connect-error')).textContent).toMatch(/not accepted \(401 Unauthorized\)/);
    fireEvent.input(screen.getByLabelText('API key'), { target: { value: 'good-key' } });
    fireEvent.click(screen.getByText('Connect', { selector: 'button' }));
    await screen.findByText('4,956');
    expect(screen.getByText('2,000')).toBeTruthy();
    expect(screen.getByText('10.00%')).toBeTruthy();
    expect(localStorage.getItem('campaign-analytics.apiKey')).toBe('good-key');
    fireEvent.click(screen.getByText('Sign out'));
    await screen.findByLabelText('API key');
    expect(localStorage.getItem('campaign-analytics.apiKey')).toBeNull();
  });

  it('refuses an ingest key at connect with a clear reason, and a full key reaches the Keys page', async () => {
    render(<App apiBaseUrl="" />);
    fireEvent.input(screen.getByLabelText('API key'), { target: { value: 'ingest-key' } });
    fireEvent.click(screen.getByText('Connect', { selector: 'button' }));
    expect((await screen.findByTestId('connect-error')).textContent).toMatch(/ingest \(publishable\) key \(403\): it may only send events, so it cannot read data or manage keys/);
    expect(localStorage.getItem('campaign-analytics.apiKey')).toBeNull();
    fireEvent.input(screen.getByLabelText('API key'), { target: { value: 'good-key' } });
    fireEvent.click(screen.getByText('Connect', { selector: 'button' }));
    const link = await screen.findByText('Keys', { selector: 'nav a' });
    expect(link.getAttribute('href')).toBe('#/keys');
    window.location.hash = '#/keys';
    await screen.findByText('primary key');
    expect(screen.getByText('Keys', { selector: 'h1' })).toBeTruthy();
    expect(link.getAttribute('aria-current')).toBe('page');
    await waitFor(() => expect(document.title).toBe('Keys · campaign-analytics'));
  });

  it('toggles dark mode and keeps the choice', async () => {
    render(<App apiBaseUrl="" />);
    const toggle = screen.getByTestId('theme-toggle');
    const start = document.documentElement.dataset.theme ?? 'light';
    fireEvent.click(toggle);
    const flipped = start === 'dark' ? 'light' : 'dark';
    expect(document.documentElement.dataset.theme).toBe(flipped);
    expect(localStorage.getItem('campaign-analytics.theme')).toBe(flipped);
  });

  it('drops a key the API stops accepting and asks again', async () => {
    localStorage.setItem('campaign-analytics.apiKey', 'revoked');
    render(<App apiBaseUrl="" />);
    await screen.findByText(/no longer accepted/);
    expect(localStorage.getItem('campaign-analytics.apiKey')).toBeNull();
  });
});
