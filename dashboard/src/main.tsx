import { render } from 'preact';
import { App } from './app';
import { loadConfig } from './config';
import { applyTheme, initialTheme } from './lib/theme';
import './styles.css';

applyTheme(initialTheme());

loadConfig().then((config) => {
  render(<App apiBaseUrl={config.apiBaseUrl} />, document.getElementById('app')!);
});
