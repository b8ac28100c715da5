//! Plan tests: real examples (argocd-example-apps `sync-waves`) and one table per rule.

use std::collections::BTreeSet;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::*;

const REVISION: &str = "53e28ff20cc530b9ada2173fbbd64d48338583ba";
const STARTED: i64 = 1_700_000_000;

/// A desired-only resource with its key read from the object.
fn desired(obj: Value) -> PlanResource {
    resource(Some(obj), None)
}

/// A live-only resource (a prune candidate).
fn live(obj: Value) -> PlanResource {
    resource(None, Some(obj))
}

fn resource(desired: Option<Value>, live: Option<Value>) -> PlanResource {
    let obj = desired.as_ref().or(live.as_ref()).expect("an object");
    let kind = obj["kind"].as_str().unwrap_or_default();
    let namespaced = !matches!(
        kind,
        "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
    );
    let mut key = ResourceKey::from_object(obj);
    if namespaced && key.namespace.is_empty() {
        key.namespace = "default".into();
    }
    PlanResource {
        key,
        out_of_sync: true,
        namespaced,
        desired,
        live,
    }
}

fn obj(api_version: &str, kind: &str, name: &str, annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations},
    })
}

fn options() -> PlanOptions {
    PlanOptions {
        prune: true,
        namespace: "default".into(),
        revision: REVISION.into(),
        started_at_unix: STARTED,
        ..PlanOptions::default()
    }
}

fn with_app_options(options: &[&str]) -> PlanOptions {
    let strings: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
    PlanOptions {
        app_options: SyncOptions::parse(&strings).expect("valid options"),
        ..self::options()
    }
}

/// A compact picture of a task: `apply Kind/name`, `hook Kind/name`, `prune Kind/name`,
/// `skip Kind/name (reason)`.
fn describe(task: &Task) -> String {
    let what = format!("{}/{}", task.key.kind, task.key.name);
    match &task.action {
        Action::Apply(_) => format!("apply {what}"),
        Action::Hook { .. } => format!("hook {what}"),
        Action::Prune { .. } => format!("prune {what}"),
        Action::PruneSkipped { reason } => format!("skip {what} ({})", reason.message()),
    }
}

/// A compact picture of a plan: one line per step, `Phase/wave: task, task`.
fn summary(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|step| {
            let tasks: Vec<String> = step.tasks.iter().map(describe).collect();
            format!("{}/{}: {}", step.phase, step.wave, tasks.join(", "))
        })
        .collect()
}

fn plan_summary(resources: &[PlanResource], options: &PlanOptions) -> Vec<String> {
    summary(&plan(resources, options).expect("a plan"))
}

/// argocd-example-apps `sync-waves/manifests.yaml` (current version): two PreSync Jobs in waves
/// 0 and 1, a backend ReplicaSet and Service in wave 0, a Sync hook in wave 1, a frontend
/// ReplicaSet and Service in wave 2, a Sync hook in wave 3.
fn sync_waves_example() -> Vec<PlanResource> {
    let job = |meta: Value| {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {"template": {"spec": {
                "containers": [{"name": "main", "image": "alpine:latest", "command": ["sleep", "5"]}],
                "restartPolicy": "Never"
            }}}
        })
    };
    let replica_set = |name: &str, tier: &str, annotations: Value| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"tier": tier}},
                "template": {
                    "metadata": {"labels": {"tier": tier}},
                    "spec": {"containers": [{"name": "main", "image": "nginx:latest"}]}
                }
            }
        })
    };
    let service = |name: &str, port: u16, annotations: Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "selector": {"tier": name},
                "ports": [{"protocol": "TCP", "port": port, "targetPort": port}]
            }
        })
    };
    vec![
        desired(job(json!({
            "generateName": "upgrade-sql-schema-1",
            "annotations": {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "0"}
        }))),
        desired(job(json!({
            "generateName": "upgrade-sql-schema-2",
            "annotations": {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "1"}
        }))),
        desired(replica_set("backend", "backend", json!({}))),
        desired(service("backend", 8080, json!({}))),
        desired(job(json!({
            "name": "maint-page-up",
            "annotations": {
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "1"
            }
        }))),
        desired(replica_set(
            "frontend",
            "frontend",
            json!({"argocd.argoproj.io/sync-wave": "2"}),
        )),
        desired(service(
            "frontend",
            80,
            json!({"argocd.argoproj.io/sync-wave": "2"}),
        )),
        desired(job(json!({
            "name": "maint-page-down",
            "annotations": {
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "3"
            }
        }))),
    ]
}

