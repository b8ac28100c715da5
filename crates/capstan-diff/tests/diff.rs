//! Table tests of `capstan_diff::diff` on realistic objects.

use std::collections::BTreeMap;

use capstan_diff::{DiffError, Normalizer, ResourceDiff, diff, mask_secret};
use capstan_types::application::ResourceIgnoreDifferences;
use capstan_types::settings::{
    ArgoCdSettings, GroupKindPattern, OverrideIgnoreDiff, ResourceCustomization,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// A Deployment as `kustomize build` renders it.
fn desired_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.25",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "env": [
                            {"name": "MODE", "value": "production"},
                            {"name": "WORKERS", "value": "4"}
                        ],
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "256Mi"},
                            "limits": {"cpu": "1", "memory": "1Gi"}
                        }
                    }]
                }
            }
        }
    })
}

/// The same Deployment as the API server returns it: defaults, status and server metadata.
fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "6f1c1d2e-0000-4000-8000-000000000001",
            "resourceVersion": "123456",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web"},
            "annotations": {
                "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web",
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"secret\":\"x\"}"
            },
            "managedFields": [{
                "manager": "argocd-controller",
                "operation": "Apply",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}
            }]
        },
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.25",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                        "env": [
                            {"name": "MODE", "value": "production"},
                            {"name": "WORKERS", "value": "4"}
                        ],
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "256Mi"},
                            "limits": {"cpu": "1", "memory": "1Gi"}
                        },
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        },
        "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 3}
    })
}

fn no_rules() -> Normalizer {
    Normalizer::default()
}

fn run(desired: &Value, live: &Value, normalizer: &Normalizer) -> ResourceDiff {
    diff(Some(desired), Some(live), normalizer).expect("diff succeeds")
}

/// Sets the value at a JSON pointer (creating nothing: the parent must exist).
fn set(value: &mut Value, pointer: &str, new: Value) {
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} exists")) = new;
}

#[test]
fn defaulted_fields_are_not_a_diff() {
    let result = run(&desired_deployment(), &live_deployment(), &no_rules());
    assert_eq!(result.changed_paths, Vec::<String>::new());
    assert!(!result.modified);
    assert_eq!(result.unified_diff, "");
    // Normalisation dropped server fields and the last-applied annotation, kept the tracking one.
    let metadata = &result.normalized_live["metadata"];
    for field in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
    ] {
        assert!(metadata.get(field).is_none(), "{field} stripped");
    }
    assert!(result.normalized_live.get("status").is_none());
    assert!(
        metadata["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    assert_eq!(
        metadata["annotations"]["argocd.argoproj.io/tracking-id"],
        "shop:apps/Deployment:shop/web"
    );
    // The predicted live object is live with desired applied: here, live itself.
    assert_eq!(result.predicted_live, result.normalized_live);
}

#[test]
fn changes_are_reported_at_the_right_paths() {
    struct Case {
        name: &'static str,
        pointer: &'static str,
        value: Value,
        changed: &'static [&'static str],
        diff_lines: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "image",
            pointer: "/spec/template/spec/containers/0/image",
            value: json!("nginx:1.26"),
            changed: &["/spec/template/spec/containers/0/image"],
            diff_lines: &["-        image: nginx:1.25", "+        image: nginx:1.26"],
        },
        Case {
            name: "replicas",
            pointer: "/spec/replicas",
            value: json!(5),
            changed: &["/spec/replicas"],
            diff_lines: &["-  replicas: 2", "+  replicas: 5"],
        },
        Case {
            name: "env value",
            pointer: "/spec/template/spec/containers/0/env/1/value",
            value: json!("8"),
            changed: &["/spec/template/spec/containers/0/env/1/value"],
            diff_lines: &["-          value: '4'", "+          value: '8'"],
        },
        Case {
            name: "label",
            pointer: "/metadata/labels",
            value: json!({"app": "web", "tier": "frontend"}),
            changed: &["/metadata/labels/tier"],
            diff_lines: &["+    tier: frontend"],
        },
        Case {
            name: "cpu limit",
            pointer: "/spec/template/spec/containers/0/resources/limits/cpu",
            value: json!("2"),
            changed: &["/spec/template/spec/containers/0/resources/limits/cpu"],
            diff_lines: &["-            cpu: '1'", "+            cpu: '2'"],
        },
    ];
    for case in cases {
        let mut desired = desired_deployment();
        set(&mut desired, case.pointer, case.value);
        let result = run(&desired, &live_deployment(), &no_rules());
        assert!(result.modified, "{}", case.name);
        assert_eq!(result.changed_paths, case.changed, "{}", case.name);
        let lines: Vec<&str> = result.unified_diff.lines().collect();
        for line in case.diff_lines {
            assert!(
                lines.contains(line),
                "{}: {line:?} in\n{}",
                case.name,
                result.unified_diff
            );
        }
        assert!(result.unified_diff.starts_with("--- live\n+++ desired\n"));
    }
}

