// Settings: projects (roles, tokens, sync windows), repositories (add with credentials, the
// connection state), clusters.

import { useEffect, useState } from 'preact/hooks';
import { api, request } from '../api';
import { ActionButton, Ago, ErrorBox, FormActions, Link, Page, Spinner, Table } from '../components/common';
import { useLoad } from '../hooks';
import { usePermission } from '../session';
import type { AppProject, Repository, SyncWindow } from '../types';

export function SettingsPage() {
  const cards: [string, string, string][] = [
    ['/settings/projects', 'Projects', 'Who may deploy what, where and when: source repositories, destinations, roles, tokens and sync windows.'],
    ['/settings/repos', 'Repositories', 'Git repositories and Helm chart repositories, their credentials and connection state.'],
    ['/settings/clusters', 'Clusters', 'The clusters Capstan deploys to.'],
  ];
  return (
    <Page title="Settings">
      <ul class="cards">
        {cards.map(([href, title, text]) => (
          <li key={href} class="card">
            <h2>
              <Link href={href}>{title}</Link>
            </h2>
            <p class="muted">{text}</p>
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function ProjectsPage() {
  const projects = useLoad(() => api.listProjects(), []);
  return (
    <Page crumbs={[['/settings', 'Settings'], ['/settings/projects', 'Projects']]} title="Projects">
      <ErrorBox error={projects.error} title="Could not list projects" />
      {!projects.data ? (
        <Spinner />
      ) : (
        <Table columns={['Name', 'Description', 'Roles', 'Sync windows']}>
          {(projects.data.items ?? []).map((p) => (
            <tr key={p.metadata.name}>
              <th scope="row">
                <Link href={`/settings/projects/${encodeURIComponent(p.metadata.name)}`}>{p.metadata.name}</Link>
              </th>
              <td>{p.spec.description}</td>
              <td>{p.spec.roles?.length ?? 0}</td>
              <td>{p.spec.syncWindows?.length ?? 0}</td>
            </tr>
          ))}
        </Table>
      )}
    </Page>
  );
}

function List({ items, empty = '—' }: { items?: string[]; empty?: string }) {
  if (!items?.length) return <span class="muted">{empty}</span>;
  return (
    <ul class="plain">
      {items.map((i) => (
        <li key={i}>
          <code>{i}</code>
        </li>
      ))}
    </ul>
  );
}

function WindowRow({ w }: { w: SyncWindow }) {
  return (
    <tr>
      <td class={w.kind === 'deny' ? 'deny' : 'allow'}>{w.kind}</td>
      <td>
        <code>{w.schedule}</code> for {w.duration}
        {w.timeZone ? ` (${w.timeZone})` : ''}
      </td>
      <td>{[...(w.applications ?? []), ...(w.namespaces ?? []).map((n) => `ns:${n}`), ...(w.clusters ?? []).map((c) => `cluster:${c}`)].join(', ')}</td>
      <td>{w.manualSync ? 'allowed' : 'denied'}</td>
    </tr>
  );
}

function RoleTokens({ project, role, onChange }: { project: AppProject; role: string; onChange: () => void }) {
  const tokens = project.status?.jwtTokensByRole?.[role]?.items ?? project.spec.roles?.find((r) => r.name === role)?.jwtTokens ?? [];
  const canUpdate = usePermission('projects', 'update', project.metadata.name);
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [expires, setExpires] = useState('');
  const [id, setId] = useState('');
  return (
    <div class="role-tokens">
      <ErrorBox error={error} title="Token" />
      {tokens.length ? (
        <Table columns={['ID', 'Issued', 'Expires', '']}>
          {tokens.map((t) => (
            <tr key={t.iat}>
              <td>{t.id || '—'}</td>
              <td>
                <Ago time={new Date(t.iat * 1000).toISOString()} />
              </td>
              <td>{t.exp ? new Date(t.exp * 1000).toLocaleString() : 'never'}</td>
              <td>
                <ActionButton
                  id={`delete-token-${role}-${t.iat}`}
                  danger
                  permission={canUpdate}
                  label={`Delete token ${t.id || t.iat}`}
                  onClick={() =>
                    api
                      .deleteProjectToken(project.metadata.name, role, t.iat)
                      .then(onChange)
                      .catch(setError)
                  }
                >
                  Delete
                </ActionButton>
              </td>
            </tr>
          ))}
        </Table>
      ) : (
        <p class="muted">No tokens.</p>
      )}
      {created ? (
        <div class="token-created" role="status">
          <p>New token (shown once; copy it now):</p>
          <textarea readOnly rows={3} aria-label="New token" value={created} />
        </div>
      ) : null}
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const seconds = expires.trim() ? parseDuration(expires.trim()) : 0;
          if (seconds === null) {
            setError(new Error(`"${expires}" is not a duration: use e.g. 3600s, 90m, 24h or 7d`));
            return;
          }
          api
            .createProjectToken(project.metadata.name, role, seconds, id)
            .then((r) => {
              setCreated(r.token);
              setError(null);
              onChange();
            })
            .catch(setError);
        }}
      >
        <label>
          Token ID
          <input value={id} onInput={(e) => setId(e.currentTarget.value)} placeholder="optional" />
        </label>
        <label>
          Expires in
          <input value={expires} onInput={(e) => setExpires(e.currentTarget.value)} placeholder="never, or 24h" />
        </label>
        <button type="submit" class="btn" disabled={canUpdate.allowed !== true} title={canUpdate.allowed === false ? canUpdate.reason : undefined}>
          Create token
        </button>
      </form>
    </div>
  );
}

/** "90m" → 5400; a bare number is seconds; null when unreadable. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)\s*([smhd]?)$/.exec(s);
  if (!m) return null;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export function ProjectPage({ name }: { name: string }) {
  const project = useLoad(() => api.getProject(name), [name]);
  const p = project.data;
  return (
    <Page
      crumbs={[
        ['/settings', 'Settings'],
        ['/settings/projects', 'Projects'],
        [`/settings/projects/${encodeURIComponent(name)}`, name],
      ]}
      title={`Project ${name}`}
    >
      <ErrorBox error={project.error} title={`Could not read project ${name}`} />
      {!p ? (
        project.error ? null : <Spinner />
      ) : (
        <>
          <section class="section">
            <h2>General</h2>
            <dl class="props">
              <dt>Description</dt>
              <dd>{p.spec.description || '—'}</dd>
              <dt>Source repositories</dt>
              <dd>
                <List items={p.spec.sourceRepos} empty="none: no repository may be used" />
              </dd>
              <dt>Destinations</dt>
              <dd>
                <List items={(p.spec.destinations ?? []).map((d) => `${d.name || d.server} / ${d.namespace}`)} empty="none" />
              </dd>
              <dt>Cluster resources allowed</dt>
              <dd>
                <List items={(p.spec.clusterResourceWhitelist ?? []).map((g) => `${g.group || 'core'}/${g.kind}`)} empty="none" />
              </dd>
              <dt>Namespaced resources denied</dt>
              <dd>
                <List items={(p.spec.namespaceResourceBlacklist ?? []).map((g) => `${g.group || 'core'}/${g.kind}`)} empty="none" />
              </dd>
            </dl>
          </section>
          <section class="section">
            <h2>Roles</h2>
            {!p.spec.roles?.length ? <p class="muted">No roles.</p> : null}
            {(p.spec.roles ?? []).map((r) => (
              <article key={r.name} class="role">
                <h3>{r.name}</h3>
                {r.description ? <p class="muted">{r.description}</p> : null}
                <h4>Policies</h4>
                <List items={r.policies} />
                <h4>Groups</h4>
                <List items={r.groups} />
                <h4>Tokens</h4>
                <RoleTokens project={p} role={r.name} onChange={project.reload} />
              </article>
            ))}
          </section>
          <section class="section">
            <h2>Sync windows</h2>
            {!p.spec.syncWindows?.length ? (
              <p class="muted">No sync windows: syncs may run at any time.</p>
            ) : (
              <Table columns={['Kind', 'Schedule', 'Applies to', 'Manual sync']}>
                {p.spec.syncWindows.map((w, i) => (
                  <WindowRow key={i} w={w} />
                ))}
              </Table>
            )}
          </section>
        </>
      )}
    </Page>
  );
}

function ConnectionState({ repo }: { repo: string }) {
  const state = useLoad(() => request<Repository>(`/api/v1/repositories/${encodeURIComponent(repo)}`), [repo]);
  if (state.error) return <span class="conn failed">{state.error instanceof Error ? state.error.message : 'unknown'}</span>;
  const c = state.data?.connectionState;
  if (!c) return <span class="muted">checking…</span>;
  return (
    <span class={`conn ${c.status === 'Successful' ? 'ok' : 'failed'}`} title={c.message}>
      {c.status}
      {c.status !== 'Successful' && c.message ? `: ${c.message}` : ''}
    </span>
  );
}

function AddRepo({ onAdded }: { onAdded: () => void }) {
  const [form, setForm] = useState({ repo: '', type: 'git', name: '', project: '', username: '', password: '', sshPrivateKey: '', insecure: false });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: Event) => {
    const t = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  return (
    <form
      class="add-repo"
      aria-label="Connect a repository"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await api.createRepo(Object.fromEntries(Object.entries(form).filter(([, v]) => v !== '')) as Partial<Repository>);
          setForm({ ...form, repo: '', name: '', password: '', sshPrivateKey: '' });
          onAdded();
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Connect a repository</h2>
      <ErrorBox error={error} title="Could not add the repository" />
      <div class="form-grid">
        <label>
          Type
          <select value={form.type} onChange={set('type')}>
            <option value="git">git</option>
            <option value="helm">helm</option>
          </select>
        </label>
        <label>
          Repository URL
          <input required value={form.repo} onInput={set('repo')} placeholder="https://github.com/org/repo.git" />
        </label>
        <label>
          Name (optional)
          <input value={form.name} onInput={set('name')} />
        </label>
        <label>
          Project (optional)
          <input value={form.project} onInput={set('project')} />
        </label>
        <label>
          Username
          <input value={form.username} onInput={set('username')} autocomplete="off" />
        </label>
        <label>
          Password or token
          <input type="password" value={form.password} onInput={set('password')} autocomplete="new-password" />
        </label>
        <label class="wide">
          SSH private key
          <textarea rows={3} value={form.sshPrivateKey} onInput={set('sshPrivateKey')} placeholder="-----BEGIN OPENSSH PRIVATE KEY-----" />
        </label>
        <label class="check">
          <input type="checkbox" checked={form.insecure} onChange={set('insecure')} /> Skip server verification (insecure)
        </label>
      </div>
      <FormActions submit={busy ? 'Connecting…' : 'Connect'} disabled={busy} />
    </form>
  );
}

export function ReposPage() {
  const repos = useLoad(() => api.listRepos(), []);
  const canCreate = usePermission('repositories', 'create', '*');
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setError(null), [repos.data]);
  return (
    <Page
      crumbs={[['/settings', 'Settings'], ['/settings/repos', 'Repositories']]}
      title="Repositories"
      toolbar={
        <ActionButton id="connect-repo" primary permission={canCreate} onClick={() => setAdding((a) => !a)}>
          {adding ? 'Close' : 'Connect repository'}
        </ActionButton>
      }
    >
      {adding ? (
        <AddRepo
          onAdded={() => {
            setAdding(false);
            repos.reload();
          }}
        />
      ) : null}
      <ErrorBox error={repos.error ?? error} title="Repositories" />
      {!repos.data ? (
        <Spinner />
      ) : !(repos.data.items ?? []).length ? (
        <p class="muted">No repositories connected.</p>
      ) : (
        <Table columns={['Type', 'Name', 'Repository', 'Project', 'Connection', '']}>
          {(repos.data.items ?? []).map((r) => (
            <tr key={r.repo}>
              <td>{r.type ?? 'git'}</td>
              <td>{r.name ?? ''}</td>
              <td class="ellipsis" title={r.repo}>
                {r.repo}
              </td>
              <td>{r.project ?? ''}</td>
              <td>
                <ConnectionState repo={r.repo} />
              </td>
              <td>
                <RepoDelete repo={r} onDeleted={repos.reload} onError={setError} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </Page>
  );
}

function RepoDelete({ repo, onDeleted, onError }: { repo: Repository; onDeleted: () => void; onError: (e: unknown) => void }) {
  const canDelete = usePermission('repositories', 'delete', `${repo.project ? `${repo.project}/` : ''}${repo.repo}`);
  const [confirm, setConfirm] = useState(false);
  if (confirm) {
    return (
      <span class="confirm">
        <button type="button" class="btn btn-danger" onClick={() => api.deleteRepo(repo.repo).then(onDeleted).catch(onError)}>
          Confirm
        </button>
        <button type="button" class="btn" onClick={() => setConfirm(false)}>
          Cancel
        </button>
      </span>
    );
  }
  return (
    <ActionButton id={`delete-repo-${btoa(repo.repo).replace(/[^a-zA-Z0-9]/g, '')}`} danger permission={canDelete} label={`Disconnect ${repo.repo}`} onClick={() => setConfirm(true)}>
      Disconnect
    </ActionButton>
  );
}

export function ClustersPage() {
  const clusters = useLoad(() => api.listClusters(), []);
  return (
    <Page crumbs={[['/settings', 'Settings'], ['/settings/clusters', 'Clusters']]} title="Clusters">
      <ErrorBox error={clusters.error} title="Could not list clusters" />
      {!clusters.data ? (
        <Spinner />
      ) : (
        <Table columns={['Name', 'Server', 'Version', 'Connection', 'Applications']}>
          {(clusters.data.items ?? []).map((c) => {
            const conn = c.info?.connectionState ?? c.connectionState;
            return (
              <tr key={c.server}>
                <th scope="row">{c.name}</th>
                <td class="ellipsis">{c.server}</td>
                <td>{c.info?.serverVersion ?? c.serverVersion ?? '—'}</td>
                <td>
                  {conn?.status ? (
                    <span class={`conn ${conn.status === 'Successful' ? 'ok' : 'failed'}`} title={conn.message}>
                      {conn.status}
                    </span>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td>{c.info?.applicationsCount ?? '—'}</td>
              </tr>
            );
          })}
        </Table>
      )}
    </Page>
  );
}
