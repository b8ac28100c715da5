// The dashboard's only door to the server: Argo CD's REST paths on the same origin, the
// session in the HttpOnly `argocd.token` cookie the auth-gateway sets. Nothing here keeps a
// token in script-readable storage.

import type {
  Application,
  AppProject,
  Cluster,
  EventList,
  ListResponse,
  ManagedResource,
  Repository,
  ResourceTree,
  Settings,
  SyncWindowsState,
  UserInfo,
} from './types';

/** An API error with the server's message (Argo CD's `{error, code, message}` body). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly grpcCode?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called on 401 for anything but the login calls: the session is gone. */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(f: () => void): void {
  onUnauthenticated = f;
}

async function errorOf(resp: Response): Promise<ApiError> {
  let message = `${resp.status} ${resp.statusText}`;
  let code: number | undefined;
  try {
    const text = await resp.text();
    try {
      const body = JSON.parse(text);
      message = body.message || body.error || message;
      code = typeof body.code === 'number' ? body.code : undefined;
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500);
    }
  } catch {
    /* keep the status line */
  }
  return new ApiError(resp.status, message, code);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as "logged out" (the login form itself). */
  quiet401?: boolean;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const resp = await fetch(path, {
    method: opts.method ?? 'GET',
    headers,
    body,
    signal: opts.signal,
    credentials: 'same-origin',
  });
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (resp.status === 401 && !opts.quiet401) onUnauthenticated();
    throw err;
  }
  const text = await resp.text();
  return (text ? JSON.parse(text) : {}) as T;
}

const enc = encodeURIComponent;

