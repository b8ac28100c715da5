//! `capstan version`: the client's version and, unless `--client`, the server's
//! (`VersionService.Version`), in argocd's layout.

use std::io::Write;

use anyhow::Context;
use capstan_proto::version::v1::VersionMessage;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use crate::GlobalArgs;
use crate::client::Api;
use crate::output::{to_json, to_yaml};

/// `-o` of `version`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum VersionOutput {
    /// Versions and build details.
    #[default]
    Wide,
    /// Versions only.
    Short,
    /// JSON (`{"client": ..., "server": ...}`).
    Json,
    /// YAML.
    Yaml,
}

/// `capstan version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print the client's version only (no server is contacted).
    #[arg(long)]
    pub client: bool,

    /// Print the versions only (same as `-o short`).
    #[arg(long)]
    pub short: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: VersionOutput,
}

/// The client's version fields, argocd's names.
fn client_fields() -> Vec<(&'static str, String)> {
    vec![
        ("Version", format!("v{}", env!("CARGO_PKG_VERSION"))),
        (
            "Platform",
            format!("{}/{}", std::env::consts::OS, go_arch()),
        ),
    ]
}

/// The architecture in Go's spelling, as Argo CD reports it (`amd64`, `arm64`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The server's version fields, argocd's names, without empty ones.
fn server_fields(version: &VersionMessage) -> Vec<(&'static str, String)> {
    [
        ("Version", &version.version),
        ("BuildDate", &version.build_date),
        ("GitCommit", &version.git_commit),
        ("GitTag", &version.git_tag),
        ("GitTreeState", &version.git_tree_state),
        ("RustVersion", &version.rust_version),
        ("Compiler", &version.compiler),
        ("Platform", &version.platform),
        ("Kustomize Version", &version.kustomize_version),
        ("Helm Version", &version.helm_version),
        ("Kubectl Version", &version.kubectl_version),
        ("ExtraBuildInfo", &version.extra_build_info),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(name, value)| (name, value.clone()))
    .collect()
}

/// argocd's layout: `NAME: VERSION` then indented `Field: value` lines.
fn render(component: &str, fields: &[(&str, String)], short: bool) -> String {
    let mut text = String::new();
    let version = fields
        .iter()
        .find(|(name, _)| *name == "Version")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    text.push_str(&format!("{component}: {version}\n"));
    if !short {
        for (name, value) in fields.iter().filter(|(name, _)| *name != "Version") {
            text.push_str(&format!("  {name}: {value}\n"));
        }
    }
    text
}

fn fields_json(fields: &[(&str, String)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(name, value)| (name.replace(' ', ""), json!(value)))
            .collect::<Map<_, _>>(),
    )
}

impl VersionArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let short = self.short || self.output == VersionOutput::Short;
        let client = client_fields();
        let structured = matches!(self.output, VersionOutput::Json | VersionOutput::Yaml);
        if !structured {
            out.write_all(render("capstan", &client, short).as_bytes())?;
        }
        let server = if self.client {
            None
        } else {
            let api = Api::from_global(global).await?;
            let version = api
                .version()
                .version(api.request(()))
                .await
                .map_err(|status| api.error(status))
                .context("getting the server's version")?
                .into_inner();
            Some(server_fields(&version))
        };
        if structured {
            let mut value = json!({"client": fields_json(&client)});
            if let Some(server) = &server {
                value["server"] = fields_json(server);
            }
            let text = match self.output {
                VersionOutput::Json => to_json(&value)?,
                _ => to_yaml(&value)?,
            };
            out.write_all(text.as_bytes())?;
        } else if let Some(server) = &server {
            out.write_all(render("capstan-server", server, short).as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use capstan_proto::version::v1::VersionMessage;
    use pretty_assertions::assert_eq;

    use super::{render, server_fields};

    #[test]
    fn server_versions_in_argocd_layout() {
        let version = VersionMessage {
            version: "v0.1.0".to_owned(),
            git_commit: "abc".to_owned(),
            helm_version: "v3.15.0".to_owned(),
            ..VersionMessage::default()
        };
        let fields = server_fields(&version);
        assert_eq!(
            render("capstan-server", &fields, false),
            "capstan-server: v0.1.0\n  GitCommit: abc\n  Helm Version: v3.15.0\n"
        );
        assert_eq!(
            render("capstan-server", &fields, true),
            "capstan-server: v0.1.0\n"
        );
    }
}
