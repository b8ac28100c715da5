//! The users' guide meets a real kube-apiserver.
//!
//! Every `Application`, `AppProject` and `ApplicationSet` document of the seed guide
//! (`testdata/seed/argocd-aks-guide.md`) is applied unchanged with `kubectl apply`, as the guide
//! tells its readers to, against the CRDs Capstan ships (`charts/capstan/crds/`). Server-side
//! validation must accept them, the API server must keep every field, and reading them back
//! into Capstan's Rust types must lose nothing. The Argo CD documentation fixtures of
//! `testdata/argocd/` go through the same round trip (including `status`, written through the
//! status subresource as the controller will), and the guide's `argocd-cm` and
//! `argocd-rbac-cm` ConfigMaps, read back from the cluster, parse into the values it gives.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use capstan_e2e::{FIELD_MANAGER, TestEnv, install_crds};
use capstan_types::settings::{ArgoCdSettings, PolicyEffect, PolicyRule, RbacSettings};
use capstan_types::{AppProject, Application, ApplicationSet, UnknownFields, seed};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube::{Client, Resource};
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const SEED: &str = include_str!("../../testdata/seed/argocd-aks-guide.md");
/// The namespace the seed guide puts Argo CD's objects in.
const SEED_NAMESPACE: &str = "argocd";
/// The top-level fields a user writes (everything but metadata, which the server adds to).
const USER_FIELDS: &[&str] = &["spec", "operation"];

fn seed_documents_of(kinds: &[&str]) -> Vec<Value> {
    seed::yaml_documents(SEED)
        .into_iter()
        .filter(|doc| {
            doc.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| kinds.contains(&k))
        })
        .collect()
}

fn fixture_documents() -> anyhow::Result<Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/argocd");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut docs = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(file)?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .with_context(|| format!("parsing {}", file.display()))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
    }
    Ok(docs)
}

async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `kubectl apply -f` of one document, exactly as a user of the guide would run it.
fn kubectl_apply(env: &TestEnv, doc: &Value) -> anyhow::Result<()> {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile()?;
    std::fs::write(file.path(), serde_yaml_ng::to_string(doc)?)?;
    let out = Command::new(env.kubectl())
        .env("KUBECONFIG", env.kubeconfig())
        .args(["apply", "-f"])
        .arg(file.path())
        .output()?;
    if !out.status.success() {
        bail!(
            "kubectl apply of {} {} was rejected: {}",
            kind_of(doc),
            name_of(doc),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("?")
}

fn name_of(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("?")
}

fn api_resource(kind: &str) -> anyhow::Result<ApiResource> {
    Ok(match kind {
        "Application" => ApiResource::erase::<Application>(&()),
        "AppProject" => ApiResource::erase::<AppProject>(&()),
        "ApplicationSet" => ApiResource::erase::<ApplicationSet>(&()),
        other => bail!("not an Argo CD kind: {other}"),
    })
}

/// Reads `doc` back from the server twice — untyped, and into Capstan's type `K` — and checks
/// that neither lost or changed a field the user wrote (`spec`, `operation`, and `status` when
/// the document carries one).
async fn assert_round_trip<K>(client: &Client, namespace: &str, doc: &Value) -> anyhow::Result<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned
        + UnknownFields,
{
    let what = format!("{} {namespace}/{}", kind_of(doc), name_of(doc));
    let raw = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        namespace,
        &api_resource(kind_of(doc))?,
    )
    .get(name_of(doc))
    .await
    .with_context(|| format!("reading back {what}"))?;
    let raw = serde_json::to_value(raw)?;

    let typed = Api::<K>::namespaced(client.clone(), namespace)
        .get(name_of(doc))
        .await
        .with_context(|| format!("reading {what} into the Rust type"))?;
    let unknown = typed.unknown_fields();
    ensure!(
        unknown.is_empty(),
        "{what}: fields the Rust types do not model: {unknown:?}"
    );
    let typed = serde_json::to_value(&typed)?;

    let mut fields: Vec<&str> = USER_FIELDS.to_vec();
    if doc.get("status").is_some() {
        fields.push("status");
    }
    for field in fields {
        let Some(written) = doc.get(field) else {
            continue;
        };
        assert_eq!(
            Some(written),
            raw.get(field),
            "{what}: the API server changed `{field}`"
        );
        assert_eq!(
            Some(written),
            typed.get(field),
            "{what}: the Rust types changed `{field}`"
        );
    }
    // User metadata survives too.
    for key in ["labels", "annotations", "finalizers"] {
        if let Some(written) = doc["metadata"].get(key) {
            assert_eq!(Some(written), typed["metadata"].get(key), "{what}: {key}");
        }
    }
    Ok(())
}

async fn round_trip(client: &Client, namespace: &str, doc: &Value) -> anyhow::Result<()> {
    match kind_of(doc) {
        "Application" => assert_round_trip::<Application>(client, namespace, doc).await,
        "AppProject" => assert_round_trip::<AppProject>(client, namespace, doc).await,
        "ApplicationSet" => assert_round_trip::<ApplicationSet>(client, namespace, doc).await,
        other => bail!("not an Argo CD kind: {other}"),
    }
}

#[tokio::test]
async fn seed_guide_objects_apply_unchanged_and_round_trip() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    ensure_namespace(&client, SEED_NAMESPACE).await?;

    let docs = seed_documents_of(&["Application", "AppProject", "ApplicationSet"]);
    // The guide has the `microservices` AppProject and ApplicationSet; if it grows, so does
    // this test — but it must never silently test nothing.
    let kinds: Vec<&str> = docs.iter().map(kind_of).collect();
    assert!(kinds.contains(&"AppProject"), "seed kinds: {kinds:?}");
    assert!(kinds.contains(&"ApplicationSet"), "seed kinds: {kinds:?}");

    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"], SEED_NAMESPACE,
            "seed documents live in the argocd namespace"
        );
        kubectl_apply(&env, doc)?;
        round_trip(&client, SEED_NAMESPACE, doc).await?;
    }
    Ok(())
}

