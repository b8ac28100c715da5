//! Orphaned resources (Argo CD's "Orphaned Resources Monitoring"): top-level namespaced objects
//! in an Application's destination namespace that no Application manages, reported when the
//! app's AppProject sets `orphanedResources` (a warning condition with `warn: true`).

use std::collections::BTreeSet;
use std::sync::Arc;

use capstan_types::app_project::OrphanedResourcesMonitorSettings;
use kube::api::DynamicObject;

use crate::live::ObjectKey;

/// The condition message Argo CD writes.
pub fn warning(count: usize) -> String {
    format!("Application has {count} orphaned resources")
}

/// What decides whether an object in the namespace is an orphan.
pub struct OrphanRules<'a> {
    /// The project's monitoring settings (its `ignore` list).
    pub settings: &'a OrphanedResourcesMonitorSettings,
    /// Whether the project permits this namespaced group/kind at all (denied kinds are the
    /// cluster administrators' business, never orphans).
    pub permitted: &'a dyn Fn(&str, &str) -> bool,
    /// Whether some Application tracks this object.
    pub tracked: &'a dyn Fn(&ObjectKey, &DynamicObject) -> bool,
    /// The app's own desired objects (listed among its resources, tracked or not).
    pub own: &'a BTreeSet<ObjectKey>,
}

impl std::fmt::Debug for OrphanRules<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrphanRules")
            .field("settings", self.settings)
            .field("own", &self.own.len())
            .finish_non_exhaustive()
    }
}