#[test]
fn scalar_equivalences() {
    // (field of the first container, desired value, live value, equal?)
    let cases = [
        ("/resources/requests/cpu", json!("0.5"), json!("500m"), true),
        ("/resources/limits/cpu", json!(1), json!("1000m"), true),
        ("/resources/limits/cpu", json!("1000m"), json!("1"), true),
        (
            "/resources/limits/memory",
            json!("1Gi"),
            json!(1_073_741_824),
            true,
        ),
        (
            "/resources/limits/memory",
            json!("1Gi"),
            json!("1024Mi"),
            true,
        ),
        ("/resources/limits/memory", json!("1G"), json!("1Gi"), false),
        (
            "/resources/requests/cpu",
            json!("250m"),
            json!("500m"),
            false,
        ),
        ("/ports/0/containerPort", json!("8080"), json!(8080), true),
        ("/ports/0/containerPort", json!(8080), json!("8081"), false),
        // Not a quantity field: two strings are compared as text.
        ("/env/1/value", json!("1000m"), json!("1"), false),
        ("/env/1/value", json!("4"), json!(4), true),
    ];
    for (field, desired_value, live_value, equal) in cases {
        let pointer = format!("/spec/template/spec/containers/0{field}");
        let mut desired = desired_deployment();
        let mut live = live_deployment();
        set(&mut desired, &pointer, desired_value.clone());
        set(&mut live, &pointer, live_value.clone());
        let result = run(&desired, &live, &no_rules());
        assert_eq!(
            result.modified, !equal,
            "{field}: {desired_value} vs {live_value}: {:?}",
            result.changed_paths
        );
        if equal {
            assert_eq!(
                result.unified_diff, "",
                "{field}: live's spelling is predicted"
            );
        }
    }
}

