//! Argo CD objects written after Argo CD's documentation (`testdata/argocd/*.yaml`) must load
//! into Capstan's types with every field modelled and serialise back to exactly the same JSON.

use std::path::{Path, PathBuf};

use capstan_types::application::{HealthStatusCode, HookType, ResultCode, SyncStatusCode};
use capstan_types::{AppProject, Application, ApplicationSet, UnknownFields};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .join("testdata/argocd")
}

fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: invalid YAML: {error}", file.display()))
        })
        .filter(|value: &Value| !value.is_null())
        .collect()
}

fn fixture(name: &str) -> Vec<Value> {
    documents(&fixtures_dir().join(name))
}

fn round_trip<T: DeserializeOwned + Serialize + UnknownFields>(
    origin: &str,
    document: &Value,
) -> T {
    let typed: T = serde_json::from_value(document.clone())
        .unwrap_or_else(|error| panic!("{origin}: does not deserialise: {error}"));
    assert_eq!(
        typed.unknown_fields(),
        Vec::<String>::new(),
        "{origin}: unmodelled fields"
    );
    let back = serde_json::to_value(&typed).expect("serialises");
    assert_eq!(&back, document, "{origin}: round trip changed the document");
    typed
}

#[test]
fn every_fixture_round_trips() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("testdata/argocd exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the Argo CD fixtures, found {files:?}"
    );
    let mut count = 0;
    for file in &files {
        for (index, document) in documents(file).iter().enumerate() {
            let origin = format!("{} document {}", file.display(), index + 1);
            match document["kind"].as_str() {
                Some("Application") => {
                    round_trip::<Application>(&origin, document);
                }
                Some("AppProject") => {
                    round_trip::<AppProject>(&origin, document);
                }
                Some("ApplicationSet") => {
                    round_trip::<ApplicationSet>(&origin, document);
                }
                other => panic!("{origin}: unexpected kind {other:?}"),
            }
            count += 1;
        }
    }
    assert!(count >= 7, "only {count} documents");
}

#[test]
fn kustomize_application_is_typed() {
    let documents = fixture("application-kustomize.yaml");
    let app: Application = round_trip("application-kustomize", &documents[0]);
    let kustomize = app
        .spec
        .source
        .as_ref()
        .unwrap()
        .kustomize
        .as_ref()
        .unwrap();
    assert_eq!(kustomize.name_prefix, "prod-");
    assert_eq!(kustomize.replicas[0].count, IntOrString::Int(4));
    assert_eq!(kustomize.replicas[1].count, IntOrString::String("2".into()));
    assert_eq!(
        kustomize.patches[0].target.as_ref().unwrap().kind,
        "Deployment"
    );
    assert_eq!(kustomize.force_common_labels, Some(false));
    let policy = app.spec.sync_policy.as_ref().unwrap();
    assert!(policy.is_automated());
    assert!(policy.has_sync_option("CreateNamespace", "true"));
    assert_eq!(
        policy
            .retry
            .as_ref()
            .unwrap()
            .backoff
            .as_ref()
            .unwrap()
            .factor,
        Some(2)
    );
    assert_eq!(app.spec.ignore_differences[1].kind, "ConfigMap");
    assert_eq!(app.spec.revision_history_limit, Some(5));

    let operation = app.operation.as_ref().unwrap();
    assert_eq!(
        operation.initiated_by.as_ref().unwrap().username,
        "alice@example.com"
    );
    let sync = operation.sync.as_ref().unwrap();
    assert_eq!(sync.resources.len(), 2);
    assert!(sync.sync_strategy.as_ref().unwrap().hook.is_some());

    let status = app.status.as_ref().unwrap();
    assert_eq!(status.sync.status, Some(SyncStatusCode::OutOfSync));
    assert_eq!(status.health.status, Some(HealthStatusCode::Progressing));
    assert_eq!(status.observed_generation, Some(7));
    assert_eq!(status.history[0].id, 0);
    assert!(status.resources[3].requires_pruning);
    let result = status
        .operation_state
        .as_ref()
        .unwrap()
        .sync_result
        .as_ref()
        .unwrap();
    assert_eq!(result.resources[0].hook_type, Some(HookType::PreSync));
    assert_eq!(result.resources[2].status, Some(ResultCode::PruneSkipped));
    assert!(
        status
            .operation_state
            .as_ref()
            .unwrap()
            .phase
            .as_ref()
            .unwrap()
            .is_completed()
    );
}

#[test]
fn helm_applications_are_typed() {
    let documents = fixture("application-helm.yaml");
    let chart: Application = round_trip("application-helm 1", &documents[0]);
    let source = chart.spec.source.as_ref().unwrap();
    assert!(source.is_helm_chart());
    let helm = source.helm.as_ref().unwrap();
    assert_eq!(helm.parameters[1].force_string, Some(true));
    assert_eq!(
        helm.values_object.as_ref().unwrap()["controller"]["admissionWebhooks"]["timeoutSeconds"],
        30
    );
    assert_eq!(helm.api_versions.len(), 2);

    let multi: Application = round_trip("application-helm 2", &documents[1]);
    let sources = multi.spec.effective_sources();
    assert_eq!(sources.len(), 2);
    assert!(sources[1].is_ref());
    assert!(!multi.spec.sync_policy.as_ref().unwrap().is_automated());
}

