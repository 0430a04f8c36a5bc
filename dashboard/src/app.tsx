import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiClient } from './api/client';
import { ToastProvider, useToast } from './components/Toasts';
import { AppContext } from './context';
import { href, navigate, useRoute, type Route } from './lib/router';
import { KEYS, readStorage, writeStorage } from './lib/storage';
import { initialTheme, saveTheme, type Theme } from './lib/theme';
import { CampaignsPage } from './pages/Campaigns';
import { ConnectPage } from './pages/Connect';
import { ExperimentPage } from './pages/Experiment';
import { ExperimentForm } from './pages/ExperimentForm';
import { ExperimentsPage } from './pages/Experiments';
import { KeysPage } from './pages/Keys';
import { OverviewPage } from './pages/Overview';

export function App({ apiBaseUrl }: { apiBaseUrl: string }) {
  return (
    <ToastProvider>
      <Shell apiBaseUrl={apiBaseUrl} />
    </ToastProvider>
  );
}

function Shell({ apiBaseUrl }: { apiBaseUrl: string }) {
  const route = useRoute();
  const toast = useToast();
  const [apiKey, setApiKey] = useState<string | null>(() => readStorage(KEYS.apiKey));
  const [notice, setNotice] = useState<string | null>(null);
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [menuOpen, setMenuOpen] = useState(false);

  const api = useMemo(
    () =>
      apiKey
        ? new ApiClient({
            baseUrl: apiBaseUrl,
            apiKey,
            onUnauthorized: () => {
              writeStorage(KEYS.apiKey, null);
              setApiKey(null);
              setNotice('Your API key is no longer accepted (401). Enter a valid key to continue.');
            },
            onThrottled: (ms) => toast.info(`The API asked us to slow down; retrying in ${Math.ceil(ms / 1000)} s.`),
          })
        : null,
    [apiKey, apiBaseUrl, toast],
  );

  useEffect(() => setMenuOpen(false), [route]);
  useEffect(() => {
    document.title = `${titleOf(route)} · campaign-analytics`;
  }, [route]);

  const toggleTheme = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    saveTheme(next);
    setTheme(next);
  };

  const connected = (key: string) => {
    writeStorage(KEYS.apiKey, key);
    setNotice(null);
    setApiKey(key);
    if (route.name === 'connect') navigate({ name: 'overview' });
  };

  const signOut = () => {
    writeStorage(KEYS.apiKey, null);
    setApiKey(null);
    setNotice(null);
    toast.success('Signed out. The API key was removed from this browser.');
    navigate({ name: 'connect' });
  };

  const themeButton = (
    <button type="button" class="button button-ghost" onClick={toggleTheme} aria-pressed={theme === 'dark'} data-testid="theme-toggle">
      <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span> {theme === 'dark' ? 'Light' : 'Dark'} mode
    </button>
  );

  return (
    <div class="layout">
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href({ name: 'overview' })}>
          <span class="brand-mark" aria-hidden="true" />
          campaign-analytics
        </a>
        {api && (
          <button type="button" class="button button-ghost menu-button" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
            Menu
          </button>
        )}
        <nav id="main-nav" class={`nav ${menuOpen ? 'open' : ''}`} aria-label="Main">
          {api && (
            <>
              <a href={href({ name: 'overview' })} aria-current={route.name === 'overview' ? 'page' : undefined}>
                Overview
              </a>
              <a href={href({ name: 'campaigns', path: [] })} aria-current={route.name === 'campaigns' ? 'page' : undefined}>
                Campaigns
              </a>
              <a href={href({ name: 'experiments' })} aria-current={route.name.includes('experiment') ? 'page' : undefined}>
                Experiments
              </a>
              <a href={href({ name: 'keys' })} aria-current={route.name === 'keys' ? 'page' : undefined}>
                Keys
              </a>
            </>
          )}
          <span class="nav-spacer" />
          {themeButton}
          {api && (
            <button type="button" class="button button-ghost" onClick={signOut}>
              Sign out
            </button>
          )}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {!api ? (
          <ConnectPage apiBaseUrl={apiBaseUrl} notice={notice} onConnected={connected} />
        ) : (
          <AppContext.Provider value={{ api, apiBaseUrl, theme }}>
            <Page route={route} />
          </AppContext.Provider>
        )}
      </main>
    </div>
  );
}

function titleOf(route: Route): string {
  switch (route.name) {
    case 'overview':
      return 'Overview';
    case 'campaigns':
      return 'Campaigns';
    case 'experiments':
      return 'Experiments';
    case 'new-experiment':
      return 'New experiment';
    case 'experiment':
      return 'Experiment';
    case 'edit-experiment':
      return 'Edit experiment';
    case 'keys':
      return 'Keys';
    case 'connect':
      return 'Connect';
    default:
      return 'Not found';
  }
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'overview':
    case 'connect':
      return <OverviewPage />;
    case 'campaigns':
      return <CampaignsPage path={route.path} />;
    case 'experiments':
      return <ExperimentsPage />;
    case 'new-experiment':
      return <ExperimentForm key="new" />;
    case 'experiment':
      return <ExperimentPage key={route.id} id={route.id} />;
    case 'edit-experiment':
      return <ExperimentForm key={'edit-' + route.id} id={route.id} />;
    case 'keys':
      return <KeysPage />;
    case 'not-found':
      return (
        <section class="page">
          <h1>Page not found</h1>
          <p>
            There is no page at <code>{route.path}</code>. <a href={href({ name: 'overview' })}>Go to the overview</a>.
          </p>
        </section>
      );
  }
}
