//! `capstan app create` (from flags, or from a YAML file of Applications like
//! `argocd app create -f`) and `capstan app set` (`UpdateSpec`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use capstan_proto::application::v1::{ApplicationCreateRequest, ApplicationUpdateSpecRequest};
use capstan_proto::common::v1::KubeObject;
use capstan_types::{Application, ApplicationSpec};
use clap::{ArgAction, Args};
use tonic::Code;

use super::spec::SpecFlags;
use super::{AppObject, AppRef, get_app};
use crate::client::Api;
use crate::files;

/// The finalizer that makes deleting the Application delete its resources.
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// `capstan app create`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    capstan app create guestbook --repo https://github.com/argoproj/argocd-example-apps.git \
    --path guestbook --dest-namespace default --dest-server https://kubernetes.default.svc\n  \
    capstan app create -f guestbook.yaml --upsert")]
pub struct CreateArgs {
    /// The application's name (`NAME` or `NAMESPACE/NAME`); with --file, overrides the
    /// file's name.
    #[arg(value_name = "APPNAME")]
    pub app: Option<String>,

    /// A YAML (or JSON) file of one or more Applications, `-` for stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The spec flags; with --file they override the file's values.
    #[command(flatten)]
    pub spec: SpecFlags,

    /// Label to set on the application, `KEY=VALUE` (repeatable).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Replace an existing application with the same name.
    #[arg(long)]
    pub upsert: bool,

    /// Validate the spec against the project and the repository (`--validate=false` to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub validate: bool,

    /// Add the finalizer that deletes the application's resources with it.
    #[arg(long)]
    pub set_finalizer: bool,
}

