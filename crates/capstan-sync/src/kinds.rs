//! The order of kinds within a wave (gitops-engine `pkg/sync/sync_tasks.go` `kindOrder`, itself
//! Helm's `releaseutil/kind_sorter.go` install order).

/// Kinds in the order they are applied within one phase and wave. Kinds not in this list
/// (custom resources, `Secret`s' neighbours like `Endpoints`, ...) come after all of them.
///
/// The list is gitops-engine's, including `IngressClass` before `Ingress` (added upstream
/// together with Helm's change). Like gitops-engine, only the kind is looked at, never the
/// group: a custom `example.com/Service` sorts as a core `Service`.
pub const KIND_ORDER: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The position of `kind` in [`KIND_ORDER`]; every kind not in the list gets
/// `KIND_ORDER.len()`, so unknown kinds sort after all known ones and tie with each other (then
/// the name decides). Case-sensitive, as gitops-engine's map lookup.
pub fn kind_order(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|known| *known == kind)
        .unwrap_or(KIND_ORDER.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_positions() {
        for (kind, want) in [
            ("Namespace", 0),
            ("NetworkPolicy", 1),
            ("ServiceAccount", 6),
            ("Secret", 7),
            ("ConfigMap", 9),
            ("PersistentVolumeClaim", 12),
            ("CustomResourceDefinition", 13),
            ("ClusterRole", 14),
            ("RoleBinding", 20),
            ("Service", 22),
            ("DaemonSet", 23),
            ("ReplicaSet", 26),
            ("Deployment", 27),
            ("StatefulSet", 29),
            ("Job", 30),
            ("CronJob", 31),
            ("IngressClass", 32),
            ("Ingress", 33),
            ("APIService", 34),
            ("Rollout", 35),
            ("Application", 35),
            ("namespace", 35),
            ("", 35),
        ] {
            assert_eq!(kind_order(kind), want, "{kind}");
        }
    }

    #[test]
    fn order_is_strict_for_known_kinds() {
        for pair in KIND_ORDER.windows(2) {
            assert!(kind_order(pair[0]) < kind_order(pair[1]), "{pair:?}");
        }
        assert!(kind_order("APIService") < kind_order("Certificate"));
    }
}
