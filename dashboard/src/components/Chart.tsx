import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { cssVar } from '../lib/theme';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  /** 'y' (default) or 'y2' for a right-hand axis. */
  scale?: 'y' | 'y2';
  format?: (v: number) => string;
}

interface Props {
  /** Unix seconds. */
  x: number[];
  series: ChartSeries[];
  ariaLabel: string;
  height?: number;
  yFormat?: (v: number) => string;
  y2Format?: (v: number) => string;
  /** Changing it redraws with the theme's colours. */
  theme: string;
  /** Show days only on the x axis and in the legend. */
  daily?: boolean;
}

/** A line chart (uPlot, canvas) that follows its container's width. */
export function LineChart({ x, series, ariaLabel, height = 260, yFormat, y2Format, theme, daily = true }: Props) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const text = cssVar('--muted', '#667085');
    const grid = cssVar('--grid', 'rgba(128,128,128,0.2)');
    const hasY2 = series.some((s) => s.scale === 'y2');
    const axisFmt = (f?: (v: number) => string) => (_u: uPlot, vals: number[]) => vals.map((v) => (v == null ? '' : f ? f(v) : String(v)));
    const dayFmt = (ts: number) => new Date(ts * 1000).toISOString().slice(5, daily ? 10 : 16).replace('T', ' ');
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] }, ...(hasY2 ? { y2: { range: (_u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] } } : {}) },
      axes: [
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, values: (_u, vals) => vals.map(dayFmt) },
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, values: axisFmt(yFormat), size: 60 },
        ...(hasY2 ? [{ scale: 'y2', side: 1 as const, stroke: text, grid: { show: false }, values: axisFmt(y2Format), size: 60 }] : []),
      ],
      series: [
        { label: daily ? 'Day' : 'Time', value: (_u, v) => (v == null ? '—' : dayFmt(v)) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          scale: s.scale ?? 'y',
          spanGaps: false,
          points: { show: x.length <= 45 },
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : s.format ? s.format(v) : String(v)),
        })),
      ],
    };
    const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const chart = new uPlot(opts, data, el);
    const observer = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (Math.abs(width - chart.width) > 1) chart.setSize({ width, height });
    });
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      chart.destroy();
    };
  }, [x, series, height, yFormat, y2Format, theme, daily]);
  return <div class="chart" ref={host} role="img" aria-label={ariaLabel} data-testid="line-chart" />;
}
