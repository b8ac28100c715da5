//! `argocd-rbac-cm`: Casbin-style policy lines, the default role, the match mode and the OIDC
//! scopes that carry group memberships.

use std::collections::BTreeMap;
use std::fmt;

use super::{ARGOCD_RBAC_CM, SettingsError, parse_yaml};

/// The `argocd-rbac-cm` keys Capstan understands.
pub mod rbac_keys {
    /// Main policy lines.
    pub const POLICY_CSV: &str = "policy.csv";
    /// Role of every authenticated user (and of anonymous users when enabled).
    pub const POLICY_DEFAULT: &str = "policy.default";
    /// `glob` (default) or `regex`.
    pub const POLICY_MATCH_MODE: &str = "policy.matchMode";
    /// OIDC claims that hold group names (YAML list; default `[groups]`).
    pub const SCOPES: &str = "scopes";
}

/// The resources of Argo CD's RBAC model (`util/rbac/rbac.go`).
pub const RBAC_RESOURCES: &[&str] = &[
    "applications",
    "applicationsets",
    "clusters",
    "projects",
    "repositories",
    "write-repositories",
    "accounts",
    "certificates",
    "gpgkeys",
    "logs",
    "exec",
    "extensions",
];

/// How policy fields are matched against requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MatchMode {
    /// Glob patterns (`*` matches any run of characters, including `/`). The default.
    #[default]
    Glob,
    /// Go regular expressions.
    Regex,
}

/// Effect of a permission line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyEffect {
    /// Grants the permission.
    Allow,
    /// Denies the permission; a matching deny always wins over an allow.
    Deny,
}

impl PolicyEffect {
    /// The policy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// One policy line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyRule {
    /// `p, <subject>, <resource>, <action>, <object>, <effect>`
    Permission {
        /// User, group or role (`role:<name>`, `proj:<project>:<role>`).
        subject: String,
        /// One of [`RBAC_RESOURCES`], or a pattern.
        resource: String,
        /// Action (`get`, `create`, `update`, `delete`, `sync`, `override`, `action/<...>`,
        /// `invoke`, `*`, ...).
        action: String,
        /// Object: `<project>/<application>` (or `<project>/<namespace>/<application>`) for
        /// project-scoped resources, a name otherwise; patterns allowed.
        object: String,
        /// Allow or deny.
        effect: PolicyEffect,
    },
    /// `g, <subject>, <role>`: the subject (user, group or role) inherits the role.
    Grouping {
        /// User, group or role.
        subject: String,
        /// Inherited role.
        role: String,
    },
}

/// What is wrong with a policy line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyLineProblem {
    /// A `p` line without exactly six fields.
    #[error("expected 'p, subject, resource, action, object, effect' but found {found} fields")]
    PermissionFieldCount {
        /// Number of comma-separated fields, including `p`.
        found: usize,
    },
    /// A `p` line with five fields: Argo CD's policy model requires the effect, and Casbin fails
    /// every authorization check while such a line is loaded, so Capstan rejects it.
    #[error(
        "expected 'p, subject, resource, action, object, effect' but found 5 fields: the effect \
         (allow or deny) is required"
    )]
    MissingEffect,
    /// A `g` line without exactly three fields.
    #[error("expected 'g, subject, role' but found {found} fields")]
    GroupingFieldCount {
        /// Number of comma-separated fields, including `g`.
        found: usize,
    },
    /// The first field is neither `p` nor `g`.
    #[error("unknown line type {0:?}: expected p (permission) or g (grouping)")]
    UnknownLineType(String),
    /// The effect is neither `allow` nor `deny`.
    #[error("unknown effect {0:?}: expected allow or deny")]
    UnknownEffect(String),
    /// The resource is not one of Argo CD's.
    #[error("unknown resource {resource:?}: expected one of {}", RBAC_RESOURCES.join(", "))]
    UnknownResource {
        /// Resource as written.
        resource: String,
    },
    /// A required field is empty.
    #[error("empty {0}")]
    EmptyField(&'static str),
    /// A quoted field has no closing quote.
    #[error("unterminated quoted field")]
    UnterminatedQuote,
    /// A quote appears inside an unquoted field, or text follows a closing quote.
    #[error("misplaced '\"' (quote the whole field and double inner quotes)")]
    MisplacedQuote,
}

