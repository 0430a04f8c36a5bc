import { useState } from 'preact/hooks';
import { lastDays, validateRange, type DateRange, type RangePreset } from '../lib/dates';

const PRESETS: { value: RangePreset; label: string }[] = [
  { value: '7', label: 'Last 7 days' },
  { value: '30', label: 'Last 30 days' },
  { value: '90', label: 'Last 90 days' },
  { value: 'custom', label: 'Custom' },
];

export interface DateRangeState {
  preset: RangePreset;
  choose(preset: RangePreset): void;
  custom: DateRange;
  setCustom(range: DateRange): void;
  applyCustom(e: Event): void;
  customError: string | null;
  /** The range to ask for: a preset's last days (of `tz`), or the applied custom one. */
  range: DateRange;
}

/** A preset or custom date range (last 30 days first), the days of `tz` (the browser's when undefined). */
export function useDateRange(tz?: string): DateRangeState {
  const [preset, setPreset] = useState<RangePreset>('30');
  const [custom, setCustom] = useState<DateRange>(() => lastDays(30, new Date(), tz));
  const [applied, setApplied] = useState<DateRange>(() => lastDays(30, new Date(), tz));
  const [customError, setCustomError] = useState<string | null>(null);
  const range = preset === 'custom' ? applied : lastDays(Number(preset), new Date(), tz);
  return {
    preset,
    choose: (p) => {
      setPreset(p);
      setCustomError(null);
    },
    custom,
    setCustom,
    applyCustom: (e) => {
      e.preventDefault();
      const err = validateRange(custom);
      setCustomError(err);
      if (!err) setApplied({ ...custom });
    },
    customError,
    range,
  };
}

/** The presets, the custom range form, and the range shown (`zone` names its days). */
export function RangePicker({ state, zone, children }: { state: DateRangeState; zone: string; children?: preact.ComponentChildren }) {
  const { preset, custom, range } = state;
  return (
    <div class="toolbar" role="group" aria-label="Date range">
      <div class="segmented">
        {PRESETS.map((p) => (
          <button key={p.value} type="button" class="button" aria-pressed={preset === p.value} onClick={() => state.choose(p.value)}>
            {p.label}
          </button>
        ))}
      </div>
      {preset === 'custom' && (
        <form class="custom-range" onSubmit={state.applyCustom} noValidate>
          <label>
            From
            <input type="date" value={custom.startDate} onInput={(e) => state.setCustom({ ...custom, startDate: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            To
            <input type="date" value={custom.endDate} onInput={(e) => state.setCustom({ ...custom, endDate: (e.target as HTMLInputElement).value })} />
          </label>
          <button type="submit" class="button button-primary">
            Apply
          </button>
          {state.customError && (
            <p class="field-error" role="alert">
              {state.customError}
            </p>
          )}
        </form>
      )}
      {children}
      <span class="muted range-label">
        {range.startDate} – {range.endDate} ({zone})
      </span>
    </div>
  );
}
