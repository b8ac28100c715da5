//! Runs the built `capstan` binary against the fixtures in `testdata/`.

use std::path::PathBuf;
use std::process::{Command, Output};

use pretty_assertions::assert_eq;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// `capstan admin settings resource-overrides health <object> --argocd-cm-path <cm>`, run in
/// `testdata/` with relative paths so that messages are predictable.
fn health(object: &str, argocd_cm: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capstan"))
        .current_dir(testdata(""))
        .env_remove("CAPSTAN_ARGOCD_CM_PATH")
        .args(["admin", "settings", "resource-overrides", "health", object])
        .args(["--argocd-cm-path", argocd_cm])
        .output()
        .expect("capstan runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Asserts success with exactly `want` on stdout and nothing on stderr.
fn assert_prints(output: &Output, want: &str) {
    assert_eq!(stdout(output), want);
    assert_eq!(stderr(output), "");
    assert_eq!(output.status.code(), Some(0));
}

/// Asserts exit status 1, nothing on stdout, and an error on stderr containing each of `parts`.
fn assert_fails(output: &Output, parts: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert_eq!(stdout(output), "");
    assert!(err.starts_with("error: "), "{err}");
    for part in parts {
        assert!(err.contains(part), "{part:?} not in {err:?}");
    }
}

#[test]
fn deployment_past_its_progress_deadline_is_degraded_by_the_built_in_check() {
    let output = health("deployment-progress-deadline.yaml", "argocd-cm-empty.yaml");
    assert_prints(
        &output,
        "STATUS: Degraded\n\
         MESSAGE: Deployment \"web\" exceeded its progress deadline\n\
         SOURCE: Capstan built-in health check for 'apps/Deployment'\n",
    );
}

#[test]
fn per_key_health_script_decides_for_its_kind() {
    let output = health("widget.yaml", "argocd-cm-health-key.yaml");
    assert_prints(
        &output,
        "STATUS: Degraded\n\
         MESSAGE: widget is jammed: gear teeth stripped\n\
         SOURCE: Lua health script for 'example.com/Widget' from argocd-cm\n",
    );
}

#[test]
fn legacy_resource_customizations_script_decides_too() {
    let output = health("widget.yaml", "argocd-cm-legacy.yaml");
    assert_prints(
        &output,
        "STATUS: Suspended\n\
         MESSAGE: legacy script says Jammed\n\
         SOURCE: Lua health script for 'example.com/Widget' from argocd-cm\n",
    );
}

#[test]
fn object_without_any_health_is_not_assessed() {
    let output = health("configmap.yaml", "argocd-cm-health-key.yaml");
    assert_prints(
        &output,
        "Health script is not configured for '/ConfigMap'\n\
         SOURCE: none: no Lua health script, built-in check or kstatus condition applies; \
         health is not assessed\n",
    );
    // A custom resource without a script and without conditions is not assessed either.
    let output = health("widget.yaml", "argocd-cm-empty.yaml");
    assert!(
        stdout(&output).starts_with("Health script is not configured for 'example.com/Widget'\n"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn health_script_that_does_not_compile_fails_naming_group_kind() {
    let output = health("widget.yaml", "argocd-cm-bad-lua.yaml");
    assert_fails(
        &output,
        &[
            "argocd-cm-bad-lua.yaml",
            "health script for example.com/Widget does not compile",
            "health.lua:2:",
        ],
    );
}

#[test]
fn missing_files_fail_naming_the_path() {
    let output = health("no-such-object.yaml", "argocd-cm-empty.yaml");
    assert_fails(&output, &["reading no-such-object.yaml"]);

    let output = health("widget.yaml", "no-such-argocd-cm.yaml");
    assert_fails(&output, &["reading no-such-argocd-cm.yaml"]);
}

#[test]
fn malformed_input_fails_with_where() {
    let output = health("bad-yaml.yaml", "argocd-cm-empty.yaml");
    assert_fails(&output, &["bad-yaml.yaml", "line 6 column 1"]);

    let output = health("two-documents.yaml", "argocd-cm-empty.yaml");
    assert_fails(
        &output,
        &["two-documents.yaml: 2 YAML documents in the file; expected exactly one object"],
    );

    let output = health("widget.yaml", "argocd-cm-bad-setting.yaml");
    assert_fails(
        &output,
        &["argocd-cm-bad-setting.yaml: argocd-cm: timeout.reconciliation: invalid duration"],
    );

    // The ConfigMap file must be a ConfigMap.
    let output = health("widget.yaml", "deployment-progress-deadline.yaml");
    assert_fails(
        &output,
        &["expected kind ConfigMap, found kind \"Deployment\""],
    );
}

#[test]
fn argocd_cm_path_comes_from_the_environment_too() {
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .current_dir(testdata(""))
        .env("CAPSTAN_ARGOCD_CM_PATH", "argocd-cm-legacy.yaml")
        .args([
            "admin",
            "settings",
            "resource-overrides",
            "health",
            "widget.yaml",
        ])
        .output()
        .expect("capstan runs");
    assert!(
        stdout(&output).starts_with("STATUS: Suspended\n"),
        "{}",
        stdout(&output)
    );

    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .current_dir(testdata(""))
        .env_remove("CAPSTAN_ARGOCD_CM_PATH")
        .args([
            "admin",
            "settings",
            "resource-overrides",
            "health",
            "widget.yaml",
        ])
        .output()
        .expect("capstan runs");
    assert_fails(&output, &["--argocd-cm-path"]);
}
