// localStorage that never throws (private modes, disabled storage).
export const KEYS = { apiKey: 'campaign-analytics.apiKey', theme: 'campaign-analytics.theme' } as const;

export function readStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function writeStorage(key: string, value: string | null) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    /* storage unavailable: the setting lasts for this page only */
  }
}
