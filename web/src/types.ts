// The Argo CD API objects as the dashboard reads them: only the fields it shows. The server's
// Rust types (capstan-types) are the truth; these mirror their JSON names.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface ListResponse<T> {
  metadata?: { continue?: string; remainingItemCount?: number; resourceVersion?: string };
  items?: T[];
}

export interface ApplicationSource {
  repoURL: string;
  path?: string;
  targetRevision?: string;
  chart?: string;
  helm?: unknown;
  kustomize?: unknown;
  ref?: string;
}

export interface ApplicationDestination {
  server?: string;
  name?: string;
  namespace?: string;
}

export interface SyncPolicy {
  automated?: { prune?: boolean; selfHeal?: boolean; allowEmpty?: boolean } | null;
  syncOptions?: string[];
  retry?: unknown;
}

export interface ApplicationSpec {
  project: string;
  source?: ApplicationSource;
  sources?: ApplicationSource[];
  destination: ApplicationDestination;
  syncPolicy?: SyncPolicy;
  dependsOn?: unknown;
}

export type SyncStatusCode = 'Synced' | 'OutOfSync' | 'Unknown';
export type HealthStatusCode =
  | 'Healthy'
  | 'Progressing'
  | 'Degraded'
  | 'Suspended'
  | 'Missing'
  | 'Unknown';

export interface HealthStatus {
  status?: HealthStatusCode;
  message?: string;
  lastTransitionTime?: string;
}

export interface ResourceStatus {
  group?: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: SyncStatusCode;
  health?: HealthStatus;
  hook?: boolean;
  requiresPruning?: boolean;
  syncWave?: number;
}

export interface ResourceResult {
  group?: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: string;
  message?: string;
  hookPhase?: string;
  hookType?: string;
  syncPhase?: string;
}

export interface OperationState {
  operation?: { sync?: { revision?: string; prune?: boolean; dryRun?: boolean }; initiatedBy?: { username?: string; automated?: boolean } };
  phase: 'Running' | 'Terminating' | 'Failed' | 'Error' | 'Succeeded';
  message?: string;
  syncResult?: { revision?: string; resources?: ResourceResult[] };
  startedAt?: string;
  finishedAt?: string;
  retryCount?: number;
}

export interface RevisionHistory {
  id: number;
  revision?: string;
  revisions?: string[];
  deployedAt?: string;
  deployStartedAt?: string;
  source?: ApplicationSource;
  sources?: ApplicationSource[];
  initiatedBy?: { username?: string; automated?: boolean };
}

export interface ApplicationCondition {
  type: string;
  message: string;
  lastTransitionTime?: string;
}

export interface ApplicationStatus {
  resources?: ResourceStatus[];
  sync?: { status?: SyncStatusCode; revision?: string; revisions?: string[]; comparedTo?: unknown };
  health?: HealthStatus;
  history?: RevisionHistory[];
  conditions?: ApplicationCondition[];
  reconciledAt?: string;
  operationState?: OperationState;
  summary?: { images?: string[]; externalURLs?: string[] };
}

export interface Application {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: ApplicationSpec;
  status?: ApplicationStatus;
  operation?: unknown;
}

export interface ResourceRefWithUid {
  group?: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

export interface ResourceNode extends ResourceRefWithUid {
  parentRefs?: ResourceRefWithUid[];
  health?: HealthStatus;
  info?: { name: string; value: string }[];
  images?: string[];
  resourceVersion?: string;
  createdAt?: string;
  networkingInfo?: unknown;
}

export interface ResourceTree {
  nodes?: ResourceNode[];
  orphanedNodes?: ResourceNode[];
}

export interface ManagedResource {
  group?: string;
  kind: string;
  namespace?: string;
  name: string;
  /** JSON text of the desired object (null when the object should not exist). */
  targetState?: string | null;
  /** JSON text of the normalized live object (null when it does not exist). */
  normalizedLiveState?: string | null;
  liveState?: string | null;
  predictedLiveState?: string | null;
  modified?: boolean;
  hook?: boolean;
}

export interface KubeEvent {
  metadata: ObjectMeta;
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  source?: { component?: string };
}

export interface EventList {
  items?: KubeEvent[];
}

export interface SyncWindow {
  kind: 'allow' | 'deny';
  schedule: string;
  duration: string;
  applications?: string[];
  namespaces?: string[];
  clusters?: string[];
  manualSync?: boolean;
  timeZone?: string;
}

export interface SyncWindowsState {
  activeWindows?: SyncWindow[];
  assignedWindows?: SyncWindow[];
  canSync?: boolean;
}

export interface ProjectRole {
  name: string;
  description?: string;
  policies?: string[];
  groups?: string[];
  jwtTokens?: { iat: number; exp?: number; id?: string }[];
}

export interface AppProject {
  metadata: ObjectMeta;
  spec: {
    description?: string;
    sourceRepos?: string[];
    destinations?: ApplicationDestination[];
    clusterResourceWhitelist?: { group: string; kind: string }[];
    clusterResourceBlacklist?: { group: string; kind: string }[];
    namespaceResourceWhitelist?: { group: string; kind: string }[];
    namespaceResourceBlacklist?: { group: string; kind: string }[];
    roles?: ProjectRole[];
    syncWindows?: SyncWindow[];
    sourceNamespaces?: string[];
  };
  status?: { jwtTokensByRole?: Record<string, { items?: { iat: number; exp?: number; id?: string }[] }> };
}

export interface Repository {
  repo: string;
  type?: string;
  name?: string;
  project?: string;
  username?: string;
  insecure?: boolean;
  enableLfs?: boolean;
  connectionState?: { status?: string; message?: string; attemptedAt?: string };
}

export interface Cluster {
  server: string;
  name: string;
  namespaces?: string[];
  project?: string;
  labels?: Record<string, string>;
  connectionState?: { status?: string; message?: string; attemptedAt?: string };
  serverVersion?: string;
  info?: {
    connectionState?: { status?: string; message?: string; attemptedAt?: string };
    serverVersion?: string;
    applicationsCount?: number;
    cacheInfo?: { resourcesCount?: number; apisCount?: number; lastCacheSyncTime?: string };
  };
}

export interface Settings {
  url?: string;
  appLabelKey?: string;
  userLoginsDisabled?: boolean;
  oidcConfig?: { name?: string; issuer?: string; clientID?: string };
  controllerNamespace?: string;
}

export interface UserInfo {
  loggedIn: boolean;
  username?: string;
  iss?: string;
  groups?: string[];
}
