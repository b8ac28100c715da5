import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APP_KEY, layout, nodeKey } from '../src/tree';
import type { ResourceNode, ResourceStatus } from '../src/types';

const node = (kind: string, name: string, uid: string, parent?: ResourceNode, group = ''): ResourceNode => ({
  group,
  kind,
  name,
  namespace: 'ns',
  uid,
  parentRefs: parent ? [{ group: parent.group, kind: parent.kind, name: parent.name, namespace: 'ns', uid: parent.uid }] : [],
});

test('the tree: app, managed objects, their children to the right', () => {
  const deploy = node('Deployment', 'web', 'd', undefined, 'apps');
  const rs = node('ReplicaSet', 'web-1', 'r', deploy, 'apps');
  const pod1 = node('Pod', 'web-1-a', 'p1', rs);
  const pod2 = node('Pod', 'web-1-b', 'p2', rs);
  const svc = node('Service', 'web', 's');
  const resources: ResourceStatus[] = [
    { group: 'apps', kind: 'Deployment', name: 'web', namespace: 'ns', status: 'Synced' },
    { kind: 'Service', name: 'web', namespace: 'ns', status: 'OutOfSync' },
    { kind: 'ConfigMap', name: 'gone', namespace: 'ns', status: 'OutOfSync' },
  ];
  const l = layout([pod2, svc, rs, deploy, pod1], resources);
  const at = (n: { group?: string; kind: string; namespace?: string; name: string }) => {
    const i = l.items.find((x) => x.key === nodeKey(n))!;
    return [i.column, i.row];
  };
  assert.deepEqual(l.items[0].key, APP_KEY);
  // kinds in Argo CD's order: ConfigMap, Service, Deployment
  assert.deepEqual(at({ kind: 'ConfigMap', name: 'gone', namespace: 'ns' }), [1, 0]);
  assert.deepEqual(at(svc), [1, 1]);
  assert.deepEqual(at(deploy), [1, 2]);
  assert.deepEqual(at(rs), [2, 2]);
  assert.deepEqual(at(pod1), [3, 2]);
  assert.deepEqual(at(pod2), [3, 3]);
  assert.equal(l.columns, 4);
  assert.equal(l.rows, 4);
  // the managed object without a live node is drawn as missing, with its sync status
  const gone = l.items.find((i) => i.node.name === 'gone')!;
  assert.equal(gone.missing, true);
  assert.equal(gone.sync, 'OutOfSync');
  assert.deepEqual(
    l.edges.map((e) => `${e.from}>${e.to}`).sort(),
    [
      `${APP_KEY}>${nodeKey(deploy)}`,
      `${APP_KEY}>${nodeKey(svc)}`,
      `${APP_KEY}>/ConfigMap/ns/gone`,
      `${nodeKey(deploy)}>${nodeKey(rs)}`,
      `${nodeKey(rs)}>${nodeKey(pod1)}`,
      `${nodeKey(rs)}>${nodeKey(pod2)}`,
    ].sort(),
  );
});

test('a parent outside the tree makes a root; a self-reference does not loop', () => {
  const orphan = node('Pod', 'x', 'x', { kind: 'ReplicaSet', name: 'elsewhere', uid: 'zz' } as ResourceNode);
  const selfish: ResourceNode = { kind: 'ConfigMap', name: 'c', namespace: 'ns', uid: 'c', parentRefs: [{ kind: 'ConfigMap', name: 'c', namespace: 'ns', uid: 'c' }] };
  const l = layout([orphan, selfish], []);
  assert.equal(l.items.length, 3);
  assert.ok(l.items.filter((i) => i.key !== APP_KEY).every((i) => i.column === 1));
});
