// The applications list with many apps: how long until the first page is on screen, measured
// with the browser's own timing (navigation start → the list's render mark), reported, not
// asserted. Run by e2e/tests/dashboard.rs with BASE_URL, ADMIN_PASSWORD and APP_COUNT set.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE, env, eventually, kubectl, launch, loginLocal, newPage, shot, writeJson } from './lib.mjs';

const COUNT = Number(env('APP_COUNT'));
const RUNS = Number(env('RUNS', '7'));
let browser;
let page;

before(async () => {
  browser = await launch();
  page = await newPage(browser);
  await loginLocal(page, 'admin', env('ADMIN_PASSWORD'));
});
after(async () => browser?.close());

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One cold navigation to `path`; returns the timings in ms from navigation start. */
async function measure(path, selector, expected) {
  await page.goto('about:blank');
  await page.goto(BASE + path);
  await page.waitForFunction(
    ([sel, n]) => document.querySelectorAll(sel).length === n && performance.getEntriesByName('capstan:apps-rendered').length > 0,
    [selector, expected],
    { timeout: 30_000 },
  );
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = performance.getEntriesByName('capstan:apps-rendered')[0];
    const api = performance.getEntriesByType('resource').filter((r) => r.name.includes('/api/v1/applications?'));
    return {
      firstPageRendered: mark.startTime,
      domContentLoaded: nav.domContentLoadedEventEnd,
      listRequest: api.length ? api[0].responseEnd - api[0].startTime : null,
      listBytes: api.length ? api[0].encodedBodySize : null,
    };
  });
}

test(`the first page of ${COUNT} apps`, async () => {
  const results = {};
  for (const [name, path, selector] of [
    ['tiles', '/applications', '.tile'],
    ['table', '/applications?view=list', 'tr[data-app]'],
  ]) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(path, selector, 100));
    results[name] = {
      runs: runs.length,
      medianFirstPageMs: Math.round(median(runs.map((r) => r.firstPageRendered))),
      minFirstPageMs: Math.round(Math.min(...runs.map((r) => r.firstPageRendered))),
      maxFirstPageMs: Math.round(Math.max(...runs.map((r) => r.firstPageRendered))),
      medianDomContentLoadedMs: Math.round(median(runs.map((r) => r.domContentLoaded))),
      medianListRequestMs: Math.round(median(runs.map((r) => r.listRequest))),
      listBytes: runs[0].listBytes,
    };
  }
  // the baseline, in the same browser and run: what a list that loads every app at once (Argo
  // CD's UI) pays before it can draw anything — fetching and parsing all COUNT apps
  const all = [];
  for (let i = 0; i < RUNS; i++) {
    all.push(
      await page.evaluate(async () => {
        const t0 = performance.now();
        const body = await (await fetch('/api/v1/applications')).json();
        return { ms: performance.now() - t0, items: body.items.length };
      }),
    );
  }
  assert.equal(all[0].items, COUNT);
  results.baselineAllApps = { runs: all.length, medianFetchAndParseMs: Math.round(median(all.map((r) => r.ms))) };
  results.ratioFirstPageToAllApps = +(results.tiles.medianFirstPageMs / results.baselineAllApps.medianFetchAndParseMs).toFixed(2);
  // correctness of what was measured: 100 of COUNT, and the next page continues the list
  await page.goto(`${BASE}/applications`);
  await page.getByTestId('page-range').filter({ hasText: `1–100 of ${COUNT}` }).waitFor();
  const firstNames = await page.locator('.tile').evaluateAll((els) => els.map((e) => e.getAttribute('data-app')));
  await shot(page, `list-${COUNT}`);
  await page.getByRole('button', { name: 'Next ›' }).click();
  await page.getByTestId('page-range').filter({ hasText: `101–200 of ${COUNT}` }).waitFor();
  const secondNames = await page.locator('.tile').evaluateAll((els) => els.map((e) => e.getAttribute('data-app')));
  assert.equal(secondNames.length, 100);
  assert.ok(firstNames.at(-1) < secondNames[0], 'page 2 continues after page 1');
  // live: a status written while the page is open shows without a reload (the watch from the
  // list's resourceVersion), and a new app brings the count up
  await page.getByRole('button', { name: '‹ Previous' }).click();
  await page.getByTestId('page-range').filter({ hasText: `1–100 of ${COUNT}` }).waitFor();
  const first = firstNames[0];
  const ns = env('CONTROL_NS');
  kubectl(['-n', ns, 'patch', 'application', first, '--subresource=status', '--type=merge', '-p',
    JSON.stringify({ status: { health: { status: 'Degraded', message: 'Deployment "svc" exceeded its progress deadline' } } })]);
  const tile = page.locator(`.tile[data-app="${first}"]`);
  await tile.locator('[data-health="Degraded"]').waitFor();
  await tile.getByText('exceeded its progress deadline').waitFor();
  const app = JSON.parse(kubectl(['-n', ns, 'get', 'application', first, '-o', 'json']));
  delete app.metadata.resourceVersion;
  delete app.metadata.uid;
  delete app.metadata.creationTimestamp;
  delete app.status;
  app.metadata.name = 'app-new';
  kubectl(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(app) });
  await eventually('the new app counted', async () => (await page.getByTestId('page-range').textContent()).includes(`of ${COUNT + 1}`), 30_000);
  console.log(`PERF ${JSON.stringify(results)}`);
  writeJson(`list-${COUNT}-timing.json`, results);
});
