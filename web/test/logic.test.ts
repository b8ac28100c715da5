import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterParams, query } from '../src/api';
import { ago, shortRevision } from '../src/components/common';
import { windowReason } from '../src/pages/AppDetail';
import { safeReturnUrl } from '../src/pages/Login';
import { parseDuration } from '../src/pages/Settings';

test('query strings: repeated keys, empty values left out, encoded', () => {
  assert.equal(query({}), '');
  assert.equal(query({ a: 'x y', b: ['1', '2'], c: '', d: undefined, e: false, f: 3 }), '?a=x%20y&b=1&b=2&f=3');
  assert.deepEqual(filterParams({ search: '  web ', projects: ['a'], syncStatus: ['OutOfSync'], selector: ' ' }), {
    search: 'web',
    projects: ['a'],
    cluster: undefined,
    namespace: undefined,
    syncStatus: ['OutOfSync'],
    healthStatus: undefined,
    selector: undefined,
  });
});

test('return URLs after login stay on this origin', () => {
  const cases: [string | null, string][] = [
    [null, '/applications'],
    ['/applications/argocd/web', '/applications/argocd/web'],
    ['//evil.example', '/applications'],
    ['/\\evil.example', '/applications'],
    ['https://evil.example/', '/applications'],
    ['/login?x', '/applications'],
  ];
  for (const [input, want] of cases) assert.equal(safeReturnUrl(input), want, String(input));
});

test('durations, revisions and ages', () => {
  assert.equal(parseDuration('90m'), 5400);
  assert.equal(parseDuration('3600'), 3600);
  assert.equal(parseDuration('7d'), 604800);
  assert.equal(parseDuration('1w'), null);
  assert.equal(shortRevision('0123456789abcdef0123456789abcdef01234567'), '0123456');
  assert.equal(shortRevision('v1.2.3'), 'v1.2.3');
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(ago('2026-01-01T11:59:30Z', now), '30s ago');
  assert.equal(ago('2026-01-01T11:00:00Z', now), '1h ago');
  assert.equal(ago('2025-12-30T12:00:00Z', now), '2d ago');
});

test('sync windows say why a sync is blocked', () => {
  assert.equal(
    windowReason([{ kind: 'deny', schedule: '0 22 * * *', duration: '2h' }]),
    'Syncs are blocked by the project\'s deny window "0 22 * * *" for 2h (manual syncs too)',
  );
  assert.equal(
    windowReason([
      { kind: 'allow', schedule: '0 8 * * *', duration: '1h' },
      { kind: 'deny', schedule: '* * * * *', duration: '1h', manualSync: true },
    ]),
    'Syncs are blocked by the project\'s deny window "* * * * *" for 1h',
  );
  assert.equal(windowReason([]), 'Syncs are blocked: no allow window of the project is active now');
});
