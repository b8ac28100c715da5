//! Commit checkouts: exporting a commit's tree to disk (no `.git`), refusing symlinks that
//! leave it, and sharing each export between concurrent holders with an LRU of idle ones.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::error::GitError;

/// Size limits of one checkout, against commits that would fill the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutLimits {
    /// The most files (blobs and symlinks) a commit may have.
    pub max_files: usize,
    /// The most bytes all its files may have together.
    pub max_bytes: u64,
}

impl Default for CheckoutLimits {
    /// 250 000 files, 2 GiB.
    fn default() -> Self {
        CheckoutLimits {
            max_files: 250_000,
            max_bytes: 2 << 30,
        }
    }
}

/// A read-only export of one commit's tree, shared by every concurrent holder of the same
/// (repository, commit). The directory stays while any clone is alive, then is kept in an LRU
/// of idle checkouts (`GitConfig::max_checkouts`) and deleted when it falls out.
///
/// Holders must not modify the files (copy them first): other holders see the same directory.
#[derive(Clone)]
pub struct Checkout {
    holder: Arc<Holder>,
}

impl Checkout {
    /// The checkout's root directory (the repository's top level).
    pub fn path(&self) -> &Path {
        &self.holder.dir.path
    }

    /// The full commit SHA checked out.
    pub fn sha(&self) -> &str {
        &self.holder.dir.sha
    }
}

impl fmt::Debug for Checkout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkout")
            .field("path", &self.path())
            .field("sha", &self.sha())
            .finish()
    }
}

/// The directory on disk; deleted when the last reference goes.
#[derive(Debug)]
pub(crate) struct CheckoutDir {
    pub path: PathBuf,
    pub sha: String,
}

impl Drop for CheckoutDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "removing checkout failed");
        }
    }
}

/// All live `Checkout` clones of one directory share one holder; its drop marks the
/// directory idle.
struct Holder {
    dir: Arc<CheckoutDir>,
    key: CheckoutKey,
    cache: Weak<Mutex<CacheState>>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(cache) = self.cache.upgrade() {
            let evicted = {
                let mut state = cache.lock().unwrap_or_else(|p| p.into_inner());
                state.release(&self.key)
            };
            // Directories are removed outside the lock.
            drop(evicted);
        }
    }
}

pub(crate) type CheckoutKey = (String, String);

struct Entry {
    dir: Arc<CheckoutDir>,
    holder: Weak<Holder>,
    /// Tick of the last release; larger is more recent.
    last_used: u64,
}

#[derive(Default)]
pub(crate) struct CacheState {
    entries: HashMap<CheckoutKey, Entry>,
    tick: u64,
    max_idle: usize,
}

impl CacheState {
    /// The holder was dropped: the entry becomes idle (unless someone took it again in the
    /// meantime), and idle entries beyond `max_idle` are evicted, oldest first.
    fn release(&mut self, key: &CheckoutKey) -> Vec<Arc<CheckoutDir>> {
        self.tick += 1;
        let tick = self.tick;
        if let Some(entry) = self.entries.get_mut(key)
            && entry.holder.strong_count() == 0
        {
            entry.last_used = tick;
        }
        self.evict()
    }

    fn evict(&mut self) -> Vec<Arc<CheckoutDir>> {
        let mut idle: Vec<(u64, CheckoutKey)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.holder.strong_count() == 0)
            .map(|(k, e)| (e.last_used, k.clone()))
            .collect();
        if idle.len() <= self.max_idle {
            return vec![];
        }
        idle.sort();
        let excess = idle.len() - self.max_idle;
        idle.into_iter()
            .take(excess)
            .filter_map(|(_, key)| self.entries.remove(&key).map(|e| e.dir))
            .collect()
    }
}

/// The shared cache of checkouts.
#[derive(Clone)]
pub(crate) struct CheckoutCache {
    state: Arc<Mutex<CacheState>>,
}

impl CheckoutCache {
    pub(crate) fn new(max_idle: usize) -> Self {
        CheckoutCache {
            state: Arc::new(Mutex::new(CacheState {
                max_idle,
                ..CacheState::default()
            })),
        }
    }

    /// The checkout of `key` if it exists (live or idle).
    pub(crate) fn get(&self, key: &CheckoutKey) -> Option<Checkout> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.entries.get_mut(key)?;
        if let Some(holder) = entry.holder.upgrade() {
            return Some(Checkout { holder });
        }
        let holder = Arc::new(Holder {
            dir: entry.dir.clone(),
            key: key.clone(),
            cache: Arc::downgrade(&self.state),
        });
        entry.holder = Arc::downgrade(&holder);
        Some(Checkout { holder })
    }

    /// Registers a fresh export and returns its first holder.
    pub(crate) fn insert(&self, key: CheckoutKey, dir: CheckoutDir) -> Checkout {
        let dir = Arc::new(dir);
        let holder = Arc::new(Holder {
            dir: dir.clone(),
            key: key.clone(),
            cache: Arc::downgrade(&self.state),
        });
        let evicted = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.entries.insert(
                key,
                Entry {
                    dir,
                    holder: Arc::downgrade(&holder),
                    last_used: 0,
                },
            );
            state.evict()
        };
        drop(evicted);
        Checkout { holder }
    }

    /// How many checkouts exist (live and idle).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }
}

