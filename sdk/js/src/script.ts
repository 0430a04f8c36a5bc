// The script-tag build: `<script src="https://HOST/sdk.js" data-key="…" defer></script>`
// starts the SDK with the tag's `data-*` settings and exposes `window.campaignAnalytics`.
import * as sdk from './index';

declare global {
  interface Window {
    campaignAnalytics: typeof sdk;
  }
}

window.campaignAnalytics = sdk;
const tag = document.currentScript as HTMLScriptElement | null;
const key = tag?.dataset.key;
if (tag && key) {
  sdk.init({
    apiKey: key,
    host: tag.dataset.host ?? new URL(tag.src, location.href).origin,
    autoPageviews: tag.dataset.autoPageviews !== 'false',
    autoCampaign: tag.dataset.autoCampaign !== 'false',
  });
}
