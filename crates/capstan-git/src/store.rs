//! [`GitStore`]: the mirrors, revision resolution with coalescing, and checkouts.
//!
//! Concurrency model, per repository (one mirror per normalised URL):
//!
//! - one async lock serialises the network operations (ls-remote, fetch) of a repository; the
//!   lock guard moves into the blocking task, so even an operation abandoned on timeout keeps
//!   others out of the mirror until libgit2 returns;
//! - the refs seen by the last completed ls-remote or fetch are remembered: within
//!   `fetch_interval` branches, tags and `HEAD` resolve from them without any network, so a
//!   storm of callers costs one ls-remote per interval;
//! - a caller that waited for the lock while a fetch ran re-checks the mirror and reuses that
//!   fetch instead of starting another (a fetch generation counter tells it one happened).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use git2::{ErrorCode, ObjectType, Oid, Repository};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;

use crate::checkout::{
    Checkout, CheckoutCache, CheckoutDir, CheckoutKey, CheckoutLimits, export_commit,
};
use crate::creds::{AuthKind, RepoAuth};
use crate::error::GitError;
use crate::known_hosts::KnownHosts;
use crate::metrics::{GitMetrics, RequestType};
use crate::remote::{NetCtx, RemoteRefs};
use crate::url::{mirror_key, strip_credentials};

/// Where and how [`GitStore`] keeps repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitConfig {
    /// The directory holding `mirrors/` (kept across restarts) and `checkouts/` (emptied at
    /// start).
    pub root: PathBuf,
    /// How long the result of an ls-remote or fetch is trusted for resolving branches, tags
    /// and `HEAD` (Argo CD's revision cache expiration; 3 minutes there).
    pub fetch_interval: Duration,
    /// The most one network operation (ls-remote, fetch) may take.
    pub op_timeout: Duration,
    /// How many idle checkouts are kept after their last holder dropped them.
    pub max_checkouts: usize,
}

impl GitConfig {
    /// The defaults under `root`: fetch interval 3 min, op timeout 90 s (Argo CD's exec
    /// timeout), 64 idle checkouts.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GitConfig {
            root: root.into(),
            fetch_interval: Duration::from_secs(180),
            op_timeout: Duration::from_secs(90),
            max_checkouts: 64,
        }
    }
}

/// Branch and tag names of a repository (short names, sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    /// Branches, without `refs/heads/`.
    pub branches: Vec<String>,
    /// Tags, without `refs/tags/`.
    pub tags: Vec<String>,
}

/// What Argo CD shows about a commit (`RevisionMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMetadata {
    /// The full commit SHA.
    pub sha: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// Author date, Unix seconds.
    pub date: i64,
    /// The full commit message.
    pub message: String,
    /// Tags (short names, sorted) that point at the commit, annotated ones peeled.
    pub tags: Vec<String>,
}

/// Counters of what the store did, for tests and debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitStats {
    /// ls-remote operations started (including [`GitStore::test_access`]).
    pub ls_remotes: u64,
    /// Fetches started.
    pub fetches: u64,
    /// Checkouts exported to disk.
    pub checkouts_created: u64,
    /// Checkout requests served by an existing export.
    pub checkouts_reused: u64,
}

#[derive(Default)]
struct Counters {
    ls_remotes: AtomicU64,
    fetches: AtomicU64,
    checkouts_created: AtomicU64,
    checkouts_reused: AtomicU64,
}

/// Git mirrors, revision resolution and checkouts for every repository Capstan reads. Cheap
/// to clone; clones share everything.
#[derive(Clone)]
pub struct GitStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: GitConfig,
    limits: CheckoutLimits,
    mirrors_dir: PathBuf,
    checkouts_dir: PathBuf,
    repos: Mutex<HashMap<String, Arc<RepoEntry>>>,
    checkouts: CheckoutCache,
    pending: Mutex<HashMap<CheckoutKey, Arc<tokio::sync::Mutex<()>>>>,
    counters: Counters,
    metrics: GitMetrics,
    known_hosts: RwLock<Option<Arc<KnownHosts>>>,
    next_dir: AtomicU64,
}

