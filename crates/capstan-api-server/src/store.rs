//! In-memory copies of the objects the API serves most (Applications, AppProjects,
//! ApplicationSets), kept current by a Kubernetes watch, ordered by name for stable pagination,
//! with a broadcast of every change for the watch streams.
//!
//! Lists, filters and pages never touch the Kubernetes API: a page of 100 out of thousands of
//! apps is a range scan of a `BTreeMap`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// It appeared.
    Added,
    /// It changed.
    Modified,
    /// It is gone (the object is its last state).
    Deleted,
}

/// One change.
#[derive(Debug)]
pub struct Event<K> {
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before it, when deleted).
    pub object: Arc<K>,
}

impl<K> Clone for Event<K> {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            object: self.object.clone(),
        }
    }
}

struct Inner<K> {
    items: RwLock<BTreeMap<String, Arc<K>>>,
    /// The highest resourceVersion seen (of a change or a deletion), 0 before any.
    latest: std::sync::atomic::AtomicU64,
    events: broadcast::Sender<Event<K>>,
    ready: watch::Sender<bool>,
}

/// A watched, name-ordered copy of one namespace's objects of a kind.
pub struct Store<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K> Debug for Store<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field(
                "len",
                &self.inner.items.read().map(|i| i.len()).unwrap_or(0),
            )
            .finish()
    }
}

impl<K> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An empty store; [`run`](Self::run) fills it.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let (ready, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                items: RwLock::new(BTreeMap::new()),
                latest: std::sync::atomic::AtomicU64::new(0),
                events,
                ready,
            }),
        }
    }

    /// Keeps the store in step with `api` until the task is dropped. Watch errors are retried
    /// with backoff; after a re-list, objects that disappeared meanwhile are reported deleted.
    pub async fn run(self, api: Api<K>) {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut relisted: Option<BTreeSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => relisted = Some(BTreeSet::new()),
                Ok(watcher::Event::InitApply(obj)) => {
                    if let Some(seen) = relisted.as_mut() {
                        seen.insert(obj.name_any());
                    }
                    self.upsert(obj);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(seen) = relisted.take() {
                        let gone: Vec<String> = self
                            .read()
                            .keys()
                            .filter(|k| !seen.contains(*k))
                            .cloned()
                            .collect();
                        for name in gone {
                            self.remove(&name);
                        }
                    }
                    self.inner.ready.send_replace(true);
                }
                Ok(watcher::Event::Apply(obj)) => self.upsert(obj),
                Ok(watcher::Event::Delete(obj)) => {
                    self.note_version(&obj);
                    self.remove(&obj.name_any());
                }
                Err(e) => tracing::warn!("watch: {e}; retrying"),
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<K>>> {
        self.inner.items.read().unwrap_or_else(|p| p.into_inner())
    }

    fn note_version(&self, obj: &K) {
        if let Some(rv) = obj.resource_version().and_then(|rv| rv.parse::<u64>().ok()) {
            self.inner
                .latest
                .fetch_max(rv, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The newest resourceVersion this copy has seen (Kubernetes' versions are etcd revisions:
    /// numbers that grow across the namespace). A watch from it misses no later change.
    pub fn resource_version(&self) -> Option<u64> {
        Some(self.inner.latest.load(std::sync::atomic::Ordering::Relaxed)).filter(|v| *v > 0)
    }

    fn upsert(&self, obj: K) {
        self.note_version(&obj);
        let name = obj.name_any();
        let obj = Arc::new(obj);
        let previous = self
            .inner
            .items
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, obj.clone());
        let kind = match previous {
            None => EventType::Added,
            Some(prev) if prev.resource_version() == obj.resource_version() => return,
            Some(_) => EventType::Modified,
        };
        let _ = self.inner.events.send(Event { kind, object: obj });
    }

    fn remove(&self, name: &str) {
        let removed = self
            .inner
            .items
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(object) = removed {
            let _ = self.inner.events.send(Event {
                kind: EventType::Deleted,
                object,
            });
        }
    }

    /// Records an object the caller just wrote, so that reads that follow see it even before
    /// the watch delivers it. Older versions never replace newer ones: the watch wins ties.
    pub fn observe(&self, obj: K) {
        let newer = match self.get(&obj.name_any()) {
            Some(current) => rv_newer(obj.resource_version(), current.resource_version()),
            None => true,
        };
        if newer {
            self.upsert(obj);
        }
    }

    /// The object named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.read().get(name).cloned()
    }

    /// Every object, by name.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Collects, in name order and starting after `after`, the objects `keep` accepts, until
    /// `limit` (0 = no limit) are found. Returns them and whether more accepted objects follow.
    pub fn page(
        &self,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&K) -> bool,
    ) -> (Vec<Arc<K>>, bool) {
        use std::ops::Bound;
        let items = self.read();
        let start = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Unbounded,
        };
        let mut page = Vec::new();
        for (_, obj) in items.range((start, Bound::Unbounded)) {
            if !keep(obj) {
                continue;
            }
            if limit != 0 && page.len() == limit {
                return (page, true);
            }
            page.push(obj.clone());
        }
        (page, false)
    }

    /// Like [`page`](Self::page), and counts the accepted objects after the page: `(page,
    /// remaining)`. Walks every object after `after` (with `keep` on each), where `page` stops
    /// at the first one past the page.
    pub fn page_counted(
        &self,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&K) -> bool,
    ) -> (Vec<Arc<K>>, usize) {
        use std::ops::Bound;
        let items = self.read();
        let start = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Unbounded,
        };
        let mut page = Vec::new();
        let mut remaining = 0;
        for (_, obj) in items.range((start, Bound::Unbounded)) {
            if !keep(obj) {
                continue;
            }
            if limit != 0 && page.len() == limit {
                remaining += 1;
            } else {
                page.push(obj.clone());
            }
        }
        (page, remaining)
    }

    /// Every later change.
    pub fn subscribe(&self) -> broadcast::Receiver<Event<K>> {
        self.inner.events.subscribe()
    }

    /// Waits for the first complete list.
    pub async fn ready(&self) {
        let mut ready = self.inner.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Whether the first complete list has arrived.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }
}

impl<K> Default for Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

/// Whether resourceVersion `a` is newer than `b`. Kubernetes says resourceVersions are opaque,
/// but etcd's are integers; anything else counts as newer (the watch corrects it).
pub(crate) fn rv_newer(a: Option<String>, b: Option<String>) -> bool {
    match (
        a.as_deref().and_then(|a| a.parse::<u64>().ok()),
        b.as_deref().and_then(|b| b.parse::<u64>().ok()),
    ) {
        (Some(a), Some(b)) => a > b,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::rv_newer;

    #[test]
    fn resource_versions_compare_as_numbers() {
        let rv = |s: &str| Some(s.to_owned());
        for (a, b, newer) in [
            (rv("10"), rv("9"), true),
            (rv("9"), rv("10"), false),
            (rv("10"), rv("10"), false),
            (None, rv("1"), true),
            (rv("x"), rv("1"), true),
        ] {
            assert_eq!(rv_newer(a.clone(), b.clone()), newer, "{a:?} vs {b:?}");
        }
    }
}