#[test]
fn empty_and_zero_values_equal_absent() {
    let mut desired = desired_deployment();
    let spec = desired["spec"]["template"]["spec"].as_object_mut().unwrap();
    spec.insert("nodeSelector".into(), json!({}));
    spec.insert("tolerations".into(), json!([]));
    spec.insert("hostNetwork".into(), json!(false));
    spec.insert("serviceAccountName".into(), json!(""));
    spec.insert("affinity".into(), json!(null));
    desired["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .insert("empty".into(), json!(null));
    let result = run(&desired, &live_deployment(), &no_rules());
    assert_eq!(result.changed_paths, Vec::<String>::new());

    // A desired null where live has a value asks for deletion: a difference.
    let mut desired = desired_deployment();
    desired["spec"]["strategy"] = json!(null);
    let result = run(&desired, &live_deployment(), &no_rules());
    assert_eq!(result.changed_paths, ["/spec/strategy"]);
}

#[test]
fn keyed_lists_match_by_key_and_ignore_order() {
    let sidecar =
        json!({"name": "proxy", "image": "envoy:1.30", "ports": [{"containerPort": 9901}]});
    let mut desired = desired_deployment();
    let mut live = live_deployment();
    desired["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(sidecar.clone());
    // Live lists the containers and the env entries in the other order.
    let containers = live["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap();
    containers.insert(0, sidecar.clone());
    containers[1]["env"].as_array_mut().unwrap().reverse();
    let result = run(&desired, &live, &no_rules());
    assert_eq!(result.changed_paths, Vec::<String>::new());
    assert_eq!(result.unified_diff, "");

    // A changed image is reported at the desired index even though live's order differs.
    desired["spec"]["template"]["spec"]["containers"][1]["image"] = json!("envoy:1.31");
    let result = run(&desired, &live, &no_rules());
    assert_eq!(
        result.changed_paths,
        ["/spec/template/spec/containers/1/image"]
    );

    // A container only live has (say, injected) is a difference at its live index.
    let desired = desired_deployment();
    let result = run(&desired, &live, &no_rules());
    assert_eq!(result.changed_paths, ["/spec/template/spec/containers/0"]);
    assert!(result.unified_diff.contains("-      - image: envoy:1.30"));
}

#[test]
fn positional_lists_compare_by_index_and_length() {
    let mut desired = desired_deployment();
    let mut live = live_deployment();
    desired["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--a", "--b"]);
    live["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--b", "--a"]);
    let result = run(&desired, &live, &no_rules());
    assert_eq!(
        result.changed_paths,
        [
            "/spec/template/spec/containers/0/args/0",
            "/spec/template/spec/containers/0/args/1"
        ]
    );
    live["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--a", "--b", "--c"]);
    let result = run(&desired, &live, &no_rules());
    assert_eq!(
        result.changed_paths,
        ["/spec/template/spec/containers/0/args/2"]
    );
}

fn webhook(ca_bundle: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "injector"},
        "webhooks": [{
            "name": "inject.example.com",
            "clientConfig": {
                "service": {"name": "injector", "namespace": "system"},
                "caBundle": ca_bundle
            },
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None"
        }]
    })
}

#[test]
fn json_pointers_from_the_seed_guides_resource_customizations() {
    // argocd-cm exactly as the seed guide writes it.
    let data: BTreeMap<String, String> = [(
        "resource.customizations".to_owned(),
        "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n  ignoreDifferences: |\n    \
         jsonPointers:\n    - /webhooks/0/clientConfig/caBundle\n"
            .to_owned(),
    )]
    .into();
    let settings = ArgoCdSettings::from_config_map_data(&data).expect("seed argocd-cm parses");
    let normalizer = Normalizer::new(&[], &settings.resource_customizations).unwrap();

    let desired = webhook("");
    let live = webhook("LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t");
    assert!(run(&desired, &live, &no_rules()).modified);
    let result = run(&desired, &live, &normalizer);
    assert_eq!(result.changed_paths, Vec::<String>::new());
    assert!(
        result.normalized_live["webhooks"][0]["clientConfig"]
            .get("caBundle")
            .is_none()
    );
}

