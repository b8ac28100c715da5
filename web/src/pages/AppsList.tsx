// The applications list: server-side filters and pages (the server never sends more than a
// page), tiles or a table, kept current by the watch stream for the same filters.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { type AppFilter, api, filterParams, query, readStream } from '../api';
import { Ago, ErrorBox, HealthBadge, Link, OperationBadge, SyncBadge, Table, shortRevision } from '../components/common';
import { setParams } from '../router';
import type { Application, AppProject, Cluster } from '../types';

const SYNC = ['Synced', 'OutOfSync', 'Unknown'];
const HEALTH = ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'];
const PAGE_SIZES = [50, 100, 200, 500];

export function appUrl(app: Application): string {
  return `/applications/${encodeURIComponent(app.metadata.namespace ?? 'argocd')}/${encodeURIComponent(app.metadata.name)}`;
}

export function filterFromParams(p: URLSearchParams): AppFilter {
  return {
    search: p.get('search') ?? undefined,
    projects: p.getAll('proj'),
    clusters: p.getAll('cluster'),
    namespaces: p.getAll('namespace'),
    syncStatus: p.getAll('sync'),
    healthStatus: p.getAll('health'),
    selector: p.get('labels') ?? undefined,
  };
}

function source(app: Application) {
  return app.spec.source ?? app.spec.sources?.[0];
}

function destination(app: Application): string {
  const d = app.spec.destination;
  return `${d.name || d.server || ''}${d.namespace ? ` / ${d.namespace}` : ''}`;
}

function lastSync(app: Application): string | undefined {
  return app.status?.operationState?.finishedAt ?? app.status?.history?.at(-1)?.deployedAt;
}

/** A one-line reason for an app that is not simply fine: conditions first, then health. */
export function appProblem(app: Application): string | undefined {
  const cond = app.status?.conditions?.find((c) => c.type.endsWith('Error'));
  if (cond) return `${cond.type}: ${cond.message}`;
  const op = app.status?.operationState;
  if (op && (op.phase === 'Failed' || op.phase === 'Error')) return op.message;
  const h = app.status?.health;
  if (h && (h.status === 'Progressing' || h.status === 'Degraded' || h.status === 'Missing') && h.message) return h.message;
  return undefined;
}

function CheckGroup({
  legend,
  options,
  selected,
  param,
}: {
  legend: string;
  options: string[];
  selected: string[];
  param: string;
}) {
  return (
    <fieldset class="filter-group">
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o} class="check">
          <input
            type="checkbox"
            checked={selected.includes(o)}
            onChange={(e) =>
              setParams({
                [param]: e.currentTarget.checked ? [...selected, o] : selected.filter((x) => x !== o),
              })
            }
          />
          {o}
        </label>
      ))}
    </fieldset>
  );
}

function Filters({ params, projects, clusters }: { params: URLSearchParams; projects: string[]; clusters: Cluster[] }) {
  const [labels, setLabels] = useState(params.get('labels') ?? '');
  const [namespaces, setNamespaces] = useState(params.getAll('namespace').join(', '));
  const any = ['proj', 'cluster', 'namespace', 'sync', 'health', 'labels', 'search'].some((k) => params.has(k));
  return (
    <aside class="filters" aria-label="Filters">
      <div class="filters-head">
        <h2>Filters</h2>
        {any ? (
          <button
            type="button"
            class="btn btn-link"
            onClick={() => {
              setLabels('');
              setNamespaces('');
              setParams({ proj: undefined, cluster: undefined, namespace: undefined, sync: undefined, health: undefined, labels: undefined, search: undefined });
            }}
          >
            Clear all
          </button>
        ) : null}
      </div>
      <CheckGroup legend="Sync status" options={SYNC} selected={params.getAll('sync')} param="sync" />
      <CheckGroup legend="Health status" options={HEALTH} selected={params.getAll('health')} param="health" />
      <form
        class="filter-group"
        onSubmit={(e) => {
          e.preventDefault();
          setParams({ labels: labels.trim() || undefined });
        }}
      >
        <label>
          Labels
          <input
            name="labels"
            placeholder="team=web,env!=prod"
            value={labels}
            onInput={(e) => setLabels(e.currentTarget.value)}
            onBlur={() => setParams({ labels: labels.trim() || undefined })}
          />
        </label>
      </form>
      {projects.length ? <CheckGroup legend="Projects" options={projects} selected={params.getAll('proj')} param="proj" /> : null}
      {clusters.length ? (
        <fieldset class="filter-group">
          <legend>Clusters</legend>
          {clusters.map((c) => {
            const sel = params.getAll('cluster');
            return (
              <label key={c.server} class="check" title={c.server}>
                <input
                  type="checkbox"
                  checked={sel.includes(c.server)}
                  onChange={(e) =>
                    setParams({ cluster: e.currentTarget.checked ? [...sel, c.server] : sel.filter((x) => x !== c.server) })
                  }
                />
                {c.name || c.server}
              </label>
            );
          })}
        </fieldset>
      ) : null}
      <form
        class="filter-group"
        onSubmit={(e) => {
          e.preventDefault();
          setParams({ namespace: namespaces.split(',').map((s) => s.trim()).filter(Boolean) });
        }}
      >
        <label>
          Namespaces
          <input
            name="namespaces"
            placeholder="guestbook, payments"
            value={namespaces}
            onInput={(e) => setNamespaces(e.currentTarget.value)}
            onBlur={() => setParams({ namespace: namespaces.split(',').map((s) => s.trim()).filter(Boolean) })}
          />
        </label>
      </form>
    </aside>
  );
}

