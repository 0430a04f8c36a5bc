// Shapes of the campaign-analytics API (see the repo's README.md).

export type Status = 'DRAFT' | 'ACTIVE' | 'PAUSED' | 'COMPLETED';
export const STATUSES: readonly Status[] = ['DRAFT', 'ACTIVE', 'PAUSED', 'COMPLETED'];

export interface Variant {
  name: string;
  weight: number;
}

export interface Experiment {
  id: string;
  name: string;
  description: string;
  status: Status;
  variants: Variant[];
  controlVariant: string;
  trackingKey: string;
  engine?: Engine;
  startDate: string | null;
  endDate: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface VariantTotals {
  events: number;
  users: number;
  conversions: number;
  convertedUsers: number;
  conversionRate: number | null;
}

export interface Summary {
  totalEvents: number;
  uniqueUsers: number;
  variants: Record<string, VariantTotals>;
  /** True when users are estimated from sketches (a date range). */
  usersApproximate?: boolean;
}

type Num = number | null;
export type Ci = [Num, Num] | null;

export interface VsControl {
  absoluteLift: Num;
  absoluteCi: Ci;
  absolutePValue: Num;
  relativeLift: Num;
  relativeCi: Ci;
  pValue: Num;
  adjustedPValue: Num;
  chanceToBeatControl: Num;
  /** Bayesian engine: expected loss (relative lift) of shipping the control, the treatment. */
  risk?: { control: number; treatment: number };
  significant: boolean | null;
}

export type EngineName = 'frequentist' | 'sequential' | 'bayesian';

export type Correction = 'holm' | 'bh' | 'none';

/** What to do with the experiment: from its goal, the SRM check and the sample size. */
export interface Decision {
  verdict: 'ship' | 'keep_running' | 'stop' | 'inconclusive';
  reasons: string[];
  variant?: string;
  daysRemaining?: number;
}

/** How results compare the variants (the experiment's own unless a request names one). */
export type Engine =
  | { name: 'frequentist' }
  | { name: 'sequential'; tuning: number }
  | { name: 'bayesian'; prior: { mean: number; stdDev: number } | null };

export interface VariantResult {
  name: string;
  weight: number;
  users: number;
  events: number;
  conversions: number;
  convertedUsers: number;
  conversionRate: Num;
  conversionRateCi: Ci;
  vsControl: VsControl | null;
}

/** One metric of an experiment's results, read by the same engine as the goal. */
export interface MetricResult {
  id: string;
  name: string;
  kind: 'conversion' | 'count' | 'sum' | 'ratio';
  role: 'goal' | 'secondary' | 'guardrail';
  /** Lower is better. */
  inverse?: boolean;
  /** A guardrail's treatments that make it significantly worse. */
  failing?: string[];
  variants: { name: string; users: number; value: number; total: number; vsControl: (VsControl & { reason?: string }) | null }[];
  /** Why the metric has no figures, when it has none. */
  reason?: string;
}

export interface Results {
  experimentId: string;
  status: Status;
  control: string;
  confidenceLevel: number;
  engine?: Engine;
  /** How p-values are adjusted across treatments (none with the Bayesian engine). */
  correction?: Correction | null;
  decision?: Decision;
  totalUsers: number;
  srm: { chiSquare: Num; pValue: Num; mismatch: boolean; expected: Record<string, number> };
  variants: VariantResult[];
  /** The goal first, then the per-user metrics; corrected across metrics × treatments. */
  metrics?: MetricResult[];
  power: {
    mde: Num;
    power: Num;
    requiredUsersPerVariant: Num;
    currentUsersPerVariant: Num;
    progress: Num;
    estimatedDaysRemaining: Num;
  };
}

export interface Assignment {
  experimentId: string;
  userId: string;
  variant: string;
  bucket: number;
}

export interface BucketCounts {
  events: number;
  conversions: number;
  newUsers: number;
  newConvertedUsers: number;
}

export interface Bucket extends BucketCounts {
  start: string;
  variants: Record<string, BucketCounts>;
}

export interface Timeseries {
  interval: 'day' | 'hour';
  experimentId: string | null;
  buckets: Bucket[];
}

export interface CreateExperiment {
  name: string;
  description?: string;
  variants: Variant[];
  status?: 'DRAFT' | 'ACTIVE';
  startDate?: string;
  endDate?: string;
  controlVariant?: string;
  engine?: EngineName;
}

export type PatchExperiment = Partial<{
  status: Status;
  name: string;
  description: string;
  startDate: string | null;
  endDate: string | null;
  variants: Variant[];
  controlVariant: string;
  engine: EngineName | null;
}>;

export interface FieldError {
  field: string;
  message: string;
}

/** `ingest` is publishable (may only send events, safe in a web page); `full` is a secret (everything). */
export type KeyScope = 'ingest' | 'full';
export const KEY_SCOPES: readonly KeyScope[] = ['ingest', 'full'];

/** A key as `GET /api/keys` lists it: never the key itself. */
export interface ApiKeyInfo {
  id: string;
  label: string;
  scope: KeyScope;
  allowedOrigins: string[];
  createdAt: string;
  /** "YYYY-MM-DD", null when never used; absent from servers that do not track it. */
  lastUsedDay?: string | null;
}

export interface CreateKey {
  scope: KeyScope;
  label: string;
  allowedOrigins?: string[];
}

/** `POST /api/keys`: the secret `key` is in this answer only. */
export interface CreatedKey extends ApiKeyInfo {
  key: string;
}

/** What a campaign report's rows are: a campaign field of the first touch. */
export type CampaignGroup = 'channel' | 'source' | 'medium' | 'campaign' | 'term' | 'content' | 'source_medium';

/** A campaign field, or the values of a custom dimension (`property:device`). */
export type CampaignGroupBy = CampaignGroup | `property:${string}`;

/** `GET /api/dimensions`: the tenant's custom dimensions (property keys). */
export interface Dimensions {
  keys: string[];
  updatedAt: string | null;
}

/** `GET /api/settings/timezone`: the IANA zone whose days the campaign report counts. */
export interface ReportTimezone {
  timezone: string;
  updatedAt: string | null;
}

/** One row of `GET /api/analytics/campaigns` (users credited to their first touch). */
export interface CampaignRow {
  key: string;
  users: number;
  newUsers: number;
  conversions: number;
  convertedUsers: number;
  conversionRate: number;
  revenue: number;
  /** With `experimentId`: the row's users in each variant (events tagged with it). */
  variants?: Record<string, CampaignVariantCell>;
}

/** One row's users in one variant over the range. */
export interface CampaignVariantCell {
  users: number;
  conversions: number;
  convertedUsers: number;
  conversionRate: number;
  revenue: number;
}

export interface CampaignRange {
  rows: CampaignRow[];
  totals: CampaignRow;
  truncated: boolean;
}

export interface CampaignSeriesDay {
  date: string;
  users: Record<string, number>;
  totalUsers: number;
}

export interface CampaignReport extends CampaignRange {
  groupBy: CampaignGroupBy;
  attribution: 'first';
  /** The tenant's report time zone: the days of `range` and `series`. */
  timezone: string;
  range: DateRangeBody;
  usersApproximate: boolean;
  previous?: CampaignRange & { range: DateRangeBody };
  series?: CampaignSeriesDay[];
}

export interface DateRangeBody {
  startDate: string;
  endDate: string;
}

/** Drill-down filters: a grouping's name and the row key to keep. */
export type CampaignFilters = Partial<Record<CampaignGroup, string>>;

export interface CampaignQuery {
  groupBy: CampaignGroupBy;
  startDate: string;
  endDate: string;
  compare?: boolean;
  interval?: 'day';
  filters?: CampaignFilters;
  /** The campaign × variant cross-tab of this experiment. */
  experimentId?: string;
}