#[test]
fn json_pointer_rules_match_group_kind_name_and_namespace() {
    let rule =
        |group: Option<&str>, kind: &str, name: &str, namespace: &str| ResourceIgnoreDifferences {
            group: group.map(str::to_owned),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            json_pointers: vec!["/spec/replicas".to_owned()],
            ..Default::default()
        };
    let mut desired = desired_deployment();
    desired["spec"]["replicas"] = json!(7);
    let cases = [
        (rule(Some("apps"), "Deployment", "", ""), true),
        (rule(Some("apps"), "Deployment", "web", "shop"), true),
        (rule(Some("*"), "*", "", ""), true),
        (rule(Some("app*"), "Deploy*", "", ""), true),
        (rule(Some("apps"), "Deployment", "other", ""), false),
        (rule(Some("apps"), "Deployment", "", "other"), false),
        (rule(None, "Deployment", "", ""), false),
        (rule(Some(""), "Deployment", "", ""), false),
        (rule(Some("apps"), "StatefulSet", "", ""), false),
    ];
    for (rule, ignored) in cases {
        let normalizer = Normalizer::new(std::slice::from_ref(&rule), &BTreeMap::new()).unwrap();
        let result = run(&desired, &live_deployment(), &normalizer);
        assert_eq!(result.modified, !ignored, "{rule:?}");
    }

    // The `all` customization (`*/*`) applies to every kind.
    let customizations = BTreeMap::from([(
        GroupKindPattern::all(),
        ResourceCustomization {
            ignore_differences: Some(OverrideIgnoreDiff {
                json_pointers: vec!["/spec/replicas".to_owned()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )]);
    let normalizer = Normalizer::new(&[], &customizations).unwrap();
    assert!(!run(&desired, &live_deployment(), &normalizer).modified);
}

#[test]
fn json_pointer_can_ignore_a_whole_list_element() {
    // An injected sidecar at index 1 of live's containers.
    let mut live = live_deployment();
    live["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-proxy", "image": "istio/proxyv2"}));
    assert!(run(&desired_deployment(), &live, &no_rules()).modified);
    let normalizer = Normalizer::new(
        &[ResourceIgnoreDifferences {
            group: Some("apps".to_owned()),
            kind: "Deployment".to_owned(),
            json_pointers: vec!["/spec/template/spec/containers/1".to_owned()],
            ..Default::default()
        }],
        &BTreeMap::new(),
    )
    .unwrap();
    assert!(!run(&desired_deployment(), &live, &normalizer).modified);
}

#[test]
fn jq_path_expressions_ignore_selected_fields() {
    let mut live = live_deployment();
    live["spec"]["template"]["spec"]["initContainers"] =
        json!([{"name": "istio-init", "image": "istio/proxyv2"}]);
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:patched");
    assert_eq!(
        run(&desired_deployment(), &live, &no_rules()).changed_paths,
        ["/spec/template/spec/containers/0/image"]
    );
    let normalizer = Normalizer::new(
        &[ResourceIgnoreDifferences {
            group: Some("apps".to_owned()),
            kind: "Deployment".to_owned(),
            jq_path_expressions: vec![
                r#".spec.template.spec.containers[] | select(.name == "web") | .image"#.to_owned(),
                r#".spec.template.spec.initContainers[]? | select(.name == "istio-init")"#
                    .to_owned(),
            ],
            ..Default::default()
        }],
        &BTreeMap::new(),
    )
    .unwrap();
    let result = run(&desired_deployment(), &live, &normalizer);
    assert_eq!(result.changed_paths, Vec::<String>::new());
    assert!(
        result.normalized_live["spec"]["template"]["spec"]["containers"][0]
            .get("image")
            .is_none()
    );
    assert_eq!(
        result.normalized_live["spec"]["template"]["spec"]["initContainers"],
        json!([])
    );
}

#[test]
fn managed_fields_managers_accept_their_changes() {
    let mut live = live_deployment();
    live["spec"]["replicas"] = json!(5);
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
        json!("750m");
    live["metadata"]["managedFields"] = json!([
        {"manager": "argocd-controller", "operation": "Apply",
         "fieldsV1": {"f:spec": {"f:template": {}}}},
        {"manager": "kube-controller-manager", "operation": "Update",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "vpa-recommender", "operation": "Update",
         "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
             "k:{\"name\":\"web\"}": {".": {}, "f:resources": {"f:requests": {"f:cpu": {}}}}
         }}}}}}
    ]);
    assert_eq!(
        run(&desired_deployment(), &live, &no_rules()).changed_paths,
        [
            "/spec/replicas",
            "/spec/template/spec/containers/0/resources/requests/cpu"
        ]
    );
    let rule = |managers: &[&str]| ResourceIgnoreDifferences {
        group: Some("apps".to_owned()),
        kind: "Deployment".to_owned(),
        managed_fields_managers: managers.iter().map(|m| (*m).to_owned()).collect(),
        ..Default::default()
    };
    let normalizer =
        Normalizer::new(&[rule(&["kube-controller-manager"])], &BTreeMap::new()).unwrap();
    assert_eq!(
        run(&desired_deployment(), &live, &normalizer).changed_paths,
        ["/spec/template/spec/containers/0/resources/requests/cpu"]
    );
    let normalizer = Normalizer::new(
        &[rule(&["kube-controller-manager", "vpa-recommender"])],
        &BTreeMap::new(),
    )
    .unwrap();
    let result = run(&desired_deployment(), &live, &normalizer);
    assert_eq!(result.changed_paths, Vec::<String>::new());
    // The image, which vpa-recommender does not own, is still compared.
    let mut desired = desired_deployment();
    desired["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    assert_eq!(
        run(&desired, &live, &normalizer).changed_paths,
        ["/spec/template/spec/containers/0/image"]
    );
}