#[test]
fn sync_waves_example_step_order() {
    let plan = plan(&sync_waves_example(), &options()).expect("a plan");
    assert_eq!(
        summary(&plan),
        vec![
            "PreSync/0: hook Job/upgrade-sql-schema-153e28ff-presync-1700000000",
            "PreSync/1: hook Job/upgrade-sql-schema-253e28ff-presync-1700000000",
            "Sync/0: apply Service/backend, apply ReplicaSet/backend",
            "Sync/1: hook Job/maint-page-up",
            "Sync/2: apply Service/frontend, apply ReplicaSet/frontend",
            "Sync/3: hook Job/maint-page-down",
        ]
    );
    assert!(plan.sync_fail_hooks.is_empty());
    assert!(!plan.dry_run);

    // The hook object as it will be created.
    let Action::Hook {
        apply,
        hook_type,
        delete_policies,
    } = &plan.steps[0].tasks[0].action
    else {
        panic!("a hook")
    };
    assert_eq!(*hook_type, HookType::PreSync);
    assert_eq!(delete_policies, &vec![HookDeletePolicy::BeforeHookCreation]);
    assert_eq!(
        apply.object["metadata"]["name"],
        "upgrade-sql-schema-153e28ff-presync-1700000000"
    );
    assert_eq!(apply.object["metadata"]["namespace"], "default");
    assert_eq!(
        apply.object["metadata"]["finalizers"],
        json!([HOOK_FINALIZER])
    );
    assert_eq!(
        plan.steps[0].tasks[0].key,
        ResourceKey::new(
            "batch",
            "Job",
            "default",
            "upgrade-sql-schema-153e28ff-presync-1700000000"
        )
    );
    assert!(!plan.steps[0].tasks[0].live_exists);
}

/// The earlier version of the same example: PostSync hooks, a Sync hook in wave 1, and
/// resources in waves 0 and 1.
#[test]
fn sync_waves_example_with_post_sync_hooks() {
    let hook = |generate_name: &str, hook: &str, wave: Option<&str>| {
        let mut annotations = json!({"argocd.argoproj.io/hook": hook});
        if let Some(wave) = wave {
            annotations["argocd.argoproj.io/sync-wave"] = json!(wave);
        }
        desired(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"generateName": generate_name, "annotations": annotations}
        }))
    };
    let resources = vec![
        hook("upgrade-sql-schema-", "PostSync", None),
        desired(obj("apps/v1", "ReplicaSet", "backend", &[])),
        desired(obj("v1", "Service", "backend-svc", &[])),
        hook("maintenance-page-up-", "Sync", Some("1")),
        desired(obj("apps/v1", "ReplicaSet", "frontend", &[])),
        desired(obj(
            "v1",
            "Service",
            "frontend",
            &[("argocd.argoproj.io/sync-wave", "1")],
        )),
        hook("maintenance-page-down-", "PostSync", None),
    ];
    let options = PlanOptions {
        revision: "abc".into(),
        ..options()
    };
    assert_eq!(
        plan_summary(&resources, &options),
        vec![
            "Sync/0: apply Service/backend-svc, apply ReplicaSet/backend, apply ReplicaSet/frontend",
            "Sync/1: apply Service/frontend, hook Job/maintenance-page-up-abc-sync-1700000000",
            "PostSync/0: hook Job/maintenance-page-down-abc-postsync-1700000000, hook Job/upgrade-sql-schema-abc-postsync-1700000000",
        ]
    );
}

#[test]
fn kind_order_and_name_within_a_step() {
    let resources = vec![
        desired(obj("apps/v1", "Deployment", "b", &[])),
        desired(obj("example.com/v1", "Widget", "a", &[])),
        desired(obj("v1", "ConfigMap", "z", &[])),
        desired(obj("apps/v1", "Deployment", "a", &[])),
        desired(obj("v1", "Namespace", "team", &[])),
        desired(obj("example.com/v1", "Gadget", "0", &[])),
        desired(obj("networking.k8s.io/v1", "Ingress", "web", &[])),
        desired(obj("v1", "ServiceAccount", "sa", &[])),
    ];
    let plan = plan(&resources, &options()).expect("a plan");
    assert_eq!(
        summary(&plan),
        vec![
            "Sync/0: apply Namespace/team, apply ServiceAccount/sa, apply ConfigMap/z, \
             apply Deployment/a, apply Deployment/b, apply Ingress/web, apply Gadget/0, \
             apply Widget/a"
        ]
    );
    let groups: Vec<Vec<String>> = plan.steps[0]
        .kind_groups()
        .iter()
        .map(|group| group.iter().map(|t| describe(t)).collect())
        .collect();
    assert_eq!(groups.len(), 7);
    assert_eq!(
        groups[3],
        vec![
            "apply Deployment/a".to_owned(),
            "apply Deployment/b".to_owned()
        ]
    );
}

