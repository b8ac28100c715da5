//! What an `AppProject` permits: source repositories, destinations and resource kinds, with
//! Argo CD's exact semantics (`app_project_types.go`: `IsSourcePermitted`,
//! `isDestinationMatched`, `IsGroupKindNamePermitted`; `types.go`: `isResourceInList`,
//! `isNamedResourceInList`).

use super::git_url::normalize_git_url;
use super::{AppProject, ClusterResourceRestrictionItem, GroupKind};
use crate::glob;

/// Argo CD's `isDenyPattern`.
fn is_deny(pattern: &str) -> bool {
    pattern.starts_with('!')
}

/// Argo CD's `globMatch`: a `!pattern` (when negation is allowed) matches what `pattern` does
/// not; `*` matches everything, separators included; anything else is `util/glob.Match`.
pub(super) fn glob_match(
    pattern: &str,
    value: &str,
    allow_negation: bool,
    separators: &[char],
) -> bool {
    if allow_negation && let Some(positive) = pattern.strip_prefix('!') {
        return !glob::match_with_separators(positive, value, separators);
    }
    pattern == "*" || glob::match_with_separators(pattern, value, separators)
}

/// Go's `filepath.Match`, a malformed pattern matching nothing (Argo CD ignores the error).
fn path_matches(pattern: &str, value: &str) -> bool {
    glob::path_match(pattern, value).unwrap_or(false)
}

/// Argo CD's `isResourceInList`.
fn is_resource_in_list(group: &str, kind: &str, list: &[GroupKind]) -> bool {
    list.iter()
        .any(|item| path_matches(&item.kind, kind) && path_matches(&item.group, group))
}

/// Argo CD's `isNamedResourceInList`: an item without a name matches every name.
fn is_named_resource_in_list(
    group: &str,
    kind: &str,
    name: &str,
    list: &[ClusterResourceRestrictionItem],
) -> bool {
    list.iter().any(|item| {
        path_matches(&item.kind, kind)
            && path_matches(&item.group, group)
            && (item.name.is_empty() || path_matches(&item.name, name))
    })
}

impl AppProject {
    /// Whether applications of this project may take manifests from `repo_url`, exactly as
    /// Argo CD's `AppProject.IsSourcePermitted`.
    ///
    /// Both the URL and every `sourceRepos` entry go through [`normalize_git_url`] (lowercase,
    /// one trailing `.git` removed, SCP-style SSH URLs rewritten; see there), then entries are
    /// matched as globs in which `*` and `?` do not cross `/` (`**` does) — except that an
    /// entry of exactly `*` matches every URL. Entries starting with `!` deny:
    ///
    /// * the URL is permitted when some entry matches it and no `!` entry matches it — a deny
    ///   entry wins wherever it appears in the list;
    /// * a `!` entry that does not match the URL counts as a match, so a list holding only
    ///   deny entries permits every other URL;
    /// * an empty `sourceRepos` permits nothing.
    ///
    /// ```
    /// use capstan_types::AppProject;
    ///
    /// let mut project = AppProject::new("team", Default::default());
    /// project.spec.source_repos = vec!["https://github.com/argoproj/*".into()];
    /// assert!(project.is_source_permitted("https://github.com/ArgoProj/Test.git"));
    /// assert!(!project.is_source_permitted("https://github.com/argoproj/a/b"));
    ///
    /// project.spec.source_repos.push("!https://github.com/argoproj/secret".into());
    /// assert!(!project.is_source_permitted("https://github.com/argoproj/secret.git"));
    /// // The deny entry counts as a match for every URL it does not deny.
    /// assert!(project.is_source_permitted("https://gitlab.com/someone/else"));
    /// ```
    pub fn is_source_permitted(&self, repo_url: &str) -> bool {
        let source = normalize_git_url(repo_url);
        let mut any_matched = false;
        for entry in &self.spec.source_repos {
            let normalized = match entry.strip_prefix('!') {
                Some(denied) => format!("!{}", normalize_git_url(denied)),
                None => normalize_git_url(entry),
            };
            if glob_match(&normalized, &source, true, &['/']) {
                any_matched = true;
            } else if is_deny(&normalized) {
                return false;
            }
        }
        any_matched
    }