function Tile({ app }: { app: Application }) {
  const src = source(app);
  const problem = appProblem(app);
  const health = app.status?.health?.status;
  return (
    <li class={`tile tile-${(health ?? 'unknown').toLowerCase()}`} data-app={app.metadata.name}>
      <h3>
        <Link href={appUrl(app)}>{app.metadata.name}</Link>
      </h3>
      <div class="tile-status">
        <HealthBadge status={health} message={app.status?.health?.message} />
        <SyncBadge status={app.status?.sync?.status} />
        {app.status?.operationState?.phase === 'Running' ? <OperationBadge phase="Running" /> : null}
      </div>
      {problem ? (
        <p class="tile-problem" title={problem}>
          {problem}
        </p>
      ) : null}
      <dl class="tile-props">
        <dt>Project</dt>
        <dd>{app.spec.project}</dd>
        {app.metadata.labels && Object.keys(app.metadata.labels).length ? (
          <>
            <dt>Labels</dt>
            <dd class="labels">
              {Object.entries(app.metadata.labels).map(([k, v]) => (
                <span class="label" key={k}>
                  {k}={v}
                </span>
              ))}
            </dd>
          </>
        ) : null}
        <dt>Repository</dt>
        <dd class="ellipsis" title={src?.repoURL}>
          {src?.repoURL}
        </dd>
        <dt>Path</dt>
        <dd class="ellipsis">{src?.path || src?.chart || '—'}</dd>
        <dt>Target</dt>
        <dd>
          {src?.targetRevision || 'HEAD'}
          {app.status?.sync?.revision ? <span class="muted"> ({shortRevision(app.status.sync.revision)})</span> : null}
        </dd>
        <dt>Destination</dt>
        <dd class="ellipsis">{destination(app)}</dd>
        <dt>Last sync</dt>
        <dd>
          <Ago time={lastSync(app)} />
        </dd>
      </dl>
    </li>
  );
}

function AppsTable({ apps }: { apps: Application[] }) {
  return (
    <Table class="apps-table" columns={['Name', 'Project', 'Health', 'Sync', 'Source', 'Destination', 'Last sync']}>
          {apps.map((app) => {
            const src = source(app);
            const problem = appProblem(app);
            return (
              <tr key={app.metadata.name} data-app={app.metadata.name}>
                <th scope="row">
                  <Link href={appUrl(app)}>{app.metadata.name}</Link>
                  {problem ? (
                    <div class="row-problem" title={problem}>
                      {problem}
                    </div>
                  ) : null}
                </th>
                <td>{app.spec.project}</td>
                <td>
                  <HealthBadge status={app.status?.health?.status} message={app.status?.health?.message} />
                </td>
                <td>
                  <SyncBadge status={app.status?.sync?.status} />
                  {app.status?.operationState?.phase === 'Running' ? <OperationBadge phase="Running" /> : null}
                </td>
                <td class="ellipsis" title={src?.repoURL}>
                  {(src?.path || src?.chart || src?.repoURL) ?? ''}
                  <span class="muted"> @ {src?.targetRevision || 'HEAD'}</span>
                </td>
                <td class="ellipsis">{destination(app)}</td>
                <td>
                  <Ago time={lastSync(app)} />
                </td>
              </tr>
            );
          })}
        </Table>
  );
}