/// One repository: its mirror and what is remembered about its remote.
struct RepoEntry {
    mirror: PathBuf,
    net: Arc<tokio::sync::Mutex<()>>,
    memo: Mutex<Option<Memo>>,
    /// Completed fetches; lets a waiter tell that a fetch happened while it waited.
    fetch_gen: AtomicU64,
    /// Network operations (ls-remote, fetch) started so far: a waiter may only reuse the refs of
    /// one that started after it arrived — one that began earlier may predate a push the
    /// waiter must see.
    started: AtomicU64,
}

struct Memo {
    /// Bumped by every ls-remote/fetch that completes.
    seq: u64,
    /// The `started` number of the ls-remote/fetch these refs come from.
    started: u64,
    at: Instant,
    auth: [u8; 32],
    refs: Arc<RemoteRefs>,
}

impl RepoEntry {
    fn fresh_refs(&self, auth: &[u8; 32], interval: Duration) -> Option<Arc<RemoteRefs>> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref()
            .filter(|m| m.auth == *auth && m.at.elapsed() < interval)
            .map(|m| m.refs.clone())
    }

    /// The refs of an ls-remote/fetch with these credentials that started after the caller
    /// arrived (`arrived`: the `started` count then), whatever the interval: it ran while the
    /// caller waited, so it saw everything pushed before the caller asked.
    fn refs_started_after(&self, auth: &[u8; 32], arrived: u64) -> Option<Arc<RemoteRefs>> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref()
            .filter(|m| m.auth == *auth && m.started > arrived)
            .map(|m| m.refs.clone())
    }

    /// Counts a network operation starting; returns its number.
    fn start(&self) -> u64 {
        self.started.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn remember(&self, auth: [u8; 32], refs: RemoteRefs, started: u64) -> Arc<RemoteRefs> {
        let refs = Arc::new(refs);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        let seq = memo.as_ref().map_or(0, |m| m.seq) + 1;
        *memo = Some(Memo {
            seq,
            started,
            at: Instant::now(),
            auth,
            refs: refs.clone(),
        });
        refs
    }

    fn remembered(&self) -> Option<Arc<RemoteRefs>> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.as_ref().map(|m| m.refs.clone())
    }
}

impl fmt::Debug for GitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitStore")
            .field("config", &self.inner.config)
            .field("limits", &self.inner.limits)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Per call: the URL as given (may hold credentials; only for libgit2) and as shown.
struct Target<'a> {
    url: &'a str,
    display: String,
    auth: &'a RepoAuth,
    fingerprint: [u8; 32],
    repo: Arc<RepoEntry>,
}

impl GitStore {
    /// A store under `config.root` with the default [`CheckoutLimits`], registering Argo CD's
    /// Git metrics on `registry`. Creates the directories and removes checkouts left by an
    /// earlier process.
    pub fn new(config: GitConfig, registry: &mut Registry) -> Result<Self, GitError> {
        GitStore::with_limits(config, CheckoutLimits::default(), registry)
    }

    /// [`GitStore::new`] with explicit checkout size limits.
    pub fn with_limits(
        config: GitConfig,
        limits: CheckoutLimits,
        registry: &mut Registry,
    ) -> Result<Self, GitError> {
        let mirrors_dir = config.root.join("mirrors");
        let checkouts_dir = config.root.join("checkouts");
        fs::create_dir_all(&mirrors_dir).map_err(|e| GitError::io("creating", &mirrors_dir, e))?;
        if checkouts_dir.exists() {
            fs::remove_dir_all(&checkouts_dir)
                .map_err(|e| GitError::io("removing old checkouts in", &checkouts_dir, e))?;
        }
        fs::create_dir_all(&checkouts_dir)
            .map_err(|e| GitError::io("creating", &checkouts_dir, e))?;
        remove_stale_locks(&mirrors_dir);
        let metrics = GitMetrics::register(registry);
        Ok(GitStore {
            inner: Arc::new(Inner {
                checkouts: CheckoutCache::new(config.max_checkouts),
                config,
                limits,
                mirrors_dir,
                checkouts_dir,
                repos: Mutex::default(),
                pending: Mutex::default(),
                counters: Counters::default(),
                metrics,
                known_hosts: RwLock::new(None),
                next_dir: AtomicU64::new(0),
            }),
        })
    }