#[test]
fn prune_variants() {
    struct Case {
        name: &'static str,
        options: PlanOptions,
        resources: Vec<PlanResource>,
        want: Vec<&'static str>,
    }
    let wave = |w: &'static str| ("argocd.argoproj.io/sync-wave", w);
    let cases = vec![
        Case {
            name: "prune on",
            options: options(),
            resources: vec![
                desired(obj("v1", "ConfigMap", "keep", &[])),
                live(obj("v1", "ConfigMap", "old", &[])),
            ],
            want: vec!["Sync/0: prune ConfigMap/old, apply ConfigMap/keep"],
        },
        Case {
            name: "prune off",
            options: PlanOptions {
                prune: false,
                ..options()
            },
            resources: vec![live(obj("v1", "ConfigMap", "old", &[]))],
            want: vec!["Sync/0: skip ConfigMap/old (ignored (requires pruning))"],
        },
        Case {
            name: "Prune=false on the resource",
            options: options(),
            resources: vec![live(obj(
                "v1",
                "ConfigMap",
                "old",
                &[(ANNOTATION_SYNC_OPTIONS, "Prune=false")],
            ))],
            want: vec!["Sync/0: skip ConfigMap/old (ignored (no prune))"],
        },
        Case {
            name: "prune off wins over Prune=false",
            options: PlanOptions {
                prune: false,
                ..options()
            },
            resources: vec![live(obj(
                "v1",
                "ConfigMap",
                "old",
                &[(ANNOTATION_SYNC_OPTIONS, "Prune=false")],
            ))],
            want: vec!["Sync/0: skip ConfigMap/old (ignored (requires pruning))"],
        },
        Case {
            name: "app Prune=false, resource Prune=true",
            options: with_app_options(&["Prune=false"]),
            resources: vec![
                live(obj("v1", "ConfigMap", "a", &[])),
                live(obj(
                    "v1",
                    "ConfigMap",
                    "b",
                    &[(ANNOTATION_SYNC_OPTIONS, "Prune=true")],
                )),
            ],
            want: vec!["Sync/0: skip ConfigMap/a (ignored (no prune)), prune ConfigMap/b"],
        },
        Case {
            name: "prunes run in reverse wave order",
            options: options(),
            resources: vec![
                desired(obj("v1", "ConfigMap", "new", &[wave("1")])),
                live(obj("v1", "ConfigMap", "w0", &[])),
                live(obj("v1", "ConfigMap", "w1", &[wave("1")])),
                live(obj("v1", "ConfigMap", "w5", &[wave("5")])),
            ],
            want: vec![
                "Sync/0: prune ConfigMap/w5",
                "Sync/1: prune ConfigMap/w1, apply ConfigMap/new",
                "Sync/5: prune ConfigMap/w0",
            ],
        },
        Case {
            name: "PruneLast on the application",
            options: with_app_options(&["PruneLast=true"]),
            resources: vec![
                desired(obj("v1", "ConfigMap", "a", &[])),
                desired(obj("v1", "ConfigMap", "b", &[wave("2")])),
                live(obj("v1", "ConfigMap", "old", &[wave("1")])),
                live(obj("v1", "Secret", "old", &[])),
            ],
            want: vec![
                "Sync/0: apply ConfigMap/a",
                "Sync/2: apply ConfigMap/b",
                "Sync/3: prune Secret/old, prune ConfigMap/old",
            ],
        },
        Case {
            name: "PruneLast on one resource",
            options: options(),
            resources: vec![
                desired(obj("v1", "ConfigMap", "a", &[])),
                live(obj(
                    "v1",
                    "ConfigMap",
                    "last",
                    &[(ANNOTATION_SYNC_OPTIONS, "PruneLast=true")],
                )),
                live(obj("v1", "ConfigMap", "now", &[])),
            ],
            want: vec![
                "Sync/0: prune ConfigMap/now, apply ConfigMap/a",
                "Sync/1: prune ConfigMap/last",
            ],
        },
        Case {
            name: "PruneLast wave is at least 1 with negative waves",
            options: with_app_options(&["PruneLast=true"]),
            resources: vec![
                desired(obj("v1", "ConfigMap", "a", &[wave("-3")])),
                live(obj("v1", "ConfigMap", "old", &[wave("-3")])),
            ],
            want: vec!["Sync/-3: apply ConfigMap/a", "Sync/1: prune ConfigMap/old"],
        },
        Case {
            name: "PruneLast with prune off still takes the last wave",
            options: PlanOptions {
                prune: false,
                ..with_app_options(&["PruneLast=true"])
            },
            resources: vec![
                desired(obj("v1", "ConfigMap", "a", &[])),
                live(obj("v1", "ConfigMap", "old", &[])),
            ],
            want: vec![
                "Sync/0: apply ConfigMap/a",
                "Sync/1: skip ConfigMap/old (ignored (requires pruning))",
            ],
        },
        Case {
            name: "skipped and hook live objects are never pruned",
            options: options(),
            resources: vec![
                live(obj(
                    "v1",
                    "ConfigMap",
                    "skipped",
                    &[(ANNOTATION_HOOK, "Skip")],
                )),
                live(obj(
                    "batch/v1",
                    "Job",
                    "old-hook",
                    &[(ANNOTATION_HOOK, "PreSync")],
                )),
                live(obj("v1", "ConfigMap", "gone", &[])),
            ],
            want: vec!["Sync/0: prune ConfigMap/gone"],
        },
    ];
    for case in cases {
        assert_eq!(
            plan_summary(&case.resources, &case.options),
            case.want,
            "{}",
            case.name
        );
    }
}

