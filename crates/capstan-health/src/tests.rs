//! Tests of ordering, aggregation and `HealthChecker` (Lua overrides and their sandbox).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use capstan_types::settings::{GroupKindPattern, ResourceCustomization};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::HealthStatusCode::{Degraded, Healthy, Missing, Progressing, Suspended, Unknown};
use crate::{Health, HealthChecker, HealthError, HealthStatusCode, aggregate, is_worse};

#[test]
fn is_worse_follows_gitops_engine_order() {
    let order = [Healthy, Suspended, Progressing, Missing, Degraded, Unknown];
    for (i, a) in order.iter().enumerate() {
        for (j, b) in order.iter().enumerate() {
            assert_eq!(is_worse(a, b), j > i, "is_worse({a:?}, {b:?})");
        }
    }
    // A status Argo CD does not know ranks as Healthy.
    let other = HealthStatusCode::Other("Weird".into());
    assert!(!is_worse(&Healthy, &other));
    assert!(is_worse(&other, &Suspended));
}

#[test]
fn aggregate_takes_the_worst_child() {
    assert_eq!(aggregate([]), Health::healthy(""));
    let children = [
        Health::healthy(""),
        Health::progressing("rolling out"),
        Health::suspended("paused"),
        Health::degraded("crash loop"),
        Health::progressing("waiting"),
        Health::degraded("second degraded"),
    ];
    assert_eq!(aggregate(&children), Health::degraded("crash loop"));
    assert_eq!(
        aggregate(&[Health::suspended("paused"), Health::missing_for_test()]),
        Health::new(Missing, "a resource of the application is Missing")
    );
    assert_eq!(
        aggregate(&[Health::healthy("fine"), Health::healthy("")]),
        Health::healthy("")
    );
}

impl Health {
    fn missing_for_test() -> Self {
        Health::new(Missing, "")
    }
}

fn checker(entries: &[(&str, &str, &str, bool)]) -> Result<HealthChecker, HealthError> {
    let customizations: BTreeMap<GroupKindPattern, ResourceCustomization> = entries
        .iter()
        .map(|(group, kind, script, open)| {
            (
                GroupKindPattern::new(*group, *kind),
                ResourceCustomization {
                    health_lua: Some((*script).to_owned()),
                    use_open_libs: *open,
                    ..ResourceCustomization::default()
                },
            )
        })
        .collect();
    HealthChecker::new(&customizations)
}

/// The cert-manager `Certificate` health check, in the style of Argo CD's documentation.
const CERTIFICATE_LUA: &str = r#"
hs = {}
if obj.status ~= nil then
  if obj.status.conditions ~= nil then
    for i, condition in ipairs(obj.status.conditions) do
      if condition.type == "Ready" and condition.status == "False" then
        hs.status = "Degraded"
        hs.message = condition.message
        return hs
      end
      if condition.type == "Ready" and condition.status == "True" then
        hs.status = "Healthy"
        hs.message = condition.message
        return hs
      end
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"#;

fn certificate(conditions: Value) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "web-tls", "annotations": null},
        "spec": {"secretName": "web-tls"},
        "status": {"conditions": conditions},
    })
}

#[test]
fn lua_certificate_script() {
    let checker = checker(&[("cert-manager.io", "Certificate", CERTIFICATE_LUA, false)]).unwrap();
    let cases = [
        (
            json!([{"type": "Ready", "status": "True", "message": "Certificate is up to date and has not expired"}]),
            Health::healthy("Certificate is up to date and has not expired"),
        ),
        (
            json!([{"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"}]),
            Health::degraded("Issuing certificate as Secret does not exist"),
        ),
        (json!([]), Health::progressing("Waiting for certificate")),
    ];
    for (conditions, want) in cases {
        assert_eq!(
            checker.assess(&certificate(conditions)).unwrap(),
            Some(want)
        );
    }
}

#[test]
fn lua_overrides_builtin_and_wildcards_match() {
    let always_degraded = r#"return {status = "Degraded", message = "overridden"}"#;
    let checker = checker(&[
        ("apps", "Deployment", always_degraded, false),
        (
            "*.crossplane.io",
            "*",
            r#"return {status = "Suspended", message = "wild"}"#,
            false,
        ),
        (
            "*",
            "*",
            r#"return {status = "Unknown", message = "catch-all"}"#,
            false,
        ),
    ])
    .unwrap();
    let deployment =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    assert_eq!(
        checker.assess(&deployment).unwrap(),
        Some(Health::degraded("overridden"))
    );
    let bucket = json!({"apiVersion": "s3.aws.crossplane.io/v1beta1", "kind": "Bucket"});
    assert_eq!(
        checker.assess(&bucket).unwrap(),
        Some(Health::suspended("wild"))
    );
    // `*/*` never matches a core-group key (`Kind` has no slash), as in Argo CD; the built-in
    // Service check applies.
    let service = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}});
    assert_eq!(checker.assess(&service).unwrap(), Some(Health::healthy("")));
    // Without an override, built-ins and the kstatus fallback apply.
    let plain = HealthChecker::default();
    assert_eq!(
        plain.assess(&deployment).unwrap(),
        Some(Health::healthy(""))
    );
    assert_eq!(
        plain
            .assess(&json!({"apiVersion": "v1", "kind": "ConfigMap"}))
            .unwrap(),
        None
    );
}

