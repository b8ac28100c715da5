//! Table-driven tests of the enforcement semantics against Argo CD's.

use std::collections::BTreeMap;

use capstan_types::app_project::{
    AppProject, AppProjectSpec, AppProjectStatus, JwtToken, JwtTokens, ProjectRole,
};
use capstan_types::settings::{MatchMode, PolicyRule, RbacSettings, parse_policy_csv};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::*;

/// The seed `argocd-rbac-cm` of the brief, verbatim.
const SEED_POLICY: &str = "# Developers can view and sync apps
p, role:developer, applications, get, */*, allow
p, role:developer, applications, sync, */*, allow
p, role:developer, logs, get, */*, allow
p, role:developer, exec, create, */*, deny

# DevOps can do everything
p, role:devops, applications, *, */*, allow
p, role:devops, clusters, *, *, allow
p, role:devops, repositories, *, *, allow
p, role:devops, projects, *, *, allow

# Map Azure AD groups to roles
g, devops-team@example.com, role:devops
g, developers@example.com, role:developer
";

fn settings(data: &[(&str, &str)]) -> RbacSettings {
    let data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    RbacSettings::from_config_map_data(&data).unwrap()
}

fn enforcer(data: &[(&str, &str)]) -> Enforcer {
    Enforcer::new(&settings(data))
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|g| (*g).to_owned()).collect()
}

/// `(subject, groups, resource, action, object, expected)`.
type Case<'a> = (&'a str, &'a [&'a str], &'a str, &'a str, &'a str, bool);

fn check(enforcer: &Enforcer, project: Option<&ProjectPolicy>, cases: &[Case<'_>]) {
    for &(subject, group_names, resource, action, object, expected) in cases {
        let groups = groups(group_names);
        let request = Request {
            subject,
            groups: &groups,
            resource,
            action,
            object,
        };
        assert_eq!(
            enforcer.enforce(&request, project),
            expected,
            "{subject} {group_names:?}: {resource} {action} {object}"
        );
    }
}

const DEV: &[&str] = &["developers@example.com"];
const OPS: &[&str] = &["devops-team@example.com"];
const NONE: &[&str] = &[];

#[test]
fn seed_policy() {
    let enforcer = enforcer(&[
        ("policy.default", "role:readonly"),
        ("policy.csv", SEED_POLICY),
    ]);
    check(
        &enforcer,
        None,
        &[
            // Developers: get and sync apps, read logs; nothing else beyond role:readonly.
            (
                "dev@example.com",
                DEV,
                "applications",
                "get",
                "microservices/users-api-dev",
                true,
            ),
            (
                "dev@example.com",
                DEV,
                "applications",
                "sync",
                "microservices/users-api-dev",
                true,
            ),
            (
                "dev@example.com",
                DEV,
                "applications",
                "sync",
                "microservices/ns/users-api",
                true,
            ),
            (
                "dev@example.com",
                DEV,
                "logs",
                "get",
                "microservices/users-api-dev",
                true,
            ),
            (
                "dev@example.com",
                DEV,
                "applications",
                "delete",
                "microservices/users-api-dev",
                false,
            ),
            (
                "dev@example.com",
                DEV,
                "applications",
                "create",
                "microservices/users-api-dev",
                false,
            ),
            (
                "dev@example.com",
                DEV,
                "exec",
                "create",
                "microservices/users-api-dev",
                false,
            ),
            (
                "dev@example.com",
                DEV,
                "clusters",
                "update",
                "https://kubernetes.default.svc",
                false,
            ),
            (
                "dev@example.com",
                DEV,
                "clusters",
                "get",
                "https://kubernetes.default.svc",
                true,
            ),
            // DevOps: everything on applications, clusters, repositories and projects.
            (
                "ops@example.com",
                OPS,
                "applications",
                "delete",
                "microservices/users-api-dev",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "applications",
                "create",
                "microservices/users-api-dev",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "applications",
                "action/apps/Deployment/restart",
                "p/a",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "applications",
                "update/*",
                "p/a",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "clusters",
                "create",
                "https://kubernetes.default.svc",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "repositories",
                "delete",
                "https://github.com/org/repo",
                true,
            ),
            (
                "ops@example.com",
                OPS,
                "projects",
                "update",
                "microservices",
                true,
            ),
            // ... but exec and accounts are not granted, and role:readonly only gives get.
            (
                "ops@example.com",
                OPS,
                "exec",
                "create",
                "microservices/users-api-dev",
                false,
            ),
            ("ops@example.com", OPS, "accounts", "update", "alice", false),
            ("ops@example.com", OPS, "accounts", "get", "alice", true),
            (
                "ops@example.com",
                OPS,
                "applicationsets",
                "create",
                "microservices/set",
                false,
            ),
            (
                "ops@example.com",
                OPS,
                "certificates",
                "create",
                "example.com",
                false,
            ),
            // In both groups: the developer deny on exec is only the developer group's.
            (
                "both",
                &["developers@example.com", "devops-team@example.com"],
                "applications",
                "delete",
                "p/a",
                true,
            ),
            (
                "both",
                &["developers@example.com", "devops-team@example.com"],
                "exec",
                "create",
                "p/a",
                false,
            ),
            // No groups: exactly role:readonly.
            (
                "nobody@example.com",
                NONE,
                "applications",
                "get",
                "microservices/users-api-dev",
                true,
            ),
            (
                "nobody@example.com",
                NONE,
                "applicationsets",
                "get",
                "microservices/set",
                true,
            ),
            (
                "nobody@example.com",
                NONE,
                "clusters",
                "get",
                "https://kubernetes.default.svc",
                true,
            ),
            (
                "nobody@example.com",
                NONE,
                "repositories",
                "get",
                "https://github.com/org/repo",
                true,
            ),
            (
                "nobody@example.com",
                NONE,
                "projects",
                "get",
                "default",
                true,
            ),
            ("nobody@example.com", NONE, "accounts", "get", "admin", true),
            ("nobody@example.com", NONE, "gpgkeys", "get", "ABCDEF", true),
            (
                "nobody@example.com",
                NONE,
                "certificates",
                "get",
                "example.com",
                true,
            ),
            ("nobody@example.com", NONE, "logs", "get", "p/a", true),
            (
                "nobody@example.com",
                NONE,
                "applications",
                "sync",
                "microservices/users-api-dev",
                false,
            ),
            (
                "nobody@example.com",
                NONE,
                "applications",
                "delete",
                "microservices/users-api-dev",
                false,
            ),
            ("nobody@example.com", NONE, "exec", "create", "p/a", false),
            ("nobody@example.com", NONE, "clusters", "create", "c", false),
            (
                "nobody@example.com",
                NONE,
                "projects",
                "update",
                "default",
                false,
            ),
            // An unknown group adds nothing.
            ("x", &["strangers"], "applications", "sync", "p/a", false),
        ],
    );
    assert_eq!(enforcer.default_role(), Some("role:readonly"));
    assert_eq!(enforcer.scopes(), ["groups"]);
    assert_eq!(enforcer.match_mode(), MatchMode::Glob);
    assert!(enforcer.pattern_errors().is_empty());
}

#[test]
fn seed_policy_without_default_role() {
    let enforcer = enforcer(&[("policy.csv", SEED_POLICY)]);
    assert_eq!(enforcer.default_role(), None);
    check(
        &enforcer,
        None,
        &[
            (
                "nobody@example.com",
                NONE,
                "applications",
                "get",
                "microservices/users-api-dev",
                false,
            ),
            (
                "nobody@example.com",
                NONE,
                "projects",
                "get",
                "default",
                false,
            ),
            ("nobody@example.com", NONE, "clusters", "get", "c", false),
            // Groups still work, and only grant what their roles say.
            (
                "dev@example.com",
                DEV,
                "applications",
                "get",
                "microservices/users-api-dev",
                true,
            ),
            ("dev@example.com", DEV, "clusters", "get", "c", false),
            ("ops@example.com", OPS, "exec", "create", "p/a", false),
            ("ops@example.com", OPS, "accounts", "get", "alice", false),
        ],
    );
    // An empty policy.default is no default role.
    let enforcer = self::enforcer(&[("policy.default", " "), ("policy.csv", SEED_POLICY)]);
    assert_eq!(enforcer.default_role(), None);
}

#[test]
fn builtin_policy() {
    let rules = parse_policy_csv("builtin-policy.csv", BUILTIN_POLICY, MatchMode::Glob).unwrap();
    assert_eq!(rules.len(), 45);
    assert_eq!(
        rules.last(),
        Some(&PolicyRule::Grouping {
            subject: "admin".to_owned(),
            role: "role:admin".to_owned()
        })
    );
    let enforcer = enforcer(&[]);
    check(
        &enforcer,
        None,
        &[
            ("admin", NONE, "applications", "delete", "p/a", true),
            ("admin", NONE, "applications", "get", "p/ns/a", true),
            (
                "admin",
                NONE,
                "applications",
                "action/apps/Deployment/restart",
                "p/a",
                true,
            ),
            (
                "admin",
                NONE,
                "applications",
                "update/apps/Deployment/ns/name",
                "p/a",
                true,
            ),
            ("admin", NONE, "exec", "create", "p/a", true),
            ("admin", NONE, "clusters", "create", "c", true),
            ("admin", NONE, "accounts", "update", "alice", true),
            ("admin", NONE, "projects", "delete", "default", true),
            ("admin", NONE, "write-repositories", "create", "r", true),
            // Not in the built-in policy even for admin.
            ("admin", NONE, "extensions", "invoke", "httpbin", false),
            ("admin", NONE, "gpgkeys", "update", "k", false),
            ("alice", NONE, "applications", "get", "p/a", false),
            // A group named like a `g` subject is enforced as that subject.
            ("alice", &["admin"], "applications", "delete", "p/a", true),
            (
                "alice",
                &["role:admin"],
                "applications",
                "delete",
                "p/a",
                true,
            ),
        ],
    );
    assert!(enforcer.enforce_subject("role:readonly", "applications", "get", "p/a"));
    assert!(!enforcer.enforce_subject("role:readonly", "applications", "create", "p/a"));
    assert!(enforcer.enforce_subject("role:admin", "applications", "get", "p/a"));
    assert!(enforcer.enforce_subject("admin", "clusters", "delete", "c"));
}

#[test]
fn deny_wins_only_within_one_enforcement() {
    let policy = "
p, alice, applications, *, */*, allow
p, alice, applications, delete, */*, deny
p, role:deployer, applications, *, */*, allow
g, bob, role:deployer
p, bob, applications, delete, prod/*, deny
p, carol, applications, get, */*, deny
p, role:team-a, applications, sync, */*, allow
p, role:team-b, applications, sync, */*, deny
g, team-a, role:team-a
g, team-b, role:team-b
p, dave, applications, sync, */*, deny
p, role:blocked, applications, *, */*, deny
g, blocked-group, role:blocked
";
    let enforcer = enforcer(&[("policy.default", "role:readonly"), ("policy.csv", policy)]);
    check(
        &enforcer,
        None,
        &[
            // Within alice's own lines the deny wins.
            ("alice", NONE, "applications", "sync", "p/a", true),
            ("alice", NONE, "applications", "delete", "p/a", false),
            // A user deny beats the allow of a role the user inherits.
            ("bob", NONE, "applications", "delete", "dev/a", true),
            ("bob", NONE, "applications", "delete", "prod/a", false),
            // A deny for the user does not take away what policy.default grants.
            ("carol", NONE, "applications", "get", "p/a", true),
            // A deny for one group does not block another group's allow.
            (
                "erin",
                &["team-b", "team-a"],
                "applications",
                "sync",
                "p/a",
                true,
            ),
            ("erin", &["team-b"], "applications", "sync", "p/a", false),
            // Nor does a deny for the user block a group's allow.
            ("dave", &["team-a"], "applications", "sync", "p/a", true),
            // A group that denies everything does not block the default role either.
            (
                "frank",
                &["blocked-group"],
                "applications",
                "get",
                "p/a",
                true,
            ),
            (
                "frank",
                &["blocked-group"],
                "applications",
                "sync",
                "p/a",
                false,
            ),
        ],
    );
}

