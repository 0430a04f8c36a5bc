import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { STATUSES, type Experiment, type Results, type Status } from '../api/types';
import { ConfirmDialog } from '../components/Dialog';
import { Empty, ErrorState, Loading, SignificanceBadge, StatusBadge } from '../components/States';
import { useToast } from '../components/Toasts';
import { SortHeader } from '../components/SortHeader';
import { useApp } from '../context';
import { useDebounced } from '../lib/debounce';
import { DASH, formatLift, formatNumber, formatPercent, formatPValue, plural } from '../lib/format';
import { mapPool } from '../lib/pool';
import { href } from '../lib/router';
import {
  BULK_LABEL, filterRows, metricsFromResults, paginate, planBulk, RESULT_COLUMNS, sortRows,
  type BulkAction, type ColumnKey, type Row, type SortDir,
} from '../lib/table';
import { useAsync } from '../lib/useAsync';

type ResultEntry = { status: 'loading' } | { status: 'ok'; data: Results } | { status: 'error' };

const COLUMNS: { key: ColumnKey; label: string; numeric?: boolean }[] = [
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: 'variants', label: 'Variants', numeric: true },
  { key: 'users', label: 'Users', numeric: true },
  { key: 'conversionRate', label: 'Conversion rate', numeric: true },
  { key: 'bestLift', label: 'Best lift', numeric: true },
  { key: 'significance', label: 'Significance' },
];

export const PAGE_SIZES = [10, 25, 50, 100];
/** Result fetches in flight at once. */
const RESULTS_CONCURRENCY = 4;
/** At most this many rows get results fetched for sorting by a results column. */
const MAX_SORT_FETCH = 300;