#[test]
fn application_sets_are_typed() {
    let documents = fixture("applicationset-matrix.yaml");
    let matrix: ApplicationSet = round_trip("applicationset-matrix 1", &documents[0]);
    let generators = &matrix.spec.generators[0]
        .matrix
        .as_ref()
        .unwrap()
        .generators;
    let git = generators[0].git.as_ref().unwrap();
    assert_eq!(git.directories[1].exclude, Some(true));
    assert_eq!(git.requeue_after_seconds, Some(300));
    let clusters = generators[1].clusters.as_ref().unwrap();
    assert_eq!(
        clusters
            .selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0]
            .key,
        "environment"
    );
    assert_eq!(matrix.spec.go_template, Some(true));
    assert!(
        matrix
            .spec
            .template_patch
            .as_ref()
            .unwrap()
            .contains("automated")
    );
    let steps = &matrix
        .spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_sync
        .as_ref()
        .unwrap()
        .steps;
    assert_eq!(steps[1].max_update, Some(IntOrString::String("25%".into())));

    let merge: ApplicationSet = round_trip("applicationset-matrix 2", &documents[1]);
    let merge_generator = merge.spec.generators[0].merge.as_ref().unwrap();
    assert_eq!(merge_generator.merge_keys, ["service"]);
    let nested = merge_generator.generators[0].matrix.as_ref().unwrap();
    assert_eq!(nested.generators.len(), 2);
    assert_eq!(
        nested.generators[0].list.as_ref().unwrap().elements[1]["replicas"],
        3
    );
    assert_eq!(
        nested.generators[1].git.as_ref().unwrap().path_param_prefix,
        "svc"
    );
    assert!(
        merge_generator
            .template
            .as_ref()
            .unwrap()
            .metadata
            .name
            .is_empty()
    );
    assert!(merge.spec.generators[1].pull_request.is_some());
    assert_eq!(merge.status.as_ref().unwrap().resources_count, 1);
}

#[test]
fn app_project_is_typed() {
    let documents = fixture("appproject-full.yaml");
    let project: AppProject = round_trip("appproject-full", &documents[0]);
    // An explicit empty whitelist (nothing allowed) differs from an absent one (all allowed).
    assert_eq!(project.spec.namespace_resource_whitelist, Some(Vec::new()));
    assert_eq!(
        project.spec.cluster_resource_whitelist[1].name,
        "payments-*"
    );
    assert_eq!(project.spec.roles[0].jwt_tokens[1].exp, 1741536000);
    assert_eq!(project.spec.sync_windows[0].and_operator, Some(true));
    assert_eq!(
        project.status.as_ref().unwrap().jwt_tokens_by_role["ci"]
            .items
            .len(),
        1
    );
}

#[test]
fn unknown_fields_round_trip_and_are_reported() {
    let mut document = fixture("app-of-apps.yaml").remove(0);
    document["spec"]["source"]["futureOption"] = serde_json::json!({"nested": [1, 2]});
    document["spec"]["syncPolicy"]["automated"]["someNewFlag"] = Value::Bool(true);
    document["status"] =
        serde_json::json!({"health": {"status": "Healthy", "since": "now"}, "newStatus": 1});
    let app: Application = serde_json::from_value(document.clone()).unwrap();
    assert_eq!(
        app.unknown_fields(),
        [
            ".spec.source.futureOption",
            ".spec.syncPolicy.automated.someNewFlag",
            ".status.newStatus",
            ".status.health.since",
        ]
    );
    assert_eq!(serde_json::to_value(&app).unwrap(), document);
}

#[test]
fn unknown_enum_values_round_trip() {
    let status = serde_json::json!({
        "sync": {"status": "Reconciling"},
        "health": {"status": "Hibernating"},
        "operationState": {"operation": {}, "phase": "Paused"},
    });
    let parsed: capstan_types::ApplicationStatus = serde_json::from_value(status.clone()).unwrap();
    assert_eq!(
        parsed.sync.status,
        Some(SyncStatusCode::Other("Reconciling".into()))
    );
    assert!(!parsed.health.status.as_ref().unwrap().is_known());
    assert_eq!(serde_json::to_value(&parsed).unwrap(), status);
}

#[test]
fn applications_serialise_type_meta_and_top_level_operation() {
    let app = Application::new(
        "demo",
        capstan_types::ApplicationSpec {
            project: "default".into(),
            ..Default::default()
        },
    );
    let mut with_operation = app.clone();
    with_operation.operation = Some(capstan_types::Operation::default());
    let value = serde_json::to_value(&with_operation).unwrap();
    assert_eq!(value["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(value["kind"], "Application");
    assert_eq!(value["operation"], serde_json::json!({}));
    assert!(value.get("status").is_none());
    let back: Application = serde_json::from_value(value).unwrap();
    assert_eq!(back, with_operation);
    assert_eq!(<Application as kube::Resource>::plural(&()), "applications");
    assert_eq!(
        <Application as kube::CustomResourceExt>::crd_name(),
        "applications.argoproj.io"
    );
}

#[test]
fn yaml_deserialises_like_json() {
    for name in ["application-kustomize.yaml", "app-of-apps.yaml"] {
        let text = std::fs::read_to_string(fixtures_dir().join(name)).unwrap();
        let from_yaml: Application =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
        let from_json: Application = serde_json::from_value(fixture(name).remove(0)).unwrap();
        assert_eq!(from_yaml, from_json, "{name}");
    }
    let text = std::fs::read_to_string(fixtures_dir().join("appproject-full.yaml")).unwrap();
    let project: AppProject = serde_yaml_ng::from_str(&text).unwrap();
    assert!(project.unknown_fields().is_empty());
}
