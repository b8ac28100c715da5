//! Reaching every replica of a component, not just one.
//!
//! A tonic channel to `http://capstan-repo-server:8081` keeps one HTTP/2 connection to
//! whichever pod the Service picked when it connected, so repo-server replicas added later (by
//! hand or by an HPA) get no traffic from a running controller or api-server. [`Balanced`]
//! resolves the host name again every [`REFRESH`] and spreads calls round-robin over one lazily
//! connected channel per address: behind a *headless* Service that is every ready pod, behind
//! a normal Service the one ClusterIP, as before. A comma-separated list of URLs is balanced
//! the same way.
//!
//! Each address's channel reconnects by itself, so a replica that comes back is used again. A
//! call that fails to reach an address sets that address aside for [`SET_ASIDE`] while others
//! remain. A failed lookup keeps the addresses known so far; only a successful one removes an
//! address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::{BoxFuture, Context, Poll, Service, StdError};
use tonic::transport::{Channel, Endpoint, Uri};

/// How often host names are resolved again.
pub const REFRESH: Duration = Duration::from_secs(30);
/// How often while no address is known yet.
const RETRY_EMPTY: Duration = Duration::from_secs(2);
/// How long an address that could not be reached is passed over.
pub const SET_ASIDE: Duration = Duration::from_secs(5);
/// How long a call waits for the first resolution before it fails.
const FIRST_RESOLUTION_WAIT: Duration = Duration::from_secs(10);

/// An address that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid address {address:?}: {problem}")]
pub struct AddressError {
    /// The address as given.
    pub address: String,
    /// What is wrong.
    pub problem: String,
}

/// One `scheme://host:port` to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    uri: Uri,
    scheme: String,
    host: String,
    port: u16,
}

/// Parses `addresses`: one URL or a comma-separated list (`http://host:port`; the port
/// defaults to 80 for http and 443 for https).
fn targets(addresses: &str) -> Result<Vec<Target>, AddressError> {
    let error = |address: &str, problem: &str| AddressError {
        address: address.to_owned(),
        problem: problem.to_owned(),
    };
    let mut out = Vec::new();
    for address in addresses
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let uri: Uri = address
            .parse()
            .map_err(|e: http::uri::InvalidUri| error(address, &e.to_string()))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| error(address, "no scheme (http:// or https://)"))?
            .to_owned();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(error(address, "the scheme must be http or https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| error(address, "no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(default_port);
        out.push(Target {
            uri,
            scheme,
            host,
            port,
        });
    }
    if out.is_empty() {
        return Err(error(addresses, "no address"));
    }
    Ok(out)
}

/// One address and its channel.
struct Member {
    addr: SocketAddr,
    channel: Channel,
    /// Passed over until then, after a call could not reach it.
    set_aside_until: Mutex<Option<Instant>>,
}

impl Member {
    fn available(&self, now: Instant) -> bool {
        self.set_aside_until
            .lock()
            .map(|until| until.is_none_or(|until| until <= now))
            .unwrap_or(true)
    }

    fn set_aside(&self) {
        if let Ok(mut until) = self.set_aside_until.lock() {
            *until = Some(Instant::now() + SET_ASIDE);
        }
    }
}

struct Inner {
    /// What was asked for, for messages.
    addresses: String,
    members: RwLock<Vec<Arc<Member>>>,
    next: AtomicUsize,
    /// Bumped whenever the members change, so a call made before the first resolution waits
    /// for it instead of failing.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Inner {
    /// The next member round-robin, skipping those set aside unless every one is.
    fn pick(&self) -> Option<Arc<Member>> {
        let members = self.members.read().ok()?;
        if members.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let order = (0..members.len()).map(|i| &members[(start + i) % members.len()]);
        let chosen = order
            .clone()
            .find(|m| m.available(now))
            .or_else(|| order.clone().next())?;
        Some(chosen.clone())
    }
}

/// A tonic transport spreading calls over every address of a component (see the module
/// docs). Cheap to clone; clones share the members.
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<SocketAddr> = self
            .inner
            .members
            .read()
            .map(|m| m.iter().map(|m| m.addr).collect())
            .unwrap_or_default();
        f.debug_struct("Balanced")
            .field("addresses", &self.inner.addresses)
            .field("members", &members)
            .finish()
    }
}

impl Balanced {
    /// Balances over every address `addresses` resolves to, resolved again every [`REFRESH`]
    /// by a task on the current tokio runtime (it stops when the last clone is dropped);
    /// `configure` sets up each address's endpoint (timeouts, TLS). A call made before the
    /// first resolution waits up to 10 s for it, then answers `Unavailable`.
    pub fn new(
        addresses: &str,
        configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
    ) -> Result<Self, AddressError> {
        Self::every(addresses, configure, REFRESH)
    }

