// The dashboard end to end, as users drive it: headless chromium against the full stack
// (gateway, api-server serving web/dist, controller, repo-server, real kube-apiserver, Git
// and an OpenID Connect provider). Each step is asserted from the page and from the cluster.
// Run by e2e/tests/dashboard.rs, which prepares the seed apps and sets:
//
//   ADMIN_PASSWORD   the local admin's initial password
//   SEED_APPS        comma-separated names of the seed's Applications
//   APP, APP_NS      the prod app under test and its destination namespace
//   REV_A, REV_B     its first and second synced revisions (history #0 and #1)
//   SSO_ADMIN, SSO_READONLY  IdP users in a group with role:admin / role:readonly

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE, env, eventually, kubectl, launch, loginLocal, loginSso, newPage, shot } from './lib.mjs';

const APP = env('APP');
const APP_NS = env('APP_NS');
const REV_A = env('REV_A');
const SEED_APPS = env('SEED_APPS').split(',');
const appPath = `/applications/${env('CONTROL_NS')}/${APP}`;

let browser;
let admin;

before(async () => {
  browser = await launch();
  admin = await newPage(browser);
});
after(async () => {
  await browser?.close();
});

const image = () => kubectl(['-n', APP_NS, 'get', 'deployment', 'orders-api', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
const logLevel = () => kubectl(['-n', APP_NS, 'get', 'configmap', 'orders-api-config', '-o', 'jsonpath={.data.LOG_LEVEL}']);
const appJson = () => JSON.parse(kubectl(['-n', env('CONTROL_NS'), 'get', 'application', APP, '-o', 'json']));

test('the local admin logs in and sees the seed apps', async () => {
  await loginLocal(admin, 'admin', env('ADMIN_PASSWORD'));
  assert.equal(new URL(admin.url()).pathname, '/applications');
  for (const name of SEED_APPS) {
    await admin.locator(`.tile[data-app="${name}"]`).waitFor();
  }
  // the prod app's tile says what the cluster says
  const app = appJson();
  const tile = admin.locator(`.tile[data-app="${APP}"]`);
  assert.equal(await tile.locator('[data-sync]').getAttribute('data-sync'), app.status.sync.status);
  assert.equal(await tile.locator('[data-health]').getAttribute('data-health'), app.status.health.status);
  await shot(admin, 'list');
  // the table view shows the same apps
  await admin.getByRole('button', { name: 'Table' }).click();
  await admin.locator(`tr[data-app="${APP}"]`).waitFor();
  await shot(admin, 'list-table');
  await admin.getByRole('button', { name: 'Tiles' }).click();
});

test('the list filters on the server: health and search', async () => {
  await admin.goto(`${BASE}/applications?search=${encodeURIComponent(APP)}`);
  await admin.locator(`.tile[data-app="${APP}"]`).waitFor();
  assert.equal(await admin.locator('.tile').count(), 1, 'only the searched app');
  await admin.goto(`${BASE}/applications?sync=OutOfSync&sync=Synced&health=Healthy`);
  await admin.locator('.tile').first().waitFor();
  const healths = await admin.locator('.tile [data-health]').evaluateAll((els) => els.map((e) => e.getAttribute('data-health')));
  assert.ok(healths.length > 0 && healths.every((h) => h === 'Healthy'), `only Healthy apps, got ${healths}`);
});

test('an app page shows the resource tree of what runs in the cluster', async () => {
  await admin.goto(`${BASE}/applications`);
  await admin.getByRole('link', { name: APP, exact: true }).click();
  await admin.waitForURL((u) => u.pathname === appPath);
  await admin.locator('.tree-node[data-kind="Deployment"]').waitFor();
  for (const kind of ['Application', 'Deployment', 'Service', 'ConfigMap', 'ServiceAccount', 'Ingress']) {
    assert.equal(await admin.locator(`.tree-node[data-kind="${kind}"]`).count() >= 1, true, `a ${kind} node`);
  }
  // the Deployment's ReplicaSet and Pods are drawn as its children, as they exist in the cluster
  const pods = kubectl(['-n', APP_NS, 'get', 'pods', '-o', 'name']).trim().split('\n').filter(Boolean);
  assert.ok(pods.length > 0, 'the cluster runs pods of the app');
  await eventually('the pods in the tree', async () => (await admin.locator('.tree-node[data-kind="Pod"]').count()) === pods.length);
  await admin.locator('.tree-node[data-kind="ReplicaSet"]').first().waitFor();
  await shot(admin, 'app');
});

test('a kubectl edit shows up as OutOfSync with its diff', async () => {
  assert.equal(logLevel(), 'warn');
  kubectl(['-n', APP_NS, 'edit', 'configmap', 'orders-api-config'], { editor: "sed -i -e 's/LOG_LEVEL: warn/LOG_LEVEL: debug/'" });
  assert.equal(logLevel(), 'debug', 'kubectl edit changed the live object');
  // the page follows the watch: the ConfigMap turns OutOfSync without a reload
  const cmNode = admin.locator('.tree-node[data-kind="ConfigMap"]');
  await eventually('the ConfigMap node OutOfSync', async () => (await cmNode.locator('[data-sync]').getAttribute('data-sync')) === 'OutOfSync');
  await admin.locator('h1 [data-sync="OutOfSync"]').waitFor();
  // the resource's own diff tab
  await cmNode.click();
  await admin.getByRole('tab', { name: 'Diff' }).click();
  const diff = admin.locator('.diff-table.split');
  await diff.waitFor();
  await diff.locator('td.code.del', { hasText: 'LOG_LEVEL: debug' }).waitFor();
  await diff.locator('td.code.add', { hasText: 'LOG_LEVEL: warn' }).waitFor();
  await shot(admin, 'diff');
  // inline as well, and the live manifest tab reads the cluster
  await admin.getByRole('button', { name: 'Inline' }).click();
  await admin.locator('.diff-table.inline tr.line.del', { hasText: 'LOG_LEVEL: debug' }).waitFor();
  await admin.getByRole('tab', { name: 'Live manifest' }).click();
  await admin.locator('pre.manifest', { hasText: 'LOG_LEVEL: debug' }).waitFor();
  await admin.keyboard.press('Escape');
  await admin.locator('.panel').waitFor({ state: 'detached' });
  // the whole-app diff lists the ConfigMap
  await admin.locator('#diff-button').click();
  await admin.locator('.diff-title', { hasText: 'ConfigMap' }).waitFor();
  await shot(admin, 'app-diff');
  await admin.keyboard.press('Escape');
});

test('sync from the sync panel and watch it go Synced', async () => {
  await admin.locator('#sync-button').click();
  const panel = admin.getByRole('dialog', { name: `Sync ${APP}` });
  await panel.waitFor();
  await panel.getByLabel('Prune').check();
  await shot(admin, 'sync-panel');
  await panel.getByRole('button', { name: 'Synchronize' }).click();
  await panel.waitFor({ state: 'detached' });
  await admin.locator('h1 [data-sync="Synced"]').waitFor({ timeout: 90_000 });
  await admin.locator('[data-operation="Succeeded"]').waitFor({ timeout: 90_000 });
  assert.equal(logLevel(), 'warn', 'the sync restored the desired ConfigMap');
  const app = appJson();
  assert.equal(app.status.sync.status, 'Synced');
  assert.equal(app.status.operationState.operation.initiatedBy.username, 'admin');
});

test('roll back from history to the first revision', async () => {
  assert.match(image(), /:1\.4\.0$/, 'the second revision runs before the rollback');
  await admin.locator('#history-button').click();
  const panel = admin.getByRole('dialog', { name: `History of ${APP}` });
  await panel.locator('[data-history-id="0"]').waitFor();
  await shot(admin, 'history');
  await panel.getByRole('button', { name: 'Rollback to #0' }).click();
  await panel.getByRole('button', { name: 'Confirm rollback' }).click();
  await panel.waitFor({ state: 'detached' });
  await eventually('the rollback in the cluster', () => image().endsWith(':1.3.2'), 90_000);
  await eventually('the rollback recorded', () => {
    const app = appJson();
    return app.status.operationState?.phase === 'Succeeded' && app.status.operationState.syncResult?.revision === REV_A;
  });
  // the page shows the rolled-back revision as the last sync
  await admin.locator('.status-box', { hasText: 'Last sync' }).getByText(REV_A.slice(0, 7)).waitFor();
  await shot(admin, 'after-rollback');
});

test('events and a hard refresh on the app page', async () => {
  await admin.goto(BASE + appPath);
  await admin.locator('#events-button').click();
  const events = admin.getByRole('dialog', { name: `Events of ${APP}` });
  // the controller's and the api-server's events on the Application
  await events.getByRole('cell', { name: 'OperationCompleted' }).first().waitFor();
  await events.getByRole('cell', { name: 'ResourceUpdated' }).first().waitFor();
  await admin.keyboard.press('Escape');
  // the hard refresh asks the API (which sets Argo CD's refresh annotation) and the
  // controller takes the annotation off once it compared again without its caches
  const [resp] = await Promise.all([
    admin.waitForResponse((r) => r.url().includes(`/api/v1/applications/${APP}?refresh=hard`)),
    admin.locator('#hard-refresh-button').click(),
  ]);
  assert.equal(resp.status(), 200);
  await eventually('the refresh handled', () => !appJson().metadata.annotations?.['argocd.argoproj.io/refresh'], 30_000);
  await admin.locator('#hard-refresh-button:enabled').waitFor();
  assert.equal(await admin.getByRole('alert').count(), 0, 'no error shown');
});

test('settings pages: projects with roles, tokens and windows, repositories with their connection, clusters', async () => {
  await admin.goto(`${BASE}/settings/projects/microservices`);
  await admin.getByRole('heading', { name: 'Sync windows' }).waitFor();
  await admin.locator('td.deny').first().waitFor();
  // a role's tokens: create one (shown once), see it listed, delete it — the project records both
  kubectl(['-n', env('CONTROL_NS'), 'patch', 'appproject', 'default', '--type=merge', '-p',
    JSON.stringify({ spec: { roles: [{ name: 'ci', description: 'pipelines', policies: [`p, proj:default:ci, applications, sync, default/*, allow`] }] } })]);
  await admin.goto(`${BASE}/settings/projects/default`);
  await admin.getByRole('heading', { name: 'ci', exact: true }).waitFor();
  await admin.getByLabel('Token ID').fill('pipeline-1');
  await admin.getByLabel('Expires in').fill('24h');
  await admin.getByRole('button', { name: 'Create token' }).click();
  const token = await admin.getByRole('textbox', { name: 'New token' }).inputValue();
  assert.equal(token.split('.').length, 3, 'a JWT');
  await admin.getByRole('cell', { name: 'pipeline-1', exact: true }).waitFor();
  const recorded = () => {
    const p = JSON.parse(kubectl(['-n', env('CONTROL_NS'), 'get', 'appproject', 'default', '-o', 'json']));
    return [...(p.status?.jwtTokensByRole?.ci?.items ?? []), ...(p.spec.roles?.[0]?.jwtTokens ?? [])].filter((t) => t.id === 'pipeline-1');
  };
  assert.ok(recorded().length > 0, 'the token is recorded on the project');
  await admin.getByRole('button', { name: 'Delete token pipeline-1' }).click();
  await admin.getByRole('cell', { name: 'pipeline-1', exact: true }).waitFor({ state: 'detached' });
  await eventually('the token removed from the project', () => recorded().length === 0);
  // a deny window that also blocks manual syncs disables Sync, saying which window
  const windows = (w) => kubectl(['-n', env('CONTROL_NS'), 'patch', 'appproject', 'default', '--type=merge', '-p', JSON.stringify({ spec: { syncWindows: w } })]);
  windows([{ kind: 'deny', schedule: '* * * * *', duration: '1h', applications: ['root-app'], manualSync: false }]);
  await admin.goto(`${BASE}/applications/${env('CONTROL_NS')}/root-app`);
  await admin.getByTestId('sync-window').filter({ hasText: 'deny window "* * * * *"' }).waitFor();
  assert.ok(await admin.locator('#sync-button').isDisabled());
  windows(null);
  // connect the seed's repository with credentials; the server tests the connection
  await admin.goto(`${BASE}/settings/repos`);
  await admin.getByRole('button', { name: 'Connect repository' }).click();
  const form = admin.getByRole('form', { name: 'Connect a repository' });
  await form.getByLabel('Repository URL').fill(env('REPO_URL'));
  await form.getByLabel('Username').fill(env('GIT_USER'));
  await form.getByLabel('Password or token').fill(env('GIT_PASSWORD'));
  await form.getByRole('button', { name: 'Connect' }).click();
  const row = admin.getByRole('row').filter({ hasText: env('REPO_URL') });
  await row.locator('.conn.ok', { hasText: 'Successful' }).waitFor();
  const secrets = JSON.parse(kubectl(['-n', env('CONTROL_NS'), 'get', 'secrets', '-l', 'argocd.argoproj.io/secret-type=repository', '-o', 'json'])).items;
  const secret = secrets.find((s) => Buffer.from(s.data.url, 'base64').toString() === env('REPO_URL'));
  assert.ok(secret, 'a repository Secret in the control namespace');
  assert.equal(Buffer.from(secret.data.username, 'base64').toString(), env('GIT_USER'));
  await shot(admin, 'repos');
  // a wrong password is refused with the server's reason, and nothing is stored
  await admin.getByRole('button', { name: 'Connect repository' }).click();
  await form.getByLabel('Repository URL').fill(env('REPO_URL').replace('.git', '-other.git'));
  await form.getByLabel('Username').fill(env('GIT_USER'));
  await form.getByLabel('Password or token').fill('wrong');
  await form.getByRole('button', { name: 'Connect' }).click();
  await form.getByRole('alert').waitFor();
  await admin.goto(`${BASE}/settings/clusters`);
  await admin.getByRole('cell', { name: 'https://kubernetes.default.svc' }).waitFor();
});

test('a readonly SSO user sees Sync disabled, with the reason', async () => {
  const page = await newPage(browser);
  await loginSso(page, env('SSO_READONLY'), appPath);
  assert.equal(new URL(page.url()).pathname, appPath, 'back where the login started');
  const sync = page.locator('#sync-button');
  await sync.waitFor();
  await eventually('the permission answer', async () => (await sync.getAttribute('title')) !== 'Checking permission…' && (await sync.isDisabled()));
  assert.match((await sync.getAttribute('title')) ?? '', /Not permitted/);
  await page.getByTestId('sync-denied').waitFor();
  await shot(page, 'readonly-app');
  // the server agrees: the API refuses the sync
  const status = await page.evaluate(async (name) => (await fetch(`/api/v1/applications/${name}/sync`, { method: 'POST', body: '{}' })).status, APP);
  assert.equal(status, 403);
  // who am I
  await page.goto(`${BASE}/user-info`);
  await page.getByTestId('username').waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login/);
  await page.context().close();
});

test('an SSO admin may sync', async () => {
  const page = await newPage(browser);
  await loginSso(page, env('SSO_ADMIN'), appPath);
  const sync = page.locator('#sync-button');
  await eventually('Sync enabled', async () => !(await sync.isDisabled()));
  await page.context().close();
});

test('keyboard and a phone-sized screen', async () => {
  // Tab from the top reaches the skip link, then the navigation; Enter on an app link opens it
  await admin.goto(`${BASE}/applications`);
  await admin.locator('.tile').first().waitFor();
  await admin.keyboard.press('Tab');
  assert.equal(await admin.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  const link = admin.getByRole('link', { name: APP, exact: true });
  await link.focus();
  await admin.keyboard.press('Enter');
  await admin.waitForURL((u) => u.pathname === appPath);
  const phone = await newPage(browser, { width: 390, height: 844 });
  await phone.context().addCookies(await admin.context().cookies());
  for (const [path, name] of [
    ['/applications', 'phone-list'],
    [appPath, 'phone-app'],
  ]) {
    await phone.goto(BASE + path);
    await phone.locator(path === appPath ? '.tree-node' : '.tile').first().waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} fits a 390 px screen (overflow ${overflow}px)`);
    await shot(phone, name);
  }
  assert.deepEqual(admin.errors, [], 'no script errors in the page');
  await phone.context().close();
});
