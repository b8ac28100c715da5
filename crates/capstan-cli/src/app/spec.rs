//! The application spec flags `app create` and `app set` share (argocd's names), and how they
//! change an [`ApplicationSpec`] ([`SpecFlags::apply`], pure).

use anyhow::bail;
use capstan_types::ApplicationSpec;
use capstan_types::application::{ApplicationSourceDirectory, SyncPolicy};
use clap::{Args, ValueEnum};

/// `--sync-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyncPolicyFlag {
    /// Sync automatically when the live state drifts from the target state.
    #[value(alias = "auto", alias = "automatic")]
    Automated,
    /// Sync only on request.
    #[value(alias = "manual")]
    None,
}

/// The spec flags of `app create` and `app set`.
#[derive(Clone, Debug, Default, Args)]
pub struct SpecFlags {
    /// Repository URL, ignored if a file is set.
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,

    /// Path in the repository to the application's manifests.
    #[arg(long)]
    pub path: Option<String>,

    /// The tracking source branch, tag, commit or Helm chart version.
    #[arg(long)]
    pub revision: Option<String>,

    /// Helm chart name, for Helm repositories.
    #[arg(long, value_name = "CHART")]
    pub helm_chart: Option<String>,

    /// Recurse into the directory's subdirectories (`--directory-recurse=false` to stop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub directory_recurse: Option<bool>,

    /// K8s cluster URL (e.g. `https://kubernetes.default.svc`).
    #[arg(long, value_name = "URL", conflicts_with = "dest_name")]
    pub dest_server: Option<String>,

    /// K8s cluster name (a cluster's `name`).
    #[arg(long, value_name = "NAME")]
    pub dest_name: Option<String>,

    /// K8s target namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub dest_namespace: Option<String>,

    /// The application's project.
    #[arg(long)]
    pub project: Option<String>,

    /// Sync policy.
    #[arg(long, value_enum)]
    pub sync_policy: Option<SyncPolicyFlag>,

    /// Prune resources no longer in Git when syncing automatically (`--auto-prune=false` to
    /// stop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub auto_prune: Option<bool>,

    /// Revert live changes when syncing automatically (`--self-heal=false` to stop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub self_heal: Option<bool>,

    /// Add a sync option (`CreateNamespace=true`), replacing one with the same key; remove
    /// one with a `!` prefix (`!CreateNamespace=true`). Repeatable.
    #[arg(long = "sync-option", value_name = "OPTION")]
    pub sync_options: Vec<String>,
}

impl SpecFlags {
    /// Whether any flag was given.
    pub fn is_empty(&self) -> bool {
        self.repo.is_none()
            && self.path.is_none()
            && self.revision.is_none()
            && self.helm_chart.is_none()
            && self.directory_recurse.is_none()
            && self.dest_server.is_none()
            && self.dest_name.is_none()
            && self.dest_namespace.is_none()
            && self.project.is_none()
            && self.sync_policy.is_none()
            && self.auto_prune.is_none()
            && self.self_heal.is_none()
            && self.sync_options.is_empty()
    }