#[test]
fn secret_values_are_masked_but_changed_keys_show() {
    // base64("admin") = YWRtaW4=, base64("oldpass") = b2xkcGFzcw==, base64("hunter2") = aHVudGVyMg==
    let desired = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque",
        "data": {"username": "YWRtaW4="},
        "stringData": {"password": "hunter2"}
    });
    let live = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", "resourceVersion": "9",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                "{\"stringData\":{\"password\":\"oldpass\"}}"}},
        "type": "Opaque",
        "data": {"username": "YWRtaW4=", "password": "b2xkcGFzcw=="}
    });
    let result = run(&desired, &live, &no_rules());
    assert!(result.modified);
    assert_eq!(result.changed_paths, ["/data/password"]);
    let everything = format!(
        "{}\n{}\n{}\n{}\n{:?}",
        result.unified_diff,
        result.normalized_desired,
        result.normalized_live,
        result.predicted_live,
        result
    );
    for secret in [
        "hunter2",
        "aHVudGVyMg==",
        "oldpass",
        "b2xkcGFzcw==",
        "admin",
        "YWRtaW4=",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    let lines: Vec<&str> = result.unified_diff.lines().collect();
    // Desired is masked first: its value gets the first mask, live's different value a longer one.
    assert!(
        lines.contains(&"+  password: ++++++++"),
        "{}",
        result.unified_diff
    );
    assert!(
        lines.contains(&"-  password: ++++++++++++"),
        "{}",
        result.unified_diff
    );
    // Unchanged keys have one mask on both sides and are not in the changed lines.
    assert!(!result.unified_diff.contains("-  username"));
    assert_eq!(result.normalized_desired["data"]["username"], "++++++++");

    // Identical secrets: no diff, still masked.
    let result = run(&live, &live, &no_rules());
    assert!(!result.modified);
    assert_eq!(result.normalized_live["data"]["password"], "++++++++");
}

#[test]
fn mask_secret_is_public_and_leaves_other_kinds_alone() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="}});
    assert_eq!(mask_secret(&secret)["data"]["k"], "++++++++");
    let deployment = desired_deployment();
    assert_eq!(mask_secret(&deployment), deployment);
}

#[test]
fn missing_live_or_desired_is_modified() {
    let result = diff(Some(&desired_deployment()), None, &no_rules()).unwrap();
    assert!(result.modified);
    assert_eq!(result.changed_paths, [""]);
    assert_eq!(result.normalized_live, Value::Null);
    assert!(result.unified_diff.contains("+kind: Deployment"));
    assert!(
        !result
            .unified_diff
            .lines()
            .any(|line| line.starts_with("-") && !line.starts_with("---"))
    );
    // The template's `creationTimestamp: null` is not predicted to be stored.
    assert!(!result.unified_diff.contains("creationTimestamp"));

    let result = diff(None, Some(&live_deployment()), &no_rules()).unwrap();
    assert!(result.modified, "requires pruning");
    assert_eq!(result.changed_paths, [""]);
    assert_eq!(result.predicted_live, Value::Null);
    assert!(result.unified_diff.contains("-kind: Deployment"));
}

#[test]
fn invalid_inputs_are_typed_errors() {
    assert!(matches!(
        diff(None, None, &no_rules()),
        Err(DiffError::NothingToCompare)
    ));
    assert!(matches!(
        diff(Some(&json!([1])), None, &no_rules()),
        Err(DiffError::NotAnObject { side: "desired" })
    ));
    assert!(matches!(
        diff(Some(&desired_deployment()), Some(&json!("x")), &no_rules()),
        Err(DiffError::NotAnObject { side: "live" })
    ));
}

