// One Application: its state in words (conditions, the reason behind Progressing/Degraded,
// the last operation), the resource tree, and the panels for sync, diff, history/rollback,
// events and each resource's live/desired manifests.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type ResourceRef } from '../api';
import {
  ActionButton,
  Ago,
  ErrorBox,
  FormActions,
  HealthBadge,
  Link,
  OperationBadge,
  Panel,
  Spinner,
  SyncBadge,
  Table,
  shortRevision,
} from '../components/common';
import { DiffView } from '../components/DiffView';
import { ResourceTreeView } from '../components/ResourceTreeView';
import { useLoad, useStream } from '../hooks';
import { setParams } from '../router';
import { usePermission } from '../session';
import { APP_KEY, nodeKey } from '../tree';
import type { Application, ManagedResource, ResourceNode, ResourceTree, ResourceStatus, SyncWindow } from '../types';
import { parseState, toYaml } from '../yaml';

/** Why the sync windows block a sync now, in words. */
export function windowReason(active: SyncWindow[]): string {
  const deny = active.find((w) => w.kind === 'deny');
  if (deny) return `Syncs are blocked by the project's deny window "${deny.schedule}" for ${deny.duration}${deny.manualSync ? '' : ' (manual syncs too)'}`;
  return 'Syncs are blocked: no allow window of the project is active now';
}

type PanelName = 'sync' | 'diff' | 'history' | 'events' | 'resource' | 'delete';

function source(app: Application) {
  return app.spec.source ?? app.spec.sources?.[0];
}

/** Unhealthy resources with their messages: the "why" behind the app's colour. */
export function healthReasons(app: Application, tree: ResourceTree | null): { key: string; what: string; status: string; message: string }[] {
  const out = new Map<string, { key: string; what: string; status: string; message: string }>();
  const bad = (s?: string) => s === 'Progressing' || s === 'Degraded' || s === 'Missing' || s === 'Suspended' || s === 'Unknown';
  for (const r of app.status?.resources ?? []) {
    if (bad(r.health?.status)) {
      const key = nodeKey(r);
      out.set(key, { key, what: `${r.kind} ${r.name}`, status: r.health!.status!, message: r.health?.message ?? '' });
    }
  }
  for (const n of tree?.nodes ?? []) {
    const key = nodeKey(n);
    if (bad(n.health?.status) && (n.health?.message || !out.has(key))) {
      out.set(key, { key, what: `${n.kind} ${n.name}`, status: n.health!.status!, message: n.health?.message ?? out.get(key)?.message ?? '' });
    }
  }
  return [...out.values()];
}

function Conditions({ app }: { app: Application }) {
  const conds = app.status?.conditions ?? [];
  if (!conds.length) return null;
  return (
    <section class="conditions" aria-label="Conditions">
      {conds.map((c, i) => (
        <div key={i} class={`condition ${c.type.endsWith('Warning') ? 'warning' : 'error'}`} role={c.type.endsWith('Error') ? 'alert' : undefined}>
          <strong>{c.type}</strong> {c.message}
          {c.lastTransitionTime ? (
            <span class="muted">
              {' '}
              · <Ago time={c.lastTransitionTime} />
            </span>
          ) : null}
        </div>
      ))}
    </section>
  );
}