/// The orphans among `candidates` (the watched objects of one namespace).
pub fn orphaned(
    candidates: &[(ObjectKey, Arc<DynamicObject>)],
    rules: &OrphanRules<'_>,
) -> Vec<ObjectKey> {
    let services: BTreeSet<&str> = candidates
        .iter()
        .filter(|(k, _)| k.group.is_empty() && k.kind == "Service")
        .map(|(k, _)| k.name.as_str())
        .collect();
    candidates
        .iter()
        .filter(|(key, obj)| {
            let owned = obj
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty());
            // A Service's Endpoints carry no ownerReference but belong to it.
            let service_endpoints = key.group.is_empty()
                && key.kind == "Endpoints"
                && services.contains(key.name.as_str());
            let managed_or_known = owned
                || rules.own.contains(key)
                || (rules.tracked)(key, obj)
                || is_known_exception(key, obj)
                || service_endpoints;
            !managed_or_known
                && (rules.permitted)(&key.group, &key.kind)
                && !is_ignored(rules.settings, key)
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Objects Kubernetes itself creates in every namespace (Argo CD never calls them orphans).
fn is_known_exception(key: &ObjectKey, obj: &DynamicObject) -> bool {
    if !key.group.is_empty() {
        return false;
    }
    match (key.kind.as_str(), key.name.as_str()) {
        ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt") => true,
        ("Service", "kubernetes") => key.namespace == "default",
        ("Secret", _) => {
            obj.data["type"] == "kubernetes.io/service-account-token"
                && obj
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/service-account.name"))
                    .is_some_and(|sa| sa == "default")
        }
        _ => false,
    }
}

/// The project's `orphanedResources.ignore` entries (globs; an empty kind or name matches all).
fn is_ignored(settings: &OrphanedResourcesMonitorSettings, key: &ObjectKey) -> bool {
    use capstan_types::glob::matches;
    settings.ignore.iter().any(|item| {
        matches(item.group.as_deref().unwrap_or(""), &key.group)
            && (item.kind.is_empty() || matches(&item.kind, &key.kind))
            && (item.name.is_empty() || matches(&item.name, &key.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(
        group: &str,
        kind: &str,
        name: &str,
        extra: serde_json::Value,
    ) -> (ObjectKey, Arc<DynamicObject>) {
        let mut value = json!({
            "apiVersion": if group.is_empty() { "v1".to_owned() } else { format!("{group}/v1") },
            "kind": kind,
            "metadata": {"name": name, "namespace": "team"},
        });
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                if k == "metadata" {
                    for (mk, mv) in x.as_object().into_iter().flatten() {
                        v["metadata"][mk] = mv.clone();
                    }
                } else {
                    v.insert(k.clone(), x.clone());
                }
            }
        }
        (
            ObjectKey {
                group: group.into(),
                kind: kind.into(),
                namespace: "team".into(),
                name: name.into(),
            },
            Arc::new(serde_json::from_value(value).unwrap()),
        )
    }

    #[test]
    fn finds_exactly_the_unmanaged_top_level_objects() {
        let candidates = vec![
            object("", "ConfigMap", "hand-made", json!({})),
            object("", "ConfigMap", "kube-root-ca.crt", json!({})),
            object("", "ServiceAccount", "default", json!({})),
            object(
                "",
                "Secret",
                "default-token-x",
                json!({"type": "kubernetes.io/service-account-token", "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}}),
            ),
            object(
                "",
                "Secret",
                "robot-token",
                json!({"type": "kubernetes.io/service-account-token", "metadata": {"annotations": {"kubernetes.io/service-account.name": "robot"}}}),
            ),
            object(
                "apps",
                "ReplicaSet",
                "web-1",
                json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u"}]}}),
            ),
            object(
                "apps",
                "Deployment",
                "web",
                json!({"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "other:apps/Deployment:team/web"}}}),
            ),
            object("", "Service", "mine", json!({})),
            object("", "Endpoints", "mine", json!({})),
            object("", "Endpoints", "lonely", json!({})),
            object("", "ResourceQuota", "quota", json!({})),
            object("", "ConfigMap", "ignored-by-glob", json!({})),
        ];
        let settings: OrphanedResourcesMonitorSettings = serde_json::from_value(
            json!({"warn": true, "ignore": [{"kind": "ConfigMap", "name": "ignored-*"}]}),
        )
        .unwrap();
        let own = BTreeSet::from([candidates[7].0.clone()]);
        let rules = OrphanRules {
            settings: &settings,
            permitted: &|_group, kind| kind != "ResourceQuota",
            tracked: &|_key, obj| {
                obj.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("argocd.argoproj.io/tracking-id"))
            },
            own: &own,
        };
        let names: Vec<String> = orphaned(&candidates, &rules)
            .into_iter()
            .map(|k| format!("{}/{}", k.kind, k.name))
            .collect();
        assert_eq!(
            names,
            [
                "ConfigMap/hand-made",
                "Secret/robot-token",
                "Endpoints/lonely"
            ]
        );
        assert_eq!(warning(3), "Application has 3 orphaned resources");
    }

    #[test]
    fn ignore_entries_match_group_kind_and_name() {
        let key = |group: &str, kind: &str, name: &str| ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: "team".into(),
            name: name.into(),
        };
        let settings = |ignore: serde_json::Value| -> OrphanedResourcesMonitorSettings {
            serde_json::from_value(json!({ "ignore": ignore })).unwrap()
        };
        let cases = [
            (
                json!([{"kind": "ConfigMap"}]),
                key("", "ConfigMap", "x"),
                true,
            ),
            (
                json!([{"kind": "ConfigMap"}]),
                key("apps", "ConfigMap", "x"),
                false,
            ),
            (
                json!([{"group": "apps", "kind": "*"}]),
                key("apps", "Deployment", "x"),
                true,
            ),
            (
                json!([{"group": "*", "name": "tmp-*"}]),
                key("batch", "Job", "tmp-1"),
                true,
            ),
            (
                json!([{"group": "*", "name": "tmp-*"}]),
                key("batch", "Job", "keep"),
                false,
            ),
            (json!([]), key("", "ConfigMap", "x"), false),
        ];
        for (ignore, key, ignored) in cases {
            assert_eq!(
                is_ignored(&settings(ignore.clone()), &key),
                ignored,
                "{ignore} {key:?}"
            );
        }
    }
}
