use std::collections::BTreeMap;

use capstan_health::HealthStatusCode;
use capstan_types::settings::ArgoCdSettings;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::{Assessment, Decider, assess};

fn settings(data: &[(&str, &str)]) -> ArgoCdSettings {
    let data: BTreeMap<String, String> = data
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    ArgoCdSettings::from_config_map_data(&data).expect("valid settings")
}

fn widget(status: Value) -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "generation": 1},
        "status": status,
    })
}

const EXACT: (&str, &str) = (
    "resource.customizations.health.example.com_Widget",
    "return { status = 'Degraded', message = 'exact' }",
);
const WILDCARD: (&str, &str) = (
    "resource.customizations.health.*.com_*",
    "return { status = 'Suspended', message = 'wildcard' }",
);
const NIL: (&str, &str) = (
    "resource.customizations.health.example.com_Widget",
    "return nil",
);

/// Name, `argocd-cm` data, object, expected health (status, message), expected decider.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Value,
    Option<(HealthStatusCode, &'static str)>,
    Decider,
);

#[test]
fn says_what_decided() {
    let ready = json!({"conditions": [{"type": "Ready", "status": "True", "message": "up"}]});
    let deleting = {
        let mut obj = widget(json!({}));
        obj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        obj
    };
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"paused": true},
    });
    let cases: Vec<Case> = vec![
        (
            "exact key wins over wildcard",
            vec![EXACT, WILDCARD],
            widget(json!({})),
            Some((HealthStatusCode::Degraded, "exact")),
            Decider::LuaScript("example.com/Widget".to_owned()),
        ),
        (
            "wildcard key",
            vec![WILDCARD],
            widget(json!({})),
            Some((HealthStatusCode::Suspended, "wildcard")),
            Decider::LuaScript("*.com/*".to_owned()),
        ),
        (
            "script returning nil",
            vec![NIL],
            widget(ready.clone()),
            None,
            Decider::LuaScript("example.com/Widget".to_owned()),
        ),
        (
            "pending deletion before the script",
            vec![EXACT],
            deleting,
            Some((HealthStatusCode::Progressing, "Pending deletion")),
            Decider::PendingDeletion,
        ),
        (
            "built-in check",
            vec![WILDCARD],
            deployment,
            Some((HealthStatusCode::Suspended, "Deployment is paused")),
            Decider::BuiltIn,
        ),
        (
            "kstatus fallback",
            vec![],
            widget(ready),
            Some((HealthStatusCode::Healthy, "up")),
            Decider::Kstatus,
        ),
        ("nothing", vec![], widget(json!({})), None, Decider::Nothing),
    ];
    for (name, data, object, want_health, want_decider) in cases {
        let got = assess(&settings(&data), &object).expect(name);
        let got_health = got
            .health
            .as_ref()
            .map(|health| (health.status.clone(), health.message.as_str()));
        assert_eq!(got_health, want_health, "{name}");
        assert_eq!(got.decider, want_decider, "{name}");
    }
}

#[test]
fn prints_argo_cd_lines_then_the_source() {
    let assessment = Assessment {
        group: String::new(),
        kind: "ConfigMap".to_owned(),
        health: None,
        decider: Decider::Nothing,
    };
    assert_eq!(
        assessment.to_string(),
        "Health script is not configured for '/ConfigMap'\n\
         SOURCE: none: no Lua health script, built-in check or kstatus condition applies; \
         health is not assessed\n"
    );
}

#[test]
fn broken_scripts_name_their_group_kind() {
    let compile = settings(&[(
        "resource.customizations.health.example.com_Widget",
        "return {",
    )]);
    let err = assess(&compile, &widget(json!({}))).expect_err("syntax error");
    assert!(
        err.to_string()
            .starts_with("health script for example.com/Widget does not compile"),
        "{err}"
    );

    let runtime = settings(&[(
        "resource.customizations.health.example.com_Widget",
        "error('boom')",
    )]);
    let err = assess(&runtime, &widget(json!({}))).expect_err("runtime error");
    assert!(
        err.to_string()
            .starts_with("health script for example.com/Widget failed"),
        "{err}"
    );
}