function StatusSummary({ app, tree, onSelect }: { app: Application; tree: ResourceTree | null; onSelect: (key: string) => void }) {
  const health = app.status?.health;
  const sync = app.status?.sync;
  const op = app.status?.operationState;
  const reasons = health?.status && health.status !== 'Healthy' ? healthReasons(app, tree) : [];
  const src = source(app);
  return (
    <section class="status-summary" aria-label="Status">
      <div class="status-box">
        <h2>App health</h2>
        <HealthBadge status={health?.status} />
        {health?.message ? <p class="status-message" data-testid="health-message">{health.message}</p> : null}
        {reasons.length ? (
          <div class="health-reasons" data-testid="health-reasons">
            <p class="muted">Why {health?.status}:</p>
            <ul>
              {reasons.slice(0, 6).map((r) => (
                <li key={r.key}>
                  <button type="button" class="btn-link" onClick={() => onSelect(r.key)}>
                    {r.what}
                  </button>{' '}
                  <span class={`muted health-${r.status.toLowerCase()}`}>{r.status}</span>
                  {r.message ? `: ${r.message}` : ''}
                </li>
              ))}
              {reasons.length > 6 ? <li class="muted">and {reasons.length - 6} more</li> : null}
            </ul>
          </div>
        ) : null}
      </div>
      <div class="status-box">
        <h2>Sync status</h2>
        <SyncBadge status={sync?.status} />
        <p class="muted">
          to {src?.targetRevision || 'HEAD'}
          {sync?.revision ? <> ({shortRevision(sync.revision)})</> : null}
        </p>
        <p class="muted">
          {app.spec.syncPolicy?.automated ? `Auto sync${app.spec.syncPolicy.automated.prune ? ', prune' : ''}${app.spec.syncPolicy.automated.selfHeal ? ', self heal' : ''}` : 'Manual sync'}
        </p>
      </div>
      <div class="status-box">
        <h2>Last sync</h2>
        {op ? (
          <>
            <OperationBadge phase={op.phase} />
            <p class="muted">
              {op.phase === 'Running' ? 'started ' : ''}
              <Ago time={op.finishedAt ?? op.startedAt} />
              {op.syncResult?.revision ? <> to {shortRevision(op.syncResult.revision)}</> : null}
              {op.operation?.initiatedBy?.username ? <> by {op.operation.initiatedBy.username}</> : op.operation?.initiatedBy?.automated ? ' (automated)' : ''}
            </p>
            {op.message ? <p class="status-message" data-testid="operation-message">{op.message}</p> : null}
          </>
        ) : (
          <p class="muted">Never synced</p>
        )}
      </div>
    </section>
  );
}

function SyncPanel({ app, onClose }: { app: Application; onClose: () => void }) {
  const resources = (app.status?.resources ?? []).filter((r) => !r.hook);
  const src = source(app);
  const [revision, setRevision] = useState(src?.targetRevision || 'HEAD');
  const [prune, setPrune] = useState(false);
  const [dryRun, setDryRun] = useState(false);
  const [outOfSyncOnly, setOutOfSyncOnly] = useState(false);
  const [force, setForce] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(() => new Set(resources.map(nodeKey)));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const all = selected.size === resources.length;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const items = [] as string[];
      if (outOfSyncOnly) items.push('ApplyOutOfSyncOnly=true');
      await api.sync(app.metadata.name, {
        revision,
        prune,
        dryRun,
        resources: all
          ? undefined
          : resources.filter((r) => selected.has(nodeKey(r))).map((r) => ({ group: r.group ?? '', kind: r.kind, name: r.name, namespace: r.namespace })),
        syncOptions: items.length ? { items } : undefined,
        strategy: force ? { apply: { force: true } } : undefined,
      });
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Panel title={`Sync ${app.metadata.name}`} onClose={onClose}>
      <form onSubmit={submit} class="sync-form">
        <ErrorBox error={error} title="Sync failed" />
        <label>
          Revision
          <input name="revision" value={revision} onInput={(e) => setRevision(e.currentTarget.value)} />
        </label>
        <fieldset>
          <legend>Options</legend>
          <label class="check">
            <input type="checkbox" name="prune" checked={prune} onChange={(e) => setPrune(e.currentTarget.checked)} /> Prune
          </label>
          <label class="check">
            <input type="checkbox" name="dryRun" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run
          </label>
          <label class="check">
            <input type="checkbox" name="applyOutOfSyncOnly" checked={outOfSyncOnly} onChange={(e) => setOutOfSyncOnly(e.currentTarget.checked)} /> Apply out of
            sync only
          </label>
          <label class="check">
            <input type="checkbox" name="force" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} /> Force
          </label>
        </fieldset>
        <fieldset class="sync-resources">
          <legend>
            Resources ({selected.size} of {resources.length})
          </legend>
          <div class="select-links">
            <button type="button" class="btn-link" onClick={() => setSelected(new Set(resources.map(nodeKey)))}>
              all
            </button>
            <button type="button" class="btn-link" onClick={() => setSelected(new Set(resources.filter((r) => r.status === 'OutOfSync').map(nodeKey)))}>
              out of sync
            </button>
            <button type="button" class="btn-link" onClick={() => setSelected(new Set())}>
              none
            </button>
          </div>
          <ul class="plain">
            {resources.map((r) => {
              const k = nodeKey(r);
              return (
                <li key={k}>
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={selected.has(k)}
                      onChange={(e) => {
                        const s = new Set(selected);
                        if (e.currentTarget.checked) s.add(k);
                        else s.delete(k);
                        setSelected(s);
                      }}
                    />
                    <span class="kind">{r.kind}</span> {r.namespace ? `${r.namespace}/` : ''}
                    {r.name} <SyncBadge status={r.status} compact />
                  </label>
                </li>
              );
            })}
          </ul>
        </fieldset>
        <FormActions submit={busy ? 'Starting…' : 'Synchronize'} disabled={busy || selected.size === 0} onCancel={onClose} autofocus />
      </form>
    </Panel>
  );
}

