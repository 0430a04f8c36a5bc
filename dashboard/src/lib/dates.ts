// Date ranges for the API: inclusive days as YYYY-MM-DD, days of the
// browser's time zone (sent as `tz`, so the API counts the same days).

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

/** The browser's IANA time zone (e.g. Europe/Paris); undefined when it does not say. */
export function browserTimeZone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/** The day (YYYY-MM-DD) an instant falls on in `tz`; UTC when undefined or unknown. */
export function dayIn(d: Date, tz?: string): string {
  if (!tz) return toDay(d);
  try {
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(d);
    const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
    const day = `${part('year')}-${part('month')}-${part('day')}`;
    return isDay(day) ? day : toDay(d);
  } catch {
    return toDay(d);
  }
}

/** The last `days` days ending today in `tz`, both ends inclusive. */
export function lastDays(days: number, now: Date = new Date(), tz: string | undefined = browserTimeZone()): DateRange {
  const end = Date.parse(dayIn(now, tz) + 'T00:00:00Z');
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
