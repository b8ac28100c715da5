//! Which Application a live object belongs to: Argo CD's resource tracking
//! (`application.resourceTrackingMethod`: `annotation`, `annotation+label`, `label`).
//!
//! The annotation `argocd.argoproj.io/tracking-id` holds
//! `<app>:<group>/<kind>:<namespace>/<name>`; the label (default key
//! `app.kubernetes.io/instance`) holds the app name.

use std::collections::BTreeMap;

use capstan_types::settings::TrackingMethod;

/// The tracking annotation.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

/// The tracking id of an object managed by `app`.
pub fn tracking_id(app: &str, group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("{app}:{group}/{kind}:{namespace}/{name}")
}

/// Marks `object` (apiVersion/kind/metadata set) as managed by `app`, per the tracking method:
/// what a sync does to every object it applies.
pub fn set_tracking(
    object: &mut serde_json::Value,
    method: TrackingMethod,
    label_key: &str,
    app: &str,
) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(g, _)| g)
        .to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let meta = &mut object["metadata"];
    if matches!(
        method,
        TrackingMethod::Annotation | TrackingMethod::AnnotationAndLabel
    ) {
        meta["annotations"][TRACKING_ANNOTATION] =
            serde_json::Value::String(tracking_id(app, &group, &kind, &namespace, &name));
    }
    if matches!(
        method,
        TrackingMethod::Label | TrackingMethod::AnnotationAndLabel
    ) {
        meta["labels"][label_key] = serde_json::Value::String(app.to_owned());
    }
}

/// The annotation naming the installation that manages an object (`installationID`).
pub const INSTALLATION_ID_ANNOTATION: &str = "argocd.argoproj.io/installation-id";

/// How this installation tracks objects: method, label key and installation id, from argocd-cm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracking {
    /// `application.resourceTrackingMethod`.
    pub method: TrackingMethod,
    /// `application.instanceLabelKey`.
    pub label_key: String,
    /// `installationID`: objects marked with another installation's id are not ours.
    pub installation_id: Option<String>,
}

impl Default for Tracking {
    fn default() -> Self {
        Self::from_settings(&capstan_types::settings::ArgoCdSettings::default())
    }
}

impl Tracking {
    /// The tracking of these settings.
    pub fn from_settings(cm: &capstan_types::settings::ArgoCdSettings) -> Self {
        Self {
            method: cm.resource_tracking_method,
            label_key: cm.instance_label_key.clone(),
            installation_id: cm.installation_id.clone(),
        }
    }

