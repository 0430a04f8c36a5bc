import { useMemo, useState } from 'preact/hooks';
import type { CampaignReport, CampaignRow } from '../api/types';
import { LineChart, type ChartSeries } from '../components/Chart';
import { RangePicker, useDateRange } from '../components/RangePicker';
import { Empty, ErrorState, Loading } from '../components/States';
import { SortHeader } from '../components/SortHeader';
import { useApp } from '../context';
import {
  chartLines, COLUMNS, daySeconds, deltaOf, formatDelta, OTHER_ROW, sortCampaignRows, viewOf, type CampaignColumn, type SortDir,
} from '../lib/campaigns';
import { slug } from '../lib/csv';
import { useCsvDownload } from '../lib/useCsvDownload';
import { formatMoney, formatNumber, formatPercent } from '../lib/format';
import { href } from '../lib/router';
import { SERIES_COLORS } from '../lib/theme';
import { useAsync } from '../lib/useAsync';

function cell(column: Exclude<CampaignColumn, 'key'>, row: CampaignRow): string {
  if (column === 'conversionRate') return formatPercent(row.users > 0 ? row.conversionRate : null);
  if (column === 'revenue') return formatMoney(row.revenue);
  return formatNumber(row[column]);
}

/** The campaign report: users by the channel, source / medium and campaign of their first touch, or by a custom dimension. */
export function CampaignsPage({ path }: { path: string[] }) {
  const { api, theme } = useApp();
  // The report counts whole days of the tenant's time zone (UTC until set, and if it cannot be read).
  const [timezone] = useAsync(() => api.timezone(), [api]);
  const zone = timezone.data?.timezone ?? (timezone.status === 'error' ? 'UTC' : undefined);
  const dates = useDateRange(zone ?? 'UTC');
  const range = dates.range;
  const [compare, setCompare] = useState(false);
  const [sort, setSort] = useState<{ column: CampaignColumn; dir: SortDir }>({ column: 'users', dir: 'desc' });
  const [downloading, download] = useCsvDownload();
  // The tenant's custom dimensions; the report can be broken down by one instead of the next level.
  const [dimensions] = useAsync(() => api.dimensions(), [api]);
  const declared = dimensions.data?.keys ?? [];
  const [dimension, setDimension] = useState<string | null>(null);
  const breakdown = dimension && declared.includes(dimension) ? dimension : null;
  const level = viewOf(path, breakdown);
  const { filters, canDrill } = level;
  const query = { groupBy: level.groupBy, ...range, filters, compare, interval: 'day' as const };
  const [report, reload] = useAsync(
    // Until the zone is known, its days are not: wait for it.
    () => (zone ? api.campaigns(query) : new Promise<CampaignReport>(() => {})),
    [api, zone, range.startDate, range.endDate, compare, path.join('\u0000'), level.groupBy],
  );

  const data = report.data;
  const rows = useMemo(() => (data ? sortCampaignRows(data.rows, sort.column, sort.dir) : []), [data, sort]);
  const previous = useMemo(() => new Map((data?.previous?.rows ?? []).map((r) => [r.key, r])), [data]);

  const onSort = (column: CampaignColumn) =>
    setSort((s) => (s.column === column ? { column, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { column, dir: column === 'key' ? 'asc' : 'desc' }));

  const downloadCsv = () => {
    const where = path.length ? '-' + slug(path.join(' ')) : '';
    return download(
      () => api.campaignsCsv({ ...query, compare: false, interval: undefined }),
      `campaigns-${slug(level.groupBy)}${where}-${range.startDate}-${range.endDate}.csv`,
      'Campaign report downloaded as CSV.',
    );
  };

  return (
    <section class="page">
      <div class="page-header">
        <div>
          <h1>Campaigns</h1>
          <p class="muted small">Each user is credited to their first touch: the campaign of their earliest tagged event, else Direct.</p>
        </div>
        <div class="toolbar">
          <button type="button" class="button" onClick={downloadCsv} disabled={downloading} data-testid="campaigns-csv">
            {downloading ? 'Downloading…' : 'Download CSV'}
          </button>
          <button type="button" class="button" onClick={reload}>
            Refresh
          </button>
        </div>
      </div>
      <RangePicker state={dates} zone={zone ?? 'UTC'}>
        <label class="checkbox">
          <input type="checkbox" checked={compare} onChange={(e) => setCompare((e.target as HTMLInputElement).checked)} data-testid="compare" />
          Compare with the previous period
        </label>
        {declared.length > 0 && (
          <label class="inline-field">
            Break down by{' '}
            <select
              value={breakdown ?? ''}
              onChange={(e) => setDimension((e.target as HTMLSelectElement).value || null)}
              data-testid="campaign-breakdown"
            >
              <option value="">campaign fields</option>
              {declared.map((key) => (
                <option key={key} value={key}>
                  {key}
                </option>
              ))}
            </select>
          </label>
        )}
      </RangePicker>

      <nav class="breadcrumbs" aria-label="Drill-down" data-testid="campaign-breadcrumbs">
        {path.length === 0 ? (
          <strong>All channels</strong>
        ) : (
          <a href={href({ name: 'campaigns', path: [] })}>All channels</a>
        )}
        {path.map((key, i) => (
          <span key={i}>
            {' › '}
            {i === path.length - 1 ? <strong>{key}</strong> : <a href={href({ name: 'campaigns', path: path.slice(0, i + 1) })}>{key}</a>}
          </span>
        ))}
      </nav>
      {breakdown && (
        <p class="muted small" data-testid="breakdown-note">
          By {breakdown}: a user counts under each {breakdown} their events in the range had; the total counts each user once.
        </p>
      )}

      {report.status === 'error' && !data ? (
        <ErrorState error={report.error} onRetry={reload} title="Could not load the campaign report" />
      ) : !data ? (
        <Loading label="Loading the campaign report…" />
      ) : (
        <>
          <div class="card">
            <h2>Users by {level.label.toLowerCase()} per day</h2>
            <UsersChart report={data} theme={theme} label={level.label} />
          </div>
          <div class="card" aria-busy={report.status === 'loading'}>
            <div class="card-header">
              <h2>{level.label}s</h2>
              {data.truncated && <span class="muted small">The first 100 rows by users; the rest are summed in (other).</span>}
            </div>
            {rows.length === 0 ? (
              <Empty>No users in this date range{path.length ? ' for this selection' : ''}.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="table" data-testid="campaigns-table">
                  <caption class="sr-only">
                    {level.label}s from {data.range.startDate} to {data.range.endDate}
                  </caption>
                  <thead>
                    <tr>
                      {COLUMNS.map((c) => (
                        <SortHeader
                          key={c.key}
                          sorted={sort.column === c.key}
                          dir={sort.dir}
                          numeric={c.key !== 'key'}
                          onSort={() => onSort(c.key)}
                          testId={`campaign-sort-${c.key}`}
                        >
                          {c.key === 'key' ? level.label : c.label}
                        </SortHeader>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((row) => (
                      <tr key={row.key} data-testid="campaign-row" data-key={row.key}>
                        <th scope="row" class="col-name">
                          {canDrill && row.key !== OTHER_ROW ? (
                            <a href={href({ name: 'campaigns', path: [...path, row.key] })} data-testid="campaign-drill">
                              {row.key}
                            </a>
                          ) : (
                            row.key
                          )}
                        </th>
                        <Cells row={row} before={data.previous ? (previous.get(row.key) ?? null) : undefined} />
                      </tr>
                    ))}
                  </tbody>
                  <tfoot>
                    <tr data-testid="campaign-totals">
                      <th scope="row">Total</th>
                      <Cells row={data.totals} before={data.previous ? data.previous.totals : undefined} />
                    </tr>
                  </tfoot>
                </table>
              </div>
            )}
            {data.previous && (
              <p class="muted small">
                Changes against {data.previous.range.startDate} – {data.previous.range.endDate}; “new” where there was nothing before.
              </p>
            )}
          </div>
        </>
      )}
    </section>
  );
}

/** A row's numbers; with a previous period (`before` defined, null when the row was absent) each has its change. */
function Cells({ row, before }: { row: CampaignRow; before: CampaignRow | null | undefined }) {
  return (
    <>
      {COLUMNS.filter((c) => c.key !== 'key').map(({ key }) => {
        const column = key as Exclude<CampaignColumn, 'key'>;
        const delta = before === undefined ? null : deltaOf(column, row, before ?? undefined);
        return (
          <td key={key} class="num" data-col={key}>
            {cell(column, row)}
            {before !== undefined && (
              <div class={`delta ${delta ? (delta.value > 0 ? 'delta-up' : delta.value < 0 ? 'delta-down' : '') : 'muted'}`} data-testid="delta">
                {delta ? formatDelta(delta) : 'new'}
              </div>
            )}
          </td>
        );
      })}
    </>
  );
}

function UsersChart({ report, theme, label }: { report: CampaignReport; theme: string; label: string }) {
  const chart = useMemo(() => {
    const days = report.series ?? [];
    const x = days.map((d) => daySeconds(d.date));
    const series: ChartSeries[] = chartLines(days, report.rows).map((line, i) => ({
      label: line.label,
      values: line.values,
      color: SERIES_COLORS[i % SERIES_COLORS.length],
      format: formatNumber,
    }));
    return { x, series, empty: days.every((d) => d.totalUsers === 0) };
  }, [report]);
  if (chart.x.length === 0 || chart.empty) return <Empty>No users in this date range.</Empty>;
  return <LineChart x={chart.x} series={chart.series} theme={theme} ariaLabel={`Users by ${label.toLowerCase()} per day`} yFormat={formatNumber} />;
}
