//! The parts of a token's claims RBAC looks at (Argo CD's `util/jwt`).

use serde_json::Value;

/// The groups of a user: the values of the claims named by `scopes` (`argocd-rbac-cm`
/// `scopes`, default `[groups]`), in order. As Argo CD's `GetScopeValues`: a claim may be a
/// string (one group) or a list (its string items; other items are skipped); missing claims and
/// other types are ignored.
pub fn groups_from_claims(claims: &Value, scopes: &[String]) -> Vec<String> {
    let mut groups = Vec::new();
    for scope in scopes {
        match claims.get(scope) {
            Some(Value::String(group)) => groups.push(group.clone()),
            Some(Value::Array(items)) => {
                groups.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    groups
}

/// The RBAC subject of a token: `federated_claims.user_id` when it is a non-empty string (Dex
/// tokens), otherwise `sub`, otherwise `""` (Argo CD's `GetUserIdentifier`).
pub fn user_identifier(claims: &Value) -> &str {
    claims
        .get("federated_claims")
        .and_then(|federated| federated.get("user_id"))
        .and_then(Value::as_str)
        .filter(|user_id| !user_id.is_empty())
        .or_else(|| claims.get("sub").and_then(Value::as_str))
        .unwrap_or_default()
}