    /// Whether applications of this project may deploy to `namespace` on the cluster with API
    /// server URL `server` and name `name`, exactly as Argo CD's `isDestinationMatched`.
    ///
    /// Argo CD resolves an application's destination to its cluster first, so pass both the
    /// server URL and the cluster name when known; an empty `server` or `name` matches no
    /// entry. `namespace` is the target namespace (empty for cluster-scoped resources).
    ///
    /// Each `destinations` entry's `server`, `name` and `namespace` are globs without
    /// separators (`*` matches everything); a `!` prefix negates one. An entry matches when
    /// its server or its name matches and its namespace matches. The destination is permitted
    /// when some entry matches, unless an entry with a `!` field rejects it first (entries are
    /// checked in order and a rejection ends the check):
    ///
    /// * an entry whose `name` is a `!` pattern the cluster name does not satisfy, or
    /// * an entry whose `server` is a `!` pattern the server does not satisfy while its
    ///   namespace matches, or
    /// * an entry whose `namespace` is a `!` pattern the namespace does not satisfy while its
    ///   server matches.
    ///
    /// An empty `destinations` permits nothing. `permitOnlyProjectScopedClusters` is not
    /// applied here: it needs the project's clusters, which the caller has.
    ///
    /// ```
    /// use capstan_types::AppProject;
    /// use capstan_types::application::ApplicationDestination;
    ///
    /// let mut project = AppProject::new("team", Default::default());
    /// project.spec.destinations = vec![
    ///     ApplicationDestination { server: "*".into(), namespace: "*".into(), ..Default::default() },
    ///     ApplicationDestination { server: "*".into(), namespace: "!kube-system".into(), ..Default::default() },
    /// ];
    /// assert!(project.is_destination_permitted("https://kubernetes.default.svc", "in-cluster", "team-a"));
    /// assert!(!project.is_destination_permitted("https://kubernetes.default.svc", "in-cluster", "kube-system"));
    /// ```
    pub fn is_destination_permitted(&self, server: &str, name: &str, namespace: &str) -> bool {
        let mut any_matched = false;
        for item in &self.spec.destinations {
            let name_matched = !name.is_empty() && glob_match(&item.name, name, true, &[]);
            let server_matched = !server.is_empty() && glob_match(&item.server, server, true, &[]);
            let namespace_matched = glob_match(&item.namespace, namespace, true, &[]);
            if (server_matched || name_matched) && namespace_matched {
                any_matched = true;
            } else if (!name_matched && is_deny(&item.name))
                || (!server_matched && is_deny(&item.server) && namespace_matched)
                || (!namespace_matched && is_deny(&item.namespace) && server_matched)
            {
                return false;
            }
        }
        any_matched
    }

    /// Whether resources of `group`/`kind` may be deployed, whatever their name; the same as
    /// [`is_group_kind_name_permitted`](Self::is_group_kind_name_permitted) with an empty name,
    /// so cluster-scoped allow or deny entries that name specific resources do not apply.
    pub fn is_group_kind_permitted(&self, group: &str, kind: &str, namespaced: bool) -> bool {
        self.is_group_kind_name_permitted(group, kind, "", namespaced)
    }

