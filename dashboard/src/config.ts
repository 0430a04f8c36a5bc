// Optional runtime configuration: `config.json` next to index.html,
// `{"apiBaseUrl": "https://..."}`. Absent, 404, or not JSON (a static host may
// answer unknown paths with index.html) → the API is on the page's own origin.

export interface RuntimeConfig {
  /** Prefix for `/api/...` paths; '' means same origin. */
  apiBaseUrl: string;
}

/** 'https://x.example/prod/' and 'https://x.example/prod/api' both → 'https://x.example/prod'. */
export function normalizeBaseUrl(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  return raw.trim().replace(/\/+$/, '').replace(/\/api$/, '');
}

export async function loadConfig(fetchImpl: typeof fetch = fetch, url = 'config.json'): Promise<RuntimeConfig> {
  try {
    const response = await fetchImpl(url, { cache: 'no-store' });
    if (!response.ok) return { apiBaseUrl: '' };
    const parsed = JSON.parse(await response.text());
    return { apiBaseUrl: normalizeBaseUrl(parsed?.apiBaseUrl) };
  } catch {
    return { apiBaseUrl: '' };
  }
}