impl CreateArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let apps = self.applications()?;
        for app in apps {
            let reference = AppRef {
                name: app.metadata.name.clone().unwrap_or_default(),
                namespace: app.metadata.namespace.clone().unwrap_or_default(),
            };
            let existing = if self.upsert {
                existing(api, &reference).await?
            } else {
                None
            };
            let created = api
                .applications()
                .create(api.request(ApplicationCreateRequest {
                    application: Some(KubeObject::from_object(&app)?),
                    upsert: Some(self.upsert),
                    validate: Some(self.validate),
                }))
                .await
                .map_err(|status| api.error(status))
                .with_context(|| format!("creating application '{reference}'"))?
                .into_inner();
            let created = AppObject::decode(&created)?;
            let action = match existing {
                None => "created",
                Some(before) if unchanged(&before.app, &created.app) => "unchanged",
                Some(_) => "updated",
            };
            writeln!(out, "application '{reference}' {action}")?;
        }
        Ok(())
    }

    /// The Applications to create: the file's, or one built from the flags, with the flags
    /// applied.
    pub(crate) fn applications(&self) -> anyhow::Result<Vec<Application>> {
        let name = self.app.as_deref().map(AppRef::parse).transpose()?;
        let labels = parse_labels(&self.labels)?;
        let mut apps = match &self.file {
            Some(path) => {
                let text = files::read_input(path)?;
                let objects = files::parse_objects(path, &text)?;
                if name.is_some() && objects.len() > 1 {
                    bail!(
                        "{}: {} applications in the file; an APPNAME argument applies to one",
                        path.display(),
                        objects.len()
                    );
                }
                objects
                    .into_iter()
                    .enumerate()
                    .map(|(index, object)| {
                        check_kind(&object)
                            .and_then(|()| {
                                serde_json::from_value::<Application>(object).map_err(Into::into)
                            })
                            .with_context(|| format!("{}: document {}", path.display(), index + 1))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
            None => {
                let Some(name) = &name else {
                    bail!("an application name is required (or --file)");
                };
                let spec = ApplicationSpec {
                    project: "default".to_owned(),
                    ..ApplicationSpec::default()
                };
                let mut app = Application::new(&name.name, spec);
                if self.spec.repo.is_none() {
                    bail!("--repo is required (or --file)");
                }
                if self.spec.dest_server.is_none() && self.spec.dest_name.is_none() {
                    bail!("--dest-server or --dest-name is required (or --file)");
                }
                app.metadata.namespace = None;
                vec![app]
            }
        };
        for app in &mut apps {
            if let Some(name) = &name {
                app.metadata.name = Some(name.name.clone());
                if !name.namespace.is_empty() {
                    app.metadata.namespace = Some(name.namespace.clone());
                }
            }
            if app.metadata.name.as_deref().unwrap_or_default().is_empty() {
                bail!("an application in the file has no metadata.name");
            }
            self.spec.apply(&mut app.spec)?;
            if !labels.is_empty() {
                app.metadata
                    .labels
                    .get_or_insert_default()
                    .extend(labels.clone());
            }
            if self.set_finalizer {
                let finalizers = app.metadata.finalizers.get_or_insert_default();
                if !finalizers.iter().any(|f| f == RESOURCES_FINALIZER) {
                    finalizers.push(RESOURCES_FINALIZER.to_owned());
                }
            }
            // Server-owned fields of a file taken from `kubectl get -o yaml` would make the
            // create fail or lie; the server sets them.
            app.metadata.resource_version = None;
            app.metadata.uid = None;
            app.metadata.creation_timestamp = None;
            app.metadata.managed_fields = None;
            app.metadata.generation = None;
            app.status = None;
        }
        Ok(apps)
    }
}

/// Refuses documents that are not Applications.
fn check_kind(object: &serde_json::Value) -> anyhow::Result<()> {
    match object.get("kind").and_then(serde_json::Value::as_str) {
        Some("Application") | None => Ok(()),
        Some(kind) => bail!("expected kind Application, found {kind:?}"),
    }
}

/// `KEY=VALUE` labels.
pub(crate) fn parse_labels(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => bail!("invalid label {label:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// The application as it exists, `None` when it does not.
async fn existing(api: &Api, app: &AppRef) -> anyhow::Result<Option<AppObject>> {
    match api.applications().get(api.request(app.query())).await {
        Ok(response) => Ok(Some(AppObject::decode(&response.into_inner())?)),
        Err(status) if status.code() == Code::NotFound => Ok(None),
        Err(status) => {
            Err(api.error(status)).with_context(|| format!("getting application '{app}'"))
        }
    }
}

/// Whether an upsert changed nothing a user wrote (spec, labels, annotations, finalizers).
fn unchanged(before: &Application, after: &Application) -> bool {
    before.spec == after.spec
        && before.metadata.labels == after.metadata.labels
        && before.metadata.annotations == after.metadata.annotations
        && before.metadata.finalizers == after.metadata.finalizers
}

/// `capstan app set`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  capstan app set guestbook --revision v2\n  \
    capstan app set guestbook --sync-policy automated --auto-prune --self-heal"
)]
pub struct SetArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// The spec flags to set.
    #[command(flatten)]
    pub spec: SpecFlags,

    /// Validate the spec against the project and the repository (`--validate=false` to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub validate: bool,
}

impl SetArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        if self.spec.is_empty() {
            bail!("nothing to set: give at least one flag (see `capstan app set --help`)");
        }
        let object = get_app(api, &app, None).await?;
        let mut spec = object.app.spec.clone();
        self.spec.apply(&mut spec)?;
        if spec == object.app.spec {
            writeln!(out, "application '{app}' unchanged")?;
            return Ok(());
        }
        api.applications()
            .update_spec(api.request(ApplicationUpdateSpecRequest {
                name: app.name.clone(),
                spec: Some(KubeObject::from_object(&spec)?),
                validate: Some(self.validate),
                app_namespace: app.namespace.clone(),
                project: String::new(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("updating the spec of application '{app}'"))?;
        writeln!(out, "application '{app}' updated")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::Parser;
    use pretty_assertions::assert_eq;

    use super::parse_labels;
    use crate::Cli;
    use crate::app::AppCommand;

    fn create_args(args: &[&str]) -> super::CreateArgs {
        let cli =
            Cli::try_parse_from(["capstan", "app", "create"].iter().chain(args)).expect("parses");
        match cli.command {
            crate::Command::App(app) => match app.command {
                AppCommand::Create(create) => create,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn labels() {
        let labels = parse_labels(&["a=1".to_owned(), "b=".to_owned()]).expect("valid");
        assert_eq!(labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(labels.get("b").map(String::as_str), Some(""));
        assert!(parse_labels(&["nope".to_owned()]).is_err());
        assert!(parse_labels(&["=x".to_owned()]).is_err());
    }

    #[test]
    fn applications_from_flags() {
        let args = create_args(&[
            "guestbook",
            "--repo",
            "https://git.example.com/apps.git",
            "--path",
            "guestbook",
            "--dest-server",
            "https://kubernetes.default.svc",
            "--dest-namespace",
            "default",
            "--sync-policy",
            "automated",
            "--auto-prune",
            "--sync-option",
            "CreateNamespace=true",
            "-l",
            "team=a",
            "--validate=false",
            "--set-finalizer",
        ]);
        assert!(!args.validate);
        let apps = args.applications().expect("valid");
        assert_eq!(
            serde_json::to_value(&apps).expect("serialises"),
            serde_json::json!([{
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {
                    "name": "guestbook",
                    "labels": {"team": "a"},
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                },
                "spec": {
                    "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook"},
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": "default",
                    },
                    "project": "default",
                    "syncPolicy": {
                        "automated": {"prune": true},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            }])
        );
        let err = create_args(&["x", "--repo", "r"])
            .applications()
            .expect_err("no dest");
        assert!(
            err.to_string().contains("--dest-server or --dest-name"),
            "{err}"
        );
        let err = create_args(&["--repo", "r"])
            .applications()
            .expect_err("no name");
        assert!(err.to_string().contains("name is required"), "{err}");
    }

    #[test]
    fn applications_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apps.yaml");
        let mut file = std::fs::File::create(&path).expect("creates");
        write!(
            file,
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\n  \
             resourceVersion: \"12\"\nspec:\n  project: p\n  source:\n    repoURL: r\n  \
             destination:\n    server: s\nstatus:\n  sync:\n    status: Synced\n---\n\
             apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: b\n\
             spec:\n  destination:\n    server: s\n"
        )
        .expect("writes");
        let path = path.to_str().expect("utf-8");
        let apps = create_args(&["-f", path, "--revision", "v2"])
            .applications()
            .expect("valid");
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].metadata.resource_version, None);
        assert!(apps[0].status.is_none());
        assert_eq!(
            apps[0]
                .spec
                .source
                .as_ref()
                .map(|s| s.target_revision.as_str()),
            Some("v2")
        );
        assert_eq!(apps[1].metadata.name.as_deref(), Some("b"));

        let err = create_args(&["one", "-f", path])
            .applications()
            .expect_err("two apps");
        assert!(
            err.to_string().contains("2 applications in the file"),
            "{err}"
        );

        std::fs::write(
            dir.path().join("cm.yaml"),
            "kind: ConfigMap\nmetadata:\n  name: x\n",
        )
        .expect("writes");
        let cm = dir.path().join("cm.yaml");
        let err = create_args(&["-f", cm.to_str().expect("utf-8")])
            .applications()
            .expect_err("not an app");
        assert!(
            format!("{err:#}").contains("expected kind Application"),
            "{err:#}"
        );
    }
}