#[test]
fn groups_are_only_enforced_when_they_are_grouping_subjects() {
    // Argo CD pre-filters a user's groups by the subjects of `g` lines.
    let policy = "
p, loose-group, applications, get, */*, allow
p, linked-group, applications, get, */*, allow
g, linked-group, role:nothing
";
    let enforcer = enforcer(&[("policy.csv", policy)]);
    check(
        &enforcer,
        None,
        &[
            ("u", &["loose-group"], "applications", "get", "p/a", false),
            ("u", &["linked-group"], "applications", "get", "p/a", true),
            // The subject itself is not pre-filtered.
            ("loose-group", NONE, "applications", "get", "p/a", true),
        ],
    );
    assert!(enforcer.enforce_subject("loose-group", "applications", "get", "p/a"));
}

#[test]
fn glob_patterns() {
    let policy = r#"
p, role:proj, applications, *, my-proj/*, allow
p, role:prod, applications, sync, */prod-*, allow
p, role:alt, applications, get, "{team-a,team-b}/*", allow
p, role:one, applications, get, p/app-?, allow
p, role:resources, application*, get, p/*, allow
p, role:actions, applications, action/apps/*, */*, allow
p, role:clusters, clusters, get, https://*.example.com, allow
g, u, role:proj
g, u, role:prod
g, u, role:alt
g, u, role:one
g, u, role:resources
g, u, role:actions
g, u, role:clusters
"#;
    let enforcer = enforcer(&[("policy.csv", policy)]);
    check(
        &enforcer,
        None,
        &[
            ("u", NONE, "applications", "delete", "my-proj/app", true),
            ("u", NONE, "applications", "delete", "my-proj/ns/app", true),
            ("u", NONE, "applications", "delete", "my-proj-2/app", false),
            (
                "u",
                NONE,
                "applications",
                "delete",
                "other/my-proj/app",
                false,
            ),
            ("u", NONE, "applications", "sync", "any/prod-api", true),
            ("u", NONE, "applications", "sync", "any/ns/prod-api", true),
            ("u", NONE, "applications", "sync", "any/prod-api/x", true),
            ("u", NONE, "applications", "sync", "any/dev-api", false),
            ("u", NONE, "applications", "get", "team-b/x", true),
            ("u", NONE, "applications", "get", "team-c/x", false),
            ("u", NONE, "applications", "get", "p/app-1", true),
            ("u", NONE, "applications", "get", "q/app-12", false),
            ("u", NONE, "applicationsets", "get", "p/set", true),
            (
                "u",
                NONE,
                "applications",
                "action/apps/Deployment/restart",
                "q/a",
                true,
            ),
            (
                "u",
                NONE,
                "applications",
                "action/batch/Job/x",
                "q/a",
                false,
            ),
            (
                "u",
                NONE,
                "clusters",
                "get",
                "https://prod.example.com",
                true,
            ),
            (
                "u",
                NONE,
                "clusters",
                "get",
                "https://prod.example.org",
                false,
            ),
        ],
    );
}

