import { KEYS, readStorage, writeStorage } from './storage';

export type Theme = 'light' | 'dark';

/** The saved choice, else the system preference. */
export function initialTheme(): Theme {
  const saved = readStorage(KEYS.theme);
  if (saved === 'light' || saved === 'dark') return saved;
  try {
    return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  } catch {
    return 'light';
  }
}

export function applyTheme(theme: Theme) {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
}

export function saveTheme(theme: Theme) {
  writeStorage(KEYS.theme, theme);
  applyTheme(theme);
}

/** Chart colours read from the CSS variables of the current theme. */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export const SERIES_COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];
