//! Generators and rendering against the seed's ApplicationSet and the generators platform
//! teams combine (tables of inputs and the parameter sets or errors they must give).

use std::collections::BTreeMap;

use capstan_appset::{ClusterInfo, GitFile, Params, Sources, applications, generate, needs};
use capstan_types::ApplicationSet;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const REPO: &str = "https://git.example.com/k8s-manifests.git";

fn appset(yaml: &str) -> ApplicationSet {
    serde_yaml_ng::from_str(yaml).expect("a valid ApplicationSet")
}

fn values(params: &[Params], key: &str) -> Vec<String> {
    params
        .iter()
        .map(|p| {
            p.get(key)
                .and_then(Value::as_str)
                .unwrap_or("<unset>")
                .to_owned()
        })
        .collect()
}

fn sources() -> Sources {
    let dirs = [
        "base",
        "base/users-api",
        "overlays",
        "overlays/dev",
        "overlays/dev/users-api",
        "overlays/dev/orders-api",
        "overlays/prod",
        "overlays/prod/users-api",
        "overlays/prod/legacy-api",
        "overlays/prod/users-api/patches",
    ];
    let mut s = Sources {
        clusters: vec![
            ClusterInfo {
                name: "aks-prod-westeurope".into(),
                server: "https://aks-prod.hcp.westeurope.azmk8s.io:443".into(),
                labels: BTreeMap::from([("env".into(), "prod".into())]),
                ..Default::default()
            },
            ClusterInfo {
                name: "aks-dev".into(),
                server: "https://aks-dev.hcp.westeurope.azmk8s.io:443".into(),
                labels: BTreeMap::from([("env".into(), "dev".into())]),
                annotations: BTreeMap::from([("team".into(), "platform".into())]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    s.directories.insert(
        (REPO.into(), "main".into()),
        dirs.iter().map(|d| (*d).to_owned()).collect(),
    );
    s.files.insert(
        (REPO.into(), "main".into(), "config/*.yaml".into()),
        vec![
            GitFile {
                path: "config/users.yaml".into(),
                content: b"name: users-api\nreplicas: 3\nimage:\n  tag: v1.2.0\n".to_vec(),
            },
            GitFile {
                path: "config/batch.yaml".into(),
                content:
                    b"- name: orders-api\n  replicas: 1\n- name: products-api\n  replicas: 2\n"
                        .to_vec(),
            },
        ],
    );
    s
}

/// The seed guide's `microservices-appset.yaml`, unchanged.
const SEED: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: microservices
  namespace: argocd
spec:
  generators:
  - list:
      elements:
      - cluster: dev
        url: https://kubernetes.default.svc
        env: dev
      - cluster: staging
        url: https://kubernetes.default.svc
        env: staging
      - cluster: prod
        url: https://kubernetes.default.svc
        env: prod
  template:
    metadata:
      name: '{{name}}-{{env}}'
    spec:
      project: microservices
      source:
        repoURL: https://github.com/your-org/k8s-manifests.git
        targetRevision: main
        path: 'overlays/{{env}}/{{name}}'
      destination:
        server: '{{url}}'
        namespace: '{{name}}-{{env}}'
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
"#;

#[test]
fn the_seed_appset_keeps_its_unknown_name_tag_and_says_so() {
    let set = appset(SEED);
    let params = generate(&set.spec, &Sources::default()).unwrap();
    assert_eq!(values(&params, "env"), ["dev", "staging", "prod"]);
    assert_eq!(
        values(&params, "url"),
        vec![capstan_appset::generate::IN_CLUSTER_SERVER; 3]
    );
    // No element defines `name`: Argo CD leaves `{{name}}` as written, so the name is
    // `{{name}}-dev`, which Kubernetes refuses. Nothing is generated; the reason is clear.
    let err = applications(&set, &params).unwrap_err().to_string();
    assert!(err.contains(r#""{{name}}-dev""#), "{err}");
    assert!(
        err.contains("no generator produces that parameter"),
        "{err}"
    );
}

#[test]
fn the_seed_appset_with_names_generates_its_nine_apps() {
    let mut set = appset(SEED);
    // The guide's intent: microservices × environments — a matrix of the environments and a
    // list of services.
    set.spec.generators[0].list.as_mut().unwrap().elements =
        ["users-api", "orders-api", "products-api"]
            .iter()
            .flat_map(|name| {
                ["dev", "staging", "prod"].iter().map(move |env| {
                json!({"name": name, "env": env, "url": "https://kubernetes.default.svc"})
            })
            })
            .collect();
    let params = generate(&set.spec, &Sources::default()).unwrap();
    let apps = applications(&set, &params).unwrap();
    assert_eq!(apps.len(), 9);
    let first = serde_json::to_value(&apps[0]).unwrap();
    assert_eq!(first["metadata"]["name"], "users-api-dev");
    assert_eq!(first["metadata"]["namespace"], "argocd");
    assert_eq!(first["spec"]["source"]["path"], "overlays/dev/users-api");
    assert_eq!(first["spec"]["destination"]["namespace"], "users-api-dev");
    assert_eq!(first["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
}

fn spec_of(generators: &str) -> ApplicationSet {
    appset(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: t\n  namespace: argocd\nspec:\n  generators:\n{generators}\n  template:\n    metadata:\n      name: x\n    spec:\n      project: default\n      destination:\n        server: https://kubernetes.default.svc\n"
    ))
}

#[test]
fn generators_give_the_expected_parameter_sets() {
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (
            "git directories with an exclude",
            "  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      directories:\n      - path: overlays/*/*\n      - path: overlays/prod/legacy-api\n        exclude: true\n",
            "path",
            vec![
                "overlays/dev/users-api",
                "overlays/dev/orders-api",
                "overlays/prod/users-api",
            ],
        ),
        (
            "directory path parameters",
            "  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      directories:\n      - path: overlays/dev/users-api\n",
            "path[1]",
            vec!["dev"],
        ),
        (
            "clusters by label selector",
            "  - clusters:\n      selector:\n        matchLabels:\n          env: prod\n",
            "name",
            vec!["aks-prod-westeurope"],
        ),
        (
            "all clusters, in-cluster included, with templated values",
            "  - clusters:\n      values:\n        ns: 'apps-{{nameNormalized}}'\n",
            "values.ns",
            vec![
                "apps-in-cluster",
                "apps-aks-prod-westeurope",
                "apps-aks-dev",
            ],
        ),
        (
            "git files: an object and a list, flattened",
            "  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      files:\n      - path: config/*.yaml\n",
            "name",
            vec!["users-api", "orders-api", "products-api"],
        ),
        (
            "matrix: clusters × git directories",
            "  - matrix:\n      generators:\n      - clusters:\n          selector:\n            matchExpressions:\n            - {key: env, operator: In, values: [dev, prod]}\n      - git:\n          repoURL: https://git.example.com/k8s-manifests.git\n          revision: main\n          directories:\n          - path: overlays/dev/*\n",
            "name",
            vec![
                "aks-prod-westeurope",
                "aks-prod-westeurope",
                "aks-dev",
                "aks-dev",
            ],
        ),
        (
            "merge on mergeKeys: later generators override and extend",
            "  - merge:\n      mergeKeys: [server]\n      generators:\n      - clusters:\n          values:\n            replicas: '1'\n      - list:\n          elements:\n          - server: https://aks-prod.hcp.westeurope.azmk8s.io:443\n            values:\n              replicas: '3'\n          - server: https://unknown.example.com\n            values:\n              replicas: '9'\n",
            "values.replicas",
            vec!["1", "3", "1"],
        ),
        (
            "selector post-filter on the parameters",
            "  - list:\n      elements:\n      - {env: dev, tier: web}\n      - {env: prod, tier: web}\n      - {env: prod, tier: db}\n    selector:\n      matchLabels:\n        env: prod\n",
            "tier",
            vec!["web", "db"],
        ),
        (
            "elementsYaml",
            "  - list:\n      elementsYaml: |\n        - env: a\n        - env: b\n",
            "env",
            vec!["a", "b"],
        ),
    ];
    for (what, generators, key, want) in cases {
        let set = spec_of(generators);
        let params = generate(&set.spec, &sources()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(values(&params, key), want, "{what}");
    }
}

#[test]
fn parameter_names_follow_argo_cd() {
    let set = spec_of(
        "  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      files:\n      - path: config/*.yaml\n",
    );
    let params = generate(&set.spec, &sources()).unwrap();
    let users = &params[0];
    let get = |k: &str| users.get(k).and_then(Value::as_str).unwrap_or("<unset>");
    assert_eq!(get("image.tag"), "v1.2.0");
    assert_eq!(get("replicas"), "3");
    assert_eq!(get("path"), "config");
    assert_eq!(get("path.basename"), "config");
    assert_eq!(get("path.filename"), "users.yaml");
    assert_eq!(get("path.filenameNormalized"), "users.yaml");
    assert_eq!(get("path[0]"), "config");
    let clusters = generate(&spec_of("  - clusters: {}\n").spec, &sources()).unwrap();
    let dev = &clusters[2];
    assert_eq!(
        dev["server"],
        "https://aks-dev.hcp.westeurope.azmk8s.io:443"
    );
    assert_eq!(dev["metadata.labels.env"], "dev");
    assert_eq!(dev["metadata.annotations.team"], "platform");
    assert_eq!(dev["nameNormalized"], "aks-dev");
}

#[test]
fn bad_generators_are_reported() {
    let cases: Vec<(&str, &str)> = vec![
        (
            "  - list:\n      elements:\n      - {env: dev, replicas: 3}\n",
            "not a string",
        ),
        (
            "  - matrix:\n      generators:\n      - list: {elements: [{a: b}]}\n",
            "exactly 2 child generators",
        ),
        (
            "  - merge:\n      mergeKeys: []\n      generators:\n      - list: {elements: [{a: b}]}\n      - list: {elements: [{a: c}]}\n",
            "mergeKeys is empty",
        ),
        (
            "  - merge:\n      mergeKeys: [a]\n      generators:\n      - list: {elements: [{a: b}, {a: b}]}\n      - list: {elements: [{a: c}]}\n",
            "merge key values",
        ),
        (
            "  - matrix:\n      generators:\n      - list: {elements: [{a: b}]}\n      - list: {elements: [{a: c}]}\n",
            "both children set \"a\"",
        ),
        (
            "  - pullRequest: {github: {owner: o, repo: r}}\n",
            "pullRequest generators are not supported yet",
        ),
        ("  - {}\n", "exactly one of"),
        (
            "  - git:\n      repoURL: https://git.example.com/other.git\n      revision: main\n      directories:\n      - path: '*'\n",
            "was not fetched",
        ),
        (
            "  - list:\n      elementsYaml: 'not: [a list'\n",
            "elementsYaml is not a YAML list",
        ),
    ];
    for (generators, want) in cases {
        let set = spec_of(generators);
        let err = generate(&set.spec, &sources())
            .expect_err(generators)
            .to_string();
        assert!(err.contains(want), "{generators}: {err}");
    }
    let mut go = spec_of("  - list: {elements: [{a: b}]}\n");
    go.spec.go_template = Some(true);
    go.spec.go_template_options = vec!["missingkey=zero-ish".into()];
    let err = generate(&go.spec, &sources()).unwrap_err().to_string();
    assert!(err.contains("missingkey=zero-ish"), "{err}");
}

fn go_appset(generators: &str, name: &str, extra: &str) -> ApplicationSet {
    appset(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: t\n  namespace: argocd\nspec:\n  goTemplate: true\n{extra}  generators:\n{generators}\n  template:\n    metadata:\n      name: '{name}'\n    spec:\n      project: default\n      source:\n        repoURL: https://git.example.com/x.git\n        path: apps\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: '{name}'\n"
    ))
}

#[test]
fn go_templates_see_nested_parameters() {
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (
            "list elements with nested values",
            "  - list:\n      elements:\n      - {service: users-api, env: {name: dev, tier: 1}}\n      - {service: orders-api, env: {name: prod, tier: 3}}\n",
            "{{ .service }}-{{ .env.name }}-t{{ .env.tier }}",
            vec!["users-api-dev-t1", "orders-api-prod-t3"],
        ),
        (
            "cluster labels through index",
            "  - clusters:\n      selector:\n        matchLabels: {env: dev}\n",
            "{{ .nameNormalized }}-{{ index .metadata.labels \"env\" }}",
            vec!["aks-dev-dev"],
        ),
        (
            "git directory path object and pipelines",
            "  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      directories:\n      - path: overlays/dev/*\n",
            "{{ .path.basename | lower }}-{{ index .path.segments 1 }}",
            vec!["users-api-dev", "orders-api-dev"],
        ),
        (
            "conditionals",
            "  - list:\n      elements:\n      - {env: dev}\n      - {env: prod}\n",
            "{{ if eq .env \"prod\" }}live{{ else }}{{ .env }}{{ end }}",
            vec!["dev", "live"],
        ),
    ];
    for (what, generators, name, want) in cases {
        let set = go_appset(generators, name, "");
        let params = generate(&set.spec, &sources()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let apps = applications(&set, &params).unwrap_or_else(|e| panic!("{what}: {e}"));
        let names: Vec<String> = apps
            .iter()
            .map(|a| a.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, want, "{what}");
    }
}

#[test]
fn missingkey_error_reports_the_key_and_generates_nothing() {
    let generators = "  - list:\n      elements:\n      - {env: dev}\n";
    // Default options: a missing key renders as Go's "<no value>", an invalid name.
    let lenient = go_appset(generators, "{{ .service }}-{{ .env }}", "");
    let params = generate(&lenient.spec, &sources()).unwrap();
    let err = applications(&lenient, &params).unwrap_err().to_string();
    assert!(err.contains("<no value>-dev"), "{err}");
    let strict = go_appset(
        generators,
        "{{ .service }}-{{ .env }}",
        "  goTemplateOptions: [\"missingkey=error\"]\n",
    );
    let params = generate(&strict.spec, &sources()).unwrap();
    let err = applications(&strict, &params).unwrap_err().to_string();
    assert!(
        err.contains("map has no entry for key \"service\""),
        "{err}"
    );
}

#[test]
fn template_patch_merges_rendered_fields() {
    let set = go_appset(
        "  - list:\n      elements:\n      - {env: dev}\n      - {env: prod}\n",
        "app-{{ .env }}",
        "  templatePatch: |\n    {{- if eq .env \"dev\" }}\n    spec:\n      syncPolicy:\n        automated:\n          prune: true\n    {{- end }}\n",
    );
    let params = generate(&set.spec, &sources()).unwrap();
    let apps = applications(&set, &params).unwrap();
    let dev = serde_json::to_value(&apps[0]).unwrap();
    let prod = serde_json::to_value(&apps[1]).unwrap();
    assert_eq!(dev["spec"]["syncPolicy"]["automated"]["prune"], true);
    assert!(prod["spec"]["syncPolicy"].is_null(), "{prod}");
    // Without goTemplate a templatePatch is refused.
    let mut plain = set.clone();
    plain.spec.go_template = None;
    let err = applications(&plain, &params).unwrap_err().to_string();
    assert!(
        err.contains("templatePatch needs goTemplate: true"),
        "{err}"
    );
}

#[test]
fn duplicate_names_fail_the_whole_set() {
    let set = spec_of("  - list:\n      elements:\n      - {env: a}\n      - {env: b}\n");
    let params = generate(&set.spec, &sources()).unwrap();
    let err = applications(&set, &params).unwrap_err().to_string();
    assert!(err.contains("\"x\" more than once"), "{err}");
}

#[test]
fn the_git_data_needed_is_listed() {
    let set = spec_of(
        "  - matrix:\n      generators:\n      - clusters: {}\n      - git:\n          repoURL: https://git.example.com/k8s-manifests.git\n          revision: main\n          files:\n          - path: config/*.yaml\n  - git:\n      repoURL: https://git.example.com/k8s-manifests.git\n      revision: main\n      directories:\n      - path: overlays/*\n",
    );
    let wanted: Vec<_> = needs(&set.spec).into_iter().collect();
    assert_eq!(
        wanted,
        vec![
            (REPO.to_owned(), "main".to_owned(), None),
            (
                REPO.to_owned(),
                "main".to_owned(),
                Some("config/*.yaml".to_owned())
            ),
        ]
    );
}