    /// The app (instance name) the object `key` belongs to, if it belongs to this installation.
    ///
    /// With annotation tracking the tracking id must also name the object itself, as Argo CD
    /// checks: Kubernetes copies a Deployment's annotations to its ReplicaSets, and tools copy
    /// objects, and neither copy belongs to the app.
    pub fn tracked_app(
        &self,
        key: &crate::live::ObjectKey,
        annotations: Option<&BTreeMap<String, String>>,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Option<String> {
        if let Some(id) = &self.installation_id
            && annotations.and_then(|a| a.get(INSTALLATION_ID_ANNOTATION)) != Some(id)
        {
            return None;
        }
        if self.method != TrackingMethod::Label {
            let id = annotations?.get(TRACKING_ANNOTATION)?;
            let expected_suffix =
                format!(":{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name);
            let app = id.strip_suffix(&expected_suffix)?;
            return (!app.is_empty() && !app.contains(':')).then(|| app.to_owned());
        }
        tracked_app(self.method, &self.label_key, annotations, labels)
    }

    /// Marks `object` as managed by `app` of this installation.
    pub fn mark(&self, object: &mut serde_json::Value, app: &str) {
        set_tracking(object, self.method, &self.label_key, app);
        if let Some(id) = &self.installation_id {
            object["metadata"]["annotations"][INSTALLATION_ID_ANNOTATION] =
                serde_json::Value::String(id.clone());
        }
    }
}

/// The app name an object is tracked by, from its annotations and labels.
pub fn tracked_app(
    method: TrackingMethod,
    label_key: &str,
    annotations: Option<&BTreeMap<String, String>>,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    let from_annotation = || {
        annotations?
            .get(TRACKING_ANNOTATION)
            .and_then(|id| id.split_once(':'))
            .map(|(app, _)| app.to_owned())
            .filter(|app| !app.is_empty())
    };
    let from_label = || labels?.get(label_key).cloned().filter(|v| !v.is_empty());
    match method {
        TrackingMethod::Label => from_label(),
        _ => from_annotation(),
    }
}

/// The instance name of an Application: its name in the control-plane namespace, otherwise
/// `<namespace>_<name>` (Argo CD's apps-in-any-namespace convention).
pub fn instance_name(app_namespace: &str, app_name: &str, control_plane_namespace: &str) -> String {
    if app_namespace == control_plane_namespace || app_namespace.is_empty() {
        app_name.to_owned()
    } else {
        format!("{app_namespace}_{app_name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installations_only_see_their_own_objects() {
        let ours = Tracking {
            installation_id: Some("blue".into()),
            ..Tracking::default()
        };
        let theirs = Tracking {
            installation_id: Some("green".into()),
            ..Tracking::default()
        };
        let unset = Tracking::default();
        let mut obj = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n"}});
        ours.mark(&mut obj, "shop");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(obj["metadata"]["annotations"].clone()).unwrap();
        let key = crate::live::ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "n".into(),
            name: "c".into(),
        };
        let cases = [
            (&ours, Some("shop")),
            (&theirs, None),
            (&unset, Some("shop")),
        ];
        for (tracking, expected) in cases {
            assert_eq!(
                tracking
                    .tracked_app(&key, Some(&annotations), None)
                    .as_deref(),
                expected,
                "{tracking:?}"
            );
        }
        // An installation with an id does not claim unmarked objects.
        let mut plain = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n"}});
        unset.mark(&mut plain, "shop");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(plain["metadata"]["annotations"].clone()).unwrap();
        assert_eq!(ours.tracked_app(&key, Some(&annotations), None), None);
    }

    #[test]
    fn a_tracking_id_copied_to_another_object_does_not_track_it() {
        let tracking = Tracking::default();
        let id = |v: &str| BTreeMap::from([(TRACKING_ANNOTATION.to_owned(), v.to_owned())]);
        let key = |group: &str, kind: &str, ns: &str, name: &str| crate::live::ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        };
        let deployment = "shop:apps/Deployment:team/web";
        let cases = [
            (
                key("apps", "Deployment", "team", "web"),
                deployment,
                Some("shop"),
            ),
            // The ReplicaSet the Deployment controller made carries the same annotation.
            (
                key("apps", "ReplicaSet", "team", "web-5d4f"),
                deployment,
                None,
            ),
            (key("apps", "Deployment", "other", "web"), deployment, None),
            (
                key("", "Namespace", "", "team"),
                "shop:/Namespace:/team",
                Some("shop"),
            ),
            (
                key("apps", "Deployment", "team", "web"),
                ":apps/Deployment:team/web",
                None,
            ),
        ];
        for (k, value, expected) in cases {
            assert_eq!(
                tracking.tracked_app(&k, Some(&id(value)), None).as_deref(),
                expected,
                "{k:?} {value}"
            );
        }
    }

    #[test]
    fn set_tracking_marks_objects_per_method() {
        let object = || {
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "team"}})
        };
        let cases = [
            (TrackingMethod::Annotation, true, false),
            (TrackingMethod::Label, false, true),
            (TrackingMethod::AnnotationAndLabel, true, true),
        ];
        for (method, annotated, labelled) in cases {
            let mut obj = object();
            set_tracking(&mut obj, method, "app.kubernetes.io/instance", "shop");
            let id = obj["metadata"]["annotations"][TRACKING_ANNOTATION].as_str();
            assert_eq!(id.is_some(), annotated, "{method:?}");
            if annotated {
                assert_eq!(id, Some("shop:apps/Deployment:team/web"));
            }
            assert_eq!(
                obj["metadata"]["labels"]["app.kubernetes.io/instance"].as_str() == Some("shop"),
                labelled,
                "{method:?}"
            );
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn tracking_ids_round_trip_to_the_app() {
        let id = tracking_id("users-api-dev", "apps", "Deployment", "ns", "users-api");
        assert_eq!(id, "users-api-dev:apps/Deployment:ns/users-api");
        let cases = [
            (
                TrackingMethod::Annotation,
                map(&[(TRACKING_ANNOTATION, id.as_str())]),
                map(&[]),
                Some("users-api-dev"),
            ),
            (
                TrackingMethod::AnnotationAndLabel,
                map(&[(TRACKING_ANNOTATION, id.as_str())]),
                map(&[]),
                Some("users-api-dev"),
            ),
            (
                TrackingMethod::Label,
                map(&[]),
                map(&[("app.kubernetes.io/instance", "x")]),
                Some("x"),
            ),
            (
                TrackingMethod::Annotation,
                map(&[]),
                map(&[("app.kubernetes.io/instance", "x")]),
                None,
            ),
            (
                TrackingMethod::Annotation,
                map(&[(TRACKING_ANNOTATION, "garbage")]),
                map(&[]),
                None,
            ),
        ];
        for (method, annotations, labels, expected) in cases {
            assert_eq!(
                tracked_app(
                    method,
                    "app.kubernetes.io/instance",
                    Some(&annotations),
                    Some(&labels)
                )
                .as_deref(),
                expected,
                "{method:?}"
            );
        }
    }

    #[test]
    fn instance_names() {
        assert_eq!(instance_name("argocd", "a", "argocd"), "a");
        assert_eq!(instance_name("team", "a", "argocd"), "team_a");
    }
}
