import type { Experiment, Results, Status } from '../src/api/types';

export function experiment(i: number, patch: Partial<Experiment> = {}): Experiment {
  const n = String(i).padStart(2, '0');
  return {
    id: `exp-${n}`,
    name: `Experiment ${n}`,
    description: '',
    status: 'DRAFT' as Status,
    variants: [
      { name: 'control', weight: 50 },
      { name: 'treatment', weight: 50 },
    ],
    controlVariant: 'control',
    trackingKey: `exp-${n}`,
    startDate: null,
    endDate: null,
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
    ...patch,
  };
}

export function results(id: string, opts: { users?: number[]; converted?: number[]; lift?: number | null; p?: number | null; significant?: boolean | null } = {}): Results {
  const users = opts.users ?? [1000, 1000];
  const converted = opts.converted ?? [100, 120];
  return {
    experimentId: id,
    status: 'ACTIVE',
    control: 'control',
    confidenceLevel: 0.95,
    totalUsers: users.reduce((a, b) => a + b, 0),
    srm: { chiSquare: 0.1, pValue: 0.75, mismatch: false, expected: { control: 0.5, treatment: 0.5 } },
    variants: users.map((u, i) => ({
      name: i === 0 ? 'control' : `treatment${i > 1 ? i : ''}`,
      weight: 100 / users.length,
      users: u,
      events: u * 2,
      conversions: converted[i],
      convertedUsers: converted[i],
      conversionRate: u ? converted[i] / u : null,
      conversionRateCi: [0.08, 0.12],
      vsControl:
        i === 0
          ? null
          : {
              absoluteLift: 0.02,
              absoluteCi: [-0.01, 0.05],
              absolutePValue: opts.p ?? 0.2,
              relativeLift: opts.lift === undefined ? 0.2 : opts.lift,
              relativeCi: [-0.1, 0.5],
              pValue: opts.p === undefined ? 0.2 : opts.p,
              adjustedPValue: opts.p === undefined ? 0.2 : opts.p,
              chanceToBeatControl: 0.9,
              significant: opts.significant === undefined ? false : opts.significant,
            },
    })),
    power: { mde: 0.05, power: 0.8, requiredUsersPerVariant: 3000, currentUsersPerVariant: 1000, progress: 0.33, estimatedDaysRemaining: 10 },
  };
}