#[test]
fn prune_action_details() {
    let resources = vec![
        live(obj(
            "v1",
            "Namespace",
            "critical",
            &[(ANNOTATION_SYNC_OPTIONS, "Prune=confirm")],
        )),
        live(obj("v1", "ConfigMap", "old", &[])),
    ];
    let plan = plan(
        &resources,
        &with_app_options(&["PrunePropagationPolicy=background"]),
    )
    .expect("a plan");
    let actions: Vec<&Action> = plan.tasks().map(|t| &t.action).collect();
    assert_eq!(
        actions,
        vec![
            &Action::Prune {
                propagation: PropagationPolicy::Background,
                requires_confirmation: true,
            },
            &Action::Prune {
                propagation: PropagationPolicy::Background,
                requires_confirmation: false,
            },
        ]
    );
    assert!(plan.tasks().all(|t| t.live_exists));
}

#[test]
fn apply_out_of_sync_only() {
    let in_sync = |obj: Value| PlanResource {
        out_of_sync: false,
        ..resource(Some(obj.clone()), Some(obj))
    };
    let resources = vec![
        in_sync(obj("v1", "ConfigMap", "same", &[])),
        PlanResource {
            out_of_sync: true,
            ..resource(
                Some(obj("v1", "ConfigMap", "changed", &[])),
                Some(obj("v1", "ConfigMap", "changed", &[])),
            )
        },
        // Missing from the cluster: applied even if reported in sync.
        PlanResource {
            out_of_sync: false,
            ..desired(obj("v1", "ConfigMap", "new", &[]))
        },
        // Prunes and hooks always stay.
        PlanResource {
            out_of_sync: false,
            ..live(obj("v1", "ConfigMap", "old", &[]))
        },
        PlanResource {
            out_of_sync: false,
            ..desired(obj(
                "batch/v1",
                "Job",
                "migrate",
                &[(ANNOTATION_HOOK, "PreSync")],
            ))
        },
        in_sync(obj(
            "apps/v1",
            "Deployment",
            "web",
            &[("argocd.argoproj.io/sync-wave", "1")],
        )),
    ];
    assert_eq!(
        plan_summary(&resources, &with_app_options(&["ApplyOutOfSyncOnly=true"])),
        vec![
            "PreSync/0: hook Job/migrate",
            "Sync/0: prune ConfigMap/old, apply ConfigMap/changed, apply ConfigMap/new",
        ]
    );
    // Without the option everything is applied.
    assert_eq!(
        plan_summary(&resources, &options()),
        vec![
            "PreSync/0: hook Job/migrate",
            "Sync/0: prune ConfigMap/old, apply ConfigMap/changed, apply ConfigMap/new, apply ConfigMap/same",
            "Sync/1: apply Deployment/web",
        ]
    );
}

#[test]
fn selective_sync() {
    let resources = vec![
        desired(obj(
            "batch/v1",
            "Job",
            "migrate",
            &[(ANNOTATION_HOOK, "PreSync")],
        )),
        desired(obj("v1", "ConfigMap", "a", &[])),
        desired(obj("v1", "ConfigMap", "b", &[])),
        desired(obj("apps/v1", "Deployment", "web", &[])),
        live(obj("v1", "ConfigMap", "old", &[])),
        live(obj("v1", "Secret", "other", &[])),
    ];
    let select = |keys: &[ResourceKey]| PlanOptions {
        selected: Some(keys.iter().cloned().collect()),
        ..options()
    };
    let cases: Vec<(&str, PlanOptions, Vec<&str>)> = vec![
        (
            "two resources, no hooks",
            select(&[
                ResourceKey::new("", "ConfigMap", "default", "a"),
                ResourceKey::new("apps", "Deployment", "default", "web"),
            ]),
            vec!["Sync/0: apply ConfigMap/a, apply Deployment/web"],
        ),
        (
            "an empty selector namespace matches any namespace",
            select(&[ResourceKey::new("", "ConfigMap", "", "b")]),
            vec!["Sync/0: apply ConfigMap/b"],
        ),
        (
            "another namespace does not match",
            select(&[ResourceKey::new("", "ConfigMap", "prod", "b")]),
            vec![],
        ),
        (
            "selected prune candidate",
            select(&[ResourceKey::new("", "ConfigMap", "default", "old")]),
            vec!["Sync/0: prune ConfigMap/old"],
        ),
        (
            "selecting a hook does not run it",
            select(&[ResourceKey::new("batch", "Job", "default", "migrate")]),
            vec![],
        ),
        (
            "an empty selection is a full sync",
            PlanOptions {
                selected: Some(BTreeSet::new()),
                ..options()
            },
            vec![
                "PreSync/0: hook Job/migrate",
                "Sync/0: prune Secret/other, prune ConfigMap/old, apply ConfigMap/a, apply ConfigMap/b, apply Deployment/web",
            ],
        ),
    ];
    for (name, options, want) in cases {
        assert_eq!(plan_summary(&resources, &options), want, "{name}");
    }
}