    /// Sets the `known_hosts` lines (Argo CD's `argocd-ssh-known-hosts-cm`) used for SSH
    /// repositories whose credentials carry none. `None` or empty: unknown hosts are refused
    /// unless the repository is `insecure`.
    pub fn set_ssh_known_hosts(&self, known_hosts: Option<&str>) {
        let parsed = known_hosts
            .map(KnownHosts::parse)
            .filter(|k| !k.is_empty())
            .map(Arc::new);
        *self
            .inner
            .known_hosts
            .write()
            .unwrap_or_else(|p| p.into_inner()) = parsed;
    }

    /// What the store did so far.
    pub fn stats(&self) -> GitStats {
        let c = &self.inner.counters;
        GitStats {
            ls_remotes: c.ls_remotes.load(Ordering::Relaxed),
            fetches: c.fetches.load(Ordering::Relaxed),
            checkouts_created: c.checkouts_created.load(Ordering::Relaxed),
            checkouts_reused: c.checkouts_reused.load(Ordering::Relaxed),
        }
    }

    /// Resolves a revision to a full commit SHA: a branch, a tag (annotated tags peel to their
    /// commit), `HEAD` (or empty), a fully qualified ref (`refs/heads/x`, `refs/tags/y`, any
    /// other advertised ref), or a full or short commit SHA.
    ///
    /// Branches, tags and `HEAD` are looked up with ls-remote, or in the refs remembered from
    /// the last ls-remote/fetch if it finished less than `fetch_interval` ago; the commit is
    /// then fetched when the mirror lacks it. A full SHA already in the mirror needs no
    /// network; a missing one (and a short one) is fetched for.
    pub async fn resolve_revision(
        &self,
        url: &str,
        auth: &RepoAuth,
        revision: &str,
    ) -> Result<String, GitError> {
        self.resolve_revision_with(url, auth, revision, false).await
    }

    /// Like [`resolve_revision`](Self::resolve_revision), but a branch, tag or `HEAD` is
    /// resolved by an ls-remote that started after this call (shared with concurrent callers),
    /// never from remembered refs: what an explicit refresh needs to see a push at once.
    pub async fn resolve_revision_fresh(
        &self,
        url: &str,
        auth: &RepoAuth,
        revision: &str,
    ) -> Result<String, GitError> {
        self.resolve_revision_with(url, auth, revision, true).await
    }

    async fn resolve_revision_with(
        &self,
        url: &str,
        auth: &RepoAuth,
        revision: &str,
        fresh: bool,
    ) -> Result<String, GitError> {
        let target = self.target(url, auth)?;
        let rev = revision.trim();
        if let Some(oid) = full_sha(rev) {
            self.ensure_object(&target, oid, None, rev).await?;
            return self.peel_commit(&target, oid, rev).await;
        }
        let refs = self.remote_refs(&target, fresh).await?;
        if let Some(found) = refs.resolve(rev) {
            let extra = extra_refspec(&found.name);
            match self
                .ensure_object(&target, found.oid, extra.clone(), rev)
                .await
            {
                Ok(()) => return self.peel_commit(&target, found.oid, rev).await,
                Err(GitError::RevisionNotFound { .. }) => {
                    // The ref moved between the ls-remote and the fetch (force push): take
                    // what the fetch saw.
                    let moved = target
                        .repo
                        .remembered()
                        .and_then(|r| r.resolve(rev))
                        .filter(|r| r.oid != found.oid);
                    if let Some(moved) = moved {
                        self.ensure_object(&target, moved.oid, extra, rev).await?;
                        return self.peel_commit(&target, moved.oid, rev).await;
                    }
                    return Err(self.not_found(&target, rev));
                }
                Err(e) => return Err(e),
            }
        }
        if is_short_sha(rev) {
            return self.resolve_short_sha(&target, rev).await;
        }
        Err(self.not_found(&target, rev))
    }

