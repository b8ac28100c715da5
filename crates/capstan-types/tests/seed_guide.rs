//! Every Argo CD object and ConfigMap in the users' guide (`testdata/seed/argocd-aks-guide.md`)
//! must load unchanged: objects round-trip to the same JSON with every field modelled, and the
//! ConfigMaps parse to the values the guide gives.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use capstan_types::seed::{of_kind, yaml_documents};
use capstan_types::settings::{
    ArgoCdSettings, GroupKindPattern, MatchMode, PolicyEffect, PolicyRule, RbacSettings,
    TrackingMethod,
};
use capstan_types::{AppProject, Application, ApplicationSet, UnknownFields};
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn guide() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .join("testdata/seed/argocd-aks-guide.md");
    let markdown = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    yaml_documents(&markdown)
}

fn config_map_data(documents: &[Value], name: &str) -> BTreeMap<String, String> {
    let config_map = of_kind(documents, "ConfigMap")
        .find(|document| document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the guide has no ConfigMap {name}"));
    serde_json::from_value(config_map["data"].clone()).expect("ConfigMap data is a string map")
}

/// Deserialises `document` as `T`, checks that every field was modelled and that serialising
/// gives back exactly the same JSON.
fn assert_round_trip<T: DeserializeOwned + Serialize + UnknownFields>(document: &Value) -> T {
    let name = document["metadata"]["name"]
        .as_str()
        .unwrap_or("<unnamed>")
        .to_owned();
    let typed: T = serde_json::from_value(document.clone())
        .unwrap_or_else(|error| panic!("{name}: does not deserialise: {error}"));
    assert_eq!(
        typed.unknown_fields(),
        Vec::<String>::new(),
        "{name}: unmodelled fields"
    );
    let back = serde_json::to_value(&typed).expect("serialises");
    assert_eq!(&back, document, "{name}: round trip changed the document");
    typed
}

#[test]
fn guide_has_the_documents_we_test() {
    let documents = guide();
    let count = |kind: &str| of_kind(&documents, kind).count();
    assert_eq!(count("AppProject"), 1);
    assert_eq!(count("ApplicationSet"), 1);
    assert_eq!(count("ConfigMap"), 2);
}

#[test]
fn every_argo_cd_object_in_the_guide_round_trips() {
    let documents = guide();
    let mut seen = 0;
    for document in &documents {
        if document["apiVersion"] != "argoproj.io/v1alpha1" {
            continue;
        }
        seen += 1;
        match document["kind"].as_str() {
            Some("AppProject") => {
                assert_round_trip::<AppProject>(document);
            }
            Some("ApplicationSet") => {
                assert_round_trip::<ApplicationSet>(document);
            }
            Some("Application") => {
                assert_round_trip::<Application>(document);
            }
            other => panic!("unexpected Argo CD kind {other:?}"),
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn guide_app_project_values() {
    let documents = guide();
    let project: AppProject = assert_round_trip(of_kind(&documents, "AppProject").next().unwrap());
    let spec = &project.spec;
    assert_eq!(spec.description, "Microservices applications");
    assert_eq!(
        spec.source_repos,
        [
            "https://github.com/your-org/k8s-manifests.git",
            "https://github.com/your-org/*"
        ]
    );
    assert_eq!(spec.destinations.len(), 6);
    assert_eq!(spec.destinations[3].namespace, "*-dev");
    assert_eq!(
        spec.destinations[3].server,
        "https://kubernetes.default.svc"
    );
    assert_eq!(spec.cluster_resource_whitelist[0].group, "");
    assert_eq!(spec.cluster_resource_whitelist[0].kind, "Namespace");
    let whitelist = spec.namespace_resource_whitelist.as_ref().unwrap();
    assert_eq!(
        (whitelist[0].group.as_str(), whitelist[0].kind.as_str()),
        ("*", "*")
    );
    let window = &spec.sync_windows[0];
    assert_eq!(window.kind.as_ref().map(|kind| kind.as_str()), Some("deny"));
    assert_eq!(window.schedule, "0 22 * * *");
    assert_eq!(window.duration, "2h");
    assert_eq!(window.applications, ["*-prod"]);
    assert_eq!(window.manual_sync, Some(true));
}

#[test]
fn guide_application_set_values() {
    let documents = guide();
    let set: ApplicationSet =
        assert_round_trip(of_kind(&documents, "ApplicationSet").next().unwrap());
    let list = set.spec.generators[0].list.as_ref().unwrap();
    assert_eq!(list.elements.len(), 3);
    assert_eq!(list.elements[2]["env"], "prod");
    let template = &set.spec.template;
    assert_eq!(template.metadata.name, "{{name}}-{{env}}");
    assert_eq!(template.spec.project, "microservices");
    let source = template.spec.source.as_ref().unwrap();
    assert_eq!(
        source.repo_url,
        "https://github.com/your-org/k8s-manifests.git"
    );
    assert_eq!(source.path, "overlays/{{env}}/{{name}}");
    assert_eq!(template.spec.destination.server, "{{url}}");
    let policy = template.spec.sync_policy.as_ref().unwrap();
    assert!(policy.is_automated());
    let automated = policy.automated.as_ref().unwrap();
    assert_eq!(
        (automated.prune, automated.self_heal),
        (Some(true), Some(true))
    );
}

#[test]
fn guide_argocd_cm_values() {
    let documents = guide();
    let data = config_map_data(&documents, "argocd-cm");
    let settings = ArgoCdSettings::from_config_map_data(&data).unwrap();
    assert!(!settings.anonymous_enabled);
    assert_eq!(settings.reconciliation_timeout, Duration::from_secs(180));
    assert_eq!(settings.hard_reconciliation_timeout, Duration::ZERO);
    assert_eq!(settings.reconciliation_jitter, Duration::from_secs(60));
    assert_eq!(
        settings.resource_tracking_method,
        TrackingMethod::Annotation
    );
    let webhook = &settings.resource_customizations[&GroupKindPattern::new(
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    )];
    let ignore = webhook.ignore_differences.as_ref().unwrap();
    assert_eq!(ignore.json_pointers, ["/webhooks/0/clientConfig/caBundle"]);
    assert!(ignore.jq_path_expressions.is_empty());
    assert_eq!(settings.resource_customizations.len(), 1);
    assert!(settings.warnings().is_empty(), "{:?}", settings.warnings());
}

#[test]
fn guide_argocd_rbac_cm_values() {
    use PolicyEffect::{Allow, Deny};
    let documents = guide();
    let data = config_map_data(&documents, "argocd-rbac-cm");
    let settings = RbacSettings::from_config_map_data(&data).unwrap();
    assert_eq!(settings.policy_default.as_deref(), Some("role:readonly"));
    assert_eq!(settings.match_mode, MatchMode::Glob);
    assert_eq!(settings.scopes, ["groups"]);
    let p = |subject: &str, resource: &str, action: &str, object: &str, effect| {
        PolicyRule::Permission {
            subject: subject.to_owned(),
            resource: resource.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            effect,
        }
    };
    let g = |subject: &str, role: &str| PolicyRule::Grouping {
        subject: subject.to_owned(),
        role: role.to_owned(),
    };
    assert_eq!(
        settings.rules,
        [
            p("role:developer", "applications", "get", "*/*", Allow),
            p("role:developer", "applications", "sync", "*/*", Allow),
            p("role:developer", "logs", "get", "*/*", Allow),
            p("role:developer", "exec", "create", "*/*", Deny),
            p("role:devops", "applications", "*", "*/*", Allow),
            p("role:devops", "clusters", "*", "*", Allow),
            p("role:devops", "repositories", "*", "*", Allow),
            p("role:devops", "projects", "*", "*", Allow),
            g("devops-team@example.com", "role:devops"),
            g("developers@example.com", "role:developer"),
        ]
    );
}