#[test]
fn apply_strategy_skips_hooks() {
    let resources = vec![
        desired(obj(
            "batch/v1",
            "Job",
            "migrate",
            &[(ANNOTATION_HOOK, "PreSync")],
        )),
        desired(obj("v1", "ConfigMap", "a", &[])),
    ];
    let options = PlanOptions {
        skip_hooks: true,
        ..options()
    };
    assert_eq!(
        plan_summary(&resources, &options),
        vec!["Sync/0: apply ConfigMap/a"]
    );
}

#[test]
fn hooks_in_all_phases_sync_fail_apart_and_skip_never_applied() {
    let resources = vec![
        desired(obj(
            "batch/v1",
            "Job",
            "notify",
            &[
                (ANNOTATION_HOOK, "PreSync,PostSync"),
                (ANNOTATION_HOOK_DELETE_POLICY, "HookSucceeded"),
            ],
        )),
        desired(obj(
            "batch/v1",
            "Job",
            "cleanup",
            &[(ANNOTATION_HOOK, "SyncFail")],
        )),
        desired(obj(
            "v1",
            "Pod",
            "rollback",
            &[
                (ANNOTATION_HOOK, "SyncFail"),
                ("argocd.argoproj.io/sync-wave", "-1"),
            ],
        )),
        desired(obj(
            "v1",
            "ConfigMap",
            "skipped",
            &[(ANNOTATION_HOOK, "Skip")],
        )),
        desired(obj(
            "batch/v1",
            "Job",
            "after-delete",
            &[(ANNOTATION_HOOK, "PostDelete")],
        )),
        desired(obj(
            "v1",
            "Pod",
            "helm-test",
            &[(ANNOTATION_HELM_HOOK, "test")],
        )),
        desired(obj("v1", "ConfigMap", "app", &[])),
    ];
    let plan = plan(&resources, &options()).expect("a plan");
    assert_eq!(
        summary(&plan),
        vec![
            "PreSync/0: hook Job/notify",
            "Sync/0: apply ConfigMap/app",
            "PostSync/0: hook Job/notify",
        ]
    );
    let sync_fail: Vec<String> = plan.sync_fail_hooks.iter().map(describe).collect();
    assert_eq!(sync_fail, vec!["hook Pod/rollback", "hook Job/cleanup"]);
    assert!(
        plan.sync_fail_hooks
            .iter()
            .all(|t| t.phase == SyncPhase::SyncFail)
    );
    let Action::Hook {
        delete_policies, ..
    } = &plan.steps[2].tasks[0].action
    else {
        panic!("a hook");
    };
    assert_eq!(delete_policies, &vec![HookDeletePolicy::HookSucceeded]);
}

#[test]
fn helm_hooks_in_a_plan() {
    let resources = vec![
        desired(obj(
            "batch/v1",
            "Job",
            "db-init",
            &[
                (ANNOTATION_HELM_HOOK, "pre-install,pre-upgrade"),
                (ANNOTATION_HELM_HOOK_WEIGHT, "-5"),
                (ANNOTATION_HELM_HOOK_DELETE_POLICY, "hook-succeeded"),
            ],
        )),
        desired(obj(
            "batch/v1",
            "Job",
            "smoke",
            &[(ANNOTATION_HELM_HOOK, "post-install")],
        )),
        desired(obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
            &[(ANNOTATION_HELM_HOOK, "crd-install")],
        )),
        desired(obj(
            "batch/v1",
            "Job",
            "argo-wins",
            &[
                (ANNOTATION_HOOK, "Sync"),
                (ANNOTATION_HELM_HOOK, "post-install"),
            ],
        )),
    ];
    let plan = plan(&resources, &options()).expect("a plan");
    assert_eq!(
        summary(&plan),
        vec![
            "PreSync/-5: hook Job/db-init",
            "Sync/0: apply CustomResourceDefinition/widgets.example.com, hook Job/argo-wins",
            "PostSync/0: hook Job/smoke",
        ]
    );
    let Action::Hook {
        delete_policies, ..
    } = &plan.steps[0].tasks[0].action
    else {
        panic!("a hook");
    };
    assert_eq!(delete_policies, &vec![HookDeletePolicy::HookSucceeded]);
}

