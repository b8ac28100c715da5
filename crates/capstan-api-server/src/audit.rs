//! The audit trail: every mutating call is recorded as a Kubernetes Event on the object it
//! changed, naming the user (Argo CD's `ResourceCreated`, `ResourceUpdated`,
//! `ResourceDeleted`, `OperationStarted` reasons). Recording never fails the call: a lost event
//! is logged.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;
use crate::store::Store;

/// The event source component.
pub const COMPONENT: &str = "capstan-api-server";

/// Records `<user> <what>` on `object` with `reason`, in the background.
pub fn record<K>(state: &ApiState, principal: &Principal, object: &K, reason: &str, what: &str)
where
    K: Resource<DynamicType = ()>,
{
    let name = object.name_any();
    let namespace = object
        .namespace()
        .unwrap_or_else(|| state.namespace.clone());
    let now = jiff::Timestamp::now();
    let time = Time(now);
    let event = Event {
        metadata: kube::api::ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(K::api_version(&()).into_owned()),
            kind: Some(K::kind(&()).into_owned()),
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: object.uid(),
            resource_version: object.resource_version(),
            ..Default::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(format!("{} {what}", principal.username())),
        type_: Some("Normal".to_owned()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_owned()),
            ..Default::default()
        }),
        reporting_component: Some(COMPONENT.to_owned()),
        reporting_instance: Some(COMPONENT.to_owned()),
        first_timestamp: Some(time.clone()),
        last_timestamp: Some(time),
        event_time: Some(MicroTime(now)),
        action: Some(reason.to_owned()),
        count: Some(1),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(state.client.clone(), &namespace);
    let reason = reason.to_owned();
    tokio::spawn(async move {
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!("could not record audit event {reason} on {name}: {e}");
        }
    });
}

/// Replaces `object` (optimistic concurrency by its resourceVersion), records `<user> <what>`
/// as a `ResourceUpdated` event, and hands the result to `store` so that reads that follow see
/// it: the one write path of every update the API makes.
pub async fn replace<K>(
    state: &ApiState,
    principal: &Principal,
    store: &Store<K>,
    object: K,
    kind: &'static str,
    what: &str,
) -> ApiResult<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(state.client.clone(), &state.namespace);
    let replaced = api
        .replace(&name, &PostParams::default(), &object)
        .await
        .map_err(|e| ApiError::from_kube(e, kind, &name))?;
    record(state, principal, &replaced, "ResourceUpdated", what);
    store.observe(replaced.clone());
    Ok(replaced)
}