    /// Applies the flags to `spec`: each given flag sets its field, others are left alone.
    ///
    /// # Errors
    ///
    /// Source flags on a multi-source application, `--auto-prune`/`--self-heal` without an
    /// automated sync policy, or an empty sync option.
    pub fn apply(&self, spec: &mut ApplicationSpec) -> anyhow::Result<()> {
        let source_flags = self.repo.is_some()
            || self.path.is_some()
            || self.revision.is_some()
            || self.helm_chart.is_some()
            || self.directory_recurse.is_some();
        if source_flags {
            if spec.source.is_none() && !spec.sources.is_empty() {
                bail!(
                    "the application has several sources (spec.sources): --repo, --path, \
                     --revision, --helm-chart and --directory-recurse apply to single-source \
                     applications only"
                );
            }
            let source = spec.source.get_or_insert_default();
            if let Some(repo) = &self.repo {
                repo.clone_into(&mut source.repo_url);
            }
            if let Some(path) = &self.path {
                path.clone_into(&mut source.path);
            }
            if let Some(revision) = &self.revision {
                revision.clone_into(&mut source.target_revision);
            }
            if let Some(chart) = &self.helm_chart {
                chart.clone_into(&mut source.chart);
            }
            if let Some(recurse) = self.directory_recurse {
                let directory = source
                    .directory
                    .get_or_insert_with(ApplicationSourceDirectory::default);
                directory.recurse = recurse.then_some(true);
                if *directory == ApplicationSourceDirectory::default() {
                    source.directory = None;
                }
            }
        }
        if let Some(server) = &self.dest_server {
            server.clone_into(&mut spec.destination.server);
            spec.destination.name.clear();
        }
        if let Some(name) = &self.dest_name {
            name.clone_into(&mut spec.destination.name);
            spec.destination.server.clear();
        }
        if let Some(namespace) = &self.dest_namespace {
            namespace.clone_into(&mut spec.destination.namespace);
        }
        if let Some(project) = &self.project {
            project.clone_into(&mut spec.project);
        }
        let policy = spec.sync_policy.get_or_insert_with(SyncPolicy::default);
        match self.sync_policy {
            Some(SyncPolicyFlag::Automated) => {
                let automated = policy.automated.get_or_insert_default();
                if automated.enabled == Some(false) {
                    automated.enabled = None;
                }
            }
            Some(SyncPolicyFlag::None) => policy.automated = None,
            None => {}
        }
        for (flag, value, field) in [
            ("--auto-prune", self.auto_prune, Field::Prune),
            ("--self-heal", self.self_heal, Field::SelfHeal),
        ] {
            let Some(value) = value else { continue };
            let Some(automated) = policy.automated.as_mut() else {
                if value {
                    bail!("{flag} requires an automated sync policy (--sync-policy automated)");
                }
                continue;
            };
            let target = match field {
                Field::Prune => &mut automated.prune,
                Field::SelfHeal => &mut automated.self_heal,
            };
            *target = value.then_some(true);
        }
        for option in &self.sync_options {
            apply_sync_option(&mut policy.sync_options, option)?;
        }
        if *policy == SyncPolicy::default() {
            spec.sync_policy = None;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Field {
    Prune,
    SelfHeal,
}

/// Adds `option` to `options` (replacing one with the same key), or with a `!` prefix removes
/// it (the exact option, or any with that key when the option has no value).
fn apply_sync_option(options: &mut Vec<String>, option: &str) -> anyhow::Result<()> {
    let key = |option: &str| {
        option
            .split_once('=')
            .map_or(option, |(key, _)| key)
            .to_owned()
    };
    if let Some(removed) = option.strip_prefix('!') {
        if removed.is_empty() {
            bail!("empty sync option after '!'");
        }
        if removed.contains('=') {
            options.retain(|existing| existing != removed);
        } else {
            options.retain(|existing| key(existing) != removed);
        }
        return Ok(());
    }
    if option.is_empty() || option.starts_with('=') {
        bail!("invalid sync option {option:?}: expected KEY=VALUE, e.g. CreateNamespace=true");
    }
    let new_key = key(option);
    options.retain(|existing| key(existing) != new_key);
    options.push(option.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use capstan_types::ApplicationSpec;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use super::{SpecFlags, SyncPolicyFlag, apply_sync_option};

    fn spec(value: Value) -> ApplicationSpec {
        serde_json::from_value(value).expect("valid spec")
    }

    fn applied(start: Value, flags: &SpecFlags) -> Result<Value, String> {
        let mut spec = spec(start);
        flags.apply(&mut spec).map_err(|err| err.to_string())?;
        // `destination` and `project` are always written; leave them out when empty so that
        // the cases read as the fields they set.
        let mut value = serde_json::to_value(&spec).expect("serialises");
        let object = value.as_object_mut().expect("an object");
        if object.get("destination") == Some(&json!({})) {
            object.remove("destination");
        }
        if object.get("project") == Some(&json!("")) {
            object.remove("project");
        }
        Ok(value)
    }

    #[test]
    fn flags_set_their_fields_only() {
        let flags = SpecFlags {
            repo: Some("https://git.example.com/apps.git".to_owned()),
            path: Some("guestbook".to_owned()),
            revision: Some("main".to_owned()),
            dest_server: Some("https://kubernetes.default.svc".to_owned()),
            dest_namespace: Some("default".to_owned()),
            project: Some("team-a".to_owned()),
            ..SpecFlags::default()
        };
        assert_eq!(
            applied(
                json!({"destination": {"name": "in-cluster"}, "project": "default"}),
                &flags
            ),
            Ok(json!({
                "source": {
                    "repoURL": "https://git.example.com/apps.git",
                    "path": "guestbook",
                    "targetRevision": "main",
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
                "project": "team-a",
            }))
        );
        // No flags, no change.
        let start = json!({"source": {"repoURL": "r", "path": "p"}, "project": "p",
                           "destination": {"server": "s"},
                           "syncPolicy": {"syncOptions": ["A=1"]}});
        assert_eq!(applied(start.clone(), &SpecFlags::default()), Ok(start));
        assert!(SpecFlags::default().is_empty());
        assert!(!flags.is_empty());
    }

    #[test]
    fn sync_policies() {
        let automated = SpecFlags {
            sync_policy: Some(SyncPolicyFlag::Automated),
            auto_prune: Some(true),
            self_heal: Some(true),
            ..SpecFlags::default()
        };
        let cases = [
            (
                json!({}),
                automated.clone(),
                Ok(json!({"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}})),
            ),
            // Re-enabling an explicitly disabled policy.
            (
                json!({"syncPolicy": {"automated": {"enabled": false}}}),
                SpecFlags {
                    sync_policy: Some(SyncPolicyFlag::Automated),
                    ..SpecFlags::default()
                },
                Ok(json!({"syncPolicy": {"automated": {}}})),
            ),
            (
                json!({"syncPolicy": {"automated": {"prune": true}, "syncOptions": ["A=1"]}}),
                SpecFlags {
                    sync_policy: Some(SyncPolicyFlag::None),
                    ..SpecFlags::default()
                },
                Ok(json!({"syncPolicy": {"syncOptions": ["A=1"]}})),
            ),
            // The last part of a policy removed: no policy.
            (
                json!({"syncPolicy": {"automated": {}}}),
                SpecFlags {
                    sync_policy: Some(SyncPolicyFlag::None),
                    ..SpecFlags::default()
                },
                Ok(json!({})),
            ),
            (
                json!({"syncPolicy": {"automated": {"prune": true}}}),
                SpecFlags {
                    auto_prune: Some(false),
                    ..SpecFlags::default()
                },
                Ok(json!({"syncPolicy": {"automated": {}}})),
            ),
            (
                json!({}),
                SpecFlags {
                    self_heal: Some(true),
                    ..SpecFlags::default()
                },
                Err(
                    "--self-heal requires an automated sync policy (--sync-policy automated)"
                        .to_owned(),
                ),
            ),
            // Turning off what is not on is fine.
            (
                json!({}),
                SpecFlags {
                    auto_prune: Some(false),
                    ..SpecFlags::default()
                },
                Ok(json!({})),
            ),
        ];
        for (start, flags, want) in cases {
            assert_eq!(applied(start.clone(), &flags), want, "{start} {flags:?}");
        }
    }

    #[test]
    fn sources() {
        let flags = SpecFlags {
            helm_chart: Some("nginx".to_owned()),
            directory_recurse: Some(true),
            ..SpecFlags::default()
        };
        assert_eq!(
            applied(json!({"source": {"repoURL": "r"}}), &flags),
            Ok(json!({"source": {"repoURL": "r", "chart": "nginx",
                                 "directory": {"recurse": true}}}))
        );
        let off = SpecFlags {
            directory_recurse: Some(false),
            ..SpecFlags::default()
        };
        assert_eq!(
            applied(
                json!({"source": {"repoURL": "r", "directory": {"recurse": true}}}),
                &off
            ),
            Ok(json!({"source": {"repoURL": "r"}}))
        );
        let err = applied(
            json!({"sources": [{"repoURL": "a"}, {"repoURL": "b"}]}),
            &SpecFlags {
                path: Some("x".to_owned()),
                ..SpecFlags::default()
            },
        )
        .expect_err("multi-source");
        assert!(err.contains("several sources"), "{err}");
        // Destination flags replace each other.
        let by_name = SpecFlags {
            dest_name: Some("prod".to_owned()),
            ..SpecFlags::default()
        };
        assert_eq!(
            applied(
                json!({"destination": {"server": "s", "namespace": "n"}}),
                &by_name
            ),
            Ok(json!({"destination": {"name": "prod", "namespace": "n"}}))
        );
    }

    #[test]
    fn sync_options() {
        /// Options before, the option given, and the options after or the error.
        type Case<'a> = (&'a [&'a str], &'a str, Result<&'a [&'a str], &'a str>);
        let cases: &[Case] = &[
            (&[], "CreateNamespace=true", Ok(&["CreateNamespace=true"])),
            (
                &["CreateNamespace=false", "Prune=false"],
                "CreateNamespace=true",
                Ok(&["Prune=false", "CreateNamespace=true"]),
            ),
            (&["Prune=false"], "!Prune=false", Ok(&[])),
            (&["Prune=false"], "!Prune=true", Ok(&["Prune=false"])),
            (&["Prune=false", "A=1"], "!Prune", Ok(&["A=1"])),
            (&[], "!", Err("empty sync option after '!'")),
            (&[], "=x", Err("invalid sync option \"=x\"")),
        ];
        for (start, option, want) in cases {
            let mut options: Vec<String> = start.iter().map(|s| (*s).to_owned()).collect();
            let got = apply_sync_option(&mut options, option)
                .map(|()| options)
                .map_err(|err| err.to_string());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{option}"),
                (Err(err), Err(want)) => assert!(err.starts_with(want), "{err}"),
                (got, want) => panic!("{option}: got {got:?}, want {want:?}"),
            }
        }
    }
}