#[test]
fn namespaces_move_before_the_first_task_in_them() {
    // A PreSync hook in namespace `team` pulls the `team` Namespace, declared in Sync wave 3,
    // into PreSync wave -1, right before the hook.
    let mut hook = obj(
        "batch/v1",
        "Job",
        "migrate",
        &[
            (ANNOTATION_HOOK, "PreSync"),
            ("argocd.argoproj.io/sync-wave", "-1"),
        ],
    );
    hook["metadata"]["namespace"] = json!("team");
    let mut config = obj("v1", "ConfigMap", "config", &[]);
    config["metadata"]["namespace"] = json!("team");
    let resources = vec![
        desired(hook),
        desired(config),
        desired(obj(
            "v1",
            "Namespace",
            "team",
            &[("argocd.argoproj.io/sync-wave", "3")],
        )),
        // `default` is the destination: resources without a namespace live there.
        desired(obj(
            "v1",
            "Namespace",
            "default",
            &[("argocd.argoproj.io/sync-wave", "5")],
        )),
        desired(obj(
            "v1",
            "Secret",
            "s",
            &[("argocd.argoproj.io/sync-wave", "2")],
        )),
        // Namespaces nobody refers to stay where they are.
        desired(obj(
            "v1",
            "Namespace",
            "lonely",
            &[("argocd.argoproj.io/sync-wave", "4")],
        )),
    ];
    assert_eq!(
        plan_summary(&resources, &options()),
        vec![
            "PreSync/-1: apply Namespace/team, hook Job/migrate",
            "Sync/0: apply ConfigMap/config",
            "Sync/2: apply Namespace/default, apply Secret/s",
            "Sync/4: apply Namespace/lonely",
        ]
    );
}

#[test]
fn crds_move_before_their_custom_resources() {
    let mut crd = obj(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "widgets.example.com",
        &[("argocd.argoproj.io/sync-wave", "2")],
    );
    crd["spec"] = json!({"group": "example.com", "names": {"kind": "Widget"}});
    let resources = vec![
        desired(obj(
            "example.com/v1",
            "Widget",
            "w",
            &[("argocd.argoproj.io/sync-wave", "1")],
        )),
        desired(crd),
        desired(obj("example.com/v1", "Gadget", "g", &[])),
    ];
    let plan = plan(&resources, &options()).expect("a plan");
    assert_eq!(
        summary(&plan),
        vec![
            "Sync/0: apply Gadget/g",
            "Sync/1: apply CustomResourceDefinition/widgets.example.com, apply Widget/w",
        ]
    );
    let skip_dry_run: Vec<(String, bool)> = plan
        .tasks()
        .map(|t| match &t.action {
            Action::Apply(apply) => (t.key.kind.clone(), apply.skip_dry_run_on_missing_resource),
            _ => panic!("applies only"),
        })
        .collect();
    assert_eq!(
        skip_dry_run,
        vec![
            ("Gadget".to_owned(), false),
            ("CustomResourceDefinition".to_owned(), false),
            ("Widget".to_owned(), true),
        ]
    );
}

#[test]
fn managed_namespace_is_created_in_pre_sync() {
    let app_options = SyncOptions::parse(&["CreateNamespace=true".to_owned()]).expect("valid");
    let mut resources = vec![
        desired(obj(
            "batch/v1",
            "Job",
            "migrate",
            &[(ANNOTATION_HOOK, "PreSync")],
        )),
        desired(obj("v1", "ConfigMap", "a", &[])),
    ];
    let namespace = namespace_to_create("default", &app_options, &resources).expect("needed");
    assert_eq!(
        namespace,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    );
    let options = PlanOptions {
        app_options: app_options.clone(),
        managed_namespace: Some(ManagedNamespace {
            object: namespace,
            exists: false,
        }),
        ..options()
    };
    assert_eq!(
        plan_summary(&resources, &options),
        vec![
            "PreSync/0: apply Namespace/default, hook Job/migrate",
            "Sync/0: apply ConfigMap/a",
        ]
    );

    // Not when the option is off, and not when a desired resource is that Namespace.
    assert_eq!(
        namespace_to_create("default", &SyncOptions::default(), &resources),
        None
    );
    assert_eq!(namespace_to_create("", &app_options, &resources), None);
    resources.push(desired(obj("v1", "Namespace", "default", &[])));
    assert_eq!(
        namespace_to_create("default", &app_options, &resources),
        None
    );
    assert_eq!(
        plan_summary(&resources, &options),
        vec![
            "PreSync/0: apply Namespace/default, hook Job/migrate",
            "Sync/0: apply ConfigMap/a",
        ]
    );
    let plan = plan(&resources, &options).expect("a plan");
    assert_eq!(plan.steps[0].tasks[0].phase, SyncPhase::PreSync);
    assert!(matches!(plan.steps[0].tasks[0].action, Action::Apply(_)));
}