/// Typed `argocd-rbac-cm` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RbacSettings {
    /// `policy.default`: role of every authenticated user; `None` when unset or empty.
    pub policy_default: Option<String>,
    /// `policy.matchMode` (default glob).
    pub match_mode: MatchMode,
    /// `scopes` (default `["groups"]`).
    pub scopes: Vec<String>,
    /// The user policy as Argo CD assembles it: `policy.csv`, then every other
    /// `policy.<name>.csv` in key order, joined by newlines.
    pub policy_csv: String,
    /// The parsed lines of [`policy_csv`](Self::policy_csv), in order, without comments and
    /// blank lines.
    pub rules: Vec<PolicyRule>,
    /// Every key of the ConfigMap as written, known or not.
    pub raw: BTreeMap<String, String>,
}

impl Default for RbacSettings {
    /// The settings of an empty (or absent) `argocd-rbac-cm`: no policy, glob matching,
    /// `groups` scope.
    fn default() -> Self {
        Self {
            policy_default: None,
            match_mode: MatchMode::Glob,
            scopes: vec!["groups".to_owned()],
            policy_csv: String::new(),
            rules: Vec::new(),
            raw: BTreeMap::new(),
        }
    }
}

impl RbacSettings {
    /// Parses the `data` of an `argocd-rbac-cm` ConfigMap.
    ///
    /// Policy keys are `policy.csv` and every `policy.<name>.csv`, read in Argo CD's order.
    /// The first malformed key or line is returned as an error naming the key (and line).
    pub fn from_config_map_data(data: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let mut settings = Self {
            raw: data.clone(),
            ..Self::default()
        };
        settings.policy_default = data
            .get(rbac_keys::POLICY_DEFAULT)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned);
        if let Some(value) = data.get(rbac_keys::POLICY_MATCH_MODE) {
            settings.match_mode = match value.trim() {
                "" | "glob" => MatchMode::Glob,
                "regex" => MatchMode::Regex,
                _ => {
                    return Err(SettingsError::UnknownMatchMode {
                        config_map: ARGOCD_RBAC_CM,
                        key: rbac_keys::POLICY_MATCH_MODE.to_owned(),
                        value: value.clone(),
                    });
                }
            };
        }
        if let Some(value) = data.get(rbac_keys::SCOPES).filter(|v| !v.trim().is_empty()) {
            settings.scopes = parse_scopes(value)?;
        }
        let mut parts = Vec::new();
        for key in policy_keys(data) {
            let text = &data[key];
            settings
                .rules
                .extend(parse_policy_csv(key, text, settings.match_mode)?);
            parts.push(text.as_str());
        }
        settings.policy_csv = parts.join("\n");
        Ok(settings)
    }
}

/// The policy keys in Argo CD's order: `policy.csv` first, then every other
/// `policy.<name>.csv` sorted by key.
fn policy_keys(data: &BTreeMap<String, String>) -> Vec<&str> {
    let main = data
        .get_key_value(rbac_keys::POLICY_CSV)
        .map(|(key, _)| key.as_str());
    let overlays = data.keys().map(String::as_str).filter(|key| {
        key.starts_with("policy.") && key.ends_with(".csv") && *key != rbac_keys::POLICY_CSV
    });
    main.into_iter().chain(overlays).collect()
}

/// `scopes` is a YAML list (`[groups, email]`); a single bare name is accepted too.
fn parse_scopes(value: &str) -> Result<Vec<String>, SettingsError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        List(Vec<String>),
        One(String),
    }
    Ok(
        match parse_yaml::<Scopes>(ARGOCD_RBAC_CM, rbac_keys::SCOPES, value)? {
            Scopes::List(scopes) => scopes,
            Scopes::One(scope) => vec![scope],
        },
    )
}

