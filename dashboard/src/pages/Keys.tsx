import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import { KEY_SCOPES, type ApiKeyInfo, type CreatedKey, type FieldError, type KeyScope } from '../api/types';
import { ConfirmDialog } from '../components/Dialog';
import { Field } from '../components/Field';
import { Empty, ErrorState, Loading } from '../components/States';
import { useToast } from '../components/Toasts';
import { useApp } from '../context';
import { DASH, formatDateTime, formatDay } from '../lib/format';
import {
  emptyKeyDraft, mapKeyFieldErrors, MAX_KEY_LABEL, SCOPE_INFO, sdkSnippet, toCreateKey, validateKeyDraft,
  type KeyDraft, type KeyField,
} from '../lib/keys';
import { useAsync } from '../lib/useAsync';

export function KeysPage() {
  const { api } = useApp();
  const toast = useToast();
  const [list, reload] = useAsync(() => api.listKeys(), [api]);
  const keys = list.data ?? null;

  // The new key lives in this state only (never in storage) until "Done".
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKeyInfo | null>(null);
  const [revokeBusy, setRevokeBusy] = useState(false);

  const onCreated = (key: CreatedKey) => {
    setCreated(key);
    toast.success(`Created the ${key.scope} key “${key.label}”.`);
    reload();
  };

  const done = () => {
    setCreated(null);
    document.getElementById('k-label')?.focus();
  };

  const revoke = async () => {
    if (!revoking) return;
    const key = revoking;
    setRevokeBusy(true);
    try {
      await api.deleteKey(key.id);
      toast.success(`Revoked “${key.label}”: requests using it are refused from now on.`);
      if (created?.id === key.id) setCreated(null);
    } catch (err) {
      toast.error(
        err instanceof ApiError && err.status === 409
          ? `Could not revoke “${key.label}”: ${err.message}.`
          : `Could not revoke “${key.label}”: ${errorMessage(err)}`,
      );
    } finally {
      setRevokeBusy(false);
      setRevoking(null);
      reload();
    }
  };

  return (
    <section class="page">
      <div class="page-header">
        <h1>Keys</h1>
        <div class="header-actions">
          <button type="button" class="button" onClick={reload}>
            Refresh
          </button>
        </div>
      </div>
      <p class="muted page-intro">
        API keys of this tenant. An <strong>ingest</strong> key is publishable: it may only send events, so it is safe in a web page (from the origins
        it lists). A <strong>full</strong> key is a secret that may do everything, this dashboard included.
      </p>

      {created && <NewKeyPanel key={created.id} created={created} onDone={done} />}

      {list.status === 'error' && !keys ? (
        <ErrorState error={list.error} onRetry={reload} title="Could not load keys" />
      ) : !keys ? (
        <Loading label="Loading keys…" />
      ) : keys.length === 0 ? (
        <Empty>No keys.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="keys-table">
            <caption class="sr-only">API keys, {keys.length}</caption>
            <thead>
              <tr>
                <th scope="col">Label</th>
                <th scope="col">Scope</th>
                <th scope="col">Allowed origins</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <KeyRow key={k.id} info={k} onRevoke={() => setRevoking(k)} />
              ))}
            </tbody>
          </table>
        </div>
      )}

      <CreateKeyForm onCreated={onCreated} />

      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.label}”?`}
          confirmLabel="Revoke key"
          danger
          busy={revokeBusy}
          onCancel={() => setRevoking(null)}
          onConfirm={revoke}
        >
          <p>
            Requests using this {revoking.scope} key stop working at once{revoking.scope === 'ingest' ? ', including web pages that send events with it' : ''}.
            This cannot be undone.
          </p>
          {revoking.scope === 'full' && (
            <p class="banner banner-warning">If this dashboard is signed in with this key, it will be signed out too.</p>
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}

function ScopeBadge({ scope }: { scope: KeyScope }) {
  return <span class={`badge badge-scope-${scope}`}>{SCOPE_INFO[scope].name}</span>;
}

function KeyRow({ info, onRevoke }: { info: ApiKeyInfo; onRevoke(): void }) {
  const origins = info.allowedOrigins ?? [];
  return (
    <tr data-testid="key-row" data-id={info.id} data-scope={info.scope}>
      <td class="col-name">
        <span data-testid="key-label">{info.label}</span>
        <span class="muted small key-id">
          <span class="sr-only">id </span>
          {info.id}
        </span>
      </td>
      <td class="col-wrap">
        <ScopeBadge scope={info.scope} />
        <span class="muted small key-scope-summary">{SCOPE_INFO[info.scope].summary}</span>
      </td>
      <td class="col-wrap" data-testid="key-origins">
        {info.scope === 'full' ? (
          <span title="Full keys are not limited by origin">
            {DASH}
            <span class="sr-only">not limited by origin</span>
          </span>
        ) : origins.length === 0 ? (
          <span class="muted">none: server-side use only</span>
        ) : (
          <ul class="origin-list">
            {origins.map((o) => (
              <li key={o}>
                <code>{o}</code>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td title={formatDateTime(info.createdAt)}>{formatDay(info.createdAt)}</td>
      <td>{info.lastUsedDay === undefined ? DASH : info.lastUsedDay === null ? <span class="muted">never</span> : info.lastUsedDay}</td>
      <td class="num">
        <button type="button" class="button button-danger-outline" onClick={onRevoke} aria-label={`Revoke “${info.label}”`} data-testid="revoke-key">
          Revoke
        </button>
      </td>
    </tr>
  );
}

/** The new key, shown once: copy it now or never. */
function NewKeyPanel({ created, onDone }: { created: CreatedKey; onDone(): void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [copyNote, setCopyNote] = useState<string | null>(null);
  useEffect(() => heading.current?.focus(), []);

  const select = () => input.current?.select();
  const copy = async () => {
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
      await navigator.clipboard.writeText(created.key);
      setCopyNote('Copied to the clipboard.');
    } catch {
      select();
      setCopyNote('Could not copy automatically: the key is selected, press Ctrl+C (⌘C on a Mac) to copy it.');
    }
  };

  return (
    <div class="card key-reveal" role="region" aria-labelledby="new-key-title" data-testid="new-key-panel">
      <h2 id="new-key-title" tabIndex={-1} ref={heading}>
        Your new {created.scope} key “{created.label}”
      </h2>
      <p class="banner banner-warning">
        Copy this key now: it is shown only once and cannot be shown again.{' '}
        {created.scope === 'ingest'
          ? 'It may only send events, so it can go into your web page.'
          : 'It is a secret: keep it in a password manager or secret store, never in a web page.'}
      </p>
      <div class="input-row">
        <label for="new-key" class="sr-only">
          New API key
        </label>
        <input
          id="new-key"
          class="key-value"
          readOnly
          value={created.key}
          ref={input}
          onFocus={select}
          autoComplete="off"
          spellcheck={false}
          data-testid="new-key"
        />
        <button type="button" class="button button-primary" onClick={copy} data-testid="copy-key">
          Copy
        </button>
        <button type="button" class="button" onClick={onDone} data-testid="new-key-done">
          Done
        </button>
      </div>
      <p class="muted small" role="status" aria-live="polite" data-testid="copy-note">
        {copyNote}
      </p>
      {created.scope === 'ingest' && <SnippetHint created={created} />}
    </div>
  );
}

/** For a publishable key: the script tag that sends a site's events with it. */
function SnippetHint({ created }: { created: CreatedKey }) {
  const { apiBaseUrl } = useApp();
  const snippet = sdkSnippet(apiBaseUrl, created.key, location.origin);
  return (
    <div class="key-snippet">
      <p>
        Paste this into every page of the site (in <code>&lt;head&gt;</code>): it sends page views with their campaign, and{' '}
        <code>campaignAnalytics.click()</code>, <code>.convert({'{'}value{'}'})</code> and <code>.assign(experiment)</code> from
        your scripts. The site's origin must be among the key's allowed origins.
      </p>
      <pre data-testid="key-snippet">
        <code>{snippet}</code>
      </pre>
    </div>
  );
}

function CreateKeyForm({ onCreated }: { onCreated(key: CreatedKey): void }) {
  const { api } = useApp();
  const toast = useToast();
  const [form, setForm] = useState<KeyDraft>(emptyKeyDraft);
  const [touched, setTouched] = useState(false);
  const [saving, setSaving] = useState(false);
  const [serverFields, setServerFields] = useState<Partial<Record<KeyField, string>>>({});
  const [serverOther, setServerOther] = useState<FieldError[]>([]);
  const [serverMessage, setServerMessage] = useState<string | null>(null);

  const local = validateKeyDraft(form);
  const errorOf = (f: KeyField) => serverFields[f] ?? (touched ? local[f] : undefined);
  const set = <K extends keyof KeyDraft>(key: K, value: KeyDraft[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setServerFields((s) => {
      const next = { ...s };
      delete next[key];
      return next;
    });
  };
  const describedBy = (id: string, error?: string, hint = false) =>
    [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    setServerFields({});
    setServerOther([]);
    setServerMessage(null);
    if (Object.keys(local).length > 0) {
      toast.error('Please fix the highlighted fields.');
      return;
    }
    const body = toCreateKey(form);
    setSaving(true);
    try {
      const key = await api.createKey(body);
      setForm(emptyKeyDraft());
      setTouched(false);
      onCreated(key);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length > 0) {
        const mapped = mapKeyFieldErrors(err.fieldErrors, body);
        setServerFields(mapped.fields);
        setServerOther(mapped.other);
        setServerMessage(mapped.other.length > 0 ? 'The API refused these values:' : null);
      } else {
        setServerMessage(errorMessage(err));
      }
      toast.error(`Could not create the key: ${errorMessage(err)}`);
    } finally {
      setSaving(false);
    }
  };

  const labelError = errorOf('label');
  const scopeError = errorOf('scope');
  const originsError = errorOf('origins');
  return (
    <form class="card form" onSubmit={submit} noValidate aria-labelledby="create-key-title" data-testid="create-key-form">
      <h2 id="create-key-title">Create key</h2>
      {serverMessage && (
        <div class="banner banner-danger" role="alert">
          {serverMessage}
          {serverOther.length > 0 && (
            <ul class="compact-list">
              {serverOther.map((fe) => (
                <li key={fe.field + fe.message}>
                  <code>{fe.field}</code> {fe.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <Field id="k-label" label="Label" hint="What the key is for, e.g. “Web shop” (1 to 100 characters)." error={labelError}>
        <input
          id="k-label"
          value={form.label}
          maxLength={MAX_KEY_LABEL}
          onInput={(e) => set('label', (e.target as HTMLInputElement).value)}
          aria-invalid={!!labelError}
          aria-describedby={describedBy('k-label', labelError, true)}
          required
        />
      </Field>
      <fieldset class="scope-options" aria-describedby={scopeError ? 'k-scope-error' : undefined}>
        <legend>Scope</legend>
        {KEY_SCOPES.map((s) => (
          <label key={s} class="scope-option" for={`k-scope-${s}`}>
            <input
              type="radio"
              id={`k-scope-${s}`}
              name="key-scope"
              value={s}
              checked={form.scope === s}
              onChange={() => set('scope', s)}
            />
            <span>
              <strong>{SCOPE_INFO[s].name}</strong>
              <span class="muted small key-scope-summary">{SCOPE_INFO[s].summary}</span>
            </span>
          </label>
        ))}
        {scopeError && (
          <span class="field-error" id="k-scope-error">
            {scopeError}
          </span>
        )}
      </fieldset>
      {form.scope === 'ingest' && (
        <Field
          id="k-origins"
          label="Allowed origins (optional)"
          hint="One per line or separated by commas, like https://shop.example.com (scheme, host and port; no path). Browsers may use the key only from these origins; leave empty for server-side use only."
          error={originsError}
        >
          <textarea
            id="k-origins"
            rows={3}
            value={form.origins}
            placeholder="https://shop.example.com"
            spellcheck={false}
            onInput={(e) => set('origins', (e.target as HTMLTextAreaElement).value)}
            aria-invalid={!!originsError}
            aria-describedby={describedBy('k-origins', originsError, true)}
          />
        </Field>
      )}
      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled={saving}>
          {saving ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}
