// Display formatting. The locale is fixed so numbers look the same everywhere
// (and in tests): thousands separators, rates as percentages.

export const DASH = '—';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function isNum(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** 1234567 → "1,234,567"; null/NaN → "—". */
export function formatNumber(n: number | null | undefined): string {
  return isNum(n) ? integer.format(n) : DASH;
}

/** A rate in [0, 1] as a percentage: 0.1234 → "12.34%" (digits = fraction digits). */
const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** An amount with cents (revenue), in no currency. */
export function formatMoney(n: number): string {
  return money.format(n);
}

export function formatPercent(rate: number | null | undefined, digits = 2): string {
  if (!isNum(rate)) return DASH;
  const pct = rate * 100;
  return (
    new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(pct) + '%'
  );
}

/** A signed relative change: 0.22 → "+22.0%", -0.051 → "−5.1%". */
export function formatLift(lift: number | null | undefined, digits = 1): string {
  if (!isNum(lift)) return DASH;
  const body = formatPercent(Math.abs(lift), digits);
  if (body === formatPercent(0, digits)) return body;
  return (lift > 0 ? '+' : '−') + body;
}

/** p-values: "<0.001" below a thousandth, three decimals otherwise. */
export function formatPValue(p: number | null | undefined): string {
  if (!isNum(p)) return DASH;
  if (p < 0.001) return '<0.001';
  return p.toFixed(3);
}

export type Interval = readonly [number | null, number | null] | null | undefined;

export function intervalKnown(ci: Interval): ci is readonly [number, number] {
  return !!ci && isNum(ci[0]) && isNum(ci[1]);
}

/** "[9.20%, 11.00%]" with the given formatter, or "—". */
export function formatInterval(ci: Interval, fmt: (n: number) => string): string {
  return intervalKnown(ci) ? `[${fmt(ci[0])}, ${fmt(ci[1])}]` : DASH;
}

/** ISO date-time → "2026-11-15" (UTC day), or "—". */
export function formatDay(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : d.toISOString().slice(0, 10);
}

/** ISO date-time → "2026-11-15 08:06 UTC". */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}