/** Query string from a map; arrays become repeated keys, empty values are left out. */
export function query(params: Record<string, string | number | boolean | string[] | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '' || v === false) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== '') parts.push(`${enc(k)}=${enc(item)}`);
    } else {
      parts.push(`${enc(k)}=${enc(String(v))}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The list filters the server applies (Argo CD's query parameter names). */
export interface AppFilter {
  search?: string;
  projects?: string[];
  clusters?: string[];
  namespaces?: string[];
  syncStatus?: string[];
  healthStatus?: string[];
  /** A label selector, e.g. `team=web,env!=prod`. */
  selector?: string;
}

export function filterParams(f: AppFilter): Record<string, string | string[] | undefined> {
  return {
    search: f.search?.trim() || undefined,
    projects: f.projects,
    cluster: f.clusters,
    namespace: f.namespaces,
    syncStatus: f.syncStatus,
    healthStatus: f.healthStatus,
    selector: f.selector?.trim() || undefined,
  };
}

export interface ResourceRef {
  group?: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

function resourceParams(r: ResourceRef) {
  return {
    group: r.group ?? '',
    version: r.version ?? '',
    kind: r.kind,
    namespace: r.namespace ?? '',
    resourceName: r.name,
  };
}

export interface SyncRequest {
  revision?: string;
  prune?: boolean;
  dryRun?: boolean;
  resources?: { group: string; kind: string; name: string; namespace?: string }[];
  syncOptions?: { items: string[] };
  strategy?: { apply?: { force?: boolean }; hook?: { force?: boolean } };
}

export const api = {
  settings: () => request<Settings>('/api/v1/settings'),
  userInfo: () => request<UserInfo>('/api/v1/session/userinfo', { quiet401: true }),
  login: (username: string, password: string) =>
    request<{ token?: string }>('/api/v1/session', {
      method: 'POST',
      body: { username, password },
      quiet401: true,
    }),
  logout: () => request<unknown>('/api/v1/session', { method: 'DELETE', quiet401: true }),
  canI: async (resource: string, action: string, subresource: string): Promise<boolean> => {
    const r = await request<{ value: string | boolean }>(
      `/api/v1/account/can-i/${enc(resource)}/${enc(action)}/${subresource.split('/').map(enc).join('/')}`,
    );
    return r.value === true || r.value === 'yes';
  },

  listApps: (f: AppFilter, limit: number, cont?: string, signal?: AbortSignal) =>
    request<ListResponse<Application>>(
      `/api/v1/applications${query({ ...filterParams(f), limit, continue: cont })}`,
      { signal },
    ),
  getApp: (name: string, refresh?: 'normal' | 'hard') =>
    request<Application>(`/api/v1/applications/${enc(name)}${query({ refresh })}`),
  resourceTree: (name: string) =>
    request<ResourceTree>(`/api/v1/applications/${enc(name)}/resource-tree`),
  managedResources: (name: string) =>
    request<{ items?: ManagedResource[] }>(`/api/v1/applications/${enc(name)}/managed-resources`),
  liveResource: (app: string, r: ResourceRef) =>
    request<{ manifest: string }>(
      `/api/v1/applications/${enc(app)}/resource${query(resourceParams(r))}`,
    ),
  events: (app: string, r?: ResourceRef) =>
    request<EventList>(
      `/api/v1/applications/${enc(app)}/events${query(
        r ? { resourceName: r.name, resourceNamespace: r.namespace ?? '', resourceUID: r.uid ?? '' } : {},
      )}`,
    ),
  syncWindows: (app: string) =>
    request<SyncWindowsState>(`/api/v1/applications/${enc(app)}/syncwindows`),
  sync: (app: string, body: SyncRequest) =>
    request<Application>(`/api/v1/applications/${enc(app)}/sync`, { method: 'POST', body }),
  rollback: (app: string, id: number, prune: boolean, dryRun = false) =>
    request<Application>(`/api/v1/applications/${enc(app)}/rollback`, {
      method: 'POST',
      body: { id, prune, dryRun },
    }),
  terminate: (app: string) =>
    request<unknown>(`/api/v1/applications/${enc(app)}/operation`, { method: 'DELETE' }),
  deleteApp: (app: string, cascade: boolean) =>
    request<unknown>(`/api/v1/applications/${enc(app)}${query({ cascade: cascade ? 'true' : 'false' })}`, {
      method: 'DELETE',
    }),

  listProjects: () => request<ListResponse<AppProject>>('/api/v1/projects'),
  getProject: (name: string) => request<AppProject>(`/api/v1/projects/${enc(name)}`),
  createProjectToken: (project: string, role: string, expiresIn: number, id: string) =>
    request<{ token: string }>(`/api/v1/projects/${enc(project)}/roles/${enc(role)}/token`, {
      method: 'POST',
      body: { project, role, expiresIn, id },
    }),
  deleteProjectToken: (project: string, role: string, iat: number) =>
    request<unknown>(`/api/v1/projects/${enc(project)}/roles/${enc(role)}/token/${iat}`, {
      method: 'DELETE',
    }),

  listRepos: () => request<ListResponse<Repository>>('/api/v1/repositories'),
  createRepo: (repo: Partial<Repository> & { password?: string; sshPrivateKey?: string }) =>
    request<Repository>('/api/v1/repositories', { method: 'POST', body: repo }),
  deleteRepo: (url: string) =>
    request<unknown>(`/api/v1/repositories/${enc(url)}`, { method: 'DELETE' }),

  listClusters: () => request<ListResponse<Cluster>>('/api/v1/clusters'),
};

/**
 * Reads a newline-delimited JSON stream (Argo CD's `/api/v1/stream/...`), calling `onItem`
 * for each `result`; resolves when the server closes it, rejects on error. Abort with
 * `signal`.
 */
export async function readStream<T>(
  path: string,
  onItem: (item: T) => void,
  signal: AbortSignal,
): Promise<void> {
  const resp = await fetch(path, { credentials: 'same-origin', signal, headers: { Accept: 'application/json' } });
  if (!resp.ok || !resp.body) {
    const err = await errorOf(resp);
    if (resp.status === 401) onUnauthenticated();
    throw err;
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.error) throw new ApiError(500, msg.error.message ?? String(msg.error));
      onItem((msg.result ?? msg) as T);
    }
  }
}
