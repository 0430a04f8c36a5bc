// Starts the local stack (the prebuilt campaign-local binary) and headless Chromium for the e2e tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const DASHBOARD = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(DASHBOARD, 'dist');
export const ARTIFACTS = join(DASHBOARD, 'test-artifacts');
export const DEMO_KEY = 'test-api-key-12345';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The binary; it may be being rebuilt by someone else: wait for it (up to `waitMs`). */
export async function findBinary(waitMs = 5 * 60_000) {
  const bin = resolve(DASHBOARD, process.env.CAMPAIGN_LOCAL_BIN ?? '../target/debug/campaign-local');
  const deadline = Date.now() + waitMs;
  while (!existsSync(bin)) {
    if (Date.now() > deadline) throw new Error(`campaign-local binary not found at ${bin} (set CAMPAIGN_LOCAL_BIN)`);
    console.log(`# waiting for ${bin} to appear…`);
    await sleep(60_000);
  }
  return bin;
}

/** Runs campaign-local on a free port with a fresh data dir; resolves once it prints its address.
 * `dashboard: false` for tests of the API alone (the SDK's); `env` adds to its environment. */
export async function startStack({ dashboard = true, env: extra = {} } = {}) {
  if (dashboard && !existsSync(join(DIST, 'index.html'))) throw new Error('dashboard/dist is missing: run `npm run build` first');
  const bin = await findBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'campaign-e2e-data-'));
  const env = {
    ...process.env,
    PORT: '0',
    DATA_DIR: dataDir,
    SEED_DEMO: 'true',
    ADMIN_TOKEN: 'x',
    DASHBOARD_DIR: DIST,
    THROTTLE_INGEST_RPS: '100000',
    THROTTLE_INGEST_BURST: '100000',
    THROTTLE_ANALYTICS_RPS: '100000',
    THROTTLE_ANALYTICS_BURST: '100000',
    THROTTLE_EXPERIMENTS_RPS: '100000',
    THROTTLE_EXPERIMENTS_BURST: '100000',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...extra,
  };
  const child = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const baseUrl = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`campaign-local did not start in 60 s\n${out}\n${stderr}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`campaign-local exited with ${code}\n${out}\n${stderr}`));
    });
  });
  child.stdout.resume();
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { baseUrl, stop, stderr: () => stderr };
}

/** Headless Chromium from Debian with a fresh profile; `userAgent` replaces its own
 * (which says HeadlessChrome, a crawler to the ingest routes' bot filter). */
export async function startBrowser({ userAgent } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'campaign-e2e-chrome-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
    acceptDownloads: true,
    colorScheme: 'light',
    ...(userAgent ? { userAgent } : {}),
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** A tiny API client for seeding and checking. */
export function apiClient(baseUrl, key = DEMO_KEY) {
  return async function api(method, path, body) {
    const res = await fetch(baseUrl + path, {
      method,
      headers: { 'X-API-Key': key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* CSV or empty */
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}