export function AppsListPage({ params }: { params: URLSearchParams }) {
  const filter = useMemo(() => filterFromParams(params), [params.toString()]);
  const filterKey = JSON.stringify(filter);
  const view = params.get('view') === 'list' ? 'list' : 'tiles';
  const limit = Number(params.get('limit')) || 100;
  const [search, setSearch] = useState(params.get('search') ?? '');
  const [apps, setApps] = useState<Application[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  // continue tokens of the pages before this one (page 1 has none)
  const [tokens, setTokens] = useState<string[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [remaining, setRemaining] = useState<number | undefined>();
  const [stale, setStale] = useState(0);
  const [projects, setProjects] = useState<string[]>([]);
  const [clusters, setClusters] = useState<Cluster[]>([]);
  const [showFilters, setShowFilters] = useState(false);
  // the list's version and a load counter: the watch starts after each load, from its version
  const [loaded, setLoaded] = useState<{ rv?: string; n: number }>({ n: 0 });

  useEffect(() => {
    api.listProjects().then((l) => setProjects((l.items ?? []).map((p: AppProject) => p.metadata.name).sort())).catch(() => {});
    api.listClusters().then((l) => setClusters(l.items ?? [])).catch(() => {});
  }, []);

  // a new filter starts at page 1
  useEffect(() => setTokens([]), [filterKey, limit]);

  // keep the search box and the URL in step, debounced
  useEffect(() => {
    if (search === (params.get('search') ?? '')) return;
    const t = setTimeout(() => setParams({ search: search || undefined }), 250);
    return () => clearTimeout(t);
  }, [search]);

  const pageToken = tokens.at(-1);
  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    const t0 = performance.now();
    api
      .listApps(filter, limit, pageToken, ctl.signal)
      .then((l) => {
        setLoaded((x) => ({ rv: l.metadata?.resourceVersion, n: x.n + 1 }));
        setApps(l.items ?? []);
        setNext(l.metadata?.continue || undefined);
        setRemaining(l.metadata?.remainingItemCount);
        requestAnimationFrame(() => {
          performance.mark('capstan:apps-rendered');
          (window as unknown as { __capstanListMs?: number }).__capstanListMs = performance.now() - t0;
        });
      })
      .catch((e) => {
        if (!ctl.signal.aborted) setError(e);
      });
    return () => ctl.abort();
  }, [filterKey, limit, pageToken, stale]);

  // live updates: apps on this page change in place; a created or deleted app reloads the page
  useEffect(() => {
    if (loaded.n === 0) return;
    const ctl = new AbortController();
    let reload: ReturnType<typeof setTimeout> | undefined;
    const path = `/api/v1/stream/applications${query({ ...filterParams(filter), resourceVersion: loaded.rv })}`;
    const run = async () => {
      for (let attempt = 0; !ctl.signal.aborted; attempt++) {
        try {
          await readStream<{ type: string; application: Application }>(
            path,
            (ev) => {
              const name = ev.application.metadata.name;
              if (ev.type === 'MODIFIED') {
                setApps((cur) => cur && cur.map((a) => (a.metadata.name === name ? ev.application : a)));
              } else {
                clearTimeout(reload);
                reload = setTimeout(() => setStale((s) => s + 1), 500);
              }
            },
            ctl.signal,
          );
        } catch {
          /* reconnect below */
        }
        if (ctl.signal.aborted) return;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4))));
      }
    };
    run();
    return () => {
      ctl.abort();
      clearTimeout(reload);
    };
  }, [loaded]);

  const first = tokens.length * limit;
  const shown = apps?.length ?? 0;
  const total = remaining !== undefined ? first + shown + remaining : next ? undefined : first + shown;

  return (
    <main class="content apps-page">
      <header class="page-header">
        <h1>Applications</h1>
        <div class="toolbar">
          <label class="search">
            <span class="sr-only">Search applications</span>
            <input
              type="search"
              name="search"
              placeholder="Search applications…"
              value={search}
              onInput={(e) => setSearch(e.currentTarget.value)}
            />
          </label>
          <button type="button" class="btn filters-toggle" aria-expanded={showFilters} onClick={() => setShowFilters((s) => !s)}>
            Filters
          </button>
          <div class="segmented" role="group" aria-label="View">
            <button type="button" class="btn" aria-pressed={view === 'tiles'} onClick={() => setParams({ view: undefined })}>
              Tiles
            </button>
            <button type="button" class="btn" aria-pressed={view === 'list'} onClick={() => setParams({ view: 'list' })}>
              Table
            </button>
          </div>
        </div>
      </header>
      <div class={`apps-layout ${showFilters ? 'filters-open' : ''}`}>
        <Filters params={params} projects={projects} clusters={clusters} />
        <section class="apps-results" aria-live="polite" aria-busy={apps === null}>
          <ErrorBox error={error} title="Could not list applications" />
          {apps === null ? (
            <div class="loading">Loading applications…</div>
          ) : apps.length === 0 ? (
            <div class="empty">
              <h2>No applications</h2>
              <p class="muted">
                {params.toString() ? 'Nothing matches these filters.' : 'Create an Application (for example the App of Apps) to see it here.'}
              </p>
            </div>
          ) : view === 'tiles' ? (
            <ul class="tiles" aria-label="Applications">
              {apps.map((a) => (
                <Tile key={a.metadata.name} app={a} />
              ))}
            </ul>
          ) : (
            <AppsTable apps={apps} />
          )}
          {apps && apps.length ? (
            <nav class="pager" aria-label="Pages">
              <span class="muted" data-testid="page-range">
                {first + 1}–{first + shown}
                {total !== undefined ? ` of ${total}` : ''}
              </span>
              <button type="button" class="btn" disabled={!tokens.length} onClick={() => setTokens((t) => t.slice(0, -1))}>
                ‹ Previous
              </button>
              <button type="button" class="btn" disabled={!next} onClick={() => next && setTokens((t) => [...t, next])}>
                Next ›
              </button>
              <label>
                <span class="muted">Per page </span>
                <select value={String(limit)} onChange={(e) => setParams({ limit: e.currentTarget.value === '100' ? undefined : e.currentTarget.value })}>
                  {PAGE_SIZES.map((n) => (
                    <option key={n} value={String(n)}>
                      {n}
                    </option>
                  ))}
                </select>
              </label>
            </nav>
          ) : null}
        </section>
      </div>
    </main>
  );
}
