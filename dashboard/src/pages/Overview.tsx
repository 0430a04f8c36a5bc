import { useMemo } from 'preact/hooks';
import type { Summary, Timeseries } from '../api/types';
import { LineChart, type ChartSeries } from '../components/Chart';
import { RangePicker, useDateRange } from '../components/RangePicker';
import { Empty, ErrorState, Loading } from '../components/States';
import { useApp } from '../context';
import { browserTimeZone } from '../lib/dates';
import { formatNumber, formatPercent } from '../lib/format';
import { SERIES_COLORS } from '../lib/theme';
import { bucketTimes } from '../lib/timeseries';
import { useAsync } from '../lib/useAsync';

/** Headline numbers from a summary: conversions and rate count experiment-tagged traffic. */
export function overviewMetrics(s: Summary) {
  let users = 0;
  let convertedUsers = 0;
  let conversions = 0;
  for (const v of Object.values(s.variants ?? {})) {
    users += v.users ?? 0;
    convertedUsers += v.convertedUsers ?? 0;
    conversions += v.conversions ?? 0;
  }
  return {
    events: s.totalEvents,
    uniqueUsers: s.uniqueUsers,
    usersApproximate: s.usersApproximate === true,
    conversions,
    conversionRate: users > 0 ? convertedUsers / users : null,
  };
}

/** Users as counted, or marked `≈` when the server estimated them. */
export function formatUsers(users: number, approximate: boolean): string {
  return approximate && users > 0 ? `≈ ${formatNumber(users)}` : formatNumber(users);
}

export function OverviewPage() {
  const { api, theme } = useApp();
  // The browser's days, on both sides: the API counts the same ones.
  const tz = browserTimeZone();
  const dates = useDateRange(tz);
  const range = dates.range;
  const [summary, reloadSummary] = useAsync(() => api.summary({ ...range, tz }), [api, range.startDate, range.endDate]);
  const [series, reloadSeries] = useAsync(
    () => api.timeseries({ ...range, interval: 'day', tz }),
    [api, range.startDate, range.endDate],
  );

  const refresh = () => {
    reloadSummary();
    reloadSeries();
  };

  const m = summary.data ? overviewMetrics(summary.data) : null;
  return (
    <section class="page">
      <div class="page-header">
        <h1>Overview</h1>
        <button type="button" class="button" onClick={refresh}>
          Refresh
        </button>
      </div>
      <RangePicker state={dates} zone={tz ?? 'UTC'} />

      {summary.status === 'error' && !m ? (
        <ErrorState error={summary.error} onRetry={reloadSummary} title="Could not load the summary" />
      ) : (
        <div class="cards" aria-busy={summary.status === 'loading'}>
          <MetricCard label="Events" value={m ? formatNumber(m.events) : null} testId="metric-events" />
          <MetricCard
            label="Unique users"
            value={m ? formatUsers(m.uniqueUsers, m.usersApproximate) : null}
            hint={m?.usersApproximate ? 'Estimated for a date range (±1 %)' : undefined}
            testId="metric-users"
          />
          <MetricCard label="Conversions" value={m ? formatNumber(m.conversions) : null} testId="metric-conversions" />
          <MetricCard
            label="Conversion rate"
            value={m ? formatPercent(m.conversionRate) : null}
            hint="Converted users ÷ users in experiments"
            testId="metric-rate"
          />
        </div>
      )}

      <div class="card">
        <h2>Daily activity</h2>
        <DailyChart state={series} theme={theme} onRetry={reloadSeries} />
      </div>
    </section>
  );
}

function MetricCard({ label, value, hint, testId }: { label: string; value: string | null; hint?: string; testId: string }) {
  return (
    <div class="card metric" data-testid={testId}>
      <div class="metric-label">{label}</div>
      <div class="metric-value">{value ?? <span class="skeleton" aria-label="Loading" />}</div>
      {hint && <div class="metric-hint muted">{hint}</div>}
    </div>
  );
}

function DailyChart({ state, theme, onRetry }: { state: ReturnType<typeof useAsync<Timeseries>>[0]; theme: string; onRetry(): void }) {
  const data = state.data;
  const chart = useMemo(() => {
    if (!data) return null;
    const x = bucketTimes(data.buckets);
    const series: ChartSeries[] = [
      { label: 'Events', values: data.buckets.map((b) => b.events), color: SERIES_COLORS[0], format: formatNumber },
      { label: 'Conversions', values: data.buckets.map((b) => b.conversions), color: SERIES_COLORS[1], scale: 'y2', format: formatNumber },
    ];
    return { x, series };
  }, [data]);
  if (state.status === 'error' && !data) return <ErrorState error={state.error} onRetry={onRetry} title="Could not load the daily series" />;
  if (!chart) return <Loading label="Loading daily activity…" />;
  if (chart.x.length === 0 || data!.buckets.every((b) => b.events === 0)) return <Empty>No events in this date range.</Empty>;
  return (
    <LineChart
      x={chart.x}
      series={chart.series}
      theme={theme}
      ariaLabel="Events and conversions per day"
      yFormat={formatNumber}
      y2Format={formatNumber}
    />
  );
}
