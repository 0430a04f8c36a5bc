import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import type { ComponentChildren } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type ApiClient } from '../src/api/client';
import type { Experiment, PatchExperiment } from '../src/api/types';
import { App } from '../src/app';
import { ToastProvider } from '../src/components/Toasts';
import { AppContext } from '../src/context';
import { ExperimentForm } from '../src/pages/ExperimentForm';
import { ExperimentsPage } from '../src/pages/Experiments';
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

describe('app shell', () => {
  beforeEach(() => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        const key = (init?.headers as Record<string, string> | undefined)?.['X-API-Key'];
        if (key !== 'good-key') return new Response(JSON.stringify({ error: 'unauthorized', message: 'invalid API key' }), { status: 401 });
        if (url.startsWith('/api/experiments')) return new Response('[]', { status: 200 });
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