function HistoryPanel({ app, onClose, canSync }: { app: Application; onClose: () => void; canSync: ReturnType<typeof usePermission> }) {
  const history = [...(app.status?.history ?? [])].reverse();
  const [confirm, setConfirm] = useState<number | null>(null);
  const [prune, setPrune] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const auto = app.spec.syncPolicy?.automated ? 'Rollback cannot be started while auto-sync is enabled (Argo CD refuses it too): disable auto-sync first' : undefined;
  // the entry in effect: the latest one (a rollback adds an entry too)
  const current = app.status?.history?.at(-1)?.id;
  const rollback = async (id: number) => {
    setBusy(true);
    setError(null);
    try {
      await api.rollback(app.metadata.name, id, prune);
      onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Panel title={`History of ${app.metadata.name}`} onClose={onClose} wide>
      <ErrorBox error={error} title="Rollback failed" />
      {!history.length ? <p class="muted">No syncs yet.</p> : null}
      <ol class="history" reversed>
        {history.map((h) => {
          const src = h.source ?? h.sources?.[0];
          const rev = h.revision ?? h.revisions?.[0];
          return (
            <li key={h.id} class="history-entry" data-history-id={h.id}>
              <div class="history-main">
                <div>
                  <strong>#{h.id}</strong> <code title={rev}>{shortRevision(rev)}</code>
                  {h.id === current ? <span class="label">deployed</span> : null}
                </div>
                <div class="muted">
                  Deployed <Ago time={h.deployedAt} />
                  {h.initiatedBy?.username ? ` by ${h.initiatedBy.username}` : h.initiatedBy?.automated ? ' (automated)' : ''}
                </div>
                <div class="muted ellipsis">
                  {src?.path || src?.chart} @ {src?.targetRevision || 'HEAD'}
                </div>
              </div>
              <div class="history-actions">
                {confirm === h.id ? (
                  <div class="confirm" role="group" aria-label={`Confirm rollback to #${h.id}`}>
                    <label class="check">
                      <input type="checkbox" checked={prune} onChange={(e) => setPrune(e.currentTarget.checked)} /> Prune
                    </label>
                    <button type="button" class="btn btn-danger" disabled={busy} onClick={() => rollback(h.id)}>
                      Confirm rollback
                    </button>
                    <button type="button" class="btn" onClick={() => setConfirm(null)}>
                      Cancel
                    </button>
                  </div>
                ) : (
                  <ActionButton
                    id={`rollback-${h.id}`}
                    permission={canSync}
                    disabledReason={auto}
                    onClick={() => setConfirm(h.id)}
                    label={`Rollback to #${h.id}`}
                  >
                    Rollback
                  </ActionButton>
                )}
              </div>
            </li>
          );
        })}
      </ol>
    </Panel>
  );
}

function EventsTable({ app, resource }: { app: string; resource?: ResourceRef }) {
  const events = useLoad(() => api.events(app, resource), [app, resource && nodeKey(resource)]);
  if (events.error) return <ErrorBox error={events.error} title="Could not read events" />;
  if (!events.data) return <Spinner />;
  const items = [...(events.data.items ?? [])].sort((a, b) =>
    (b.lastTimestamp ?? b.eventTime ?? '').localeCompare(a.lastTimestamp ?? a.eventTime ?? ''),
  );
  if (!items.length) return <p class="muted">No events.</p>;
  return (
    <Table class="events-table" columns={['Reason', 'Message', 'Count', 'Last seen']}>
          {items.map((e) => (
            <tr key={e.metadata.uid ?? e.metadata.name} class={e.type === 'Warning' ? 'warning' : ''}>
              <td>{e.reason}</td>
              <td>{e.message}</td>
              <td>{e.count ?? 1}</td>
              <td>
                <Ago time={e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp} />
              </td>
            </tr>
          ))}
        </Table>
  );
}

function yamlOf(text: string | null | undefined): string {
  const v = parseState(text);
  return v === null ? '' : typeof v === 'string' ? v : toYaml(v);
}

/** Live and desired YAML of a managed resource (desired: the server's predicted live state when it has one). */
function diffPair(m: ManagedResource): { live: string; desired: string } {
  return {
    live: yamlOf(m.normalizedLiveState ?? m.liveState),
    desired: yamlOf(m.predictedLiveState && m.predictedLiveState !== 'null' ? m.predictedLiveState : m.targetState),
  };
}

function DiffModeToggle({ mode }: { mode: 'inline' | 'split' }) {
  return (
    <div class="segmented" role="group" aria-label="Diff layout">
      <button type="button" class="btn" aria-pressed={mode === 'split'} onClick={() => setParams({ diff: undefined })}>
        Side by side
      </button>
      <button type="button" class="btn" aria-pressed={mode === 'inline'} onClick={() => setParams({ diff: 'inline' })}>
        Inline
      </button>
    </div>
  );
}

function AppDiffPanel({ app, managed, mode, onClose }: { app: Application; managed: ManagedResource[] | undefined; mode: 'inline' | 'split'; onClose: () => void }) {
  const changed = (managed ?? []).filter((m) => {
    const p = diffPair(m);
    return m.modified || p.live !== p.desired;
  });
  return (
    <Panel title={`Diff of ${app.metadata.name}`} onClose={onClose} wide>
      <div class="panel-toolbar">
        <DiffModeToggle mode={mode} />
        <span class="muted">Live (−) against desired (+); secret values are masked.</span>
      </div>
      {!managed ? <Spinner label="Comparing…" /> : null}
      {managed && !changed.length ? <p class="muted">Live state matches Git: nothing to sync.</p> : null}
      {changed.map((m) => {
        const p = diffPair(m);
        return <DiffView key={nodeKey(m)} title={`${m.kind} ${m.namespace ? `${m.namespace}/` : ''}${m.name}`} live={p.live} desired={p.desired} mode={mode} />;
      })}
    </Panel>
  );
}

function ResourcePanel({
  app,
  node,
  status,
  managed,
  tab,
  mode,
  onClose,
}: {
  app: Application;
  node: ResourceNode;
  status: ResourceStatus | undefined;
  managed: ManagedResource | undefined;
  tab: string;
  mode: 'inline' | 'split';
  onClose: () => void;
}) {
  const ref: ResourceRef = { group: node.group, version: node.version, kind: node.kind, namespace: node.namespace, name: node.name, uid: node.uid };
  const isManaged = !!status;
  const live = useLoad(
    () => (tab === 'live' ? api.liveResource(app.metadata.name, ref).then((r) => yamlOf(r.manifest)) : Promise.resolve(undefined)),
    [tab, nodeKey(node), node.resourceVersion],
  );
  const tabs: [string, string][] = [
    ['summary', 'Summary'],
    ['live', 'Live manifest'],
    ...(isManaged ? ([['desired', 'Desired manifest'], ['diff', 'Diff']] as [string, string][]) : []),
    ['events', 'Events'],
  ];
  const pair = managed ? diffPair(managed) : undefined;
  return (
    <Panel title={`${node.kind} ${node.name}`} onClose={onClose} wide>
      <div role="tablist" class="tabs" aria-label="Resource views">
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`tab-${id}`}
            aria-selected={tab === id}
            aria-controls="resource-tabpanel"
            class={`tab ${tab === id ? 'active' : ''}`}
            onClick={() => setParams({ tab: id === 'summary' ? undefined : id })}
          >
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="resource-tabpanel" aria-labelledby={`tab-${tab}`} class="tab-body">
        {tab === 'summary' ? (
          <dl class="props">
            <dt>Kind</dt>
            <dd>
              {node.group ? `${node.group}/` : ''}
              {node.version ? `${node.version} ` : ''}
              {node.kind}
            </dd>
            <dt>Name</dt>
            <dd>
              {node.name}
              {node.kind === 'Application' && node.group === 'argoproj.io' ? (
                <>
                  {' '}
                  <Link href={`/applications/${encodeURIComponent(node.namespace ?? '')}/${encodeURIComponent(node.name)}`}>Open application</Link>
                </>
              ) : null}
            </dd>
            {node.namespace ? (
              <>
                <dt>Namespace</dt>
                <dd>{node.namespace}</dd>
              </>
            ) : null}
            {status ? (
              <>
                <dt>Sync</dt>
                <dd>
                  <SyncBadge status={status.status} />
                  {status.requiresPruning ? <span class="muted"> (requires pruning)</span> : null}
                </dd>
              </>
            ) : null}
            <dt>Health</dt>
            <dd>
              <HealthBadge status={node.health?.status ?? status?.health?.status} />
              {node.health?.message || status?.health?.message ? <p class="status-message">{node.health?.message || status?.health?.message}</p> : null}
            </dd>
            {node.images?.length ? (
              <>
                <dt>Images</dt>
                <dd>
                  {node.images.map((i) => (
                    <code key={i}>{i} </code>
                  ))}
                </dd>
              </>
            ) : null}
            {(node.info ?? []).map((i) => (
              <>
                <dt>{i.name}</dt>
                <dd>{i.value}</dd>
              </>
            ))}
            {node.createdAt ? (
              <>
                <dt>Created</dt>
                <dd>
                  <Ago time={node.createdAt} />
                </dd>
              </>
            ) : null}
          </dl>
        ) : tab === 'live' ? (
          live.error ? (
            <ErrorBox error={live.error} title="Could not read the live object" />
          ) : live.data === undefined ? (
            <Spinner />
          ) : live.data ? (
            <pre class="manifest" aria-label="Live manifest">{live.data}</pre>
          ) : (
            <p class="muted">The object does not exist in the cluster.</p>
          )
        ) : tab === 'desired' ? (
          pair ? (
            pair.desired ? <pre class="manifest" aria-label="Desired manifest">{yamlOf(managed!.targetState)}</pre> : <p class="muted">Git no longer has this object: it will be pruned.</p>
          ) : (
            <Spinner />
          )
        ) : tab === 'diff' ? (
          pair ? (
            <>
              <div class="panel-toolbar">
                <DiffModeToggle mode={mode} />
              </div>
              <DiffView live={pair.live} desired={pair.desired} mode={mode} title={`${node.kind} ${node.name}`} />
            </>
          ) : (
            <Spinner />
          )
        ) : (
          <EventsTable app={app.metadata.name} resource={ref} />
        )}
      </div>
    </Panel>
  );
}