    /// Whether the resource `group`/`kind` named `name` may be deployed, exactly as Argo CD's
    /// `AppProject.IsGroupKindNamePermitted`. `group` is empty for the core group.
    ///
    /// Entries' `group`, `kind` and (cluster-scoped only) `name` are Go `filepath.Match`
    /// patterns (`*`, `?`, `[a-z]`, `[^a]`, `\` escapes; a malformed pattern matches nothing);
    /// an empty `group` pattern matches only the core group.
    ///
    /// * Namespaced: an absent `namespaceResourceWhitelist` allows every kind, an empty one
    ///   allows none, otherwise the kind must be listed; and it must not be in
    ///   `namespaceResourceBlacklist`. Names are not considered.
    /// * Cluster-scoped: the kind must be in `clusterResourceWhitelist` (empty or absent allows
    ///   nothing) and not in `clusterResourceBlacklist`. An entry with a `name` applies only to
    ///   resources whose name matches it; an entry without one applies to every name.
    ///
    /// ```
    /// use capstan_types::AppProject;
    /// use capstan_types::app_project::ClusterResourceRestrictionItem;
    ///
    /// let mut project = AppProject::new("team", Default::default());
    /// assert!(project.is_group_kind_name_permitted("apps", "Deployment", "web", true));
    /// assert!(!project.is_group_kind_name_permitted("", "Namespace", "team-a", false));
    /// project.spec.cluster_resource_whitelist = vec![ClusterResourceRestrictionItem {
    ///     group: "".into(),
    ///     kind: "Namespace".into(),
    ///     name: "team-*".into(),
    ///     ..Default::default()
    /// }];
    /// assert!(project.is_group_kind_name_permitted("", "Namespace", "team-a", false));
    /// assert!(!project.is_group_kind_name_permitted("", "Namespace", "kube-system", false));
    /// ```
    pub fn is_group_kind_name_permitted(
        &self,
        group: &str,
        kind: &str,
        name: &str,
        namespaced: bool,
    ) -> bool {
        let spec = &self.spec;
        if namespaced {
            let whitelisted = match &spec.namespace_resource_whitelist {
                None => true,
                Some(list) => !list.is_empty() && is_resource_in_list(group, kind, list),
            };
            let blacklisted = !spec.namespace_resource_blacklist.is_empty()
                && is_resource_in_list(group, kind, &spec.namespace_resource_blacklist);
            return whitelisted && !blacklisted;
        }
        let whitelisted = !spec.cluster_resource_whitelist.is_empty()
            && is_named_resource_in_list(group, kind, name, &spec.cluster_resource_whitelist);
        let blacklisted = !spec.cluster_resource_blacklist.is_empty()
            && is_named_resource_in_list(group, kind, name, &spec.cluster_resource_blacklist);
        whitelisted && !blacklisted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_project::AppProjectSpec;
    use crate::application::ApplicationDestination;

    fn project(spec: AppProjectSpec) -> AppProject {
        AppProject::new("test", spec)
    }

    fn sources(entries: &[&str]) -> AppProject {
        project(AppProjectSpec {
            source_repos: entries.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn source_permitted() {
        // Argo CD's TestAppProject_IsSourcePermitted, plus edge cases.
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*"], "https://github.com/argoproj/test.git", true),
            (&["*"], "git@github.com:argoproj/a/b/c.git", true),
            (
                &["https://github.com/argoproj/test.git"],
                "https://github.com/argoproj/test.git",
                true,
            ),
            (
                &["https://github.com/argoproj/test.git"],
                "https://github.com/argoproj/test",
                true,
            ),
            (
                &["https://github.com/argoproj/test"],
                "https://GITHUB.com/ArgoProj/Test.git",
                true,
            ),
            (
                &["ssh://git@GITHUB.com:argoproj/test"],
                "ssh://git@github.com:argoproj/test",
                true,
            ),
            (
                &["https://github.com/argoproj/*"],
                "https://github.com/argoproj/argoproj.git",
                true,
            ),
            (
                &[
                    "https://github.com/test1/test.git",
                    "https://github.com/test2/test.git",
                ],
                "https://github.com/test2/test.git",
                true,
            ),
            (
                &["https://github.com/argoproj/test1.git"],
                "https://github.com/argoproj/test2.git",
                false,
            ),
            (
                &["https://github.com/argoproj/*.git"],
                "https://github.com/argoproj1/test2.git",
                false,
            ),
            (
                &["https://github.com/argoproj/foo"],
                "https://github.com/argoproj/foo1",
                false,
            ),
            // `*` does not cross `/`; `**` does.
            (
                &["https://gitlab.com/group/*"],
                "https://gitlab.com/group/repo/owner",
                false,
            ),
            (
                &["https://gitlab.com/group/*/*"],
                "https://gitlab.com/group/repo/owner",
                true,
            ),
            (
                &["https://gitlab.com/group/*/*/*"],
                "https://gitlab.com/group/sub-group/repo/owner",
                true,
            ),
            (
                &["https://gitlab.com/group/**"],
                "https://gitlab.com/group/sub-group/repo/owner",
                true,
            ),
            (&["https://gitlab.com/*"], "https://gitlab.com/", true),
            // `?`, classes and alternatives.
            (
                &["https://github.com/org/repo?"],
                "https://github.com/org/repo1",
                true,
            ),
            (
                &["https://github.com/org/repo[0-9]"],
                "https://github.com/org/repoa",
                false,
            ),
            // Go's URL.String escapes braces, so `{a,b}` alternatives never work in sourceRepos
            // (an entry still matches the same literal URL).
            (
                &["https://github.com/org/{a,b}"],
                "https://github.com/org/b.git",
                false,
            ),
            (
                &["https://github.com/org/{a,b}"],
                "https://github.com/org/{a,b}",
                true,
            ),
            // SCP-style SSH URLs compare in their normalised form.
            (
                &["git@github.com:argoproj/*"],
                "git@github.com:argoproj/test.git",
                true,
            ),
            (
                &["git@github.com:argoproj/*"],
                "ssh://git@github.com/argoproj/test",
                true,
            ),
            (
                &["git@github.com:argoproj/*"],
                "https://github.com/argoproj/test",
                false,
            ),
            // A trailing slash is not normalised away.
            (
                &["https://github.com/argoproj/test"],
                "https://github.com/argoproj/test/",
                false,
            ),
            // Empty list: nothing.
            (&[], "https://github.com/argoproj/test.git", false),
        ];
        for (entries, url, expected) in cases {
            assert_eq!(
                sources(entries).is_source_permitted(url),
                *expected,
                "{entries:?} ~ {url}"
            );
        }
    }

    #[test]
    fn negated_source_permitted() {
        // Argo CD's TestAppProject_IsNegatedSourcePermitted, plus edge cases.
        let cases: &[(&[&str], &str, bool)] = &[
            (
                &["!https://github.com/argoproj/test.git"],
                "https://github.com/argoproj/test.git",
                false,
            ),
            (
                &["!ssh://git@GITHUB.com:argoproj/test"],
                "ssh://git@github.com:argoproj/test",
                false,
            ),
            (
                &["!https://github.com/argoproj/*"],
                "https://github.com/argoproj/argoproj.git",
                false,
            ),
            (
                &[
                    "https://github.com/test1/test.git",
                    "!https://github.com/test2/test.git",
                ],
                "https://github.com/test2/test.git",
                false,
            ),
            (
                &["!https://github.com/argoproj/foo*"],
                "https://github.com/argoproj/foo1",
                false,
            ),
            (
                &["!https://gitlab.com/group/*/*"],
                "https://gitlab.com/group/repo/owner",
                false,
            ),
            (
                &["!https://gitlab.com/group/*/*/*"],
                "https://gitlab.com/group/sub-group/repo/owner",
                false,
            ),
            (
                &["!https://gitlab.com/group/**"],
                "https://gitlab.com/group/sub-group/repo/owner",
                false,
            ),
            (
                &["https://github.com/argoproj/test1.git", "*"],
                "https://github.com/argoproj/test2.git",
                true,
            ),
            (
                &["!https://github.com/argoproj/*.git", "*"],
                "https://github.com/argoproj1/test2.git",
                true,
            ),
            // Deny wins whatever its position.
            (
                &["*", "!https://github.com/argoproj/bad"],
                "https://github.com/argoproj/bad.git",
                false,
            ),
            (
                &["!https://github.com/argoproj/bad", "*"],
                "https://github.com/argoproj/bad.git",
                false,
            ),
            // A deny entry the URL escapes counts as a match: deny-only lists allow the rest.
            (
                &["!https://github.com/argoproj/bad"],
                "https://github.com/argoproj/good",
                true,
            ),
            // Argo CD rejects `!*` on save; were it there, `*` (not crossing `/`) rarely matches a
            // URL, so the negation holds and the URL is permitted.
            (&["!*"], "https://github.com/argoproj/test", true),
            (&["!*"], "repo", false),
        ];
        for (entries, url, expected) in cases {
            assert_eq!(
                sources(entries).is_source_permitted(url),
                *expected,
                "{entries:?} ~ {url}"
            );
        }
    }

    fn dest(server: &str, name: &str, namespace: &str) -> ApplicationDestination {
        ApplicationDestination {
            server: server.into(),
            name: name.into(),
            namespace: namespace.into(),
            ..Default::default()
        }
    }

    #[test]
    fn destination_permitted() {
        const IN_CLUSTER: &str = "https://kubernetes.default.svc";
        const EKS: &str = "https://eks-cluster-endpoint.ap-southeast-1.eks.amazonaws.com";
        // (project destinations, app server, app name, app namespace, permitted): Argo CD's
        // TestAppProject_IsDestinationPermitted and TestAppProject_IsNegatedDestinationPermitted,
        // plus edge cases.
        let cases: Vec<(Vec<ApplicationDestination>, &str, &str, &str, bool)> = vec![
            (
                vec![dest(IN_CLUSTER, "", "default")],
                IN_CLUSTER,
                "",
                "default",
                true,
            ),
            (
                vec![dest(IN_CLUSTER, "", "default")],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![dest("https://my-cluster", "", "default")],
                IN_CLUSTER,
                "",
                "default",
                false,
            ),
            (
                vec![dest(IN_CLUSTER, "", "*")],
                IN_CLUSTER,
                "",
                "kube-system",
                true,
            ),
            (
                vec![dest("https://*.default.svc", "", "default")],
                IN_CLUSTER,
                "",
                "default",
                true,
            ),
            (
                vec![dest("https://team1-*", "", "default")],
                "https://test2-dev-cluster",
                "",
                "default",
                false,
            ),
            (
                vec![dest(IN_CLUSTER, "", "test-*")],
                IN_CLUSTER,
                "",
                "test-foo",
                true,
            ),
            (
                vec![dest(IN_CLUSTER, "", "test-*")],
                IN_CLUSTER,
                "",
                "test",
                false,
            ),
            (vec![dest("*", "", "*")], IN_CLUSTER, "", "test", true),
            (vec![dest("", "test", "*")], "", "test", "test", true),
            (vec![dest("", "test2", "*")], "", "test", "test", false),
            (
                vec![
                    dest(IN_CLUSTER, "host-cluster", "!{kube-system,argocd}"),
                    dest(EKS, "destination-cluster-01", "*"),
                ],
                EKS,
                "",
                "kube-system",
                true,
            ),
            (
                vec![dest("!https://kubernetes.default.svc", "", "default")],
                IN_CLUSTER,
                "",
                "default",
                false,
            ),
            (
                vec![dest(IN_CLUSTER, "", "!default")],
                IN_CLUSTER,
                "",
                "kube-system",
                true,
            ),
            (
                vec![dest("!https://my-cluster", "", "default")],
                IN_CLUSTER,
                "",
                "default",
                true,
            ),
            (
                vec![dest("!https://kubernetes.default.svc", "", "*")],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![dest("!https://*.default.svc", "", "default")],
                IN_CLUSTER,
                "",
                "default",
                false,
            ),
            (
                vec![dest("!https://team1-*", "", "default")],
                "https://test2-dev-cluster",
                "",
                "default",
                true,
            ),
            (
                vec![dest(IN_CLUSTER, "", "!test-*")],
                IN_CLUSTER,
                "",
                "test-foo",
                false,
            ),
            (
                vec![dest(IN_CLUSTER, "", "!test-*")],
                IN_CLUSTER,
                "",
                "test",
                true,
            ),
            (vec![dest("", "!test", "*")], "", "test", "test", false),
            (vec![dest("", "!test2", "*")], "", "test", "test", true),
            (
                vec![dest("*", "", "kube-system"), dest("*", "", "!kube-system")],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![dest("*", "", "*"), dest("*", "", "!kube-system")],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![
                    dest(IN_CLUSTER, "", "*"),
                    dest("!https://kubernetes.default.svc", "", "*"),
                ],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![
                    dest("*", "", "*"),
                    dest("!https://kubernetes.default.svc", "", "kube-system"),
                ],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![
                    dest("*", "", "*"),
                    dest("!https://kubernetes.default.svc", "", "kube-system"),
                    dest("*", "", "!kube-system"),
                ],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            (
                vec![
                    dest("*", "", "*"),
                    dest("!https://kubernetes.default.svc", "", "kube-system"),
                    dest("*", "", "!kube-system"),
                ],
                IN_CLUSTER,
                "",
                "default",
                true,
            ),
            (
                vec![
                    dest("*", "", "*"),
                    dest("!https://kubernetes.default.svc", "", "kube-system"),
                    dest("*", "", "!kube-system"),
                ],
                "https://test-dev-cluster",
                "",
                "kube-system",
                false,
            ),
            (
                vec![dest("", "test", "*"), dest("", "!test", "*")],
                "",
                "test",
                "test",
                false,
            ),
            (
                vec![
                    dest("*", "", "test"),
                    dest("!https://test-server", "", "other"),
                ],
                "https://test-server",
                "",
                "test",
                true,
            ),
            (
                vec![
                    dest("*", "", "*"),
                    dest("https://test-server", "", "!other"),
                ],
                "https://other-test-server",
                "",
                "other",
                true,
            ),
            // Server or name may match; both are known for a resolved destination.
            (
                vec![dest("", "in-cluster", "*")],
                IN_CLUSTER,
                "in-cluster",
                "default",
                true,
            ),
            (
                vec![dest(IN_CLUSTER, "", "*")],
                IN_CLUSTER,
                "in-cluster",
                "default",
                true,
            ),
            // An empty server or name matches nothing, not even `*`.
            (vec![dest("*", "", "*")], "", "in-cluster", "default", false),
            (vec![dest("", "*", "*")], IN_CLUSTER, "", "default", false),
            // Namespace globs see the empty namespace of cluster-scoped resources.
            (vec![dest("*", "", "*")], IN_CLUSTER, "", "", true),
            (vec![dest("*", "", "team-*")], IN_CLUSTER, "", "", false),
            // A `!name` entry rejects the cluster it names even when another entry permits
            // it, and accepts any other named cluster.
            (
                vec![dest("*", "", "*"), dest("", "!other", "*")],
                IN_CLUSTER,
                "other",
                "default",
                false,
            ),
            (
                vec![dest("*", "", "*"), dest("", "!other", "*")],
                IN_CLUSTER,
                "in-cluster",
                "default",
                true,
            ),
            // With no cluster name at all, a `!name` entry always rejects.
            (
                vec![dest("*", "", "*"), dest("", "!other", "*")],
                IN_CLUSTER,
                "",
                "default",
                false,
            ),
            // A matching entry earlier does not save a later rejection, and vice versa.
            (
                vec![dest("*", "", "!kube-system"), dest("*", "", "*")],
                IN_CLUSTER,
                "",
                "kube-system",
                false,
            ),
            // Empty list: nothing.
            (vec![], IN_CLUSTER, "in-cluster", "default", false),
        ];
        for (destinations, server, name, namespace, expected) in cases {
            let project = project(AppProjectSpec {
                destinations: destinations.clone(),
                ..Default::default()
            });
            assert_eq!(
                project.is_destination_permitted(server, name, namespace),
                expected,
                "{destinations:?} ~ server={server:?} name={name:?} namespace={namespace:?}"
            );
        }
    }

    fn gk(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn item(group: &str, kind: &str, name: &str) -> ClusterResourceRestrictionItem {
        ClusterResourceRestrictionItem {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn namespaced_group_kind_permitted() {
        // (whitelist, blacklist, group, kind, permitted)
        type Case<'a> = (
            Option<Vec<GroupKind>>,
            Vec<GroupKind>,
            &'a str,
            &'a str,
            bool,
        );
        let cases: Vec<Case<'_>> = vec![
            // Absent whitelist: everything; empty whitelist: nothing.
            (None, vec![], "apps", "Deployment", true),
            (Some(vec![]), vec![], "apps", "Deployment", false),
            (
                Some(vec![gk("apps", "Deployment")]),
                vec![],
                "apps",
                "Deployment",
                true,
            ),
            (
                Some(vec![gk("apps", "Deployment")]),
                vec![],
                "apps",
                "StatefulSet",
                false,
            ),
            (
                Some(vec![gk("apps", "*")]),
                vec![],
                "apps",
                "StatefulSet",
                true,
            ),
            (Some(vec![gk("*", "*")]), vec![], "", "ConfigMap", true),
            // An empty group pattern is the core group only.
            (
                Some(vec![gk("", "ConfigMap")]),
                vec![],
                "",
                "ConfigMap",
                true,
            ),
            (
                Some(vec![gk("", "ConfigMap")]),
                vec![],
                "example.com",
                "ConfigMap",
                false,
            ),
            // filepath.Match: `*` stops at `/`, classes, malformed patterns match nothing.
            (
                Some(vec![gk("*.k8s.io", "*")]),
                vec![],
                "networking.k8s.io",
                "Ingress",
                true,
            ),
            (
                Some(vec![gk("apps", "[DS]*")]),
                vec![],
                "apps",
                "StatefulSet",
                true,
            ),
            (
                Some(vec![gk("apps", "[^DS]*")]),
                vec![],
                "apps",
                "StatefulSet",
                false,
            ),
            (Some(vec![gk("apps", "[")]), vec![], "apps", "[", false),
            // Kind matching is case-sensitive.
            (
                Some(vec![gk("apps", "deployment")]),
                vec![],
                "apps",
                "Deployment",
                false,
            ),
            // The blacklist wins.
            (
                None,
                vec![gk("", "ResourceQuota")],
                "",
                "ResourceQuota",
                false,
            ),
            (None, vec![gk("", "ResourceQuota")], "", "ConfigMap", true),
            (
                Some(vec![gk("*", "*")]),
                vec![gk("*", "Secret")],
                "",
                "Secret",
                false,
            ),
            (None, vec![gk("*", "*")], "apps", "Deployment", false),
        ];
        for (whitelist, blacklist, group, kind, expected) in cases {
            let project = project(AppProjectSpec {
                namespace_resource_whitelist: whitelist.clone(),
                namespace_resource_blacklist: blacklist.clone(),
                // Cluster lists never affect namespaced kinds.
                cluster_resource_blacklist: vec![item("*", "*", "")],
                ..Default::default()
            });
            assert_eq!(
                project.is_group_kind_permitted(group, kind, true),
                expected,
                "{whitelist:?} / {blacklist:?} ~ {group}/{kind}"
            );
            assert_eq!(
                project.is_group_kind_name_permitted(group, kind, "any-name", true),
                expected,
                "{whitelist:?} / {blacklist:?} ~ {group}/{kind} (named)"
            );
        }
    }

    #[test]
    fn cluster_group_kind_name_permitted() {
        // (whitelist, blacklist, group, kind, name, permitted)
        type Case<'a> = (
            Vec<ClusterResourceRestrictionItem>,
            Vec<ClusterResourceRestrictionItem>,
            &'a str,
            &'a str,
            &'a str,
            bool,
        );
        let cases: Vec<Case<'_>> = vec![
            // Empty (absent) whitelist: nothing.
            (vec![], vec![], "", "Namespace", "team-a", false),
            (
                vec![item("*", "*", "")],
                vec![],
                "",
                "Namespace",
                "team-a",
                true,
            ),
            (
                vec![item("", "Namespace", "")],
                vec![],
                "",
                "Namespace",
                "team-a",
                true,
            ),
            (
                vec![item("", "Namespace", "")],
                vec![],
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "x",
                false,
            ),
            // Names narrow an entry; no name means every name.
            (
                vec![item("", "Namespace", "team-*")],
                vec![],
                "",
                "Namespace",
                "team-a",
                true,
            ),
            (
                vec![item("", "Namespace", "team-*")],
                vec![],
                "",
                "Namespace",
                "kube-system",
                false,
            ),
            (
                vec![item("", "Namespace", "team-?")],
                vec![],
                "",
                "Namespace",
                "team-ab",
                false,
            ),
            (
                vec![item("", "Namespace", "team-[ab]")],
                vec![],
                "",
                "Namespace",
                "team-b",
                true,
            ),
            (
                vec![item("", "Namespace", "[")],
                vec![],
                "",
                "Namespace",
                "[",
                false,
            ),
            // A named entry does not cover an unnamed check.
            (
                vec![item("", "Namespace", "team-*")],
                vec![],
                "",
                "Namespace",
                "",
                false,
            ),
            // Blacklist wins, with or without names.
            (
                vec![item("*", "*", "")],
                vec![item("", "Namespace", "")],
                "",
                "Namespace",
                "team-a",
                false,
            ),
            (
                vec![item("*", "*", "")],
                vec![item("", "Namespace", "kube-*")],
                "",
                "Namespace",
                "kube-system",
                false,
            ),
            (
                vec![item("*", "*", "")],
                vec![item("", "Namespace", "kube-*")],
                "",
                "Namespace",
                "team-a",
                true,
            ),
            (
                vec![],
                vec![item("", "Namespace", "kube-*")],
                "",
                "Namespace",
                "team-a",
                false,
            ),
        ];
        for (whitelist, blacklist, group, kind, name, expected) in cases {
            let project = project(AppProjectSpec {
                cluster_resource_whitelist: whitelist.clone(),
                cluster_resource_blacklist: blacklist.clone(),
                // Namespaced lists never affect cluster-scoped kinds.
                namespace_resource_whitelist: Some(vec![]),
                namespace_resource_blacklist: vec![gk("*", "*")],
                ..Default::default()
            });
            assert_eq!(
                project.is_group_kind_name_permitted(group, kind, name, false),
                expected,
                "{whitelist:?} / {blacklist:?} ~ {group}/{kind}/{name}"
            );
        }
    }

    #[test]
    fn cluster_group_kind_permitted_ignores_named_entries() {
        // (whitelist, blacklist, permitted) for the unnamed check of Namespace.
        let cases = [
            (vec![item("", "Namespace", "")], vec![], true),
            (vec![item("", "Namespace", "team-*")], vec![], false),
            (vec![item("", "Namespace", "*")], vec![], true),
            (
                vec![item("", "Namespace", "")],
                vec![item("", "Namespace", "kube-*")],
                true,
            ),
            (
                vec![item("", "Namespace", "")],
                vec![item("", "Namespace", "")],
                false,
            ),
        ];
        for (whitelist, blacklist, expected) in cases {
            let project = project(AppProjectSpec {
                cluster_resource_whitelist: whitelist.clone(),
                cluster_resource_blacklist: blacklist.clone(),
                ..Default::default()
            });
            assert_eq!(
                project.is_group_kind_permitted("", "Namespace", false),
                expected,
                "{whitelist:?} / {blacklist:?}"
            );
        }
    }
}