    /// The repository's branches and tags: from the remembered refs within `fetch_interval`,
    /// else from a new ls-remote.
    pub async fn list_refs(&self, url: &str, auth: &RepoAuth) -> Result<Refs, GitError> {
        let target = self.target(url, auth)?;
        let refs = self.remote_refs(&target, false).await?;
        Ok(Refs {
            branches: refs.branches(),
            tags: refs.tags(),
        })
    }

    /// Checks that the repository can be read with `auth`: always a fresh ls-remote.
    pub async fn test_access(&self, url: &str, auth: &RepoAuth) -> Result<(), GitError> {
        let target = self.target(url, auth)?;
        self.remote_refs(&target, true).await.map(drop)
    }

    /// A read-only export of commit `sha` (40 hex digits), shared by all concurrent holders of
    /// the same (repository, commit) and kept in an LRU of `max_checkouts` after the last
    /// holder drops it. Fetches the commit when the mirror lacks it. Fails with
    /// [`GitError::SymlinkEscape`] when the commit has a symlink that leaves the repository.
    pub async fn checkout(
        &self,
        url: &str,
        auth: &RepoAuth,
        sha: &str,
    ) -> Result<Checkout, GitError> {
        let oid = full_sha(sha.trim()).ok_or_else(|| GitError::InvalidSha {
            sha: sha.to_string(),
        })?;
        let target = self.target(url, auth)?;
        let key: CheckoutKey = (mirror_key(url), oid.to_string());
        if let Some(found) = self.reuse(&key) {
            return Ok(found);
        }
        let pending = {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.entry(key.clone()).or_default().clone()
        };
        let result = async {
            let _exporting = pending.lock().await;
            if let Some(found) = self.reuse(&key) {
                return Ok(found);
            }
            self.ensure_object(&target, oid, None, sha).await?;
            let dir = self.export(&target, oid, sha).await?;
            self.inner
                .counters
                .checkouts_created
                .fetch_add(1, Ordering::Relaxed);
            Ok(self.inner.checkouts.insert(key.clone(), dir))
        }
        .await;
        let mut map = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|p| Arc::ptr_eq(p, &pending))
            && Arc::strong_count(&pending) <= 2
        {
            map.remove(&key);
        }
        result
    }

    /// Author, date, message and tags of commit `sha` (40 hex digits), fetching it when the
    /// mirror lacks it.
    pub async fn commit_metadata(
        &self,
        url: &str,
        auth: &RepoAuth,
        sha: &str,
    ) -> Result<CommitMetadata, GitError> {
        let oid = full_sha(sha.trim()).ok_or_else(|| GitError::InvalidSha {
            sha: sha.to_string(),
        })?;
        let target = self.target(url, auth)?;
        self.ensure_object(&target, oid, None, sha).await?;
        let mirror = target.repo.mirror.clone();
        let display = target.display.clone();
        let revision = sha.to_string();
        blocking(move || {
            let repo = open_mirror(&mirror, &display)?;
            let commit = repo
                .find_object(oid, None)
                .and_then(|o| o.peel_to_commit())
                .map_err(|_| GitError::RevisionNotFound {
                    url: display.clone(),
                    revision,
                })?;
            let author = commit.author();
            let mut tags = vec![];
            let references =
                repo.references_glob("refs/tags/*")
                    .map_err(|source| GitError::Mirror {
                        url: display.clone(),
                        message: "listing tags".into(),
                        source,
                    })?;
            for reference in references.flatten() {
                let points_here = reference
                    .peel_to_commit()
                    .is_ok_and(|c| c.id() == commit.id());
                if points_here && let Ok(name) = reference.shorthand() {
                    tags.push(name.to_string());
                }
            }
            tags.sort();
            Ok(CommitMetadata {
                sha: commit.id().to_string(),
                author: format!(
                    "{} <{}>",
                    String::from_utf8_lossy(author.name_bytes()),
                    String::from_utf8_lossy(author.email_bytes())
                ),
                date: author.when().seconds(),
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
                tags,
            })
        })
        .await
    }

    // ---------------------------------------------------------------------------------------

    fn target<'a>(&self, url: &'a str, auth: &'a RepoAuth) -> Result<Target<'a>, GitError> {
        let display = strip_credentials(url);
        if url.trim().is_empty() {
            return Err(GitError::InvalidUrl { url: display });
        }
        let key = mirror_key(url);
        let repo = {
            let mut repos = self.inner.repos.lock().unwrap_or_else(|p| p.into_inner());
            repos
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(RepoEntry {
                        mirror: self.inner.mirrors_dir.join(&key),
                        net: Arc::default(),
                        memo: Mutex::default(),
                        fetch_gen: AtomicU64::new(0),
                        started: AtomicU64::new(0),
                    })
                })
                .clone()
        };
        Ok(Target {
            url: url.trim(),
            display,
            auth,
            fingerprint: fingerprint(auth),
            repo,
        })
    }

    fn reuse(&self, key: &CheckoutKey) -> Option<Checkout> {
        let found = self.inner.checkouts.get(key)?;
        self.inner
            .counters
            .checkouts_reused
            .fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    fn not_found(&self, target: &Target<'_>, revision: &str) -> GitError {
        GitError::RevisionNotFound {
            url: target.display.clone(),
            revision: revision.to_string(),
        }
    }

    /// The remote's refs: remembered ones within `fetch_interval` (unless `force`), else one
    /// ls-remote shared by everyone waiting.
    async fn remote_refs(
        &self,
        target: &Target<'_>,
        force: bool,
    ) -> Result<Arc<RemoteRefs>, GitError> {
        let interval = self.inner.config.fetch_interval;
        if !force && let Some(refs) = target.repo.fresh_refs(&target.fingerprint, interval) {
            return Ok(refs);
        }
        let arrived = target.repo.started.load(Ordering::Acquire);
        let guard = target.repo.net.clone().lock_owned().await;
        // An ls-remote that started after this call arrived is as good as our own, forced or
        // not; one within the interval only when not forced.
        let reusable = target
            .repo
            .refs_started_after(&target.fingerprint, arrived)
            .or_else(|| {
                (!force)
                    .then(|| target.repo.fresh_refs(&target.fingerprint, interval))
                    .flatten()
            });
        if let Some(refs) = reusable {
            return Ok(refs);
        }
        let started = target.repo.start();
        let (refs, guard) = self
            .network(target, guard, RequestType::LsRemote, |ctx, _| {
                ctx.ls_remote()
            })
            .await?;
        // Remember before releasing the lock, so the waiters find the result.
        let refs = target.repo.remember(target.fingerprint, refs, started);
        drop(guard);
        Ok(refs)
    }

    /// Makes sure the mirror holds object `oid`, fetching (all heads and tags, plus `extra`
    /// refspec) when it does not, and reusing a fetch that completed while this call waited.
    async fn ensure_object(
        &self,
        target: &Target<'_>,
        oid: Oid,
        extra: Option<String>,
        revision: &str,
    ) -> Result<(), GitError> {
        if self.has_object(target, oid).await {
            return Ok(());
        }
        let seen = target.repo.fetch_gen.load(Ordering::Acquire);
        let guard = target.repo.net.clone().lock_owned().await;
        if self.has_object(target, oid).await {
            return Ok(());
        }
        if target.repo.fetch_gen.load(Ordering::Acquire) != seen {
            // A fetch finished while we waited and did not bring it.
            return Err(self.not_found(target, revision));
        }
        let found = self.fetch(target, guard, oid, extra).await?;
        if found {
            Ok(())
        } else {
            Err(self.not_found(target, revision))
        }
    }

    /// Fetches into the mirror (holding `guard`), remembers the advertisement, and tells
    /// whether `want` is now present (after asking for it by id if no ref brought it).
    async fn fetch(
        &self,
        target: &Target<'_>,
        guard: OwnedMutexGuard<()>,
        want: Oid,
        extra: Option<String>,
    ) -> Result<bool, GitError> {
        let started = target.repo.start();
        let result = self
            .network(target, guard, RequestType::Fetch, move |ctx, mirror| {
                let repo = open_or_init_mirror(mirror, ctx.display)?;
                let extra: Vec<String> = extra.into_iter().collect();
                let refs = ctx.fetch(&repo, &extra)?;
                let odb = repo.odb().ok();
                let mut present = odb.as_ref().is_some_and(|o| o.exists(want));
                if !present && !want.is_zero() {
                    // Not reachable from any ref: servers that allow it send it by id.
                    if let Err(e) = ctx.fetch_objects(&repo, &[want]) {
                        tracing::debug!(url = ctx.display, %want, error = %e, "fetch by id failed");
                    }
                    present = Repository::open_bare(mirror)
                        .is_ok_and(|r| r.odb().is_ok_and(|o| o.exists(want)));
                }
                Ok((refs, present))
            })
            .await;
        let ((refs, present), guard) = result?;
        target.repo.remember(target.fingerprint, refs, started);
        target.repo.fetch_gen.fetch_add(1, Ordering::AcqRel);
        drop(guard);
        Ok(present)
    }

    /// A short SHA: looked up in the mirror, fetched for once when missing.
    async fn resolve_short_sha(&self, target: &Target<'_>, rev: &str) -> Result<String, GitError> {
        if let Some(sha) = self.lookup_prefix(target, rev).await? {
            return Ok(sha);
        }
        let seen = target.repo.fetch_gen.load(Ordering::Acquire);
        let guard = target.repo.net.clone().lock_owned().await;
        if target.repo.fetch_gen.load(Ordering::Acquire) == seen {
            self.fetch(target, guard, Oid::ZERO_SHA1, None).await?;
        } else {
            drop(guard);
        }
        self.lookup_prefix(target, rev)
            .await?
            .ok_or_else(|| self.not_found(target, rev))
    }

    async fn lookup_prefix(
        &self,
        target: &Target<'_>,
        rev: &str,
    ) -> Result<Option<String>, GitError> {
        let mirror = target.repo.mirror.clone();
        let display = target.display.clone();
        let rev = rev.to_string();
        blocking(move || {
            let Ok(repo) = Repository::open_bare(&mirror) else {
                return Ok(None);
            };
            match repo.find_object_by_prefix(&rev, None) {
                Ok(object) => match object.peel_to_commit() {
                    Ok(commit) => Ok(Some(commit.id().to_string())),
                    Err(_) => Ok(None),
                },
                Err(e) if e.code() == ErrorCode::Ambiguous => Err(GitError::AmbiguousRevision {
                    url: display,
                    revision: rev,
                }),
                Err(_) => Ok(None),
            }
        })
        .await
    }

    async fn has_object(&self, target: &Target<'_>, oid: Oid) -> bool {
        let mirror = target.repo.mirror.clone();
        blocking(move || {
            Ok(Repository::open_bare(&mirror).is_ok_and(|r| r.odb().is_ok_and(|o| o.exists(oid))))
        })
        .await
        .unwrap_or(false)
    }

    /// The commit `oid` is or peels to (an annotated tag's commit).
    async fn peel_commit(
        &self,
        target: &Target<'_>,
        oid: Oid,
        revision: &str,
    ) -> Result<String, GitError> {
        let mirror = target.repo.mirror.clone();
        let display = target.display.clone();
        let revision = revision.to_string();
        blocking(move || {
            let repo = open_mirror(&mirror, &display)?;
            repo.find_object(oid, None)
                .and_then(|o| o.peel(ObjectType::Commit))
                .map(|c| c.id().to_string())
                .map_err(|_| GitError::RevisionNotFound {
                    url: display,
                    revision,
                })
        })
        .await
    }

    async fn export(
        &self,
        target: &Target<'_>,
        oid: Oid,
        sha: &str,
    ) -> Result<CheckoutDir, GitError> {
        let mirror = target.repo.mirror.clone();
        let display = target.display.clone();
        let limits = self.inner.limits;
        let n = self.inner.next_dir.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}", &oid.to_string()[..12]);
        let tmp = self.inner.checkouts_dir.join(format!(".tmp-{name}"));
        let dest = self.inner.checkouts_dir.join(&name);
        let revision = sha.to_string();
        blocking(move || {
            let repo = open_mirror(&mirror, &display)?;
            let commit = repo
                .find_object(oid, None)
                .and_then(|o| o.peel_to_commit())
                .map_err(|_| GitError::RevisionNotFound {
                    url: display.clone(),
                    revision,
                })?;
            let written =
                export_commit(&repo, commit.id(), &tmp, limits, &display).and_then(|()| {
                    fs::rename(&tmp, &dest).map_err(|e| GitError::io("renaming checkout", &tmp, e))
                });
            if let Err(e) = written {
                if tmp.exists() {
                    let _ = fs::remove_dir_all(&tmp);
                }
                return Err(e);
            }
            Ok(CheckoutDir {
                path: dest,
                sha: commit.id().to_string(),
            })
        })
        .await
    }

    /// Runs network operation `op` on a blocking thread holding `guard`, bounded by
    /// `op_timeout`, counted in stats and metrics. On success the guard comes back, so the
    /// caller can record the outcome before others get the lock; on timeout it stays with
    /// the abandoned blocking task until libgit2 returns.
    async fn network<T, F>(
        &self,
        target: &Target<'_>,
        guard: OwnedMutexGuard<()>,
        kind: RequestType,
        op: F,
    ) -> Result<(T, OwnedMutexGuard<()>), GitError>
    where
        T: Send + 'static,
        F: FnOnce(&NetCtx<'_>, &Path) -> Result<T, GitError> + Send + 'static,
    {
        let counter = match kind {
            RequestType::LsRemote => &self.inner.counters.ls_remotes,
            RequestType::Fetch => &self.inner.counters.fetches,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let op_timeout = self.inner.config.op_timeout;
        let url = target.url.to_string();
        let display = target.display.clone();
        let auth = target.auth.clone();
        let mirror = target.repo.mirror.clone();
        let known_hosts = self
            .inner
            .known_hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let started = Instant::now();
        let task = tokio::task::spawn_blocking(move || {
            let ctx = NetCtx {
                url: &url,
                display: &display,
                auth: &auth,
                known_hosts: known_hosts.as_deref(),
                deadline: started + op_timeout,
                op_timeout,
            };
            op(&ctx, &mirror).map(|value| (value, guard))
        });
        let result = match tokio::time::timeout(op_timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(GitError::Task(join.to_string())),
            Err(_) => Err(GitError::Timeout {
                url: target.display.clone(),
                op: kind.as_str(),
                after: op_timeout,
            }),
        };
        self.inner
            .metrics
            .observe(&target.display, kind, started.elapsed(), result.is_ok());
        if let Err(e) = &result {
            tracing::warn!(url = %target.display, op = kind.as_str(), error = %e, "git request failed");
        }
        result
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, GitError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, GitError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| GitError::Task(e.to_string()))?
}

fn open_mirror(path: &Path, display: &str) -> Result<Repository, GitError> {
    Repository::open_bare(path).map_err(|source| GitError::Mirror {
        url: display.to_string(),
        message: "opening the mirror".into(),
        source,
    })
}

fn open_or_init_mirror(path: &Path, display: &str) -> Result<Repository, GitError> {
    if let Ok(repo) = Repository::open_bare(path) {
        return Ok(repo);
    }
    Repository::init_bare(path).map_err(|source| GitError::Mirror {
        url: display.to_string(),
        message: "creating the mirror".into(),
        source,
    })
}

/// A refspec for a resolved ref outside heads and tags (e.g. `refs/pull/1/head`), which the
/// mirror refspecs do not bring.
fn extra_refspec(name: &str) -> Option<String> {
    (name.starts_with("refs/")
        && !name.starts_with("refs/heads/")
        && !name.starts_with("refs/tags/"))
    .then(|| format!("+{name}:{name}"))
}

fn full_sha(rev: &str) -> Option<Oid> {
    (rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| Oid::from_str(rev).ok())
        .flatten()
}

/// 4 to 39 hex digits (git's minimum abbreviation is 4).
fn is_short_sha(rev: &str) -> bool {
    (4..40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A digest of the credentials, so remembered refs are only reused with the same ones.
fn fingerprint(auth: &RepoAuth) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |tag: &str, value: &str| {
        h.update(tag.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value.as_bytes());
    };
    match &auth.kind {
        AuthKind::None => field("none", ""),
        AuthKind::UserPass { username, password } => {
            field("user", username);
            field("pass", password);
        }
        AuthKind::SshKey {
            private_key,
            known_hosts,
        } => {
            field("key", private_key);
            field("known_hosts", known_hosts.as_deref().unwrap_or_default());
        }
    }
    field("insecure", if auth.insecure { "1" } else { "0" });
    h.finalize().into()
}

/// Removes `*.lock` files a crashed process left in the mirrors (libgit2 refuses to update a
/// locked ref or config). Best effort.
fn remove_stale_locks(mirrors_dir: &Path) {
    fn walk(dir: &Path, depth: u32) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 8 && entry.file_name() != "objects" {
                walk(&path, depth + 1);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                let _ = fs::remove_file(&path);
            }
        }
    }
    walk(mirrors_dir, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_shapes() {
        assert!(full_sha("0123456789abcdef0123456789abcdef01234567").is_some());
        assert!(full_sha("0123456789ABCDEF0123456789abcdef01234567").is_some());
        assert!(full_sha("0123456789abcdef0123456789abcdef0123456").is_none());
        assert!(full_sha("g123456789abcdef0123456789abcdef01234567").is_none());
        assert!(is_short_sha("abcd"));
        assert!(is_short_sha("abcdef1"));
        assert!(!is_short_sha("abc"));
        assert!(!is_short_sha("main"));
        assert!(!is_short_sha("0123456789abcdef0123456789abcdef01234567"));
    }

    #[test]
    fn extra_refspecs() {
        assert_eq!(extra_refspec("refs/heads/main"), None);
        assert_eq!(extra_refspec("refs/tags/v1"), None);
        assert_eq!(extra_refspec("HEAD"), None);
        assert_eq!(
            extra_refspec("refs/pull/1/head").as_deref(),
            Some("+refs/pull/1/head:refs/pull/1/head")
        );
    }

    #[test]
    fn fingerprints_differ_by_secret() {
        let a = fingerprint(&RepoAuth::user_pass("u", "p1"));
        let b = fingerprint(&RepoAuth::user_pass("u", "p2"));
        let c = fingerprint(&RepoAuth::user_pass("up", "1"));
        let d = fingerprint(&RepoAuth::user_pass("u", "p1"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, d);
        assert_ne!(
            fingerprint(&RepoAuth::none()),
            fingerprint(&RepoAuth {
                insecure: true,
                ..RepoAuth::none()
            })
        );
    }

    #[tokio::test]
    async fn new_store_layout_and_metrics() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("checkouts/stale")).unwrap();
        fs::create_dir_all(root.path().join("mirrors/abc/refs/heads")).unwrap();
        fs::write(root.path().join("mirrors/abc/refs/heads/main.lock"), "").unwrap();
        let mut registry = Registry::default();
        let store = GitStore::new(GitConfig::new(root.path()), &mut registry).unwrap();
        assert!(!root.path().join("checkouts/stale").exists());
        assert!(
            !root
                .path()
                .join("mirrors/abc/refs/heads/main.lock")
                .exists()
        );
        assert_eq!(store.stats(), GitStats::default());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        // Families are exposed once they have a series.
        assert!(!text.contains("argocd_git_request_total"), "{text}");
        // invalid input is refused before any IO
        let auth = RepoAuth::none();
        assert!(matches!(
            store.checkout("https://h/r", &auth, "main").await,
            Err(GitError::InvalidSha { .. })
        ));
        assert!(matches!(
            store.resolve_revision(" ", &auth, "main").await,
            Err(GitError::InvalidUrl { .. })
        ));
    }
}
