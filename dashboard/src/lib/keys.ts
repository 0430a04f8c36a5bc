// API keys: the create form's validation (mirroring the API's), and what each scope means.
import type { CreateKey, FieldError, KeyScope } from '../api/types';

export const MAX_KEY_LABEL = 100;
export const MAX_ORIGINS = 20;

export const SCOPE_INFO: Record<KeyScope, { name: string; summary: string }> = {
  ingest: { name: 'Ingest', summary: 'Publishable: may only send events; safe in a web page.' },
  full: { name: 'Full', summary: 'Secret: may do everything; keep it out of web pages.' },
};

export interface KeyDraft {
  label: string;
  scope: KeyScope;
  /** One origin per line, or separated by commas. */
  origins: string;
}

export type KeyField = 'label' | 'scope' | 'origins';

export function emptyKeyDraft(): KeyDraft {
  return { label: '', scope: 'ingest', origins: '' };
}

/** The origins typed, one per line or comma-separated, trimmed, empties dropped. */
export function splitOrigins(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `scheme://host[:port]` lowercased, as the API stores it (a trailing slash is dropped), or null. */
export function normalizeOrigin(raw: string): string | null {
  const origin = raw.trim().replace(/\/+$/, '');
  const m = /^(https?):\/\/([A-Za-z0-9.\-:[\]]{1,253})$/.exec(origin);
  return m ? origin.toLowerCase() : null;
}

/** Field-level problems found before sending. */
export function validateKeyDraft(d: KeyDraft): Partial<Record<KeyField, string>> {
  const errors: Partial<Record<KeyField, string>> = {};
  const label = d.label.trim();
  if (!label) errors.label = 'A label is required.';
  else if ([...label].length > MAX_KEY_LABEL) errors.label = `At most ${MAX_KEY_LABEL} characters.`;
  if (d.scope === 'ingest') {
    const origins = splitOrigins(d.origins);
    const bad = origins.filter((o) => !normalizeOrigin(o));
    if (bad.length > 0) {
      errors.origins = `Not an origin: ${bad.join(', ')}. Use scheme://host[:port], like https://shop.example.com (no path, no *).`;
    } else if (origins.length > MAX_ORIGINS) {
      errors.origins = `At most ${MAX_ORIGINS} origins.`;
    }
  }
  return errors;
}

/** The `POST /api/keys` body: origins only for ingest keys. */
export function toCreateKey(d: KeyDraft): CreateKey {
  const body: CreateKey = { scope: d.scope, label: d.label.trim() };
  if (d.scope === 'ingest') {
    const origins = [...new Set(splitOrigins(d.origins).map((o) => normalizeOrigin(o) ?? o))];
    if (origins.length > 0) body.allowedOrigins = origins;
  }
  return body;
}

/**
 * The API's field errors by form field (`allowedOrigins[2]` names the origin it refused);
 * those that match no field are returned apart.
 */
export function mapKeyFieldErrors(errors: FieldError[], sent: CreateKey): { fields: Partial<Record<KeyField, string>>; other: FieldError[] } {
  const fields: Partial<Record<KeyField, string>> = {};
  const other: FieldError[] = [];
  const add = (f: KeyField, m: string) => (fields[f] = fields[f] ? `${fields[f]} ${m}` : m);
  for (const fe of errors) {
    const origin = /^allowedOrigins\[(\d+)\]$/.exec(fe.field);
    if (fe.field === 'label') add('label', sentence('Label', fe.message));
    else if (fe.field === 'scope') add('scope', sentence('Scope', fe.message));
    else if (fe.field === 'allowedOrigins') add('origins', sentence('Allowed origins', fe.message));
    else if (origin) add('origins', sentence(sent.allowedOrigins?.[Number(origin[1])] ?? `Origin ${Number(origin[1]) + 1}`, fe.message));
    else other.push(fe);
  }
  return { fields, other };
}

/** "Label" + "must be …" → "Label must be ….", other messages after a colon. */
function sentence(subject: string, message: string): string {
  const s = /^(must|is|are|may|cannot)\b/.test(message) ? `${subject} ${message}` : `${subject}: ${message}`;
  return /[.!?]$/.test(s) ? s : s + '.';
}

/** The tag a site pastes to send events with a publishable key: the SDK the API's host serves at /sdk.js. */
export function sdkSnippet(apiBaseUrl: string, key: string, pageOrigin: string): string {
  const host = (apiBaseUrl || pageOrigin).replace(/\/+$/, '');
  const attr = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<script src="${attr(host)}/sdk.js" data-key="${attr(key)}" defer></script>`;
}