#[test]
fn invalid_rules_fail_naming_the_rule() {
    let app_rule = |pointer: &str, jq: &str, kind: &str| ResourceIgnoreDifferences {
        group: Some("apps".to_owned()),
        kind: kind.to_owned(),
        json_pointers: vec![pointer.to_owned()],
        jq_path_expressions: if jq.is_empty() {
            vec![]
        } else {
            vec![jq.to_owned()]
        },
        ..Default::default()
    };
    let error = Normalizer::new(
        &[
            app_rule("/ok", "", "Deployment"),
            app_rule("spec/replicas", "", "Deployment"),
        ],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(error, DiffError::InvalidJsonPointer { .. }));
    assert!(
        error.to_string().contains("spec.ignoreDifferences[1]"),
        "{error}"
    );

    let error =
        Normalizer::new(&[app_rule("/ok", ".spec[", "Deployment")], &BTreeMap::new()).unwrap_err();
    assert!(matches!(error, DiffError::InvalidJq { .. }));
    assert!(error.to_string().contains(".spec["), "{error}");

    let error = Normalizer::new(&[app_rule("/ok", "", "Deploy[")], &BTreeMap::new()).unwrap_err();
    assert!(matches!(error, DiffError::InvalidGlob { .. }));

    let customizations = BTreeMap::from([(
        GroupKindPattern::new("apps", "Deployment"),
        ResourceCustomization {
            ignore_differences: Some(OverrideIgnoreDiff {
                json_pointers: vec!["/a~9".to_owned()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )]);
    let error = Normalizer::new(&[], &customizations).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("resource.customizations apps/Deployment"),
        "{error}"
    );
}

#[test]
fn output_is_deterministic_with_sorted_keys() {
    let mut desired = desired_deployment();
    desired["spec"]["replicas"] = json!(3);
    let first = run(&desired, &live_deployment(), &no_rules());
    let second = run(&desired, &live_deployment(), &no_rules());
    assert_eq!(first, second);
    let yaml_keys: Vec<&str> = first
        .unified_diff
        .lines()
        .filter(|line| line.starts_with("   ") && !line.starts_with("    "))
        .collect();
    let mut sorted = yaml_keys.clone();
    sorted.sort_unstable();
    assert_eq!(yaml_keys, sorted, "{}", first.unified_diff);
}

#[test]
fn normalizer_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Normalizer>();
}

#[test]
fn defaults_of_other_kinds_are_not_a_diff() {
    let cases = [
        (
            "Service (ports keyed by port, reordered)",
            json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090}
            ]}}),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "shop", "uid": "u"},
                "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
                    "clusterIP": "10.0.0.12", "clusterIPs": ["10.0.0.12"],
                    "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                    "ports": [
                        {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
                        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}
                    ]},
                "status": {"loadBalancer": {}}}),
        ),
        (
            "StatefulSet (volumeClaimTemplates, storage quantity)",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}}}}]}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": "shop", "generation": 1},
                "spec": {"serviceName": "db", "replicas": 1, "podManagementPolicy": "OrderedReady",
                    "selector": {"matchLabels": {"app": "db"}},
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                    "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "db", "image": "postgres:16",
                            "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}},
                    "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data", "creationTimestamp": null},
                        "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                            "resources": {"requests": {"storage": "10240Mi"}}},
                        "status": {"phase": "Pending"}}]},
                "status": {"replicas": 1}}),
        ),
        (
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"a": "1"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "shop", "resourceVersion": "5"},
                "data": {"a": "1"}}),
        ),
    ];
    for (name, desired, live) in cases {
        let result = run(&desired, &live, &no_rules());
        assert_eq!(result.changed_paths, Vec::<String>::new(), "{name}");
        assert_eq!(result.unified_diff, "", "{name}");
    }
}
