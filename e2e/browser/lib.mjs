// Shared pieces of the dashboard's browser tests: Debian's chromium driven by playwright-core,
// the real kubectl against the test cluster, polling, screenshots. The Rust tests in
// e2e/tests/dashboard.rs start the stack and run these scripts with the environment below.
//
//   BASE_URL             the auth-gateway's public URL (the dashboard is served behind it)
//   CHROMIUM             the browser executable (default /usr/bin/chromium)
//   CAPSTAN_BROWSER_MODULES  node_modules holding playwright-core (default: ./node_modules)
//   ARTIFACTS            where screenshots and measurements go
//   KUBECTL, KUBECONFIG  the real kubectl and the test cluster

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.CAPSTAN_BROWSER_MODULES || path.join(here, 'node_modules');
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core');

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set (the Rust test sets it)`);
  return v;
};

export const BASE = env('BASE_URL');
export const ARTIFACTS = env('ARTIFACTS', path.join(here, '..', '..', 'target', 'e2e-artifacts', 'dashboard'));
fs.mkdirSync(ARTIFACTS, { recursive: true });

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** A headless chromium; close it at the end. */
export async function launch() {
  return chromium.launch({ executablePath: env('CHROMIUM', '/usr/bin/chromium'), headless: true, args: ARGS });
}

/** A fresh browser profile (own cookies) with a 1280×800 window; page errors fail loudly. */
export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`  [browser console] ${m.text()}`);
  });
  return page;
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`  screenshot: ${file}`);
  return file;
}

/** Runs the real kubectl; `editor` makes `kubectl edit` non-interactive (KUBE_EDITOR). */
export function kubectl(args, { editor, input } = {}) {
  return execFileSync(env('KUBECTL'), ['--kubeconfig', env('KUBECONFIG'), ...args], {
    encoding: 'utf8',
    env: editor ? { ...process.env, KUBE_EDITOR: editor } : process.env,
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/** Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes. */
export async function eventually(what, check, timeoutMs = 60_000, everyMs = 300) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Logs in with the local form from wherever the dashboard sends an anonymous user. */
export async function loginLocal(page, username, password, start = '/applications') {
  await page.goto(BASE + start);
  await page.waitForURL(/\/login/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** Logs in through the SSO button and the test IdP's login form. */
export async function loginSso(page, username, start = '/applications') {
  await page.goto(BASE + start);
  await page.waitForURL(/\/login/);
  await page.getByRole('link', { name: /Log in via/ }).click();
  await page.waitForSelector('#username');
  await page.fill('#username', username);
  await page.click('#login');
  await page.waitForURL((u) => u.href.startsWith(BASE) && !u.pathname.startsWith('/login') && !u.pathname.startsWith('/auth/'));
}

export function writeJson(name, value) {
  const file = path.join(ARTIFACTS, name);
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