#[test]
fn pending_deletion_comes_first() {
    let checker = checker(&[(
        "apps",
        "Deployment",
        r#"return {status = "Healthy"}"#,
        false,
    )])
    .unwrap();
    let deleting = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "d", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
    assert_eq!(
        checker.assess(&deleting).unwrap(),
        Some(Health::progressing("Pending deletion"))
    );
    let hook = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "d", "deletionTimestamp": "2026-01-01T00:00:00Z",
                                   "finalizers": ["argocd.argoproj.io/hook-finalizer"]}});
    assert_eq!(checker.assess(&hook).unwrap(), Some(Health::healthy("")));
}

#[test]
fn lua_result_interpretation() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    let run = |script: &str| {
        checker(&[("example.com", "Widget", script, false)])
            .unwrap()
            .assess(&obj)
    };
    assert_eq!(
        run(r#"return {status = "Fine"}"#).unwrap(),
        Some(Health::unknown("Lua returned an invalid health status"))
    );
    assert_eq!(run("return {}").unwrap(), None);
    assert_eq!(run("return nil").unwrap(), None);
    assert_eq!(
        run(r#"return {status = "Degraded"}"#).unwrap(),
        Some(Health::degraded(
            "the health script for example.com/Widget gave no message"
        ))
    );
    let err = run(r#"return "Healthy""#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "health script for example.com/Widget failed: expect table output from Lua script, not string"
    );
    let err = run("local x = nil\nreturn x.y").unwrap_err();
    let HealthError::Script {
        group_kind,
        message,
    } = err
    else {
        panic!("want a script error, got {err:?}");
    };
    assert_eq!(group_kind, "example.com/Widget");
    assert!(
        message.starts_with("example.com/Widget health.lua:2:"),
        "{message}"
    );
}

#[test]
fn lua_51_functions_and_nulls() {
    // `table.getn` exists only in Lua 5.1; Argo CD's own scripts use it. JSON null is nil.
    let script = r#"
local n = table.getn(obj.status.items)
if obj.metadata.annotations == nil and n == 3 and #obj.status.items == 3 then
  return {status = "Healthy", message = string.format("%d items, at %d", n, os.time() > 0 and 1 or 0)}
end
return {status = "Degraded", message = "unexpected"}
"#;
    let checker = checker(&[("example.com", "Widget", script, false)]).unwrap();
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                     "metadata": {"annotations": null}, "status": {"items": [1, "two", {"three": 3}]}});
    assert_eq!(
        checker.assess(&obj).unwrap(),
        Some(Health::healthy("3 items, at 1"))
    );
}

#[test]
fn sandbox_denies_io_os_and_loading() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    for script in [
        r#"io.open("/etc/passwd")"#,
        r#"os.execute("true")"#,
        r#"os.getenv("HOME")"#,
        r#"require("os")"#,
        r#"dofile("/etc/passwd")"#,
        r#"loadfile("/etc/passwd")"#,
        r#"loadstring("return 1")()"#,
        r#"load(function() return nil end)"#,
        r#"debug.getregistry()"#,
    ] {
        let checker = checker(&[("example.com", "Widget", script, false)]).unwrap();
        let err = checker.assess(&obj).unwrap_err();
        assert!(
            matches!(&err, HealthError::Script { message, .. } if message.contains("nil value")),
            "{script}: {err:?}"
        );
    }
    // useOpenLibs gives the standard libraries (never `debug`).
    let open = r#"return {status = "Healthy", message = type(io.write) .. " " .. type(os.getenv) .. " " .. type(debug)}"#;
    let checker = checker(&[("example.com", "Widget", open, true)]).unwrap();
    assert_eq!(
        checker.assess(&obj).unwrap(),
        Some(Health::healthy("function function nil"))
    );
}

#[test]
fn runaway_scripts_hit_the_time_limit() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    for script in [
        "while true do end",
        // The hook's error cannot be swallowed by pcall, xpcall or coroutines.
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
    ] {
        let checker = checker(&[("example.com", "Widget", script, false)]).unwrap();
        let started = Instant::now();
        let err = checker.assess(&obj).unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(
            err.to_string(),
            "health script for example.com/Widget exceeded its time limit",
            "{script}"
        );
        assert!(
            elapsed < Duration::from_secs(1),
            "{script}: took {elapsed:?}"
        );
    }
}

#[test]
fn memory_hungry_scripts_hit_the_memory_limit() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    let script = r#"local s = string.rep("x", 200 * 1024 * 1024) return {status = "Healthy"}"#;
    let checker = checker(&[("example.com", "Widget", script, false)]).unwrap();
    let err = checker.assess(&obj).unwrap_err();
    assert_eq!(
        err.to_string(),
        "health script for example.com/Widget exceeded its memory limit"
    );
}

#[test]
fn syntax_error_names_the_group_kind() {
    let err = checker(&[("cert-manager.io", "Certificate", "hs = {\nif then", false)]).unwrap_err();
    let HealthError::Compile {
        group_kind,
        message,
    } = &err
    else {
        panic!("want a compile error, got {err:?}");
    };
    assert_eq!(group_kind, "cert-manager.io/Certificate");
    assert!(
        message.contains("cert-manager.io/Certificate health.lua:2:"),
        "{message}"
    );
    assert!(
        err.to_string()
            .starts_with("health script for cert-manager.io/Certificate does not compile: ")
    );

    let err = checker(&[("", "ConfigMap", "return {", false)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("health script for ConfigMap does not compile"),
        "{err}"
    );
}

#[test]
fn checker_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HealthChecker>();
    assert_send_sync::<HealthError>();
}