/// Parses the policy lines of one key (`policy.csv` or `policy.<name>.csv`).
///
/// Lines are CSV as Argo CD reads them: comma-separated, surrounding whitespace trimmed, fields
/// may be double-quoted (to contain commas; `""` is a quote). Blank lines and lines starting
/// with `#` are skipped. Permission lines need all six fields and an effect of `allow` or `deny`;
/// grouping lines need three. Resources must be Argo CD's (see [`RBAC_RESOURCES`]) unless they
/// are a pattern (in glob mode: one matching at least one resource).
pub fn parse_policy_csv(
    key: &str,
    text: &str,
    match_mode: MatchMode,
) -> Result<Vec<PolicyRule>, SettingsError> {
    let mut rules = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let rule = parse_line(trimmed, match_mode).map_err(|problem| {
            SettingsError::InvalidPolicyLine {
                config_map: ARGOCD_RBAC_CM,
                key: key.to_owned(),
                line: index + 1,
                problem,
                text: trimmed.to_owned(),
            }
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_line(line: &str, match_mode: MatchMode) -> Result<PolicyRule, PolicyLineProblem> {
    let fields = split_csv_line(line)?;
    let nonempty = |index: usize, name: &'static str| {
        let field: &String = &fields[index];
        if field.is_empty() {
            Err(PolicyLineProblem::EmptyField(name))
        } else {
            Ok(field.clone())
        }
    };
    match fields[0].as_str() {
        "p" => {
            match fields.len() {
                6 => {}
                5 => return Err(PolicyLineProblem::MissingEffect),
                found => return Err(PolicyLineProblem::PermissionFieldCount { found }),
            }
            let subject = nonempty(1, "subject")?;
            let resource = nonempty(2, "resource")?;
            let action = nonempty(3, "action")?;
            let object = nonempty(4, "object")?;
            let effect = match fields[5].as_str() {
                "allow" => PolicyEffect::Allow,
                "deny" => PolicyEffect::Deny,
                "" => return Err(PolicyLineProblem::EmptyField("effect")),
                other => return Err(PolicyLineProblem::UnknownEffect(other.to_owned())),
            };
            if !is_known_resource(&resource, match_mode) {
                return Err(PolicyLineProblem::UnknownResource { resource });
            }
            Ok(PolicyRule::Permission {
                subject,
                resource,
                action,
                object,
                effect,
            })
        }
        "g" => {
            if fields.len() != 3 {
                return Err(PolicyLineProblem::GroupingFieldCount {
                    found: fields.len(),
                });
            }
            Ok(PolicyRule::Grouping {
                subject: nonempty(1, "subject")?,
                role: nonempty(2, "role")?,
            })
        }
        other => Err(PolicyLineProblem::UnknownLineType(other.to_owned())),
    }
}

/// Whether a resource field can match something: a known resource, or a pattern. In glob mode a
/// pattern must match at least one known resource (catching typos such as `aplications*`); in
/// regex mode any field with regex syntax is accepted.
fn is_known_resource(resource: &str, match_mode: MatchMode) -> bool {
    if RBAC_RESOURCES.contains(&resource) {
        return true;
    }
    match match_mode {
        MatchMode::Glob if resource.contains('[') || resource.contains('{') => true,
        MatchMode::Glob if resource.contains(['*', '?']) => RBAC_RESOURCES
            .iter()
            .any(|known| crate::glob::matches(resource, known)),
        MatchMode::Glob => false,
        MatchMode::Regex => resource.contains(|c: char| r"\.+*?()|[]{}^$".contains(c)),
    }
}

/// Splits one CSV line into fields, trimming whitespace around unquoted fields and around the
/// quotes of quoted fields (Go's `encoding/csv` with `TrimLeadingSpace`, plus trailing trim).
fn split_csv_line(line: &str) -> Result<Vec<String>, PolicyLineProblem> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        let (field, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(PolicyLineProblem::UnterminatedQuote),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            };
            let after = quoted[end..].trim_start();
            if !(after.is_empty() || after.starts_with(',')) {
                return Err(PolicyLineProblem::MisplacedQuote);
            }
            (value, after)
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim_end();
            if value.contains('"') {
                return Err(PolicyLineProblem::MisplacedQuote);
            }
            (value.to_owned(), &rest[end..])
        };
        fields.push(field);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(fields),
        }
    }
}

