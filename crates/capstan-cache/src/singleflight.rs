//! Single-flight: concurrent calls with the same key share one execution.
//!
//! The repo-server uses it so that a hundred Applications asking for the same
//! (repository, commit, path) at once render it once, then all read the result.
//!
//! ## Cancellation
//!
//! Each caller brings its own future. The first caller for a key (the *leader*) runs its
//! future; later callers (*waiters*) wait for the leader's result and drop their own future
//! unpolled. If the leader is cancelled — its caller dropped, a timeout, an aborted task —
//! or its future panics, the waiters are woken and one of them becomes the new leader and
//! runs *its* future; the others wait for that one. So a waiter always gets a result, and
//! nothing is spawned: futures need not be `Send` or `'static` and may borrow the caller's
//! data. The price is that a cancelled leader's partial work is lost and done again.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The state of one in-flight call, broadcast to its waiters.
#[derive(Clone)]
enum State<V> {
    Running,
    Done(V),
    /// The leader went away without a result: a waiter must take over.
    Abandoned,
}

enum Role<V> {
    Lead(Arc<Call<V>>),
    Wait(watch::Receiver<State<V>>),
}

struct Call<V> {
    state: watch::Sender<State<V>>,
}

/// A set of in-flight calls, keyed by `K`, each producing a `V` shared by every caller.
pub struct Group<K, V> {
    calls: Mutex<HashMap<K, Arc<Call<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Group<K, V> {
    /// An empty group.
    pub fn new() -> Self {
        Group {
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f`, unless a call with the same `key` is already running: then waits for that
    /// call's result instead and returns a clone of it (dropping `f` unpolled). The key is
    /// free again as soon as the result is ready, so a later call runs afresh.
    ///
    /// Cancellation-safe: see the [module documentation](self).
    pub async fn run<F: Future<Output = V>>(&self, key: K, f: F) -> V {
        loop {
            // Decide under the lock, act after it: the guard must not live across an await
            // (that would make this future `!Send`).
            let role = {
                let mut calls = self.lock();
                match calls.get(&key) {
                    Some(call) => Role::Wait(call.state.subscribe()),
                    None => {
                        let call = Arc::new(Call {
                            state: watch::Sender::new(State::Running),
                        });
                        calls.insert(key.clone(), call.clone());
                        Role::Lead(call)
                    }
                }
            };
            let mut receiver = match role {
                Role::Lead(call) => return self.lead(key, call, f).await,
                Role::Wait(receiver) => receiver,
            };
            let outcome = receiver
                .wait_for(|s| !matches!(s, State::Running))
                .await
                .map(|state| state.clone());
            match outcome {
                Ok(State::Done(value)) => return value,
                // Abandoned (or the sender vanished, which only an abandon does): go round,
                // to lead or to join whoever leads now.
                Ok(State::Running | State::Abandoned) | Err(_) => {}
            }
        }
    }

    /// The number of keys with a call in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    async fn lead<F: Future<Output = V>>(&self, key: K, call: Arc<Call<V>>, f: F) -> V {
        let mut guard = Leader {
            group: self,
            key: Some(key),
            call,
        };
        let value = f.await;
        guard.finish(State::Done(value.clone()));
        value
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Call<V>>>> {
        // The map is consistent between statements; a panic elsewhere cannot corrupt it.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Group<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for Group<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let in_flight = self
            .calls
            .lock()
            .map(|c| c.len())
            .unwrap_or_else(|e| e.into_inner().len());
        f.debug_struct("Group")
            .field("in_flight", &in_flight)
            .finish()
    }
}

/// Removes the leader's call from the group and tells its waiters how it ended — with a
/// value, or (when dropped before that: cancelled or panicked) abandoned.
struct Leader<'g, K: Hash + Eq + Clone, V: Clone> {
    group: &'g Group<K, V>,
    key: Option<K>,
    call: Arc<Call<V>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Leader<'_, K, V> {
    fn finish(&mut self, state: State<V>) {
        let Some(key) = self.key.take() else { return };
        {
            let mut calls = self.group.lock();
            // Remove only our own call: never one a later leader put under the same key.
            if calls.get(&key).is_some_and(|c| Arc::ptr_eq(c, &self.call)) {
                calls.remove(&key);
            }
        }
        self.call.state.send_replace(state);
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        self.finish(State::Abandoned);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::future::join_all;
    use tokio::sync::Notify;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hundred_identical_calls_run_once() {
        let group = Arc::new(Group::<String, u64>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (group, runs, gate) = (group.clone(), runs.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                group
                    .run("repo@abc:apps/x".to_string(), async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        42
                    })
                    .await
            }));
        }
        // Hold the leader until all 99 others are waiting on it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting = {
                let calls = group.lock();
                calls
                    .values()
                    .map(|c| c.state.receiver_count())
                    .sum::<usize>()
            };
            if waiting == 99 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{waiting} waiting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gate.notify_one();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(group.in_flight(), 0);
    }

    #[tokio::test]
    async fn different_keys_run_separately() {
        let group = Group::<u32, u32>::new();
        let runs = &AtomicUsize::new(0);
        let calls = (0..10).map(|k| {
            group.run(k % 5, async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                k % 5 * 10
            })
        });
        let results = join_all(calls).await;
        assert_eq!(results, vec![0, 10, 20, 30, 40, 0, 10, 20, 30, 40]);
        assert_eq!(runs.load(Ordering::SeqCst), 5, "one run per distinct key");
    }

    #[tokio::test]
    async fn sequential_calls_run_afresh() {
        let group = Group::<&str, usize>::new();
        let runs = AtomicUsize::new(0);
        for want in 1..=3 {
            let got = group
                .run("k", async { runs.fetch_add(1, Ordering::SeqCst) + 1 })
                .await;
            assert_eq!(got, want);
        }
        assert_eq!(group.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_takes_over_when_the_leader_is_cancelled() {
        let group = Arc::new(Group::<&'static str, &'static str>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let leader_started = Arc::new(Notify::new());

        let leader = tokio::spawn({
            let (group, runs, started) = (group.clone(), runs.clone(), leader_started.clone());
            async move {
                group
                    .run("k", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        started.notify_one();
                        std::future::pending::<()>().await;
                        "leader"
                    })
                    .await
            }
        });
        leader_started.notified().await;

        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                tokio::spawn(async move {
                    group
                        .run("k", async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            "waiter"
                        })
                        .await
                })
            })
            .collect();
        // All five are waiting on the leader.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while group.lock().get("k").map(|c| c.state.receiver_count()) != Some(5) {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());

        for waiter in waiters {
            let got = tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("a waiter hung after the leader was cancelled")
                .unwrap();
            assert_eq!(got, "waiter");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the cancelled leader, then exactly one waiter taking over"
        );
        assert_eq!(group.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_future_hands_over_without_spawning() {
        // Single-threaded, borrowed data, no spawn: the leader's future is simply dropped
        // (as by `select!` or a timeout) while a waiter is polled in the same task.
        let group = Group::<u8, String>::new();
        let owned = String::from("borrowed by the future");
        let mut leader = Box::pin(group.run(1, std::future::pending::<String>()));
        let mut waiter = Box::pin(group.run(1, async { owned.clone() }));
        // Poll both once: the leader registers, the waiter subscribes.
        assert!(futures::poll!(leader.as_mut()).is_pending());
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        assert_eq!(group.in_flight(), 1);
        // Cancel the leader.
        drop(leader);
        let got = tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("waiter hung");
        assert_eq!(got, "borrowed by the future");
    }

    #[tokio::test]
    async fn a_panicking_leader_hands_over() {
        let group = Arc::new(Group::<u8, u8>::new());
        let gate = Arc::new(Notify::new());
        let leader = tokio::spawn({
            let (group, gate) = (group.clone(), gate.clone());
            async move {
                group
                    .run(1, async move {
                        gate.notified().await;
                        panic!("render blew up");
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        let waiter = tokio::spawn({
            let group = group.clone();
            async move { group.run(1, async { 7 }).await }
        });
        tokio::task::yield_now().await;
        gate.notify_one();
        assert!(leader.await.unwrap_err().is_panic());
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), waiter)
                .await
                .unwrap()
                .unwrap(),
            7
        );
    }
}
