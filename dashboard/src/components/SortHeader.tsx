import type { ComponentChildren } from 'preact';

/** A sortable column's header: a button that sorts, with `aria-sort` and an arrow for the current order. */
export function SortHeader({
  sorted, dir, numeric, onSort, testId, children,
}: { sorted: boolean; dir: 'asc' | 'desc'; numeric?: boolean; onSort(): void; testId: string; children: ComponentChildren }) {
  return (
    <th class={numeric ? 'num' : undefined} aria-sort={sorted ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" class="sort-button" onClick={onSort} data-testid={testId}>
        {children}
        <span class="sort-icon" aria-hidden="true">
          {sorted ? (dir === 'asc' ? '▲' : '▼') : '↕'}
        </span>
      </button>
    </th>
  );
}
