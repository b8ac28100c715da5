//! The CRDs checked in under `charts/capstan/crds/` must be exactly what the Rust types
//! generate, and must be structural schemas the API server accepts.

use std::path::PathBuf;

use capstan_types::crds;

fn crd_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("crates/<name> sits in the workspace");
    workspace.join("charts/capstan/crds")
}

/// The first differing line of two texts, 1-based, with both versions of the line.
fn first_difference(checked_in: &str, generated: &str) -> Option<(usize, String, String)> {
    let mut left = checked_in.lines();
    let mut right = generated.lines();
    let mut number = 1;
    loop {
        match (left.next(), right.next()) {
            (None, None) => return None,
            (Some(a), Some(b)) if a == b => number += 1,
            (a, b) => {
                return Some((
                    number,
                    a.unwrap_or("<end of file>").to_owned(),
                    b.unwrap_or("<end of file>").to_owned(),
                ));
            }
        }
    }
}

#[test]
fn checked_in_crds_match_the_rust_types() {
    let mut failures = Vec::new();
    for (name, generated) in crds::all() {
        let path = crd_dir().join(name);
        match std::fs::read_to_string(&path) {
            Err(error) => failures.push(format!("{}: cannot be read ({error})", path.display())),
            Ok(checked_in) => {
                if let Some((line, left, right)) = first_difference(&checked_in, &generated) {
                    failures.push(format!(
                        "{} differs from the Rust types at line {line}:\n    checked in: {left}\n    generated:  {right}",
                        path.display()
                    ));
                } else if checked_in != generated {
                    failures.push(format!("{} differs in line endings", path.display()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nrun `cargo xtask crds` to regenerate the CRDs",
        failures.join("\n")
    );
}

#[test]
fn crds_are_structural() {
    for crd in crds::definitions() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_eq!(crd.spec.versions.len(), 1, "{name}");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage, "{name}");
        let schema = version
            .schema
            .as_ref()
            .and_then(|validation| validation.open_api_v3_schema.as_ref())
            .unwrap_or_else(|| panic!("{name} has no schema"));
        let problems = crds::structural_problems(schema);
        assert!(
            problems.is_empty(),
            "{name} is not structural:\n{}",
            problems.join("\n")
        );
        assert_eq!(schema.type_.as_deref(), Some("object"), "{name}");
        let properties = schema.properties.as_ref().expect("root properties");
        assert!(
            properties.contains_key("spec") && properties.contains_key("status"),
            "{name}"
        );
        assert_eq!(
            schema.required.as_deref(),
            Some(&["spec".to_owned()][..]),
            "{name}"
        );
        // The status subresource is on, so `observedGeneration` is meaningful.
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}"
        );
        // Unknown fields below the root are preserved by the API server.
        let spec = &properties["spec"];
        assert_eq!(
            spec.x_kubernetes_preserve_unknown_fields,
            Some(true),
            "{name}"
        );
    }
}

#[test]
fn crd_names_and_columns_match_argo_cd() {
    let definitions = crds::definitions();
    let names: Vec<(&str, &str, Vec<String>)> = definitions
        .iter()
        .map(|crd| {
            (
                crd.spec.names.kind.as_str(),
                crd.spec.names.plural.as_str(),
                crd.spec.names.short_names.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                "Application",
                "applications",
                vec!["app".to_owned(), "apps".to_owned()]
            ),
            (
                "AppProject",
                "appprojects",
                vec!["appproj".to_owned(), "appprojs".to_owned()]
            ),
            (
                "ApplicationSet",
                "applicationsets",
                vec!["appset".to_owned(), "appsets".to_owned()]
            ),
        ]
    );
    for crd in &definitions {
        assert_eq!(crd.spec.group, "argoproj.io");
        assert_eq!(crd.spec.scope, "Namespaced");
    }
    let columns: Vec<(String, String)> = definitions[0].spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|column| (column.name.clone(), column.json_path.clone()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Sync Status".to_owned(), ".status.sync.status".to_owned()),
            (
                "Health Status".to_owned(),
                ".status.health.status".to_owned()
            ),
            ("Revision".to_owned(), ".status.sync.revision".to_owned()),
            ("Project".to_owned(), ".spec.project".to_owned()),
        ]
    );
}

#[test]
fn operation_is_a_top_level_field_of_the_application_crd() {
    let crd = &crds::definitions()[0];
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    let properties = schema.properties.as_ref().unwrap();
    let operation = &properties["operation"];
    assert!(operation.properties.as_ref().unwrap().contains_key("sync"));
    assert!(
        operation
            .properties
            .as_ref()
            .unwrap()
            .contains_key("initiatedBy")
    );
}

#[test]
fn rendering_is_deterministic_and_headed() {
    let first = crds::all();
    assert_eq!(first, crds::all());
    let names: Vec<&str> = first.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "applications.argoproj.io.yaml",
            "appprojects.argoproj.io.yaml",
            "applicationsets.argoproj.io.yaml"
        ]
    );
    for (_, yaml) in &first {
        assert!(yaml.starts_with(
            "# Generated by 'cargo xtask crds' from crates/capstan-types. Do not edit.\n"
        ));
    }
}