impl fmt::Display for PolicyRule {
    /// The rule as a policy line, quoting fields that need it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |field: &str| {
            if field.contains([',', '"']) || field.trim() != field {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.to_owned()
            }
        };
        match self {
            Self::Permission {
                subject,
                resource,
                action,
                object,
                effect,
            } => write!(
                f,
                "p, {}, {}, {}, {}, {}",
                quote(subject),
                quote(resource),
                quote(action),
                quote(object),
                effect.as_str()
            ),
            Self::Grouping { subject, role } => write!(f, "g, {}, {}", quote(subject), quote(role)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(
        subject: &str,
        resource: &str,
        action: &str,
        object: &str,
        effect: PolicyEffect,
    ) -> PolicyRule {
        PolicyRule::Permission {
            subject: subject.to_owned(),
            resource: resource.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            effect,
        }
    }

    fn grouping(subject: &str, role: &str) -> PolicyRule {
        PolicyRule::Grouping {
            subject: subject.to_owned(),
            role: role.to_owned(),
        }
    }

    #[test]
    fn valid_lines() {
        use PolicyEffect::{Allow, Deny};
        let cases: &[(&str, PolicyRule)] = &[
            (
                "p, role:developer, applications, get, */*, allow",
                permission("role:developer", "applications", "get", "*/*", Allow),
            ),
            (
                "p,role:x,exec,create,*/*,deny",
                permission("role:x", "exec", "create", "*/*", Deny),
            ),
            (
                "  p ,  role:x , clusters , * , * , allow  ",
                permission("role:x", "clusters", "*", "*", Allow),
            ),
            (
                "p, role:x, applications, action/apps/Deployment/restart, proj/ns/app, allow",
                permission(
                    "role:x",
                    "applications",
                    "action/apps/Deployment/restart",
                    "proj/ns/app",
                    Allow,
                ),
            ),
            (
                "p, role:admin, *, *, */*, allow",
                permission("role:admin", "*", "*", "*/*", Allow),
            ),
            (
                "p, role:x, application*, get, */*, allow",
                permission("role:x", "application*", "get", "*/*", Allow),
            ),
            (
                "p, role:x, write-repositories, get, *, allow",
                permission("role:x", "write-repositories", "get", "*", Allow),
            ),
            (
                "g, devops-team@example.com, role:devops",
                grouping("devops-team@example.com", "role:devops"),
            ),
            (
                "g, \"CN=Ops, OU=Groups\", role:admin",
                grouping("CN=Ops, OU=Groups", "role:admin"),
            ),
            (
                "g, \"say \"\"hi\"\"\" , role:admin",
                grouping("say \"hi\"", "role:admin"),
            ),
            (
                "g, 1f2e3d4c-0000-4000-8000-000000000000, role:readonly",
                grouping("1f2e3d4c-0000-4000-8000-000000000000", "role:readonly"),
            ),
        ];
        for (line, expected) in cases {
            let rules = parse_policy_csv("policy.csv", line, MatchMode::Glob).unwrap();
            assert_eq!(rules, std::slice::from_ref(expected), "line {line:?}");
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "\n# a comment\n   # indented comment\n\t\np, role:x, logs, get, */*, allow\n\n";
        let rules = parse_policy_csv("policy.csv", text, MatchMode::Glob).unwrap();
        assert_eq!(rules.len(), 1);
    }

    #[test]
    fn malformed_lines() {
        let cases: &[(&str, &str)] = &[
            (
                "p, role:x, applications",
                "argocd-rbac-cm: policy.csv line 3: expected 'p, subject, resource, action, object, effect' but found 3 fields: \"p, role:x, applications\"",
            ),
            (
                "p, role:x, applications, get, */*",
                "argocd-rbac-cm: policy.csv line 3: expected 'p, subject, resource, action, object, effect' but found 5 fields: the effect (allow or deny) is required: \"p, role:x, applications, get, */*\"",
            ),
            (
                "p, role:x, applications, get, */*, allow, extra",
                "argocd-rbac-cm: policy.csv line 3: expected 'p, subject, resource, action, object, effect' but found 7 fields",
            ),
            (
                "p, role:x, applications, get, */*, permit",
                "argocd-rbac-cm: policy.csv line 3: unknown effect \"permit\": expected allow or deny",
            ),
            (
                "p, role:x, applications, get, */*, Allow",
                "argocd-rbac-cm: policy.csv line 3: unknown effect \"Allow\"",
            ),
            (
                "p, role:x, application, get, */*, allow",
                "argocd-rbac-cm: policy.csv line 3: unknown resource \"application\": expected one of applications, applicationsets",
            ),
            (
                "p, role:x, aplications*, get, */*, allow",
                "argocd-rbac-cm: policy.csv line 3: unknown resource \"aplications*\"",
            ),
            (
                "p, role:x, applications, , */*, deny",
                "argocd-rbac-cm: policy.csv line 3: empty action",
            ),
            (
                "p, , applications, get, */*, allow",
                "argocd-rbac-cm: policy.csv line 3: empty subject",
            ),
            (
                "g, maxim@example.com role:admin",
                "argocd-rbac-cm: policy.csv line 3: expected 'g, subject, role' but found 2 fields: \"g, maxim@example.com role:admin\"",
            ),
            (
                "g, alice, role:admin, domain",
                "argocd-rbac-cm: policy.csv line 3: expected 'g, subject, role' but found 4 fields",
            ),
            (
                "x, alice, role:admin",
                "argocd-rbac-cm: policy.csv line 3: unknown line type \"x\": expected p (permission) or g (grouping)",
            ),
            (
                "P, role:x, applications, get, */*, allow",
                "argocd-rbac-cm: policy.csv line 3: unknown line type \"P\"",
            ),
            (
                "g, \"unterminated, role:admin",
                "argocd-rbac-cm: policy.csv line 3: unterminated quoted field",
            ),
            (
                "g, ab\"c, role:admin",
                "argocd-rbac-cm: policy.csv line 3: misplaced '\"'",
            ),
            (
                "g, \"abc\"d, role:admin",
                "argocd-rbac-cm: policy.csv line 3: misplaced '\"'",
            ),
        ];
        for (line, expected) in cases {
            let text = format!("# header\n\n{line}\np, role:ok, logs, get, */*, allow\n");
            let error = parse_policy_csv("policy.csv", &text, MatchMode::Glob)
                .expect_err(&format!("{line:?} must fail"));
            let message = error.to_string();
            assert!(
                message.starts_with(expected),
                "{line:?}:\n  got      {message}\n  expected {expected}..."
            );
        }
    }

    #[test]
    fn regex_mode_accepts_regex_resources() {
        let rules = parse_policy_csv(
            "policy.csv",
            "p, role:x, (applications|logs), get, .*, allow",
            MatchMode::Regex,
        )
        .unwrap();
        assert_eq!(rules.len(), 1);
        assert!(
            parse_policy_csv(
                "policy.csv",
                "p, role:x, apps, get, .*, allow",
                MatchMode::Regex
            )
            .is_err()
        );
    }

    #[test]
    fn settings_keys_and_order() {
        let data: BTreeMap<String, String> = [
            ("policy.default", " role:readonly "),
            ("policy.matchMode", "regex"),
            ("scopes", "[groups, email]"),
            ("policy.z.csv", "g, z, role:z"),
            ("policy.csv", "g, main, role:main"),
            ("policy.a.csv", "g, a, role:a"),
            ("policy.csvx", "not a policy key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let settings = RbacSettings::from_config_map_data(&data).unwrap();
        assert_eq!(settings.policy_default.as_deref(), Some("role:readonly"));
        assert_eq!(settings.match_mode, MatchMode::Regex);
        assert_eq!(settings.scopes, ["groups", "email"]);
        assert_eq!(
            settings.policy_csv,
            "g, main, role:main\ng, a, role:a\ng, z, role:z"
        );
        assert_eq!(
            settings.rules,
            [
                grouping("main", "role:main"),
                grouping("a", "role:a"),
                grouping("z", "role:z")
            ]
        );
    }

    #[test]
    fn defaults_and_invalid_settings() {
        let settings = RbacSettings::from_config_map_data(&BTreeMap::new()).unwrap();
        assert_eq!(settings, RbacSettings::default());
        assert_eq!(settings.scopes, ["groups"]);

        let data = |key: &str, value: &str| BTreeMap::from([(key.to_owned(), value.to_owned())]);
        let error =
            RbacSettings::from_config_map_data(&data("policy.matchMode", "prefix")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "argocd-rbac-cm: policy.matchMode: unknown match mode \"prefix\": expected glob or regex"
        );
        let error = RbacSettings::from_config_map_data(&data("scopes", "[groups")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("argocd-rbac-cm: scopes: invalid YAML:"),
            "{error}"
        );
        let error =
            RbacSettings::from_config_map_data(&data("policy.team.csv", "p, x")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("argocd-rbac-cm: policy.team.csv line 1: "),
            "{error}"
        );
        let settings = RbacSettings::from_config_map_data(&data("scopes", "email")).unwrap();
        assert_eq!(settings.scopes, ["email"]);
    }

    #[test]
    fn rules_display_as_policy_lines() {
        let text = "p, role:x, applications, get, */*, allow\ng, \"a, b\", role:x";
        let rules = parse_policy_csv("policy.csv", text, MatchMode::Glob).unwrap();
        let rendered: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.join("\n"), text);
    }
}