export function ExperimentsPage() {
  const { api } = useApp();
  const toast = useToast();
  const [list, reload] = useAsync(() => api.listAllExperiments(), [api]);
  const [experiments, setExperiments] = useState<Experiment[] | null>(null);
  useEffect(() => {
    if (list.status === 'ok') setExperiments(list.data);
  }, [list]);

  const [search, setSearch] = useState('');
  const debouncedSearch = useDebounced(search, 300);
  const [status, setStatus] = useState<Status | 'ALL'>('ALL');
  const [sortKey, setSortKey] = useState<ColumnKey | null>(null);
  const [sortDir, setSortDir] = useState<SortDir>('asc');
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(10);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [results, setResults] = useState<Map<string, ResultEntry>>(new Map());
  const [bulk, setBulk] = useState<BulkAction | null>(null);
  const [bulkBusy, setBulkBusy] = useState(false);

  // A new filter starts again on page 1 with nothing selected.
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    setPage(1);
    setSelected(new Set());
  }, [debouncedSearch, status, pageSize]);

  const rows: Row[] = useMemo(
    () =>
      (experiments ?? []).map((experiment) => {
        const r = results.get(experiment.id);
        return { experiment, metrics: r?.status === 'ok' ? metricsFromResults(r.data) : null };
      }),
    [experiments, results],
  );
  const filtered = useMemo(() => filterRows(rows, debouncedSearch, status), [rows, debouncedSearch, status]);
  const sorted = useMemo(() => (sortKey ? sortRows(filtered, sortKey, sortDir) : filtered), [filtered, sortKey, sortDir]);
  const current = paginate(sorted, page, pageSize);

  // Results for the rows on screen (and for every filtered row while sorting by a results column).
  const wanted = useMemo(() => {
    const ids = current.items.map((r) => r.experiment.id);
    if (sortKey && RESULT_COLUMNS.includes(sortKey)) ids.push(...filtered.slice(0, MAX_SORT_FETCH).map((r) => r.experiment.id));
    return [...new Set(ids)];
  }, [current.items, filtered, sortKey]);
  const requested = useRef(new Set<string>());
  useEffect(() => {
    const todo = wanted.filter((id) => !requested.current.has(id));
    if (todo.length === 0) return;
    todo.forEach((id) => requested.current.add(id));
    setResults((m) => {
      const next = new Map(m);
      todo.forEach((id) => next.set(id, { status: 'loading' }));
      return next;
    });
    void mapPool(todo, RESULTS_CONCURRENCY, async (id) => {
      let entry: ResultEntry;
      try {
        entry = { status: 'ok', data: await api.results(id) };
      } catch {
        entry = { status: 'error' };
      }
      setResults((m) => new Map(m).set(id, entry));
    });
  }, [wanted, api]);

  const onSort = (key: ColumnKey) => {
    if (sortKey === key) setSortDir((d) => (d === 'asc' ? 'desc' : 'asc'));
    else {
      setSortKey(key);
      setSortDir('asc');
    }
  };

  const pageIds = current.items.map((r) => r.experiment.id);
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => selected.has(id));
  const someOnPage = pageIds.some((id) => selected.has(id));
  const selectAll = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (selectAll.current) selectAll.current.indeterminate = someOnPage && !allOnPage;
  });
  const toggleAll = () => {
    const next = new Set(selected);
    if (allOnPage) pageIds.forEach((id) => next.delete(id));
    else pageIds.forEach((id) => next.add(id));
    setSelected(next);
  };
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };

  const selectedExperiments = (experiments ?? []).filter((e) => selected.has(e.id));
  const plan = bulk ? planBulk(selectedExperiments, bulk) : null;

  const runBulk = async () => {
    if (!bulk || !plan) return;
    setBulkBusy(true);
    const label = BULK_LABEL[bulk];
    const outcomes = await mapPool(plan.eligible, 3, (e) => api.updateExperiment(e.id, { status: plan.target }));
    const updated = new Map<string, Experiment>();
    const failures: { experiment: Experiment; error: unknown }[] = [];
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') updated.set(o.value.id, o.value);
      else failures.push({ experiment: plan.eligible[i], error: o.reason });
    });
    setExperiments((list) => (list ?? []).map((e) => updated.get(e.id) ?? e));
    if (updated.size > 0) toast.success(`${label.past} ${plural(updated.size, 'experiment')}.`);
    if (failures.length > 0) {
      const first = failures[0];
      toast.error(
        `Could not ${label.verb.toLowerCase()} ${plural(failures.length, 'experiment')}: “${first.experiment.name}”: ${errorMessage(first.error)}` +
          (failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''),
      );
    }
    if (plan.skipped.length > 0) {
      toast.info(`Skipped ${plural(plan.skipped.length, 'experiment')} that cannot be ${label.past.toLowerCase()} from ${plan.skipped.length === 1 ? 'its' : 'their'} current status.`);
    }
    setSelected(new Set(failures.map((f) => f.experiment.id)));
    setBulkBusy(false);
    setBulk(null);
  };

  const loading = !experiments && list.status === 'loading';
  return (
    <section class="page">
      <div class="page-header">
        <h1>Experiments</h1>
        <div class="header-actions">
          <button type="button" class="button" onClick={() => { requested.current.clear(); setResults(new Map()); reload(); }}>
            Refresh
          </button>
          <a class="button button-primary" href={href({ name: 'new-experiment' })}>
            New experiment
          </a>
        </div>
      </div>

      <div class="toolbar">
        <label class="search">
          <span class="sr-only">Search experiments</span>
          <input
            type="search"
            placeholder="Search by name, description, variant…"
            value={search}
            onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
            data-testid="search"
          />
        </label>
        <label class="inline-label">
          Status
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value as Status | 'ALL')} data-testid="status-filter">
            <option value="ALL">All</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.charAt(0) + s.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
        </label>
      </div>

      <div class="bulkbar" role="toolbar" aria-label="Bulk actions">
        <span class="muted" aria-live="polite" data-testid="selected-count">
          {selected.size > 0 ? `${plural(selected.size, 'experiment')} selected` : 'Select experiments for bulk actions'}
        </span>
        {(['activate', 'pause', 'complete'] as BulkAction[]).map((a) => (
          <button key={a} type="button" class="button" disabled={selected.size === 0} onClick={() => setBulk(a)} data-testid={`bulk-${a}`}>
            {BULK_LABEL[a].verb}
          </button>
        ))}
        {selected.size > 0 && (
          <button type="button" class="button button-ghost" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        )}
      </div>

      {list.status === 'error' && !experiments ? (
        <ErrorState error={list.error} onRetry={reload} title="Could not load experiments" />
      ) : loading ? (
        <Loading label="Loading experiments…" />
      ) : (experiments ?? []).length === 0 ? (
        <Empty>
          No experiments yet. <a href={href({ name: 'new-experiment' })}>Create the first one</a>.
        </Empty>
      ) : (
        <>
          <div class="table-wrap">
            <table class="table" data-testid="experiments-table">
              <caption class="sr-only">Experiments, {current.total} matching</caption>
              <thead>
                <tr>
                  <th class="col-check">
                    <input
                      type="checkbox"
                      ref={selectAll}
                      checked={allOnPage}
                      onChange={toggleAll}
                      aria-label="Select all experiments on this page"
                      disabled={pageIds.length === 0}
                      data-testid="select-all"
                    />
                  </th>
                  {COLUMNS.map((c) => (
                    <SortHeader
                      key={c.key}
                      sorted={sortKey === c.key}
                      dir={sortDir}
                      numeric={c.numeric}
                      onSort={() => onSort(c.key)}
                      testId={`sort-${c.key}`}
                    >
                      {c.label}
                    </SortHeader>
                  ))}
                </tr>
              </thead>
              <tbody>
                {current.items.length === 0 ? (
                  <tr>
                    <td colSpan={COLUMNS.length + 1} class="empty-row">
                      No experiments match these filters.
                    </td>
                  </tr>
                ) : (
                  current.items.map((row) => (
                    <ExperimentRow
                      key={row.experiment.id}
                      row={row}
                      entry={results.get(row.experiment.id)}
                      selected={selected.has(row.experiment.id)}
                      onToggle={() => toggle(row.experiment.id)}
                    />
                  ))
                )}
              </tbody>
            </table>
          </div>
          <div class="pager" role="navigation" aria-label="Pagination">
            <span class="muted" data-testid="page-info">
              {current.total === 0 ? 'No rows' : `${formatNumber(current.from)}–${formatNumber(current.to)} of ${formatNumber(current.total)}`} · Page{' '}
              {current.page} of {current.pageCount}
            </span>
            <label class="inline-label">
              Rows per page
              <select value={String(pageSize)} onChange={(e) => setPageSize(Number((e.target as HTMLSelectElement).value))} data-testid="page-size">
                {PAGE_SIZES.map((n) => (
                  <option key={n} value={String(n)}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
            <div class="pager-buttons">
              <button type="button" class="button" disabled={current.page <= 1} onClick={() => setPage(1)} aria-label="First page">
                «
              </button>
              <button type="button" class="button" disabled={current.page <= 1} onClick={() => setPage(current.page - 1)} data-testid="prev-page">
                Previous
              </button>
              <button type="button" class="button" disabled={current.page >= current.pageCount} onClick={() => setPage(current.page + 1)} data-testid="next-page">
                Next
              </button>
              <button type="button" class="button" disabled={current.page >= current.pageCount} onClick={() => setPage(current.pageCount)} aria-label="Last page">
                »
              </button>
            </div>
          </div>
        </>
      )}

      {bulk && plan && (
        <ConfirmDialog
          title={`${BULK_LABEL[bulk].verb} ${plural(plan.eligible.length, 'experiment')}?`}
          confirmLabel={`${BULK_LABEL[bulk].verb} ${plural(plan.eligible.length, 'experiment')}`}
          danger={bulk === 'complete'}
          busy={bulkBusy}
          onCancel={() => setBulk(null)}
          onConfirm={plan.eligible.length > 0 ? runBulk : () => setBulk(null)}
        >
          {plan.eligible.length > 0 ? (
            <>
              <p>
                These will move to <StatusBadge status={plan.target} />:
              </p>
              <ul class="compact-list">
                {plan.eligible.slice(0, 6).map((e) => (
                  <li key={e.id}>{e.name}</li>
                ))}
                {plan.eligible.length > 6 && <li>…and {plan.eligible.length - 6} more</li>}
              </ul>
            </>
          ) : (
            <p>None of the selected experiments can move to {plan.target.toLowerCase()} from their current status.</p>
          )}
          {plan.skipped.length > 0 && (
            <p class="muted">
              {plural(plan.skipped.length, 'selected experiment')} cannot move to {plan.target.toLowerCase()} from {plan.skipped.length === 1 ? 'its' : 'their'} current
              status and will be skipped.
            </p>
          )}
          {bulk === 'complete' && plan.eligible.length > 0 && <p class="muted">Completing an experiment cannot be undone.</p>}
        </ConfirmDialog>
      )}
    </section>
  );
}

function ExperimentRow({ row, entry, selected, onToggle }: { row: Row; entry?: ResultEntry; selected: boolean; onToggle(): void }) {
  const e = row.experiment;
  const m = row.metrics;
  const pending = !entry || entry.status === 'loading';
  const cell = (v: string) => (pending ? <span class="skeleton skeleton-inline" aria-label="Loading" /> : v);
  return (
    <tr class={selected ? 'selected' : undefined} data-testid="experiment-row" data-status={e.status}>
      <td class="col-check">
        <input type="checkbox" checked={selected} onChange={onToggle} aria-label={`Select ${e.name}`} />
      </td>
      <td class="col-name">
        <a href={href({ name: 'experiment', id: e.id })} data-testid="experiment-name">
          {e.name}
        </a>
      </td>
      <td>
        <StatusBadge status={e.status} />
      </td>
      <td class="num" title={e.variants.map((v) => `${v.name} (${v.weight}%)`).join(', ')}>
        {formatNumber(e.variants.length)}
      </td>
      <td class="num">{cell(formatNumber(m?.users))}</td>
      <td class="num">{cell(formatPercent(m?.conversionRate))}</td>
      <td class="num">{cell(formatLift(m?.bestLift))}</td>
      <td>
        {pending ? (
          cell(DASH)
        ) : !m || (m.significant === null && m.minPValue === null) ? (
          DASH
        ) : (
          <span class="sig-cell">
            <SignificanceBadge significant={m.significant} />
            {m.minPValue !== null && <span class="muted small">p {formatPValue(m.minPValue)}</span>}
          </span>
        )}
      </td>
    </tr>
  );
}