#[test]
fn regex_mode() {
    let policy = "
p, role:prod, applications, (get|sync), .+/prod-.+, allow
p, role:anchored, applications, ^get$, ^team-a/.*$, allow
p, role:loose, applications, get, team-x/.*, allow
p, role:bad, applications, get, (unclosed, allow
p, role:bad, applications, sync, .*, allow
g, prod-team, role:prod
g, anchored-team, role:anchored
g, loose-team, role:loose
g, bad-team, role:bad
";
    let enforcer = enforcer(&[("policy.matchMode", "regex"), ("policy.csv", policy)]);
    assert_eq!(enforcer.match_mode(), MatchMode::Regex);
    check(
        &enforcer,
        None,
        &[
            (
                "u",
                &["prod-team"],
                "applications",
                "sync",
                "p/prod-api",
                true,
            ),
            (
                "u",
                &["prod-team"],
                "applications",
                "get",
                "p/ns/prod-api",
                true,
            ),
            (
                "u",
                &["prod-team"],
                "applications",
                "delete",
                "p/prod-api",
                false,
            ),
            (
                "u",
                &["prod-team"],
                "applications",
                "sync",
                "p/dev-api",
                false,
            ),
            // Unanchored: the pattern may match anywhere.
            (
                "u",
                &["prod-team"],
                "applications",
                "syncx",
                "p/prod-api",
                true,
            ),
            (
                "u",
                &["loose-team"],
                "applications",
                "get",
                "team-x/app",
                true,
            ),
            (
                "u",
                &["loose-team"],
                "applications",
                "get",
                "not-team-x/app",
                true,
            ),
            (
                "u",
                &["loose-team"],
                "applicationsets",
                "get",
                "team-x/app",
                true,
            ),
            // Anchors do what they say.
            (
                "u",
                &["anchored-team"],
                "applications",
                "get",
                "team-a/app",
                true,
            ),
            (
                "u",
                &["anchored-team"],
                "applications",
                "get",
                "xteam-a/app",
                false,
            ),
            (
                "u",
                &["anchored-team"],
                "applications",
                "getx",
                "team-a/app",
                false,
            ),
            // An invalid regex refuses every call that reaches it ...
            ("u", &["bad-team"], "applications", "get", "p/a", false),
            // ... but not calls stopped by an earlier field of its line.
            ("u", &["bad-team"], "applications", "sync", "p/a", true),
            ("u", &["bad-team"], "applications", "delete", "p/a", false),
            // The built-in policy's `*` is not a regex: built-in roles refuse everything
            // (argoproj/argo-cd#13127).
            ("admin", NONE, "applications", "get", "p/a", false),
            ("admin", NONE, "clusters", "get", "c", false),
        ],
    );
    assert!(
        enforcer
            .pattern_errors()
            .iter()
            .any(|e| e.pattern == "*/*"
                && e.rule == "p, role:readonly, applications, get, */*, allow")
    );
    assert!(
        enforcer
            .pattern_errors()
            .iter()
            .any(|e| e.pattern == "(unclosed")
    );
    // role:bad's sync line is fine on its own; its get line is only evaluated for `get`.
    assert!(enforcer.enforce_subject("role:bad", "applications", "sync", "p/a"));

    // A regex-compatible default role works in regex mode (the workaround from #13127).
    let enforcer = self::enforcer(&[
        ("policy.matchMode", "regex"),
        ("policy.default", "role:global-readonly"),
        (
            "policy.csv",
            "p, role:global-readonly, applications, get, .+/.+, allow",
        ),
    ]);
    check(
        &enforcer,
        None,
        &[
            ("u", NONE, "applications", "get", "p/a", true),
            ("u", NONE, "applications", "sync", "p/a", false),
        ],
    );
}

#[test]
fn transitive_roles_up_to_ten_links() {
    // u -> r1 -> ... -> r11; every role rN may sync objects named `rN`.
    let mut policy = String::from("g, u, r1\n");
    for n in 1..=11 {
        policy.push_str(&format!("p, r{n}, applications, sync, p/r{n}, allow\n"));
        if n < 11 {
            policy.push_str(&format!("g, r{n}, r{}\n", n + 1));
        }
    }
    // A cycle does not loop forever.
    policy.push_str("g, r11, u\n");
    let enforcer = enforcer(&[("policy.csv", &policy)]);
    for n in 1..=11 {
        let object = format!("p/r{n}");
        assert_eq!(
            enforcer.enforce_subject("u", "applications", "sync", &object),
            n <= MAX_ROLE_DEPTH,
            "r{n}"
        );
        // Through a group the chain starts one link further away.
        let groups = groups(&["r1"]);
        let request = Request {
            subject: "someone",
            groups: &groups,
            resource: "applications",
            action: "sync",
            object: &object,
        };
        assert_eq!(
            enforcer.enforce(&request, None),
            n <= MAX_ROLE_DEPTH + 1,
            "r1 -> r{n}"
        );
    }
    // The seed's chains: a group inherits role:admin which inherits role:readonly.
    let enforcer = self::enforcer(&[(
        "policy.csv",
        "g, platform, role:platform\ng, role:platform, role:admin",
    )]);
    check(
        &enforcer,
        None,
        &[
            ("u", &["platform"], "clusters", "delete", "c", true),
            ("u", &["platform"], "gpgkeys", "get", "k", true),
        ],
    );
}

#[test]
fn custom_scopes() {
    let enforcer = enforcer(&[
        ("scopes", "[groups, email]"),
        (
            "policy.csv",
            "g, alice@example.com, role:admin\ng, ops, role:readonly",
        ),
    ]);
    assert_eq!(enforcer.scopes(), ["groups", "email"]);
    let claims = json!({
        "sub": "CiQxMjM0",
        "email": "alice@example.com",
        "groups": ["ops", 7, null, "dev"],
    });
    let user_groups = groups_from_claims(&claims, enforcer.scopes());
    assert_eq!(user_groups, ["ops", "dev", "alice@example.com"]);
    let request = Request {
        subject: user_identifier(&claims),
        groups: &user_groups,
        resource: "clusters",
        action: "delete",
        object: "c",
    };
    assert!(enforcer.enforce(&request, None));
    // With the default scopes the email is not a group.
    let default_groups = groups_from_claims(&claims, &["groups".to_owned()]);
    assert_eq!(default_groups, ["ops", "dev"]);
    let request = Request {
        groups: &default_groups,
        ..request
    };
    assert!(!enforcer.enforce(&request, None));

    let cases: &[(serde_json::Value, &[&str])] = &[
        (json!({"groups": "single"}), &["single"]),
        (json!({"groups": {"not": "a list"}}), &[]),
        (json!({"groups": 3}), &[]),
        (json!({}), &[]),
        (json!({"groups": [], "email": "e"}), &["e"]),
    ];
    let scopes = ["groups".to_owned(), "email".to_owned()];
    for (claims, expected) in cases {
        assert_eq!(groups_from_claims(claims, &scopes), *expected, "{claims}");
    }
}

#[test]
fn user_identifiers() {
    let cases = [
        (json!({"sub": "alice"}), "alice"),
        (
            json!({"sub": "x", "federated_claims": {"user_id": "alice", "connector_id": "github"}}),
            "alice",
        ),
        (
            json!({"sub": "x", "federated_claims": {"user_id": ""}}),
            "x",
        ),
        (json!({"sub": "x", "federated_claims": "alice"}), "x"),
        (json!({"sub": 5}), ""),
        (json!({}), ""),
    ];
    for (claims, expected) in cases {
        assert_eq!(user_identifier(&claims), expected, "{claims}");
    }
}

fn role(name: &str, policies: &[&str], groups: &[&str]) -> ProjectRole {
    ProjectRole {
        name: name.to_owned(),
        policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..ProjectRole::default()
    }
}

fn team_project(enforcer: &Enforcer) -> ProjectPolicy {
    let (policy, errors) = enforcer.project_policy(
        "team",
        &[
            role(
                "deployer",
                &[
                    "p, proj:team:deployer, applications, sync, team/*, allow",
                    "p, proj:team:deployer, applications, get, team/*, allow",
                    "p, proj:team:deployer, applications, sync, team/frozen-*, deny",
                ],
                &["team-deployers", "\"CN=Ops, OU=Groups\""],
            ),
            role(
                "ci",
                &["p, proj:team:ci, applications, *, team/ci-*, allow"],
                &[],
            ),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    policy
}

#[test]
fn project_roles() {
    let enforcer = enforcer(&[
        ("policy.default", "role:readonly"),
        (
            "policy.csv",
            "g, proj:team:ci, role:ci-global\np, role:ci-global, clusters, get, *, allow\n\
             p, proj:team:ci, applications, delete, team/ci-protected, deny",
        ),
    ]);
    let team = team_project(&enforcer);
    assert_eq!(team.name(), "team");
    assert!(team.has_role("deployer") && team.has_role("ci") && !team.has_role("admin"));
    assert_eq!(
        team.lines()[0].to_string(),
        "p, proj:team:deployer, projects, get, team, allow"
    );
    assert_eq!(
        team.lines().last().unwrap().to_string(),
        "p, proj:team:ci, applications, *, team/ci-*, allow"
    );
    check(
        &enforcer,
        Some(&team),
        &[
            // Role groups: a user in a bound OIDC group gets the role, inside the project.
            (
                "dev",
                &["team-deployers"],
                "applications",
                "sync",
                "team/api",
                true,
            ),
            (
                "dev",
                &["team-deployers"],
                "applications",
                "sync",
                "team/ns/api",
                true,
            ),
            (
                "dev",
                &["team-deployers"],
                "applications",
                "sync",
                "team/frozen-api",
                false,
            ),
            (
                "dev",
                &["team-deployers"],
                "applications",
                "delete",
                "team/api",
                false,
            ),
            (
                "dev",
                &["CN=Ops, OU=Groups"],
                "applications",
                "sync",
                "team/api",
                true,
            ),
            // Every role may read its project.
            ("dev", &["team-deployers"], "projects", "get", "team", true),
            // Project token subjects.
            (
                "proj:team:ci",
                NONE,
                "applications",
                "delete",
                "team/ci-runner",
                true,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "delete",
                "team/api",
                false,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "get",
                "team/api",
                true,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "delete",
                "team/ci-protected",
                false,
            ),
            ("proj:team:ci", NONE, "projects", "get", "team", true),
            // A project token's groups are not consulted.
            (
                "proj:team:ci",
                &["team-deployers"],
                "applications",
                "sync",
                "team/api",
                false,
            ),
            // A token of another role of the project only has that role's lines.
            (
                "proj:team:deployer",
                NONE,
                "applications",
                "sync",
                "team/api",
                true,
            ),
            (
                "proj:team:deployer",
                NONE,
                "applications",
                "delete",
                "team/ci-runner",
                false,
            ),
        ],
    );
    // Objects outside the project: the project's policy is not consulted, whatever the caller
    // passes (a mismatched project counts as "the request's project does not exist").
    check(
        &enforcer,
        Some(&team),
        &[
            (
                "dev",
                &["team-deployers"],
                "applications",
                "sync",
                "other/api",
                false,
            ),
            (
                "dev",
                &["team-deployers"],
                "applications",
                "get",
                "other/api",
                true,
            ),
            ("dev", &["team-deployers"], "projects", "get", "other", true),
            // A project token in another project gets nothing, not even the default role.
            (
                "proj:other:ci",
                NONE,
                "applications",
                "get",
                "team/api",
                false,
            ),
            // A project token in a request without a project: the normal path (default role
            // and global lines for the subject).
            (
                "proj:team:ci",
                NONE,
                "clusters",
                "get",
                "https://kubernetes.default.svc",
                true,
            ),
            ("proj:team:ci", NONE, "clusters", "create", "c", false),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "get",
                "other/api",
                true,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "sync",
                "other/ci-x",
                false,
            ),
        ],
    );
    // Without the project (it does not exist) its groups grant nothing.
    check(
        &enforcer,
        None,
        &[
            (
                "dev",
                &["team-deployers"],
                "applications",
                "sync",
                "team/api",
                false,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "delete",
                "team/ci-runner",
                false,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "get",
                "team/ci-runner",
                true,
            ),
        ],
    );
    // Without a default role a project token in its project has only its own lines.
    let strict = self::enforcer(&[]);
    let team = team_project(&strict);
    check(
        &strict,
        Some(&team),
        &[
            (
                "proj:team:ci",
                NONE,
                "applications",
                "get",
                "team/api",
                false,
            ),
            (
                "proj:team:ci",
                NONE,
                "applications",
                "get",
                "team/ci-x",
                true,
            ),
            (
                "proj:team:ci",
                NONE,
                "clusters",
                "get",
                "team/https://c",
                false,
            ),
        ],
    );
}

#[test]
fn project_policy_in_another_match_mode_is_recompiled() {
    let glob = enforcer(&[]);
    let regex = enforcer(&[("policy.matchMode", "regex")]);
    let (policy, errors) = glob.project_policy(
        "team",
        &[role(
            "r",
            &["p, proj:team:r, applications, get, team/.*, allow"],
            &["g"],
        )],
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(policy.match_mode(), MatchMode::Glob);
    let groups = groups(&["g"]);
    let request = Request {
        subject: "u",
        groups: &groups,
        resource: "applications",
        action: "get",
        object: "team/app",
    };
    // As a glob `team/.*` needs a literal `.`; as a regex it matches.
    assert!(!glob.enforce(&request, Some(&policy)));
    assert!(regex.enforce(&request, Some(&policy)));
    assert!(glob.enforce(
        &Request {
            object: "team/.x",
            ..request
        },
        Some(&policy)
    ));
}

#[test]
fn invalid_project_policies_are_reported_and_left_out() {
    use ProjectPolicyProblem as P;
    let enforcer = enforcer(&[]);
    let (policy, errors) = enforcer.project_policy(
        "team",
        &[
            role(
                "r",
                &[
                    "p, proj:team:r, applications, get, team/*, allow",
                    "p, proj:team:r, applications, get, team/*, allow",
                    "p, proj:other:r, applications, delete, team/*, allow",
                    "p, alice, applications, delete, team/*, allow",
                    "p, proj:team:r, applications, delete, */*, allow",
                    "p, proj:team:r, applications, delete, other/*, allow",
                    "p, proj:team:r, applications, delete, team-b/*, allow",
                    "p, proj:team:r, applications, delete, team, allow",
                    "p, proj:team:r, applications, delete, team/a/b/c, allow",
                    "p, proj:team:r, applications, delete, team/a b, allow",
                    "p, proj:team:r, clusters, *, *, allow",
                    "p, proj:team:r, projects, update, team/x, allow",
                    "p, proj:team:r, applications, destroy, team/*, allow",
                    "p, proj:team:r, applications, sync, team/*, maybe",
                    "p, proj:team:r, applications, sync, team/*",
                    "g, alice, proj:team:r",
                    "p, proj:team:r, applications, \"sync\", team/*, allow",
                ],
                &["ok", "ok", "a,b", "  ", "\"a\"b\"", "tab\there"],
            ),
            role(
                "bad:name",
                &["p, proj:team:bad:name, applications, get, team/*, allow"],
                &["x"],
            ),
            role("-r", &[], &[]),
            role(
                "r",
                &["p, proj:team:r, exec, create, team/ns/app, allow"],
                &[],
            ),
        ],
    );
    let problems: Vec<(String, ProjectPolicyProblem)> =
        errors.into_iter().map(|e| (e.role, e.problem)).collect();
    let policy_text = |line: &str| line.to_owned();
    let outside = |line: &str, object: &str| P::ObjectOutsideProject {
        policy: policy_text(line),
        project: "team".to_owned(),
        object: object.to_owned(),
    };
    let r = |problem| ("r".to_owned(), problem);
    assert_eq!(
        problems,
        vec![
            r(P::DuplicatePolicy {
                policy: "p, proj:team:r, applications, get, team/*, allow".to_owned()
            }),
            r(P::WrongSubject {
                policy: "p, proj:other:r, applications, delete, team/*, allow".to_owned(),
                expected: "proj:team:r".to_owned(),
                found: "proj:other:r".to_owned(),
            }),
            r(P::WrongSubject {
                policy: "p, alice, applications, delete, team/*, allow".to_owned(),
                expected: "proj:team:r".to_owned(),
                found: "alice".to_owned(),
            }),
            r(outside(
                "p, proj:team:r, applications, delete, */*, allow",
                "*/*"
            )),
            r(outside(
                "p, proj:team:r, applications, delete, other/*, allow",
                "other/*"
            )),
            r(outside(
                "p, proj:team:r, applications, delete, team-b/*, allow",
                "team-b/*"
            )),
            r(outside(
                "p, proj:team:r, applications, delete, team, allow",
                "team"
            )),
            r(outside(
                "p, proj:team:r, applications, delete, team/a/b/c, allow",
                "team/a/b/c"
            )),
            r(outside(
                "p, proj:team:r, applications, delete, team/a b, allow",
                "team/a b"
            )),
            r(outside("p, proj:team:r, clusters, *, *, allow", "*")),
            r(P::ResourceNotProjectScoped {
                policy: "p, proj:team:r, projects, update, team/x, allow".to_owned(),
                resource: "projects".to_owned(),
            }),
            r(P::InvalidAction {
                policy: "p, proj:team:r, applications, destroy, team/*, allow".to_owned(),
                action: "destroy".to_owned(),
            }),
            r(P::InvalidEffect {
                policy: "p, proj:team:r, applications, sync, team/*, maybe".to_owned(),
            }),
            r(P::MalformedPolicy {
                policy: "p, proj:team:r, applications, sync, team/*".to_owned(),
            }),
            r(P::MalformedPolicy {
                policy: "g, alice, proj:team:r".to_owned(),
            }),
            r(P::MalformedPolicy {
                policy: "p, proj:team:r, applications, \"sync\", team/*, allow".to_owned(),
            }),
            r(P::DuplicateGroup {
                group: "ok".to_owned()
            }),
            r(P::InvalidGroup {
                group: "a,b".to_owned(),
                reason: "must be quoted"
            }),
            r(P::InvalidGroup {
                group: "  ".to_owned(),
                reason: "is empty"
            }),
            r(P::InvalidGroup {
                group: "\"a\"b\"".to_owned(),
                reason: "contains invalid characters"
            }),
            r(P::InvalidGroup {
                group: "tab\there".to_owned(),
                reason: "contains invalid characters"
            }),
            ("bad:name".to_owned(), P::InvalidRoleName),
            ("-r".to_owned(), P::InvalidRoleName),
            r(P::DuplicateRole),
        ]
    );
    let rendered: Vec<String> = policy.lines().iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "p, proj:team:r, projects, get, team, allow",
            "p, proj:team:r, applications, get, team/*, allow",
            "p, proj:team:r, applications, get, team/*, allow",
            "g, ok, proj:team:r",
            "g, ok, proj:team:r",
            "p, proj:team:r, projects, get, team, allow",
            "p, proj:team:r, exec, create, team/ns/app, allow",
        ]
    );
    // The rejected lines grant nothing.
    let groups = groups(&["ok", "x"]);
    for (resource, action, object) in [
        ("applications", "delete", "team/app"),
        ("clusters", "update", "team/c"),
        ("applications", "sync", "team/app"),
    ] {
        let request = Request {
            subject: "alice",
            groups: &groups,
            resource,
            action,
            object,
        };
        assert!(
            !enforcer.enforce(&request, Some(&policy)),
            "{resource} {action} {object}"
        );
    }
    let request = Request {
        subject: "alice",
        groups: &groups,
        resource: "exec",
        action: "create",
        object: "team/ns/app",
    };
    assert!(enforcer.enforce(&request, Some(&policy)));
    let error = ProjectPolicyError {
        project: "team".to_owned(),
        role: "r".to_owned(),
        problem: P::InvalidAction {
            policy: "p, proj:team:r, applications, destroy, team/*, allow".to_owned(),
            action: "destroy".to_owned(),
        },
    };
    assert_eq!(
        error.to_string(),
        "project \"team\" role \"r\": invalid policy rule \"p, proj:team:r, applications, \
         destroy, team/*, allow\": invalid action \"destroy\""
    );
}

#[test]
fn valid_project_policy_forms() {
    let lines = [
        "p, proj:team:r, applications, get, team/*, allow",
        "p, proj:team:r, applications, *, team/*/*, deny",
        "p,proj:team:r,applications,sync,team/app-1.v2_x,allow",
        "p, proj:team:r, applicationsets, create, team/ns/set, allow",
        "p, proj:team:r, logs, get, team/*, allow",
        "p, proj:team:r, exec, create, team/*, allow",
        "p, proj:team:r, repositories, update, team/*, allow",
        "p, proj:team:r, clusters, get, team/*, allow",
        "p, proj:team:r, applications, action/apps/Deployment/restart, team/*, allow",
        "p, proj:team:r, applications, update/*, team/*, allow",
        "p, proj:team:r, applications, delete/*/Pod/*/*, team/*, allow",
        "p, proj:team:r, applications, override, team/*, allow",
    ];
    let (policy, errors) = ProjectPolicy::new("team", &[role("r", &lines, &[])], MatchMode::Glob);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(policy.lines().len(), lines.len() + 1);
}

#[test]
fn project_policy_from_app_project_and_tokens() {
    let token = |iat, id: &str| JwtToken {
        iat,
        id: id.to_owned(),
        ..JwtToken::default()
    };
    let mut project = AppProject::new(
        "team",
        AppProjectSpec {
            roles: vec![ProjectRole {
                jwt_tokens: vec![token(100, "legacy")],
                ..role(
                    "ci",
                    &["p, proj:team:ci, applications, sync, team/*, allow"],
                    &[],
                )
            }],
            ..AppProjectSpec::default()
        },
    );
    project.status = Some(AppProjectStatus {
        jwt_tokens_by_role: BTreeMap::from([(
            "ci".to_owned(),
            JwtTokens {
                items: vec![token(200, "current")],
                ..JwtTokens::default()
            },
        )]),
        ..AppProjectStatus::default()
    });
    let (policy, errors) = ProjectPolicy::from_app_project(&project, MatchMode::Glob);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(policy.name(), "team");
    assert!(policy.has_role("ci"));

    let cases = [
        ("ci", Some(200), "current", true),
        ("ci", None, "current", true),
        ("ci", Some(100), "legacy", true),
        ("ci", Some(200), "", true),
        ("ci", Some(200), "revoked", true),
        ("ci", Some(300), "revoked", false),
        ("ci", None, "", false),
        ("ci", None, "revoked", false),
        ("gone", Some(200), "current", false),
    ];
    for (role, iat, id, expected) in cases {
        assert_eq!(
            project_token_listed(&project, role, iat, id),
            expected,
            "{role} {iat:?} {id}"
        );
    }
}

#[test]
fn subjects_and_objects() {
    let subjects = [
        ("proj:team:ci", Some(("team", "ci"))),
        ("proj:team:", Some(("team", ""))),
        ("proj:team", None),
        ("proj:team:ci:x", None),
        ("project:team:ci", None),
        ("alice", None),
    ];
    for (subject, expected) in subjects {
        assert_eq!(is_project_subject(subject), expected, "{subject}");
    }
    assert_eq!(project_subject("team", "ci"), "proj:team:ci");

    let requests = [
        ("applications", "team/app", Some("team")),
        ("applications", "team/ns/app", Some("team")),
        ("applicationsets", "team/set", Some("team")),
        ("logs", "team/app", Some("team")),
        ("exec", "team/app", Some("team")),
        ("clusters", "team/https://c", Some("team")),
        (
            "repositories",
            "https://github.com/org/repo",
            Some("https:"),
        ),
        ("repositories", "repo", None),
        ("applications", "app", None),
        ("projects", "team", Some("team")),
        ("accounts", "team/x", None),
        ("certificates", "team/x", None),
    ];
    for (resource, object, expected) in requests {
        assert_eq!(
            project_of_request(resource, object),
            expected,
            "{resource} {object}"
        );
    }

    let names = [
        ("argocd", "team", "argocd", "app", "team/app"),
        ("argocd", "team", "", "app", "team/app"),
        ("argocd", "team", "apps", "app", "team/apps/app"),
        ("", "team", "apps", "app", "team/app"),
    ];
    for (default_namespace, project, namespace, name, expected) in names {
        assert_eq!(
            rbac_name(default_namespace, project, namespace, name),
            expected
        );
    }
}

#[test]
fn overlays_and_quoted_subjects() {
    let enforcer = enforcer(&[
        ("policy.csv", "p, role:base, applications, get, */*, allow"),
        ("policy.team.csv", "g, \"CN=Ops, OU=Groups\", role:base"),
    ]);
    check(
        &enforcer,
        None,
        &[(
            "u",
            &["CN=Ops, OU=Groups"],
            "applications",
            "get",
            "p/a",
            true,
        )],
    );
}

/// Not a benchmark, just a guard that enforcement stays in the microseconds: 1,000 app checks
/// for a user with a few groups, in a project with role groups.
#[test]
fn filtering_a_thousand_apps_is_fast() {
    let enforcer = enforcer(&[
        ("policy.default", "role:readonly"),
        ("policy.csv", SEED_POLICY),
    ]);
    let team = team_project(&enforcer);
    let groups = groups(&["a", "b", "developers@example.com", "team-deployers"]);
    let objects: Vec<String> = (0..1000).map(|n| format!("team/app-{n}")).collect();
    let start = std::time::Instant::now();
    let allowed = objects
        .iter()
        .filter(|object| {
            enforcer.enforce(
                &Request {
                    subject: "dev",
                    groups: &groups,
                    resource: "applications",
                    action: "sync",
                    object,
                },
                Some(&team),
            )
        })
        .count();
    let elapsed = start.elapsed();
    assert_eq!(allowed, 1000);
    assert!(elapsed.as_millis() < 500, "{elapsed:?}");
}
