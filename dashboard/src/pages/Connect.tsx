import { useState } from 'preact/hooks';
import { ApiClient, ApiError, errorMessage } from '../api/client';

interface Props {
  apiBaseUrl: string;
  notice: string | null;
  onConnected(key: string): void;
}

export function ConnectPage({ apiBaseUrl, notice, onConnected }: Props) {
  const [key, setKey] = useState('');
  const [show, setShow] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Enter your API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // Any authenticated read proves the key; the smallest one will do.
      await new ApiClient({ baseUrl: apiBaseUrl, apiKey: trimmed }).listExperiments({ limit: 1 });
      onConnected(trimmed);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'This API key was not accepted (401 Unauthorized). Check that you copied the whole key, or ask an admin for a new one.'
          : `Could not connect: ${errorMessage(err)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page connect">
      <div class="card connect-card">
        <h1>Connect</h1>
        <p class="muted">
          Enter the API key of your tenant. It is kept in this browser (localStorage) until you sign out, and sent only to{' '}
          <code>{apiBaseUrl || window.location.origin}/api</code>.
        </p>
        {notice && (
          <p class="banner banner-warning" role="alert">
            {notice}
          </p>
        )}
        <form onSubmit={submit} noValidate>
          <label for="api-key">API key</label>
          <div class="input-row">
            <input
              id="api-key"
              name="api-key"
              type={show ? 'text' : 'password'}
              autoComplete="off"
              spellcheck={false}
              value={key}
              onInput={(e) => setKey((e.target as HTMLInputElement).value)}
              aria-invalid={!!error}
              aria-describedby={error ? 'api-key-error' : undefined}
              required
            />
            <button type="button" class="button" onClick={() => setShow((s) => !s)} aria-pressed={show}>
              {show ? 'Hide' : 'Show'}
            </button>
          </div>
          {error && (
            <p id="api-key-error" class="field-error" role="alert" data-testid="connect-error">
              {error}
            </p>
          )}
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Connecting…' : 'Connect'}
          </button>
        </form>
      </div>
    </section>
  );
}
