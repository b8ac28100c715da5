//! Watch streams: Application changes from the in-memory store's broadcast, resource trees
//! from the controller's Redis pub/sub (one subscription per API server, fanned out to every
//! client). Both start with the current state, re-check RBAC on every event and end when the
//! client goes away.

use std::sync::Arc;
use std::time::Duration;

use capstan_types::Application;
use futures::{Stream, StreamExt};
use kube::ResourceExt;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::apps::{Filter, rbac_object};
use crate::auth::Principal;
use crate::state::ApiState;
use crate::store::EventType;

/// Application events for `principal` matching `filter`: first every current app as `Added`,
/// then each change. A client that falls behind gets the current state again as `Modified`.
///
/// With `since` (the `resourceVersion` of a list the client holds), the first part only has
/// the apps changed after that version: a client that listed a page watches on from there
/// without receiving every app again. (Deletions between its list and its watch are not
/// replayed; Kubernetes' own watch cache has the same window once its history is gone.)
pub fn applications(
    state: Arc<ApiState>,
    principal: Principal,
    filter: Filter,
    since: Option<u64>,
) -> impl Stream<Item = (EventType, Arc<Application>)> + Send + 'static {
    let (tx, rx) = mpsc::channel(256);
    let mut events = state.apps.subscribe();
    tokio::spawn(async move {
        let visible = |app: &Application| {
            filter.matches(app) && state.can(&principal, "applications", "get", &rbac_object(app))
        };
        let snapshot = |kind: EventType| {
            state
                .apps
                .list()
                .into_iter()
                .filter(|a| visible(a))
                .map(move |a| (kind, a))
                .collect::<Vec<_>>()
        };
        let newer = |app: &Application| match since {
            None => true,
            Some(since) => app
                .resource_version()
                .and_then(|rv| rv.parse::<u64>().ok())
                .is_none_or(|rv| rv > since),
        };
        for event in snapshot(EventType::Added)
            .into_iter()
            .filter(|(_, app)| newer(app))
        {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        loop {
            let next = tokio::select! {
                next = events.recv() => next,
                () = tx.closed() => return,
            };
            let batch = match next {
                Ok(event) if visible(&event.object) => vec![(event.kind, event.object)],
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => snapshot(EventType::Modified),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            for event in batch {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// The resource tree of `app`, now and after each change the controller publishes.
pub fn resource_tree(
    state: Arc<ApiState>,
    principal: Principal,
    app: Arc<Application>,
) -> impl Stream<Item = Value> + Send + 'static {
    let (tx, rx) = mpsc::channel(16);
    let mut updates = state.tree_updates.subscribe();
    let id = format!("{}/{}", state.namespace, app.name_any());
    tokio::spawn(async move {
        let mut last = None;
        loop {
            // Permission may have been taken away since the stream started.
            let current = state.apps.get(&app.name_any());
            let Some(current) = current else { return };
            if !state.can(&principal, "applications", "get", &rbac_object(&current)) {
                return;
            }
            if let Ok(tree) = crate::resources::tree_of(&state, &current).await
                && last.as_ref() != Some(&tree)
            {
                last = Some(tree.clone());
                if tx.send(tree).await.is_err() {
                    return;
                }
            }
            // Wait for this app's update; re-read every 30 s in case a message was lost.
            let wait = async {
                loop {
                    match updates.recv().await {
                        Ok(changed) if changed == id => return true,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => return true,
                        Err(broadcast::error::RecvError::Closed) => return false,
                    }
                }
            };
            tokio::select! {
                open = wait => if !open { return },
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                () = tx.closed() => return,
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Relays the controller's tree notifications from Redis to [`ApiState::tree_updates`],
/// resubscribing whenever the connection is lost.
pub async fn relay_tree_updates(state: Arc<ApiState>) {
    loop {
        match state
            .cache
            .subscribe(capstan_cache::kinds::RESOURCE_TREE_CHANNEL)
            .await
        {
            Ok(stream) => {
                let mut stream = Box::pin(stream);
                while let Some(payload) = stream.next().await {
                    if let Ok(id) = String::from_utf8(payload) {
                        let _ = state.tree_updates.send(id);
                    }
                }
                tracing::warn!("lost the resource tree subscription; resubscribing");
            }
            Err(capstan_cache::CacheError::Disabled) => return,
            Err(e) => tracing::debug!("subscribing to resource tree updates: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