/// Git's file modes.
const MODE_EXEC: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;
const MODE_GITLINK: i32 = 0o160000;

enum Item {
    Dir,
    File { oid: Oid, exec: bool },
    Link { target: String },
}

/// Writes the tree of `commit` into the new directory `dest`. Nothing is written when the
/// tree is refused (unsafe name, escaping symlink, over the limits); a partly written
/// directory is the caller's to remove.
pub(crate) fn export_commit(
    repo: &Repository,
    commit: Oid,
    dest: &Path,
    limits: CheckoutLimits,
    display_url: &str,
) -> Result<(), GitError> {
    let mirror_err = |message: String| {
        move |source: git2::Error| GitError::Mirror {
            url: display_url.to_string(),
            message,
            source,
        }
    };
    let sha = commit.to_string();
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(mirror_err(format!("reading the tree of {sha}")))?;

    // 1. Collect and vet every entry before writing anything.
    let mut items: BTreeMap<String, Item> = BTreeMap::new();
    let mut problem: Option<GitError> = None;
    let (mut files, mut bytes) = (0usize, 0u64);
    let odb = repo
        .odb()
        .map_err(mirror_err("opening the object database".into()))?;
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let path = format!("{parent}{name}");
        if !safe_name(&name) {
            problem = Some(GitError::UnsafePath {
                url: display_url.to_string(),
                sha: sha.clone(),
                path,
            });
            return TreeWalkResult::Abort;
        }
        let mode = entry.filemode();
        let item = match entry.kind() {
            Some(ObjectType::Tree) => Item::Dir,
            Some(ObjectType::Blob) if mode == MODE_LINK => match repo.find_blob(entry.id()) {
                Ok(blob) => Item::Link {
                    target: String::from_utf8_lossy(blob.content()).into_owned(),
                },
                Err(e) => {
                    problem = Some(mirror_err(format!("reading symlink {path}"))(e));
                    return TreeWalkResult::Abort;
                }
            },
            Some(ObjectType::Blob) => {
                let size = match odb.read_header(entry.id()) {
                    Ok((size, _)) => size as u64,
                    Err(e) => {
                        problem = Some(mirror_err(format!("reading {path}"))(e));
                        return TreeWalkResult::Abort;
                    }
                };
                bytes += size;
                Item::File {
                    oid: entry.id(),
                    exec: mode == MODE_EXEC,
                }
            }
            _ if mode == MODE_GITLINK => {
                tracing::info!(
                    url = display_url,
                    sha,
                    path,
                    "skipping submodule (gitlink): submodules are not checked out"
                );
                Item::Dir
            }
            _ => return TreeWalkResult::Skip,
        };
        if !matches!(item, Item::Dir) {
            files += 1;
        }
        if files > limits.max_files || bytes > limits.max_bytes {
            problem = Some(GitError::CheckoutTooLarge {
                url: display_url.to_string(),
                sha: sha.clone(),
                what: if files > limits.max_files {
                    format!("more than {} files", limits.max_files)
                } else {
                    format!("more than {} bytes", limits.max_bytes)
                },
            });
            return TreeWalkResult::Abort;
        }
        // A submodule is a leaf; for real trees the walk descends.
        items.insert(path, item);
        TreeWalkResult::Ok
    })
    .or_else(|e| if problem.is_some() { Ok(()) } else { Err(e) })
    .map_err(mirror_err(format!("walking the tree of {sha}")))?;
    if let Some(problem) = problem {
        return Err(problem);
    }
    let links: BTreeMap<&str, &str> = items
        .iter()
        .filter_map(|(p, i)| match i {
            Item::Link { target } => Some((p.as_str(), target.as_str())),
            _ => None,
        })
        .collect();
    for (path, target) in &links {
        check_symlink(path, target, &links)?;
    }

    // 2. Write.
    fs::create_dir(dest).map_err(|e| GitError::io("creating checkout", dest, e))?;
    for (path, item) in &items {
        let full = dest.join(path);
        match item {
            Item::Dir => {
                fs::create_dir(&full).map_err(|e| GitError::io("creating directory", &full, e))?
            }
            Item::File { oid, exec } => {
                let blob = repo
                    .find_blob(*oid)
                    .map_err(mirror_err(format!("reading {path}")))?;
                let mut file =
                    fs::File::create(&full).map_err(|e| GitError::io("writing", &full, e))?;
                file.write_all(blob.content())
                    .map_err(|e| GitError::io("writing", &full, e))?;
                let mode = if *exec { 0o755 } else { 0o644 };
                file.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|e| GitError::io("setting permissions of", &full, e))?;
            }
            Item::Link { target } => std::os::unix::fs::symlink(target, &full)
                .map_err(|e| GitError::io("creating symlink", &full, e))?,
        }
    }
    Ok(())
}

