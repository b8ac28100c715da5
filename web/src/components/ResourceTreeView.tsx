// The resource tree as a graph (boxes and curved edges, scrolls sideways on small screens)
// or as a list. Every node is a button: Tab reaches it, Enter opens it.

import { useMemo } from 'preact/hooks';
import { APP_KEY, layout } from '../tree';
import type { Application, ResourceTree } from '../types';
import { HealthBadge, SyncBadge, Table } from './common';

const W = 210;
const H = 56;
const COL_GAP = 50;
const ROW_GAP = 14;

const KIND_ABBR: Record<string, string> = {
  Deployment: 'deploy',
  ReplicaSet: 'rs',
  Pod: 'pod',
  Service: 'svc',
  ConfigMap: 'cm',
  Secret: 'secret',
  ServiceAccount: 'sa',
  Ingress: 'ing',
  StatefulSet: 'sts',
  DaemonSet: 'ds',
  Job: 'job',
  CronJob: 'cronjob',
  Namespace: 'ns',
  PersistentVolumeClaim: 'pvc',
  HorizontalPodAutoscaler: 'hpa',
  Endpoints: 'ep',
  Application: 'app',
  AppProject: 'proj',
  NetworkPolicy: 'netpol',
  PodDisruptionBudget: 'pdb',
  Role: 'role',
  RoleBinding: 'rb',
  ClusterRole: 'crole',
  ClusterRoleBinding: 'crb',
};

export function ResourceTreeView({
  app,
  tree,
  view,
  selected,
  onSelect,
}: {
  app: Application;
  tree: ResourceTree | null;
  view: 'tree' | 'list';
  selected: string | null;
  onSelect: (key: string) => void;
}) {
  const l = useMemo(() => layout(tree?.nodes ?? [], app.status?.resources ?? []), [tree, app.status?.resources]);
  if (l.items.length <= 1) {
    return <p class="muted">{tree ? 'No resources yet.' : 'Loading the resource tree…'}</p>;
  }
  if (view === 'list') {
    return (
      <Table class="resources-table" columns={['Kind', 'Name', 'Namespace', 'Sync', 'Health']}>
            {l.items
              .filter((i) => i.key !== APP_KEY)
              .map((i) => (
                <tr key={i.key} class={selected === i.key ? 'selected' : ''}>
                  <td style={{ paddingLeft: `${(i.column - 1) * 16 + 8}px` }}>{i.node.kind}</td>
                  <td>
                    <button type="button" class="btn-link" onClick={() => onSelect(i.key)}>
                      {i.node.name}
                    </button>
                  </td>
                  <td>{i.node.namespace}</td>
                  <td>{i.sync ? <SyncBadge status={i.sync} /> : null}</td>
                  <td>{i.node.health?.status ? <HealthBadge status={i.node.health.status} message={i.node.health.message} /> : null}</td>
                </tr>
              ))}
          </Table>
    );
  }
  const pos = new Map(l.items.map((i) => [i.key, { x: i.column * (W + COL_GAP), y: i.row * (H + ROW_GAP) }]));
  const width = l.columns * (W + COL_GAP) - COL_GAP;
  const height = l.rows * (H + ROW_GAP) - ROW_GAP;
  return (
    <div class="tree-scroll" role="group" aria-label={`Resource tree of ${app.metadata.name}`}>
      <div class="tree" style={{ width: `${width}px`, height: `${height}px` }}>
        <svg class="tree-edges" width={width} height={height} aria-hidden="true">
          {l.edges.map((e) => {
            const a = pos.get(e.from)!;
            const b = pos.get(e.to)!;
            const x1 = a.x + W;
            const y1 = a.y + H / 2;
            const x2 = b.x;
            const y2 = b.y + H / 2;
            const mx = (x1 + x2) / 2;
            return <path key={`${e.from}>${e.to}`} d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`} />;
          })}
        </svg>
        {l.items.map((i) => {
          const p = pos.get(i.key)!;
          const isApp = i.key === APP_KEY;
          const health = isApp ? app.status?.health?.status : i.node.health?.status;
          const kind = isApp ? 'Application' : i.node.kind;
          const name = isApp ? app.metadata.name : i.node.name;
          return (
            <button
              type="button"
              key={i.key}
              class={`tree-node ${isApp ? 'tree-app' : ''} ${selected === i.key ? 'selected' : ''} ${i.missing ? 'missing' : ''}`}
              style={{ left: `${p.x}px`, top: `${p.y}px`, width: `${W}px`, height: `${H}px` }}
              data-node={i.key}
              data-kind={kind}
              aria-label={`${kind} ${name}${health ? `, ${health}` : ''}${i.sync ? `, ${i.sync}` : ''}`}
              onClick={() => onSelect(i.key)}
            >
              <span class="kind-icon" aria-hidden="true">
                {KIND_ABBR[kind] ?? kind.slice(0, 6).toLowerCase()}
              </span>
              <span class="node-text">
                <span class="node-name" title={name}>
                  {name}
                </span>
                <span class="node-kind">{kind}</span>
              </span>
              <span class="node-status">
                {health ? <HealthBadge status={health} compact message={isApp ? app.status?.health?.message : i.node.health?.message} /> : null}
                {isApp ? <SyncBadge status={app.status?.sync?.status} compact /> : i.sync ? <SyncBadge status={i.sync} compact /> : null}
              </span>
            </button>
          );
        })}
      </div>
    </div>
  );
}
