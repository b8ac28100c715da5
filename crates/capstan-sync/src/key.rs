//! [`ResourceKey`]: the identity of a Kubernetes object, as gitops-engine's `kube.ResourceKey`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object;

/// The identity of a Kubernetes object: API group (without version), kind, namespace (`""` for
/// cluster-scoped objects) and name. Ordered field by field, in that order.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// API group, `""` for the core group.
    pub group: String,
    /// Kind, for example `Deployment`.
    pub kind: String,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ResourceKey {
    /// A key from its four parts.
    pub fn new(
        group: impl Into<String>,
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object as written: group from `apiVersion`, `kind`, `metadata.namespace`
    /// and `metadata.name` (gitops-engine `kube.GetResourceKey`). Absent fields are `""`.
    pub fn from_object(obj: &Value) -> Self {
        Self::new(
            object::group(obj),
            object::kind(obj),
            object::namespace(obj),
            object::name(obj),
        )
    }

    /// Whether this key, used as a selective-sync selector, selects `other`: group, kind and
    /// name must be equal, and a selector with an empty namespace matches any namespace
    /// (Argo CD `SyncOperationResource.HasIdentity`).
    pub fn selects(&self, other: &ResourceKey) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.name == other.name
            && (self.namespace.is_empty() || self.namespace == other.namespace)
    }
}

impl fmt::Display for ResourceKey {
    /// `group/kind/namespace/name`, as gitops-engine's `ResourceKey.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_object_and_display() {
        let key = ResourceKey::from_object(&json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}
        }));
        assert_eq!(key, ResourceKey::new("apps", "Deployment", "prod", "web"));
        assert_eq!(key.to_string(), "apps/Deployment/prod/web");
    }

    #[test]
    fn selector_matching() {
        let target = ResourceKey::new("apps", "Deployment", "prod", "web");
        let cases = [
            (ResourceKey::new("apps", "Deployment", "prod", "web"), true),
            (ResourceKey::new("apps", "Deployment", "", "web"), true),
            (ResourceKey::new("apps", "Deployment", "dev", "web"), false),
            (ResourceKey::new("", "Deployment", "prod", "web"), false),
            (
                ResourceKey::new("apps", "StatefulSet", "prod", "web"),
                false,
            ),
            (ResourceKey::new("apps", "Deployment", "prod", "api"), false),
        ];
        for (selector, want) in cases {
            assert_eq!(selector.selects(&target), want, "{selector}");
        }
    }
}