/// A tree entry name that can be written as one path component.
fn safe_name(name: &str) -> bool {
    !(name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.eq_ignore_ascii_case(".git"))
}

/// Most symlinks followed while resolving one (Linux's limit).
const MAX_HOPS: u32 = 40;

/// Resolves the symlink at `path` (relative, `/`-separated) inside the tree, following the
/// tree's other symlinks the way the kernel would, and fails when any step leaves the root or
/// the target is absolute. Argo CD checks each symlink's target lexically; following the
/// chain also catches `a/b/up -> ../..` followed by `x -> a/b/up/..`.
fn check_symlink(path: &str, target: &str, links: &BTreeMap<&str, &str>) -> Result<(), GitError> {
    let escape = || GitError::SymlinkEscape {
        path: path.to_string(),
        target: target.to_string(),
    };
    let mut stack: Vec<&str> = path.split('/').collect();
    stack.pop();
    let mut hops = 0;
    resolve(&mut stack, target, links, &mut hops).map_err(|()| escape())
}

fn resolve<'a>(
    stack: &mut Vec<&'a str>,
    target: &'a str,
    links: &BTreeMap<&'a str, &'a str>,
    hops: &mut u32,
) -> Result<(), ()> {
    if target.starts_with('/') || target.is_empty() {
        return Err(());
    }
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                stack.pop().ok_or(())?;
            }
            name => {
                stack.push(name);
                let here = stack.join("/");
                if let Some(next) = links.get(here.as_str()) {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        return Err(());
                    }
                    stack.pop();
                    resolve(stack, next, links, hops)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Symlinks of a tree (path, target), and the one refused (if any).
    type LinkCase = (
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
    );

    #[test]
    fn symlink_table() {
        let cases: &[LinkCase] = &[
            (&[("a/link", "../b/file")], None),
            (&[("link", "dir/sub/../file")], None),
            (&[("link", "./x")], None),
            (&[("a/b/link", "../../c")], None),
            // escapes
            (&[("link", "/etc/passwd")], Some("link")),
            (&[("link", "..")], Some("link")),
            (&[("a/link", "../../etc")], Some("a/link")),
            (&[("link", "dir/../../x")], Some("link")),
            (&[("link", "")], Some("link")),
            // each link alone stays inside, but following the chain leaves
            (&[("a/b/up", "../.."), ("x", "a/b/up/..")], Some("x")),
            // a link through a link into a deeper directory and back up is fine
            (&[("d", "sub/deep"), ("e", "d/..")], None),
            // loops are refused
            (&[("l1", "l2"), ("l2", "l1")], Some("l1")),
        ];
        for (links, want) in cases {
            let map: BTreeMap<&str, &str> = links.iter().copied().collect();
            let got = map
                .iter()
                .find_map(|(p, t)| check_symlink(p, t, &map).err())
                .map(|e| match e {
                    GitError::SymlinkEscape { path, .. } => path,
                    other => panic!("{other}"),
                });
            assert_eq!(got.as_deref(), *want, "{links:?}");
        }
    }

    #[test]
    fn unsafe_names() {
        for bad in ["", ".", "..", ".git", ".GIT", "a/b", "a\\b"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
        for good in ["a", ".github", "..a", "git", ".gitignore"] {
            assert!(safe_name(good), "{good:?}");
        }
    }

    #[test]
    fn lru_keeps_the_most_recent_idle_checkouts() {
        let root = tempfile::tempdir().unwrap();
        let cache = CheckoutCache::new(2);
        let mk = |n: &str| {
            let path = root.path().join(n);
            fs::create_dir(&path).unwrap();
            (
                ("repo".to_string(), n.to_string()),
                CheckoutDir {
                    path,
                    sha: n.to_string(),
                },
            )
        };
        let (ka, a) = mk("a");
        let (kb, b) = mk("b");
        let (kc, c) = mk("c");
        let a = cache.insert(ka.clone(), a);
        let a2 = a.clone();
        let b = cache.insert(kb.clone(), b);
        let c = cache.insert(kc.clone(), c);
        // all held: nothing is evicted even above the limit
        assert_eq!(cache.len(), 3);
        drop(a);
        assert!(root.path().join("a").exists(), "a is still held by a2");
        drop(a2); // idle: a
        drop(b); // idle: a, b
        assert_eq!(cache.len(), 3);
        drop(c); // idle: a, b, c -> a is evicted
        assert_eq!(cache.len(), 2);
        assert!(!root.path().join("a").exists());
        assert!(cache.get(&ka).is_none());
        // taking b again makes it live; it survives more releases
        let b = cache.get(&kb).unwrap();
        assert_eq!(b.sha(), "b");
        let (kd, d) = mk("d");
        drop(cache.insert(kd, d)); // idle: c, d (+ b live)
        assert!(root.path().join("b").exists() && root.path().join("c").exists());
        drop(b); // idle: c, d, b -> c evicted
        assert!(!root.path().join("c").exists());
        assert!(root.path().join("b").exists() && root.path().join("d").exists());
    }
}
