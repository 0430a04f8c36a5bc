// End to end: the SDK's script tag, served by the real local stack at /sdk.js, on a site of
// its own origin in headless Chromium: a landing with campaign parameters, clicks, an
// assignment, a conversion followed at once by a navigation, a time offline, a reload.
// Then the summary and the campaign report count every event once, with the right first touch.
// Needs the dashboard's e2e helpers and their node_modules (scripts/test.sh installs both).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { apiClient, startBrowser, startStack } from '../../../dashboard/e2e/stack.mjs';

const SDK = fileURLToPath(new URL('..', import.meta.url));
const ARTIFACTS = join(SDK, 'test-artifacts');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DESKTOP_CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

async function poll(fn, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn().catch((err) => err);
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(200);
  }
}

let stack;
let browser;
let site;
let siteUrl;
let api;
let publishable;
let experimentId;
const pageErrors = [];

/** A page of the site: the snippet a site pastes, and a few buttons. */
function sitePage(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script src="${stack.baseUrl}/sdk.js" data-key="${publishable}" defer></script></head>
<body><h1>${title}</h1>${body}</body></html>`;
}

before(async () => {
  stack = await startStack({ dashboard: false, env: { SEED_DEMO: 'false', SDK_DIR: join(SDK, 'dist') } });
  const created = await fetch(stack.baseUrl + '/api/admin/tenants', {
    method: 'POST',
    headers: { Authorization: 'Bearer x', 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'sdk-e2e' }),
  }).then((r) => r.json());
  api = apiClient(stack.baseUrl, created.apiKey);

  site = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const pages = {
      '/landing.html': sitePage(
        'Spring sale',
        `<button id="buy" onclick="campaignAnalytics.click({button: 'buy'})">Buy</button>
         <button id="assign" onclick="document.title = campaignAnalytics.assign({id: '${experimentId}', variants: ['control', 'treatment']})">Assign</button>
         <button id="checkout" onclick="campaignAnalytics.convert({value: 29.9}); location.href = '/thanks.html'">Checkout</button>`,
      ),
      '/thanks.html': sitePage('Thanks', `<button id="more" onclick="campaignAnalytics.click({button: 'more'})">More</button>`),
    };
    if (!pages[path]) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(pages[path]);
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${site.address().port}`;

  const key = await api('POST', '/api/keys', { scope: 'ingest', label: 'site', allowedOrigins: [siteUrl] });
  assert.equal(key.status, 201, JSON.stringify(key.json));
  publishable = key.json.key;
  const experiment = await api('POST', '/api/experiments', { name: 'Checkout copy', variants: ['control', 'treatment'], status: 'ACTIVE' });
  assert.equal(experiment.status, 201, JSON.stringify(experiment.json));
  experimentId = experiment.json.id;
  // A visitor's browser: headless Chromium's own agent (HeadlessChrome) is a
  // crawler's to the server, whose events the publishable key drops.
  browser = await startBrowser({ userAgent: DESKTOP_CHROME });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  site?.close();
});

it('counts every event once, with the landing as first touch, across a navigation, an outage and a reload', async () => {
  const { context } = browser;
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  if (process.env.E2E_DEBUG) page.on('response', async (r) => r.url().includes('/api/') && console.log('#', r.status(), r.url().slice(0, 80), await r.text().catch(() => '')));
  const sdk = await fetch(stack.baseUrl + '/sdk.js');
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type'), /javascript/);

  // The landing: its page view carries the campaign; three clicks; an assignment.
  await page.goto(`${siteUrl}/landing.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale&gclid=abc123`);
  await page.waitForFunction(() => window.campaignAnalytics && localStorage.getItem('ca_anon'));
  for (let i = 0; i < 3; i++) await page.click('#buy');
  // An event the API refuses (properties over 16 KiB) goes alone: its batch's other events count.
  page.on('console', (message) => message.type() === 'warning' && pageErrors.push(`warning: ${message.text()}`));
  await page.evaluate(() => window.campaignAnalytics.click({ blob: 'x'.repeat(17_000) }));
  await page.click('#assign');
  const variant = await page.title();
  const userId = await page.evaluate(() => localStorage.getItem('ca_anon'));
  const assigned = await api('GET', `/api/experiments/${experimentId}/assign?userId=${encodeURIComponent(userId)}`);
  assert.equal(assigned.json.variant, variant, 'the SDK assigns as the server does');

  // A conversion, and the page leaves at once.
  await Promise.all([page.waitForURL('**/thanks.html'), page.click('#checkout')]);
  await page.waitForFunction(() => window.campaignAnalytics);

  // Offline for a while: two clicks wait in the queue; then back, and a reload.
  await context.setOffline(true);
  await page.click('#more');
  await page.click('#more');
  await sleep(3000);
  assert.ok(await page.evaluate(() => JSON.parse(localStorage.getItem('ca_queue')).length >= 2), 'queued while offline');
  await context.setOffline(false);
  await page.reload();
  await page.waitForFunction(() => window.campaignAnalytics);

  // 3 page views (landing, thanks, the reload), 5 clicks, 1 exposure, 1 conversion.
  const expected = 10;
  let counted;
  const summary = await poll(async () => {
    const reply = await api('GET', '/api/analytics/summary');
    counted = reply.json.totalEvents;
    return counted === expected ? reply.json : null;
  }, `${expected} events counted`).catch(async (err) => {
    const queued = await page.evaluate(() => localStorage.getItem('ca_queue'));
    throw new Error(`${err.message}: ${counted} counted; queued: ${queued}`);
  });
  assert.equal(summary.uniqueUsers, 1);
  // The queue empties, and nothing sent twice (beacon, then the next page) counts twice.
  await poll(async () => (await page.evaluate(() => JSON.parse(localStorage.getItem('ca_queue') ?? '[]').length)) === 0 || null, 'an empty queue');
  await sleep(2500);
  assert.equal((await api('GET', '/api/analytics/summary')).json.totalEvents, expected);

  const bySource = await api('GET', '/api/analytics/campaigns?groupBy=source');
  assert.equal(bySource.status, 200, JSON.stringify(bySource.json));
  assert.deepEqual(
    bySource.json.rows.map((r) => [r.key, r.users, r.conversions, r.revenue]),
    [['newsletter', 1, 1, 29.9]],
  );
  const byCampaign = await api('GET', '/api/analytics/campaigns?groupBy=campaign');
  assert.deepEqual(byCampaign.json.rows.map((r) => r.key), ['spring-sale']);
  // The conversion after assign() carries the experiment: its variant converted.
  const experimentSummary = await api('GET', `/api/analytics/summary?experimentId=${experimentId}`);
  assert.equal(experimentSummary.json.variants[variant].conversions, 1, JSON.stringify(experimentSummary.json));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'thanks.png') });
  // One warning for the refused event (once per page that sent it), and no errors.
  assert.ok(pageErrors.length > 0, 'the refused event was reported');
  for (const error of pageErrors) assert.match(error, /^warning: campaign-analytics: events refused: .*events\[\d+\]\.properties/s);
});