#[test]
fn apply_flags() {
    struct Case {
        name: &'static str,
        options: PlanOptions,
        annotation: &'static str,
        live_annotation: Option<&'static str>,
        want: (bool, bool, bool, bool, bool),
    }
    let cases = vec![
        Case {
            name: "defaults",
            options: options(),
            annotation: "",
            live_annotation: None,
            want: (false, false, false, true, false),
        },
        Case {
            name: "app server-side apply",
            options: with_app_options(&["ServerSideApply=true"]),
            annotation: "",
            live_annotation: None,
            want: (true, false, false, true, false),
        },
        Case {
            name: "no server-side apply in a dry run",
            options: PlanOptions {
                dry_run: true,
                ..with_app_options(&["ServerSideApply=true"])
            },
            annotation: "",
            live_annotation: None,
            want: (false, false, false, true, false),
        },
        Case {
            name: "resource disables server-side apply",
            options: with_app_options(&["ServerSideApply=true"]),
            annotation: "ServerSideApply=false",
            live_annotation: None,
            want: (false, false, false, true, false),
        },
        Case {
            name: "resource options",
            options: options(),
            annotation: "ServerSideApply=true,Replace=true,Force=true,Validate=false,SkipDryRunOnMissingResource=true",
            live_annotation: None,
            want: (true, true, true, false, true),
        },
        Case {
            name: "strategy force and app options",
            options: PlanOptions {
                force: true,
                ..with_app_options(&[
                    "Replace=true",
                    "Validate=false",
                    "SkipDryRunOnMissingResource=true",
                ])
            },
            annotation: "",
            live_annotation: None,
            want: (false, true, true, false, true),
        },
        Case {
            name: "replace and force from the live object",
            options: options(),
            annotation: "",
            live_annotation: Some("Replace=true,Force=true"),
            want: (false, true, true, true, false),
        },
    ];
    for case in cases {
        let desired_obj = obj(
            "v1",
            "ConfigMap",
            "c",
            &[(ANNOTATION_SYNC_OPTIONS, case.annotation)],
        );
        let live_obj = case
            .live_annotation
            .map(|a| obj("v1", "ConfigMap", "c", &[(ANNOTATION_SYNC_OPTIONS, a)]));
        let plan = plan(&[resource(Some(desired_obj), live_obj)], &case.options).expect(case.name);
        let Action::Apply(apply) = &plan.steps[0].tasks[0].action else {
            panic!("{}: an apply", case.name);
        };
        assert_eq!(
            (
                apply.server_side,
                apply.replace,
                apply.force,
                apply.validate,
                apply.skip_dry_run_on_missing_resource
            ),
            case.want,
            "{}",
            case.name
        );
        assert_eq!(plan.dry_run, case.options.dry_run);
        assert_eq!(
            apply.object["metadata"]["namespace"], "default",
            "{}",
            case.name
        );
    }
}

#[test]
fn hooks_keep_their_name_namespace_and_see_their_live_object() {
    let mut named = obj(
        "batch/v1",
        "Job",
        "migrate",
        &[(ANNOTATION_HOOK, "PreSync")],
    );
    named["metadata"]["namespace"] = json!("db");
    named["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let mut live_hook = named.clone();
    live_hook["status"] = json!({"succeeded": 1});
    let mut resource = resource(Some(named), Some(live_hook));
    resource.key.namespace = "db".into();
    let plan = plan(&[resource], &options()).expect("a plan");
    let task = &plan.steps[0].tasks[0];
    assert_eq!(task.key, ResourceKey::new("batch", "Job", "db", "migrate"));
    assert!(task.live_exists);
    let Action::Hook { apply, .. } = &task.action else {
        panic!("a hook");
    };
    assert_eq!(
        apply.object["metadata"]["finalizers"],
        json!(["example.com/keep", HOOK_FINALIZER])
    );
    assert_eq!(apply.object["metadata"]["namespace"], "db");
}

#[test]
fn desired_hook_replacing_a_live_resource_prunes_it() {
    // The live Job was a normal resource; the desired one is a hook: Argo CD prunes the old
    // object (unmatched live) and runs the hook.
    let resources = vec![resource(
        Some(obj(
            "batch/v1",
            "Job",
            "migrate",
            &[(ANNOTATION_HOOK, "PostSync")],
        )),
        Some(obj("batch/v1", "Job", "migrate", &[])),
    )];
    assert_eq!(
        plan_summary(&resources, &options()),
        vec!["Sync/0: prune Job/migrate", "PostSync/0: hook Job/migrate"]
    );
}

#[test]
fn short_revision_names_hooks_in_full() {
    for (revision, want) in [
        ("1234567", "job-1234567-postsync-1700000000"),
        ("12345678", "job-1234567-postsync-1700000000"),
        ("", "job--postsync-1700000000"),
        ("ABCDEF0123", "job-abcdef0-postsync-1700000000"),
    ] {
        let options = PlanOptions {
            revision: revision.into(),
            ..options()
        };
        let hook = desired(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"generateName": "job-", "annotations": {ANNOTATION_HOOK: "PostSync"}}
        }));
        let plan = plan(&[hook], &options).expect("a plan");
        assert_eq!(plan.steps[0].tasks[0].key.name, want, "{revision:?}");
    }
}

