// The resource tree's layout: the Application on the left, its managed objects in the next
// column, each object's children (ReplicaSets, Pods, ...) to the right of it. Pure: nodes in,
// positions and edges out.

import type { ResourceNode, ResourceStatus } from './types';

export interface TreeItem {
  key: string;
  node: ResourceNode;
  /** Sync status of a managed object (children have none). */
  sync?: string;
  /** Managed objects that should exist but do not (no live node) are drawn too. */
  missing?: boolean;
  column: number;
  row: number;
}

export interface Edge {
  from: string;
  to: string;
}

export interface Layout {
  items: TreeItem[];
  edges: Edge[];
  columns: number;
  rows: number;
}

export const APP_KEY = '__app__';

export function nodeKey(n: { group?: string; kind: string; namespace?: string; name: string }): string {
  return `${n.group ?? ''}/${n.kind}/${n.namespace ?? ''}/${n.name}`;
}

// Argo CD draws objects in this order within a column (roughly: what a reader looks for first)
const KIND_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'PersistentVolumeClaim',
  'Service',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
  'Ingress',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'NetworkPolicy',
  'Application',
];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

function compare(a: ResourceNode, b: ResourceNode): number {
  return kindRank(a.kind) - kindRank(b.kind) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
}

/**
 * Lays out the tree. `resources` (the app's status) names the managed objects and their sync
 * status; `nodes` are the live objects with parent references.
 */
export function layout(nodes: ResourceNode[], resources: ResourceStatus[]): Layout {
  const byKey = new Map<string, ResourceNode>();
  const byUid = new Map<string, string>();
  for (const n of nodes) {
    byKey.set(nodeKey(n), n);
    if (n.uid) byUid.set(n.uid, nodeKey(n));
  }
  const sync = new Map<string, string>();
  const managed = new Set<string>();
  for (const r of resources) {
    const k = nodeKey(r);
    managed.add(k);
    if (r.status) sync.set(k, r.status);
  }
  // managed objects without a live node are drawn as missing
  const missing: ResourceNode[] = [];
  for (const r of resources) {
    if (!byKey.has(nodeKey(r)) && !r.hook) {
      missing.push({ group: r.group, version: r.version, kind: r.kind, namespace: r.namespace, name: r.name, health: r.health });
    }
  }
  const children = new Map<string, ResourceNode[]>();
  const roots: ResourceNode[] = [];
  for (const n of nodes) {
    const parents = (n.parentRefs ?? [])
      .map((p) => (p.uid && byUid.get(p.uid)) || nodeKey(p))
      .filter((k) => byKey.has(k) && k !== nodeKey(n));
    if (parents.length === 0) roots.push(n);
    else {
      const first = parents[0];
      if (!children.has(first)) children.set(first, []);
      children.get(first)!.push(n);
    }
  }
  roots.push(...missing);
  roots.sort(compare);

  const items: TreeItem[] = [];
  const edges: Edge[] = [];
  const nextRow: number[] = [];
  const placed = new Set<string>();
  const place = (n: ResourceNode, column: number, parentRow: number, parentKey: string) => {
    const k = nodeKey(n);
    if (placed.has(k)) return;
    placed.add(k);
    const row = Math.max(nextRow[column] ?? 0, parentRow);
    nextRow[column] = row + 1;
    items.push({ key: k, node: n, sync: sync.get(k), missing: !byKey.has(k), column, row });
    edges.push({ from: parentKey, to: k });
    for (const c of (children.get(k) ?? []).sort(compare)) place(c, column + 1, row, k);
  };
  items.push({ key: APP_KEY, node: { kind: 'Application', name: '' }, column: 0, row: 0 });
  nextRow[0] = 1;
  for (const r of roots) place(r, 1, 0, APP_KEY);
  const rows = Math.max(1, ...nextRow.map((x) => x ?? 0));
  return { items, edges, columns: nextRow.length, rows };
}