#[tokio::test]
async fn argocd_fixtures_round_trip_including_status() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    let ns = env.unique_namespace("fixtures").await?;

    let docs = fixture_documents()?;
    assert!(
        docs.len() >= 5,
        "expected the Argo CD fixtures, found {}",
        docs.len()
    );
    for mut doc in docs {
        doc["metadata"]["namespace"] = json!(ns.name);
        let api = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns.name,
            &api_resource(kind_of(&doc))?,
        );
        // Server-side apply, as Capstan's own components will write objects.
        let mut spec_only = doc.clone();
        spec_only.as_object_mut().map(|o| o.remove("status"));
        api.patch(
            name_of(&doc),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&spec_only),
        )
        .await
        .with_context(|| format!("applying {} {}", kind_of(&doc), name_of(&doc)))?;
        if let Some(status) = doc.get("status") {
            api.patch_status(
                name_of(&doc),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .with_context(|| format!("writing the status of {}", name_of(&doc)))?;
        }
        round_trip(&client, &ns.name, &doc).await?;
    }
    Ok(())
}

#[tokio::test]
async fn seed_configmaps_parse_into_the_settings_the_guide_gives() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    // The guide's ConfigMaps are named argocd-cm / argocd-rbac-cm in `argocd`; apply them into a
    // namespace of this test's own so parallel tests that configure Capstan are not disturbed.
    let ns = env.unique_namespace("settings").await?;
    let mut names = Vec::new();
    for mut doc in seed_documents_of(&["ConfigMap"]) {
        doc["metadata"]["namespace"] = json!(ns.name);
        names.push(name_of(&doc).to_owned());
        kubectl_apply(&env, &doc)?;
    }
    assert_eq!(names, ["argocd-cm", "argocd-rbac-cm"]);

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let data = |cm: ConfigMap| -> BTreeMap<String, String> { cm.data.unwrap_or_default() };

    let cm = ArgoCdSettings::from_config_map_data(&data(configmaps.get("argocd-cm").await?))?;
    assert_eq!(cm.reconciliation_timeout, Duration::from_secs(180));
    assert_eq!(cm.hard_reconciliation_timeout, Duration::ZERO);
    assert_eq!(cm.resource_tracking_method.as_str(), "annotation");
    assert!(!cm.anonymous_enabled);
    let webhook = cm
        .resource_customizations
        .iter()
        .find(|(gk, _)| {
            gk.group == "admissionregistration.k8s.io" && gk.kind == "MutatingWebhookConfiguration"
        })
        .map(|(_, c)| c)
        .context("the MutatingWebhookConfiguration customization is missing")?;
    assert_eq!(
        webhook
            .ignore_differences
            .as_ref()
            .map(|d| d.json_pointers.clone()),
        Some(vec!["/webhooks/0/clientConfig/caBundle".to_owned()])
    );

    let rbac = RbacSettings::from_config_map_data(&data(configmaps.get("argocd-rbac-cm").await?))?;
    assert_eq!(rbac.policy_default.as_deref(), Some("role:readonly"));
    let permissions: Vec<(String, String, String, String, PolicyEffect)> = rbac
        .rules
        .iter()
        .filter_map(|r| match r {
            PolicyRule::Permission {
                subject,
                resource,
                action,
                object,
                effect,
                ..
            } => Some((
                subject.clone(),
                resource.clone(),
                action.clone(),
                object.clone(),
                *effect,
            )),
            PolicyRule::Grouping { .. } => None,
        })
        .collect();
    assert_eq!(permissions.len(), 8);
    assert!(permissions.contains(&(
        "role:developer".into(),
        "exec".into(),
        "create".into(),
        "*/*".into(),
        PolicyEffect::Deny
    )));
    assert!(permissions.contains(&(
        "role:devops".into(),
        "clusters".into(),
        "*".into(),
        "*".into(),
        PolicyEffect::Allow
    )));
    let groupings: Vec<(String, String)> = rbac
        .rules
        .iter()
        .filter_map(|r| match r {
            PolicyRule::Grouping { subject, role, .. } => Some((subject.clone(), role.clone())),
            PolicyRule::Permission { .. } => None,
        })
        .collect();
    assert_eq!(
        groupings,
        [
            ("devops-team@example.com".into(), "role:devops".into()),
            ("developers@example.com".into(), "role:developer".into()),
        ]
    );
    Ok(())
}