#[test]
fn resume_with_done_tasks() {
    let plan = plan(&sync_waves_example(), &options()).expect("a plan");
    let mut done = BTreeSet::new();
    let mut order = Vec::new();
    while let Some(step) = plan.next_step(&done) {
        order.push(format!("{}/{}", step.phase, step.wave));
        // Complete one task at a time: the step stays the same until all its tasks are done.
        let first = step.tasks[0].id();
        done.insert(first);
    }
    assert_eq!(
        order,
        vec![
            "PreSync/0",
            "PreSync/1",
            "Sync/0",
            "Sync/0",
            "Sync/1",
            "Sync/2",
            "Sync/2",
            "Sync/3"
        ]
    );
    assert!(plan.is_complete(&done));

    // A half-done step only lists its pending tasks.
    let backend_service = ResourceKey::new("", "Service", "default", "backend");
    let done: BTreeSet<_> = plan.steps[..2]
        .iter()
        .flat_map(|s| s.tasks.iter().map(Task::id))
        .chain([(backend_service, SyncPhase::Sync)])
        .collect();
    let next = plan.next_step(&done).expect("more to do");
    assert_eq!((next.phase, next.wave), (SyncPhase::Sync, 0));
    assert_eq!(
        next.tasks.iter().map(describe).collect::<Vec<_>>(),
        vec!["apply ReplicaSet/backend"]
    );
    assert_eq!(plan.pending_steps(&done).len(), 4);
    assert!(!plan.is_complete(&done));
}

#[test]
fn invalid_inputs() {
    let no_name = desired(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"annotations": {ANNOTATION_HOOK: "PreSync"}}
    }));
    let cases: Vec<(&str, Vec<PlanResource>, PlanError, &str)> = vec![
        (
            "hook without name",
            vec![no_name.clone()],
            PlanError::HookWithoutName {
                key: no_name.key.clone(),
            },
            "hook batch/Job/default/ has neither metadata.name nor metadata.generateName",
        ),
        (
            "empty resource",
            vec![PlanResource {
                key: ResourceKey::new("", "ConfigMap", "default", "x"),
                desired: None,
                live: None,
                out_of_sync: false,
                namespaced: true,
            }],
            PlanError::EmptyResource {
                key: ResourceKey::new("", "ConfigMap", "default", "x"),
            },
            "resource /ConfigMap/default/x has neither a desired nor a live object",
        ),
        (
            "not an object",
            vec![PlanResource {
                key: ResourceKey::new("", "ConfigMap", "default", "x"),
                desired: Some(json!("text")),
                live: None,
                out_of_sync: true,
                namespaced: true,
            }],
            PlanError::NotAnObject {
                key: ResourceKey::new("", "ConfigMap", "default", "x"),
                which: "desired",
            },
            "resource /ConfigMap/default/x: the desired object is not a JSON object",
        ),
        (
            "duplicate",
            vec![
                desired(obj("v1", "ConfigMap", "x", &[])),
                live(obj("v1", "ConfigMap", "x", &[])),
            ],
            PlanError::DuplicateTask {
                key: ResourceKey::new("", "ConfigMap", "default", "x"),
                phase: SyncPhase::Sync,
            },
            "resource /ConfigMap/default/x appears twice in phase Sync",
        ),
    ];
    for (name, resources, want, message) in cases {
        let err = plan(&resources, &options()).expect_err(name);
        assert_eq!(err, want, "{name}");
        assert_eq!(err.to_string(), message, "{name}");
    }
    // Hooks are not validated when they are skipped.
    let options = PlanOptions {
        skip_hooks: true,
        ..options()
    };
    assert_eq!(plan(&[no_name], &options), Ok(Plan::default()));
    // Sync option errors convert into plan errors.
    let parse = || -> Result<SyncOptions, PlanError> {
        Ok(SyncOptions::parse(&["Bogus=true".to_owned()])?)
    };
    assert!(matches!(
        parse(),
        Err(PlanError::SyncOption(SyncOptionError::Unknown { .. }))
    ));
}

#[test]
fn plans_are_deterministic_whatever_the_input_order() {
    let mut resources = sync_waves_example();
    resources.extend([
        live(obj("v1", "ConfigMap", "old", &[])),
        desired(obj("v1", "ConfigMap", "x", &[])),
    ]);
    let want = plan(&resources, &options()).expect("a plan");
    resources.reverse();
    assert_eq!(plan(&resources, &options()).expect("a plan"), want);
    resources.rotate_left(3);
    assert_eq!(plan(&resources, &options()).expect("a plan"), want);
}
