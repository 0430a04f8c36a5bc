// Date ranges for the API: inclusive UTC days as YYYY-MM-DD.

export type RangePreset = '7' | '30' | '90' | 'custom';

export interface DateRange {
  startDate: string;
  endDate: string;
}

const DAY_MS = 86_400_000;

export function toDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function isDay(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s + 'T00:00:00Z'));
}

/** The last `days` days ending today (UTC), both ends inclusive. */
export function lastDays(days: number, now: Date = new Date()): DateRange {
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { startDate: toDay(new Date(end - (days - 1) * DAY_MS)), endDate: toDay(new Date(end)) };
}

/** Error text for a custom range, or null when it is usable. */
export function validateRange(r: DateRange): string | null {
  if (!isDay(r.startDate) || !isDay(r.endDate)) return 'Enter both dates as YYYY-MM-DD.';
  if (r.startDate > r.endDate) return 'The start date must be on or before the end date.';
  const span = (Date.parse(r.endDate) - Date.parse(r.startDate)) / DAY_MS + 1;
  if (span > 366) return 'Choose a range of at most 366 days.';
  return null;
}

/** Days of an inclusive range. */
export function daysBetween(startDate: string, endDate: string): number {
  return Math.round((Date.parse(endDate) - Date.parse(startDate)) / DAY_MS) + 1;
}
