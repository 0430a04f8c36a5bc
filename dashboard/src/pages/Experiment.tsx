import { useMemo, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import type { Assignment, CampaignGroup, CampaignRow, Correction, Decision, EngineName, Experiment, MetricResult, Results, Status, Timeseries } from '../api/types';
import { LineChart, type ChartSeries } from '../components/Chart';
import { ConfirmDialog } from '../components/Dialog';
import { IntervalPlot, type IntervalRow } from '../components/IntervalPlot';
import { Empty, ErrorState, Loading, SignificanceBadge, StatusBadge } from '../components/States';
import { useToast } from '../components/Toasts';
import { useApp } from '../context';
import { slug } from '../lib/csv';
import { useCsvDownload } from '../lib/useCsvDownload';
import { browserTimeZone, dayIn, daysBetween, toDay } from '../lib/dates';
import { crossTabVariants, LEVELS, OTHER_ROW } from '../lib/campaigns';
import { DASH, formatDateTime, formatInterval, formatLift, formatMoney, formatNumber, formatPercent, formatPValue, intervalKnown } from '../lib/format';
import { href } from '../lib/router';
import { canMove } from '../lib/table';
import { SERIES_COLORS } from '../lib/theme';
import { bucketTimes, cumulativeRates, variantNames } from '../lib/timeseries';
import { useAsync, type AsyncState } from '../lib/useAsync';

const CONFIDENCES = [0.9, 0.95, 0.99];
const MDES = [0.01, 0.02, 0.05, 0.1, 0.2];
/** The engines a reader may switch to; '' is the experiment's own. */
const ENGINES: { value: '' | EngineName; label: string }[] = [
  { value: '', label: "Experiment's default" },
  { value: 'frequentist', label: 'Frequentist (fixed horizon)' },
  { value: 'sequential', label: 'Sequential (always valid)' },
  { value: 'bayesian', label: 'Bayesian' },
];
const CORRECTIONS: { value: Correction; label: string; title: string }[] = [
  { value: 'holm', label: 'Holm', title: 'Holm–Bonferroni: bounds the chance of any false positive' },
  { value: 'bh', label: 'Benjamini–Hochberg', title: 'Bounds the share of false positives among the significant' },
  { value: 'none', label: 'None', title: 'Each comparison on its own' },
];
/** Each verdict in words, and its banner's tone. */
const VERDICTS: Record<Decision['verdict'], { label: string; tone: string }> = {
  ship: { label: 'Ship', tone: 'banner-success' },
  keep_running: { label: 'Keep running', tone: 'banner-info' },
  stop: { label: 'Stop', tone: 'banner-danger' },
  inconclusive: { label: 'Inconclusive', tone: 'banner-info' },
};
/** How each engine's interval is named. */
const INTERVAL_NAMES: Record<EngineName, string> = {
  frequentist: 'confidence interval',
  sequential: 'always-valid confidence interval',
  bayesian: 'credible interval',
};

const ACTIONS: { to: Status; label: string }[] = [
  { to: 'ACTIVE', label: 'Activate' },
  { to: 'PAUSED', label: 'Pause' },
  { to: 'COMPLETED', label: 'Complete' },
];

/** The window the cumulative chart covers: start (or creation) to end (or today), at most a year, hourly for short spans. */
export function seriesWindow(e: Pick<Experiment, 'startDate' | 'endDate' | 'createdAt'>, now = new Date(), tz = browserTimeZone()) {
  const today = dayIn(now, tz);
  const day = (iso: string | null) => (iso && !Number.isNaN(Date.parse(iso)) ? dayIn(new Date(iso), tz) : DASH);
  let start = day(e.startDate ?? e.createdAt);
  let end = e.endDate ? day(e.endDate) : today;
  if (end > today) end = today;
  if (start === DASH || start > end) start = end;
  if (daysBetween(start, end) > 366) start = toDay(new Date(Date.parse(end) - 365 * 86_400_000));
  const interval: 'day' | 'hour' = daysBetween(start, end) <= 3 ? 'hour' : 'day';
  return { startDate: start, endDate: end, interval, tz };
}

export function ExperimentPage({ id }: { id: string }) {
  const { api } = useApp();
  const toast = useToast();
  const [exp, reloadExp] = useAsync(() => api.getExperiment(id), [api, id]);
  const [override, setOverride] = useState<Experiment | null>(null);
  const [confidence, setConfidence] = useState(0.95);
  const [mde, setMde] = useState(0.05);
  const [engine, setEngine] = useState<'' | EngineName>('');
  const [correction, setCorrection] = useState<Correction>('holm');
  const query = { confidence, mde, engine: engine || undefined, correction };
  const [results, reloadResults] = useAsync(() => api.results(id, query), [api, id, confidence, mde, engine, correction]);
  const [moving, setMoving] = useState<Status | null>(null);
  const [busy, setBusy] = useState(false);
  const [downloading, download] = useCsvDownload();

  const experiment = override ?? (exp.status !== 'error' ? exp.data : undefined);

  if (exp.status === 'error' && !experiment) {
    const notFound = exp.error instanceof ApiError && exp.error.status === 404;
    return (
      <section class="page">
        <p>
          <a href={href({ name: 'experiments' })}>← Experiments</a>
        </p>
        <ErrorState error={exp.error} onRetry={notFound ? undefined : reloadExp} title={notFound ? 'Experiment not found' : 'Could not load the experiment'} />
      </section>
    );
  }
  if (!experiment) return <section class="page"><Loading label="Loading experiment…" /></section>;

  const move = async () => {
    if (!moving) return;
    setBusy(true);
    try {
      const updated = await api.updateExperiment(experiment.id, { status: moving });
      setOverride(updated);
      toast.success(`“${updated.name}” is now ${updated.status.toLowerCase()}.`);
      reloadResults();
    } catch (err) {
      toast.error(`Could not change the status: ${errorMessage(err)}`);
    } finally {
      setBusy(false);
      setMoving(null);
    }
  };

  const downloadCsv = () =>
    download(() => api.resultsCsv(experiment.id, query), `${slug(experiment.name)}-results.csv`, 'Results downloaded as CSV.');
  const downloadMetricsCsv = () =>
    download(
      () => api.resultsCsv(experiment.id, query, 'metrics'),
      `${slug(experiment.name)}-metrics.csv`,
      'Every metric × variant downloaded as CSV.',
    );

  return (
    <section class="page">
      <p class="breadcrumbs">
        <a href={href({ name: 'experiments' })}>← Experiments</a>
      </p>
      <div class="page-header">
        <div>
          <h1 data-testid="experiment-title">
            {experiment.name} <StatusBadge status={experiment.status} />
          </h1>
          {experiment.description && <p class="muted">{experiment.description}</p>}
          <p class="muted small">
            Started {formatDateTime(experiment.startDate)} · Ends {experiment.endDate ? formatDateTime(experiment.endDate) : 'open-ended'} · Control{' '}
            <strong>{experiment.controlVariant}</strong> · Id <code>{experiment.id}</code>
          </p>
        </div>
        <div class="header-actions">
          {ACTIONS.filter((a) => canMove(experiment.status, a.to)).map((a) => (
            <button key={a.to} type="button" class={`button ${a.to === 'COMPLETED' ? 'button-danger-outline' : ''}`} onClick={() => setMoving(a.to)}>
              {experiment.status === 'PAUSED' && a.to === 'ACTIVE' ? 'Resume' : a.label}
            </button>
          ))}
          <a class="button" href={href({ name: 'edit-experiment', id: experiment.id })}>
            Edit
          </a>
          <button type="button" class="button" onClick={downloadCsv} disabled={downloading} data-testid="download-csv">
            {downloading ? 'Preparing…' : 'Download CSV'}
          </button>
          <button type="button" class="button" onClick={downloadMetricsCsv} disabled={downloading} data-testid="metrics-csv" title="A row per metric × variant">
            Metrics CSV
          </button>
        </div>
      </div>

      <div class="toolbar">
        <label class="inline-label">
          Confidence
          <select value={String(confidence)} onChange={(e) => setConfidence(Number((e.target as HTMLSelectElement).value))}>
            {CONFIDENCES.map((c) => (
              <option key={c} value={String(c)}>
                {Math.round(c * 100)}%
              </option>
            ))}
          </select>
        </label>
        <label class="inline-label">
          Engine
          <select value={engine} onChange={(e) => setEngine((e.target as HTMLSelectElement).value as '' | EngineName)} data-testid="engine">
            {ENGINES.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
        <label class="inline-label">
          Correction
          <select value={correction} onChange={(e) => setCorrection((e.target as HTMLSelectElement).value as Correction)} data-testid="correction">
            {CORRECTIONS.map((option) => (
              <option key={option.value} value={option.value} title={option.title}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
        <label class="inline-label">
          Minimum detectable effect
          <select value={String(mde)} onChange={(e) => setMde(Number((e.target as HTMLSelectElement).value))}>
            {MDES.map((m) => (
              <option key={m} value={String(m)}>
                {Math.round(m * 100)}%
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="button" onClick={reloadResults}>
          Refresh
        </button>
      </div>

      <ResultsSection state={results} onRetry={reloadResults} />
      <CumulativeSection experiment={experiment} />
      <CampaignCrossTab experiment={experiment} />
      <AssignmentTester experiment={experiment} />

      {moving && (
        <ConfirmDialog
          title={`${ACTIONS.find((a) => a.to === moving)!.label} “${experiment.name}”?`}
          confirmLabel={ACTIONS.find((a) => a.to === moving)!.label}
          danger={moving === 'COMPLETED'}
          busy={busy}
          onConfirm={move}
          onCancel={() => setMoving(null)}
        >
          <p>
            The status moves from <StatusBadge status={experiment.status} /> to <StatusBadge status={moving} />.
            {moving === 'COMPLETED' && ' This cannot be undone.'}
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function ResultsSection({ state, onRetry }: { state: AsyncState<Results>; onRetry(): void }) {
  if (state.status === 'error' && !state.data) {
    return (
      <div class="card">
        <h2>Results</h2>
        <ErrorState error={state.error} onRetry={onRetry} title="Could not load the results" />
      </div>
    );
  }
  if (!state.data) {
    return (
      <div class="card">
        <h2>Results</h2>
        <Loading label="Computing results…" />
      </div>
    );
  }
  const r = state.data;
  const control = r.variants.find((v) => v.name === r.control);
  const rateRows: IntervalRow[] = r.variants.map((v) => ({
    label: v.name,
    value: v.conversionRate,
    ci: v.conversionRateCi,
    tone: v.name === r.control ? 'control' : 'neutral',
  }));
  const liftRows: IntervalRow[] = r.variants
    .filter((v) => v.name !== r.control)
    .map((v) => {
      const ci = v.vsControl?.relativeCi;
      const tone = intervalKnown(ci) ? (ci[0] > 0 ? 'good' : ci[1] < 0 ? 'bad' : 'neutral') : 'neutral';
      return { label: v.name, value: v.vsControl?.relativeLift ?? null, ci, tone };
    });
  const pct = Math.round(r.confidenceLevel * 100);
  const engineName: EngineName = r.engine?.name ?? 'frequentist';
  const bayesian = engineName === 'bayesian';
  const power = r.power;
  const progress = typeof power?.progress === 'number' ? Math.max(0, Math.min(1, power.progress)) : null;
  return (
    <>
      {r.srm?.mismatch && (
        <div class="banner banner-danger" role="alert" data-testid="srm-warning">
          <strong>Sample ratio mismatch.</strong> The users per variant differ from the configured weights more than chance explains (χ² ={' '}
          {r.srm.chiSquare?.toFixed(2) ?? DASH}, p = {formatPValue(r.srm.pValue)}). Check the assignment and tracking before trusting these
          results.
        </div>
      )}
      {r.decision && (
        <div class={`banner ${VERDICTS[r.decision.verdict].tone}`} role="status" data-testid="decision">
          <strong>
            {VERDICTS[r.decision.verdict].label}
            {r.decision.variant ? ` ${r.decision.variant}` : ''}.
          </strong>{' '}
          {r.decision.reasons.join(' ')}
          {r.decision.daysRemaining != null && ` About ${Math.ceil(r.decision.daysRemaining)} more days at the current traffic.`}
        </div>
      )}
      <div class="card">
        <div class="card-header">
          <h2>Results</h2>
          <span class="muted small">
            {formatNumber(r.totalUsers)} users · {pct}% {INTERVAL_NAMES[engineName]}s · control <strong>{r.control}</strong>
          </span>
        </div>
        {r.variants.length === 0 || r.totalUsers === 0 ? (
          <Empty>No users have been counted for this experiment yet.</Empty>
        ) : null}
        <div class="table-wrap">
          <table class="table" data-testid="results-table">
            <thead>
              <tr>
                <th>Variant</th>
                <th class="num">Weight</th>
                <th class="num">Users</th>
                <th class="num">Converted</th>
                <th class="num">Conversion rate</th>
                <th class="num">{pct}% interval</th>
                <th class="num">Lift vs control</th>
                <th class="num">{bayesian ? 'Risk of shipping' : 'p-value'}</th>
                <th class="num">Chance to beat control</th>
                <th>Significance</th>
              </tr>
            </thead>
            <tbody>
              {r.variants.map((v) => {
                const vs = v.vsControl;
                const isControl = v.name === r.control;
                return (
                  <tr key={v.name}>
                    <th scope="row">
                      {v.name} {isControl && <span class="badge badge-muted">control</span>}
                    </th>
                    <td class="num">{formatNumber(v.weight)}%</td>
                    <td class="num">{formatNumber(v.users)}</td>
                    <td class="num">{formatNumber(v.convertedUsers)}</td>
                    <td class="num">{formatPercent(v.conversionRate)}</td>
                    <td class="num">{formatInterval(v.conversionRateCi, (n) => formatPercent(n))}</td>
                    <td class="num">
                      {isControl ? DASH : (
                        <>
                          {formatLift(vs?.relativeLift)}
                          <div class="muted small">{formatInterval(vs?.relativeCi, (n) => formatLift(n))}</div>
                        </>
                      )}
                    </td>
                    {bayesian ? (
                      <td class="num" title="Expected loss in relative lift: of shipping this variant, and (below) of keeping the control">
                        {isControl || !vs?.risk ? DASH : (
                          <>
                            {formatLift(vs.risk.treatment)}
                            <div class="muted small">control {formatLift(vs.risk.control)}</div>
                          </>
                        )}
                      </td>
                    ) : (
                      <td class="num" title={vs?.adjustedPValue != null ? `adjusted for ${r.variants.length - 1} comparisons: ${formatPValue(vs.adjustedPValue)}` : undefined}>
                        {isControl ? DASH : formatPValue(vs?.adjustedPValue ?? vs?.pValue)}
                      </td>
                    )}
                    <td class="num">{isControl ? DASH : formatPercent(vs?.chanceToBeatControl, 1)}</td>
                    <td>{isControl ? DASH : <SignificanceBadge significant={vs?.significant} />}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {control && r.variants.length > 2 && !bayesian && <p class="muted small">p-values are adjusted for comparing several variants with the control.</p>}
        {engineName === 'frequentist' && r.status === 'ACTIVE' && (
          <p class="muted small" data-testid="peeking-note">
            These fixed-horizon figures hold when read once, at the planned sample size; to watch a running experiment, choose the sequential engine.
          </p>
        )}
      </div>

      {r.metrics && r.metrics.length > 1 && <MetricsCard metrics={r.metrics} control={r.control} bayesian={bayesian} pct={pct} />}

      <div class="grid-2">
        <div class="card">
          <h2>Conversion rate by variant</h2>
          <p class="muted small">Point estimate and {pct}% interval.</p>
          <IntervalPlot rows={rateRows} format={(n) => formatPercent(n, 1)} ariaLabel="Conversion rate intervals per variant" />
        </div>
        <div class="card">
          <h2>Lift vs control</h2>
          <p class="muted small">Relative lift and {pct}% {INTERVAL_NAMES[engineName]}; an interval clear of zero is a significant difference.</p>
          {liftRows.length === 0 ? (
            <Empty>There is no variant to compare with the control.</Empty>
          ) : (
            <IntervalPlot rows={liftRows} format={(n) => formatLift(n, 0)} reference={0} includeZero ariaLabel="Relative lift intervals against control" />
          )}
        </div>
      </div>

      <div class="card" data-testid="power">
        <h2>Sample size</h2>
        {progress === null || power.requiredUsersPerVariant == null ? (
          <p class="muted">Not enough data yet to estimate the sample size needed.</p>
        ) : (
          <>
            <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progress * 100)} aria-label="Progress toward the required sample size">
              <div class="progress-bar" style={{ width: `${progress * 100}%` }} />
            </div>
            <p>
              {formatNumber(power.currentUsersPerVariant)} of {formatNumber(power.requiredUsersPerVariant)} users per variant ({formatPercent(progress, 0)}) to detect
              a {formatPercent(power.mde, 0)} effect with {formatPercent(power.power, 0)} power.{' '}
              {progress >= 1
                ? 'The required sample size has been reached.'
                : power.estimatedDaysRemaining != null
                  ? `About ${formatNumber(Math.ceil(power.estimatedDaysRemaining))} more day${Math.ceil(power.estimatedDaysRemaining) === 1 ? '' : 's'} at the current rate.`
                  : ''}
            </p>
          </>
        )}
      </div>
    </>
  );
}

/** A metric's value as its kind reads: a share of users, or an amount per user or conversion. */
function formatMetricValue(kind: MetricResult['kind'], value: number): string {
  return kind === 'conversion' ? formatPercent(value) : formatMoney(value);
}

/** Every metric × treatment: the control's and the treatment's value, the lift and its evidence. */
function MetricsCard({ metrics, control, bayesian, pct }: { metrics: MetricResult[]; control: string; bayesian: boolean; pct: number }) {
  return (
    <div class="card">
      <div class="card-header">
        <h2>Metrics</h2>
        <span class="muted small">
          {bayesian
            ? `${pct}% credible intervals`
            : `p-values adjusted across ${metrics.filter((m) => m.role !== 'guardrail').length} goal and secondary metrics; guardrails unadjusted`}
        </span>
      </div>
      <div class="table-wrap">
        <table class="table" data-testid="metrics-table">
          <thead>
            <tr>
              <th>Metric</th>
              <th>Variant</th>
              <th class="num">Control</th>
              <th class="num">Variant</th>
              <th class="num">Lift</th>
              <th class="num">{bayesian ? 'Chance to win' : 'p-value'}</th>
              <th>Significance</th>
            </tr>
          </thead>
          <tbody>
            {metrics.flatMap((m) => {
              const label = (
                <th scope="row">
                  {m.name} {m.role !== 'secondary' && <span class="badge badge-muted">{m.role}</span>}
                  {m.inverse && <div class="muted small">lower is better</div>}
                </th>
              );
              if (m.reason) {
                return [
                  <tr key={m.id} data-testid="metric-row" data-metric={m.id}>
                    {label}
                    <td colSpan={6} class="muted small">{m.reason}</td>
                  </tr>,
                ];
              }
              const base = m.variants.find((v) => v.name === control);
              return m.variants
                .filter((v) => v.name !== control)
                .map((v) => {
                  const vs = v.vsControl;
                  return (
                    <tr key={`${m.id}/${v.name}`} data-testid="metric-row" data-metric={m.id} data-variant={v.name}>
                      {label}
                      <td>{v.name}</td>
                      <td class="num">{base ? formatMetricValue(m.kind, base.value) : DASH}</td>
                      <td class="num" data-col="value">{formatMetricValue(m.kind, v.value)}</td>
                      <td class="num" data-col="lift">
                        {vs?.reason ? <span class="muted small">{vs.reason}</span> : (
                          <>
                            {formatLift(vs?.relativeLift)}
                            <div class="muted small">{formatInterval(vs?.relativeCi ?? null, (n) => formatLift(n))}</div>
                          </>
                        )}
                      </td>
                      <td class="num">{bayesian ? formatPercent(vs?.chanceToBeatControl, 1) : formatPValue(vs?.adjustedPValue ?? vs?.pValue)}</td>
                      <td>
                        <SignificanceBadge significant={vs?.significant} />
                        {m.failing?.includes(v.name) && (
                          <span class="badge badge-danger" data-testid="guardrail-failing">harms guardrail</span>
                        )}
                      </td>
                    </tr>
                  );
                });
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function CumulativeSection({ experiment }: { experiment: Experiment }) {
  const { api, theme } = useApp();
  const win = seriesWindow(experiment);
  const [state, reload] = useAsync<Timeseries>(
    () => api.timeseries({ experimentId: experiment.id, ...win }),
    [api, experiment.id, win.startDate, win.endDate, win.interval],
  );
  const chart = useMemo(() => {
    if (!state.data) return null;
    const buckets = state.data.buckets;
    const names = variantNames(buckets, experiment.variants.map((v) => v.name));
    const rates = cumulativeRates(buckets, names);
    const series: ChartSeries[] = names.map((n, i) => ({
      label: n,
      values: rates[n],
      color: SERIES_COLORS[i % SERIES_COLORS.length],
      format: (v) => formatPercent(v),
    }));
    return { x: bucketTimes(buckets), series, empty: buckets.every((b) => b.newUsers === 0) };
  }, [state.data, experiment.variants]);
  return (
    <div class="card">
      <h2>Cumulative conversion rate</h2>
      <p class="muted small">
        Per variant, from {win.startDate} to {win.endDate} (UTC, {win.interval === 'day' ? 'daily' : 'hourly'}).
      </p>
      {state.status === 'error' && !chart ? (
        <ErrorState error={state.error} onRetry={reload} title="Could not load the time series" />
      ) : !chart ? (
        <Loading label="Loading time series…" />
      ) : chart.empty ? (
        <Empty>No users in this window yet.</Empty>
      ) : (
        <LineChart x={chart.x} series={chart.series} theme={theme} ariaLabel="Cumulative conversion rate per variant over time" yFormat={(v) => formatPercent(v, 1)} daily={win.interval === 'day'} />
      )}
    </div>
  );
}

/** Users of each variant by the channel, source / medium or campaign of their first touch (UTC days of the experiment's window). */
function CampaignCrossTab({ experiment }: { experiment: Experiment }) {
  const { api } = useApp();
  const win = seriesWindow(experiment, new Date(), 'UTC');
  const [groupBy, setGroupBy] = useState<CampaignGroup>('channel');
  const [downloading, download] = useCsvDownload();
  const query = { groupBy, startDate: win.startDate, endDate: win.endDate, experimentId: experiment.id };
  const [state, reload] = useAsync(() => api.campaigns(query), [api, experiment.id, groupBy, win.startDate, win.endDate]);
  const data = state.data;
  const names = crossTabVariants(data?.totals, experiment.variants.map((v) => v.name));
  const rows = (data?.rows ?? []).filter((r) => names.some((n) => (r.variants?.[n]?.users ?? 0) > 0));
  const downloadCsv = () =>
    download(() => api.campaignsCsv(query), `${slug(experiment.name)}-by-${groupBy}-${win.startDate}-${win.endDate}.csv`, 'Campaign × variant table downloaded as CSV.');
  return (
    <div class="card" data-testid="campaign-crosstab">
      <div class="card-header">
        <h2>By campaign</h2>
        <div class="header-actions">
          <label class="inline-label">
            Rows
            <select value={groupBy} onChange={(e) => setGroupBy((e.target as HTMLSelectElement).value as CampaignGroup)} data-testid="crosstab-group">
              {LEVELS.map((l) => (
                <option key={l.groupBy} value={l.groupBy}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="button" onClick={downloadCsv} disabled={downloading || !data} data-testid="crosstab-csv">
            {downloading ? 'Preparing…' : 'CSV'}
          </button>
        </div>
      </div>
      <p class="muted small">
        Each variant's users (with an event tagged with it) by their first touch, {win.startDate} to {win.endDate} (UTC days).
      </p>
      {state.status === 'error' && !data ? (
        <ErrorState error={state.error} onRetry={reload} title="Could not load the campaign table" />
      ) : !data ? (
        <Loading label="Loading the campaign table…" />
      ) : rows.length === 0 ? (
        <Empty>No users of this experiment in this window yet.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="crosstab-table">
            <thead>
              <tr>
                <th rowSpan={2}>{LEVELS.find((l) => l.groupBy === groupBy)?.label}</th>
                {names.map((n) => (
                  <th key={n} colSpan={3} class="crosstab-variant">
                    {n}
                  </th>
                ))}
              </tr>
              <tr>
                {names.map((n) => [
                  <th key={`${n}-u`} class="num">Users</th>,
                  <th key={`${n}-r`} class="num">Conv. rate</th>,
                  <th key={`${n}-v`} class="num">Revenue</th>,
                ])}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.key} data-testid="crosstab-row" data-key={r.key}>
                  <th scope="row">{r.key === OTHER_ROW ? 'Other' : r.key}</th>
                  <CrossTabCells row={r} names={names} />
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr data-testid="crosstab-totals">
                <th scope="row">Total</th>
                <CrossTabCells row={data.totals} names={names} />
              </tr>
            </tfoot>
          </table>
        </div>
      )}
    </div>
  );
}

function CrossTabCells({ row, names }: { row: CampaignRow; names: string[] }) {
  return (
    <>
      {names.map((n) => {
        const c = row.variants?.[n];
        return [
          <td key={`${n}-u`} class="num" data-variant={n} data-col="users">
            {formatNumber(c?.users ?? 0)}
          </td>,
          <td key={`${n}-r`} class="num">
            {formatPercent(c && c.users > 0 ? c.conversionRate : null)}
          </td>,
          <td key={`${n}-v`} class="num">
            {formatMoney(c?.revenue ?? 0)}
          </td>,
        ];
      })}
    </>
  );
}

function AssignmentTester({ experiment }: { experiment: Experiment }) {
  const { api } = useApp();
  const [userId, setUserId] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Assignment | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!userId.trim()) {
      setError('Enter a user id.');
      return;
    }
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await api.assign(experiment.id, userId.trim()));
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 409
          ? `Users are assigned only while the experiment is active (it is ${experiment.status.toLowerCase()}).`
          : errorMessage(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card">
      <h2>Assignment tester</h2>
      <p class="muted small">Which variant does a user get? Assignment is deterministic: the same user id always gets the same variant.</p>
      <form class="input-row" onSubmit={submit} noValidate>
        <label class="sr-only" for="assign-user">
          User id
        </label>
        <input id="assign-user" placeholder="User id, e.g. user_123" value={userId} onInput={(e) => setUserId((e.target as HTMLInputElement).value)} data-testid="assign-user" />
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Assign'}
        </button>
      </form>
      <div aria-live="polite">
        {result && (
          <p data-testid="assign-result">
            <code>{result.userId}</code> → <strong>{result.variant}</strong> <span class="muted small">(bucket {Number.isInteger(result.bucket) ? formatNumber(result.bucket) : result.bucket.toFixed(4)})</span>
          </p>
        )}
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