function DeletePanel({ app, onClose }: { app: Application; onClose: () => void }) {
  const [typed, setTyped] = useState('');
  const [cascade, setCascade] = useState(true);
  const [error, setError] = useState<unknown>(null);
  return (
    <Panel title={`Delete ${app.metadata.name}`} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await api.deleteApp(app.metadata.name, cascade);
            onClose();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <ErrorBox error={error} title="Delete failed" />
        <p>
          Deleting the Application {cascade ? 'also deletes every resource it manages' : 'leaves its resources in the cluster'}. Type the application's name to
          confirm.
        </p>
        <label>
          Name
          <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)} data-autofocus />
        </label>
        <label class="check">
          <input type="checkbox" checked={cascade} onChange={(e) => setCascade(e.currentTarget.checked)} /> Delete the resources too (cascade)
        </label>
        <FormActions submit="Delete" danger disabled={typed !== app.metadata.name} onCancel={onClose} />
      </form>
    </Panel>
  );
}

export function AppDetailPage({ name, params }: { name: string; namespace?: string; params: URLSearchParams }) {
  const [app, setApp] = useState<Application | null>(null);
  const [tree, setTree] = useState<ResourceTree | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [refreshing, setRefreshing] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const panel = params.get('panel') as PanelName | null;
  const nodeParam = params.get('node');
  const tab = params.get('tab') ?? 'summary';
  const mode = params.get('diff') === 'inline' ? 'inline' : 'split';
  const view = params.get('view') === 'list' ? 'list' : 'tree';

  useEffect(() => {
    let live = true;
    api.getApp(name).then((a) => live && setApp(a)).catch((e) => live && setError(e));
    api.resourceTree(name).then((t) => live && setTree(t)).catch(() => {});
    return () => {
      live = false;
    };
  }, [name]);

  useStream<{ type: string; application: Application }>(`/api/v1/stream/applications?name=${encodeURIComponent(name)}`, (ev) => {
    if (ev.type === 'DELETED') setError(new Error(`The application ${name} was deleted.`));
    else setApp(ev.application);
  });
  useStream<ResourceTree>(`/api/v1/stream/applications/${encodeURIComponent(name)}/resource-tree`, (t) => setTree(t));

  const object = app ? `${app.spec.project}/${name}` : null;
  const canSync = usePermission('applications', 'sync', object);
  // the project's sync windows: a deny window (without manual syncs) blocks the Sync button
  const windows = useLoad(() => api.syncWindows(name), [name, app?.spec.project]);
  const canDelete = usePermission('applications', 'delete', object);

  // the comparison behind the diffs: reloaded when the controller compares again
  const needManaged = panel === 'diff' || panel === 'resource';
  const managed = useLoad(
    () => (needManaged ? api.managedResources(name).then((r) => r.items ?? []) : Promise.resolve(undefined)),
    [needManaged, name, app?.status?.reconciledAt, app?.status?.sync?.status],
  );

  const statusByKey = useMemo(() => new Map((app?.status?.resources ?? []).map((r) => [nodeKey(r), r])), [app]);

  if (error && !app) return <main class="content"><ErrorBox error={error} title={`Could not load ${name}`} /></main>;
  if (!app) return <Spinner label={`Loading ${name}…`} />;

  const close = () => setParams({ panel: undefined, node: undefined, tab: undefined }, false);
  const open = (p: PanelName, extra: Record<string, string> = {}) => setParams({ panel: p, ...extra }, false);
  const selectNode = (key: string) => {
    if (key === APP_KEY) open('events', { node: '' });
    else open('resource', { node: key, tab: '' });
  };
  const refresh = async (kind: 'normal' | 'hard') => {
    setRefreshing(kind);
    setActionError(null);
    try {
      setApp(await api.getApp(name, kind));
    } catch (e) {
      setActionError(e);
    } finally {
      setRefreshing(null);
    }
  };
  const running = app.status?.operationState?.phase === 'Running' || app.status?.operationState?.phase === 'Terminating';
  const selectedNode =
    panel === 'resource' && nodeParam
      ? (tree?.nodes ?? []).find((n) => nodeKey(n) === nodeParam) ??
        (() => {
          const r = statusByKey.get(nodeParam);
          return r ? ({ group: r.group, version: r.version, kind: r.kind, namespace: r.namespace, name: r.name, health: r.health } as ResourceNode) : undefined;
        })()
      : undefined;
  const src = source(app);

  return (
    <main class="content app-page">
      <nav class="breadcrumbs" aria-label="Breadcrumb">
        <Link href="/applications">Applications</Link> <span aria-hidden="true">/</span> <span aria-current="page">{name}</span>
      </nav>
      <header class="page-header">
        <h1>
          {name} <HealthBadge status={app.status?.health?.status} /> <SyncBadge status={app.status?.sync?.status} />
          {running ? <OperationBadge phase={app.status?.operationState?.phase} /> : null}
        </h1>
        <div class="toolbar" role="toolbar" aria-label="Application actions">
          <ActionButton
            id="sync-button"
            primary
            permission={canSync}
            busy={running}
            disabledReason={windows.data?.canSync === false ? windowReason(windows.data.activeWindows ?? []) : undefined}
            onClick={() => open('sync')}
          >
            Sync
          </ActionButton>
          <ActionButton id="refresh-button" busy={!!refreshing} onClick={() => refresh('normal')}>
            {refreshing === 'normal' ? 'Refreshing…' : 'Refresh'}
          </ActionButton>
          <ActionButton id="hard-refresh-button" busy={!!refreshing} onClick={() => refresh('hard')} label="Hard refresh (re-render the manifests, bypassing the cache)">
            {refreshing === 'hard' ? 'Refreshing…' : 'Hard refresh'}
          </ActionButton>
          <ActionButton id="diff-button" onClick={() => open('diff')}>
            App diff
          </ActionButton>
          <ActionButton id="history-button" onClick={() => open('history')}>
            History and rollback
          </ActionButton>
          <ActionButton id="events-button" onClick={() => open('events')}>
            Events
          </ActionButton>
          {running ? (
            <ActionButton id="terminate-button" danger permission={canSync} onClick={() => api.terminate(name).catch(setActionError)}>
              Terminate
            </ActionButton>
          ) : null}
          <ActionButton id="delete-button" danger permission={canDelete} onClick={() => open('delete')}>
            Delete
          </ActionButton>
        </div>
        {canSync.allowed === false ? (
          <p class="permission-note" data-testid="sync-denied">
            {canSync.reason}
          </p>
        ) : windows.data?.canSync === false ? (
          <p class="permission-note" data-testid="sync-window">
            {windowReason(windows.data.activeWindows ?? [])}
          </p>
        ) : null}
      </header>
      <ErrorBox error={actionError} title="Action failed" />
      <Conditions app={app} />
      <StatusSummary app={app} tree={tree} onSelect={selectNode} />
      <dl class="app-source">
        <div>
          <dt>Project</dt>
          <dd>
            <Link href={`/settings/projects/${encodeURIComponent(app.spec.project)}`}>{app.spec.project}</Link>
          </dd>
        </div>
        <div>
          <dt>Repository</dt>
          <dd class="ellipsis" title={src?.repoURL}>
            {src?.repoURL}
          </dd>
        </div>
        <div>
          <dt>Path</dt>
          <dd>{src?.path || src?.chart}</dd>
        </div>
        <div>
          <dt>Destination</dt>
          <dd>
            {app.spec.destination.name || app.spec.destination.server} / {app.spec.destination.namespace}
          </dd>
        </div>
      </dl>
      <section class="tree-section" aria-label="Resources">
        <div class="section-head">
          <h2>Resources</h2>
          <div class="segmented" role="group" aria-label="Resources view">
            <button type="button" class="btn" aria-pressed={view === 'tree'} onClick={() => setParams({ view: undefined })}>
              Tree
            </button>
            <button type="button" class="btn" aria-pressed={view === 'list'} onClick={() => setParams({ view: 'list' })}>
              List
            </button>
          </div>
        </div>
        <ResourceTreeView app={app} tree={tree} view={view} selected={nodeParam} onSelect={selectNode} />
      </section>

      {panel === 'sync' ? <SyncPanel app={app} onClose={close} /> : null}
      {panel === 'history' ? <HistoryPanel app={app} onClose={close} canSync={canSync} /> : null}
      {panel === 'diff' ? <AppDiffPanel app={app} managed={managed.data} mode={mode} onClose={close} /> : null}
      {panel === 'delete' ? <DeletePanel app={app} onClose={close} /> : null}
      {panel === 'events' ? (
        <Panel title={`Events of ${name}`} onClose={close} wide>
          <EventsTable app={name} />
        </Panel>
      ) : null}
      {panel === 'resource' && selectedNode ? (
        <ResourcePanel
          app={app}
          node={selectedNode}
          status={statusByKey.get(nodeKey(selectedNode))}
          managed={managed.data?.find((m) => nodeKey(m) === nodeKey(selectedNode))}
          tab={tab}
          mode={mode}
          onClose={close}
        />
      ) : null}
    </main>
  );
}
