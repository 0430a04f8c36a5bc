import { intervalKnown, type Interval } from '../lib/format';

export interface IntervalRow {
  label: string;
  value: number | null;
  ci: Interval;
  /** Colour key: 'good' (interval above the reference), 'bad' (below), else neutral. */
  tone?: 'good' | 'bad' | 'neutral' | 'control';
}

interface Props {
  rows: IntervalRow[];
  format: (v: number) => string;
  /** A vertical reference line (0 for lifts). */
  reference?: number;
  /** Always include this value in the domain. */
  includeZero?: boolean;
  ariaLabel: string;
}

/** A forest plot in SVG: one row per item, a point and its interval, optional reference line. */
export function IntervalPlot({ rows, format, reference, includeZero, ariaLabel }: Props) {
  const known = rows.filter((r) => intervalKnown(r.ci) || typeof r.value === 'number');
  const values: number[] = [];
  for (const r of known) {
    if (intervalKnown(r.ci)) values.push(r.ci[0], r.ci[1]);
    if (typeof r.value === 'number') values.push(r.value);
  }
  if (reference !== undefined) values.push(reference);
  if (includeZero) values.push(0);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.05;
    hi += 0.05;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const labelW = 110;
  const width = 480;
  const plotW = width - labelW - 16;
  const rowH = 30;
  const top = 8;
  const height = top + rows.length * rowH + 26;
  const sx = (v: number) => labelW + ((v - lo) / (hi - lo)) * plotW;
  const ticks = [lo + pad, (lo + hi) / 2, hi - pad];
  return (
    <svg class="interval-plot" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={ariaLabel} preserveAspectRatio="xMinYMin meet">
      {reference !== undefined && (
        <line x1={sx(reference)} x2={sx(reference)} y1={top - 4} y2={top + rows.length * rowH} class="ip-ref" />
      )}
      {rows.map((r, i) => {
        const y = top + i * rowH + rowH / 2;
        const name = r.label.length > 16 ? r.label.slice(0, 15) + '…' : r.label;
        return (
          <g key={r.label} class={`ip-row ip-${r.tone ?? 'neutral'}`}>
            <text x={labelW - 8} y={y + 4} text-anchor="end" class="ip-label">
              <title>{r.label}</title>
              {name}
            </text>
            {intervalKnown(r.ci) ? (
              <>
                <line x1={sx(r.ci[0])} x2={sx(r.ci[1])} y1={y} y2={y} class="ip-bar" />
                <line x1={sx(r.ci[0])} x2={sx(r.ci[0])} y1={y - 6} y2={y + 6} class="ip-bar" />
                <line x1={sx(r.ci[1])} x2={sx(r.ci[1])} y1={y - 6} y2={y + 6} class="ip-bar" />
              </>
            ) : null}
            {typeof r.value === 'number' ? (
              <circle cx={sx(r.value)} cy={y} r={5} class="ip-point">
                <title>{`${r.label}: ${format(r.value)}${intervalKnown(r.ci) ? ` [${format(r.ci[0])}, ${format(r.ci[1])}]` : ''}`}</title>
              </circle>
            ) : (
              <text x={labelW + 4} y={y + 4} class="ip-missing">
                too little data
              </text>
            )}
          </g>
        );
      })}
      {ticks.map((t) => (
        <text key={t} x={sx(t)} y={height - 8} text-anchor="middle" class="ip-tick">
          {format(t)}
        </text>
      ))}
    </svg>
  );
}