    /// [`Balanced::new`], resolving every `refresh`.
    pub fn every(
        addresses: &str,
        configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
        refresh: Duration,
    ) -> Result<Self, AddressError> {
        let targets = targets(addresses)?;
        let inner = Arc::new(Inner {
            addresses: addresses.to_owned(),
            members: RwLock::new(Vec::new()),
            next: AtomicUsize::new(0),
            changed: tokio::sync::watch::channel(0).0,
        });
        tokio::spawn(resolve(Arc::downgrade(&inner), targets, configure, refresh));
        Ok(Self { inner })
    }

    /// The addresses calls are spread over now.
    pub fn members(&self) -> Vec<SocketAddr> {
        self.inner
            .members
            .read()
            .map(|m| m.iter().map(|m| m.addr).collect())
            .unwrap_or_default()
    }
}

/// Keeps `inner`'s members equal to what `targets` resolve to, until `inner` is dropped.
async fn resolve(
    inner: Weak<Inner>,
    targets: Vec<Target>,
    configure: impl Fn(Endpoint) -> Endpoint,
    refresh: Duration,
) {
    loop {
        let mut found = BTreeSet::new();
        let mut complete = true;
        for (index, target) in targets.iter().enumerate() {
            match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                Ok(addrs) => found.extend(addrs.map(|a| (a, index))),
                Err(e) => {
                    complete = false;
                    tracing::warn!("resolving {}: {e}", target.uri);
                }
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let current: BTreeSet<SocketAddr> = inner
            .members
            .read()
            .map(|m| m.iter().map(|m| m.addr).collect())
            .unwrap_or_default();
        let wanted: BTreeSet<SocketAddr> = found.iter().map(|(a, _)| *a).collect();
        let (insert, remove) = plan(&current, &wanted, complete && !wanted.is_empty());
        if !insert.is_empty() || !remove.is_empty() {
            let mut members = match inner.members.write() {
                Ok(members) => members,
                Err(poisoned) => poisoned.into_inner(),
            };
            members.retain(|m| !remove.contains(&m.addr));
            for addr in insert {
                let Some((_, index)) = found.iter().find(|(a, _)| *a == addr) else {
                    continue;
                };
                let target = &targets[*index];
                let Ok(endpoint) = Endpoint::from_shared(format!("{}://{addr}", target.scheme))
                else {
                    continue;
                };
                members.push(Arc::new(Member {
                    addr,
                    channel: configure(endpoint.origin(target.uri.clone())).connect_lazy(),
                    set_aside_until: Mutex::new(None),
                }));
            }
            members.sort_by_key(|m| m.addr);
            inner.changed.send_modify(|n| *n += 1);
            tracing::info!(
                "calls to {} go to {:?}",
                inner.addresses,
                members.iter().map(|m| m.addr).collect::<Vec<_>>()
            );
        }
        let empty = inner.members.read().map(|m| m.is_empty()).unwrap_or(true);
        drop(inner);
        tokio::time::sleep(if empty { RETRY_EMPTY } else { refresh }).await;
    }
}

/// What changes: `found` addresses not `current` are inserted; `current` ones no longer found
/// are removed, but only after a `complete` resolution (a failed lookup must not empty the
/// set).
fn plan<T: Ord + Clone>(
    current: &BTreeSet<T>,
    found: &BTreeSet<T>,
    complete: bool,
) -> (Vec<T>, Vec<T>) {
    let insert = found.difference(current).cloned().collect();
    let remove = if complete {
        current.difference(found).cloned().collect()
    } else {
        Vec::new()
    };
    (insert, remove)
}

impl Service<http::Request<Body>> for Balanced {
    type Response = http::Response<Body>;
    type Error = StdError;
    type Future = BoxFuture<http::Response<Body>, StdError>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), StdError>> {
        // Each member's channel has its own buffer; readiness is awaited per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let member = match inner.pick() {
                Some(member) => member,
                None => {
                    // Nothing resolved yet (the first lookup is under way, or failing): wait a
                    // little for one, as a connecting channel would.
                    let mut changed = inner.changed.subscribe();
                    let _ = tokio::time::timeout(FIRST_RESOLUTION_WAIT, async {
                        while inner.pick().is_none() && changed.changed().await.is_ok() {}
                    })
                    .await;
                    inner.pick().ok_or_else(|| {
                        tonic::Status::unavailable(format!(
                            "no address of {} could be resolved",
                            inner.addresses
                        ))
                    })?
                }
            };
            let mut channel = member.channel.clone();
            let answer = async {
                std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
                channel.call(request).await
            }
            .await;
            if answer.is_err() {
                // Not an answer from the server (that would be a gRPC status in the response):
                // the address could not be reached.
                member.set_aside();
            }
            answer.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_into_targets() {
        type Case<'a> = (&'a str, Result<&'a [(&'a str, &'a str, u16)], &'a str>);
        let cases: &[Case] = &[
            (
                "http://capstan-repo-server:8081",
                Ok(&[("http", "capstan-repo-server", 8081)]),
            ),
            (
                "http://127.0.0.1:1, http://[::1]:2 ,",
                Ok(&[("http", "127.0.0.1", 1), ("http", "::1", 2)]),
            ),
            (
                "https://repo.example.com",
                Ok(&[("https", "repo.example.com", 443)]),
            ),
            ("http://a", Ok(&[("http", "a", 80)])),
            ("", Err("no address")),
            ("repo-server:8081", Err("no scheme (http:// or https://)")),
            ("ftp://a:1", Err("the scheme must be http or https")),
        ];
        for (addresses, expected) in cases {
            match (targets(addresses), expected) {
                (Ok(got), Ok(expected)) => {
                    let got: Vec<(&str, &str, u16)> = got
                        .iter()
                        .map(|t| (t.scheme.as_str(), t.host.as_str(), t.port))
                        .collect();
                    assert_eq!(got, *expected, "{addresses}");
                }
                (Err(e), Err(problem)) => {
                    assert!(e.to_string().contains(problem), "{addresses}: {e}")
                }
                (got, expected) => panic!("{addresses}: {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn only_a_complete_resolution_removes_addresses() {
        let set = |items: &[u8]| items.iter().copied().collect::<BTreeSet<u8>>();
        let cases = [
            (set(&[]), set(&[1, 2]), true, (vec![1, 2], vec![])),
            (set(&[1, 2]), set(&[2, 3]), true, (vec![3], vec![1])),
            (set(&[1, 2]), set(&[2, 3]), false, (vec![3], vec![])),
            (set(&[1, 2]), set(&[]), false, (vec![], vec![])),
            (set(&[1, 2]), set(&[1, 2]), true, (vec![], vec![])),
        ];
        for (current, found, complete, expected) in cases {
            assert_eq!(
                plan(&current, &found, complete),
                expected,
                "{current:?} {found:?} {complete}"
            );
        }
    }

    /// A call made at once waits for the first resolution rather than failing for want of an
    /// address; a name that never resolves fails after the wait, saying so.
    #[tokio::test]
    async fn a_call_waits_for_the_first_resolution() {
        use crate::repo::v1::repo_server_service_client::RepoServerServiceClient;
        let mut refused =
            RepoServerServiceClient::new(Balanced::new("http://127.0.0.1:1", |e| e).unwrap());
        let error = refused
            .list_refs(crate::repo::v1::ListRefsRequest::default())
            .await
            .unwrap_err();
        assert!(
            !error.message().contains("could not be resolved"),
            "resolved, then refused: {error:?}"
        );
        let mut unknown = RepoServerServiceClient::new(
            Balanced::new("http://no-such-host.invalid:1", |e| e).unwrap(),
        );
        let error = unknown
            .list_refs(crate::repo::v1::ListRefsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(error.code(), tonic::Code::Unavailable, "{error:?}");
        assert!(
            error
                .message()
                .contains("no address of http://no-such-host.invalid:1 could be resolved"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn picks_round_robin_and_passes_over_unreachable_members() {
        let member = |port: u16| {
            Arc::new(Member {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                channel: Endpoint::from_static("http://127.0.0.1:1").connect_lazy(),
                set_aside_until: Mutex::new(None),
            })
        };
        let inner = Inner {
            addresses: "test".into(),
            members: RwLock::new(vec![member(1), member(2), member(3)]),
            next: AtomicUsize::new(0),
            changed: tokio::sync::watch::channel(0).0,
        };
        let picks = |n: usize| -> Vec<u16> {
            (0..n)
                .map(|_| inner.pick().expect("a member").addr.port())
                .collect()
        };
        assert_eq!(picks(6), [1, 2, 3, 1, 2, 3]);
        inner.members.read().unwrap()[1].set_aside();
        assert_eq!(picks(4), [1, 3, 3, 1], "2 is passed over");
        for m in inner.members.read().unwrap().iter() {
            m.set_aside();
        }
        assert_eq!(picks(3).len(), 3, "all set aside: round-robin anyway");
        inner.members.write().unwrap().clear();
        assert!(inner.pick().is_none());
    }
}
