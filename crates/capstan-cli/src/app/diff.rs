//! `capstan app diff`: for each managed resource that differs, a unified diff of its
//! normalized live state against its predicted live state (the target state where the server
//! predicts none), both rendered as YAML, under argocd's `===== group/kind namespace/name
//! ======` headers. Hooks are left out, as in argocd.
//!
//! Exit status (as argocd): 0 no difference, 1 a difference, 2 an error (see
//! [`crate::app::AppArgs`]).

use std::io::{IsTerminal, Write};

use anyhow::Context;
use capstan_proto::application::v1::ResourceDiff;
use clap::{ArgAction, Args};
use serde_json::Value;

use super::get::{is_absent, managed_resources};
use super::{AppRef, get_app, refresh_mode};
use crate::client::Api;
use crate::output::diff::{resource_header, unified};
use crate::output::{ColorMode, to_yaml};

/// `capstan app diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when there is no difference, 1 when there is one, \
                        2 on error.\n\nExamples:\n  capstan app diff guestbook\n  \
                        capstan app diff guestbook --hard-refresh --color=never"
)]
pub struct DiffArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Refresh the application's data (compare with Git again) first.
    #[arg(long)]
    pub refresh: bool,

    /// Refresh, also bypassing the manifest cache.
    #[arg(long)]
    pub hard_refresh: bool,

    /// When to colour the diff.
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorMode,

    /// Exit 1 when there is a difference (`--exit-code=false` exits 0 then).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub exit_code: bool,
}

impl DiffArgs {
    /// Prints the diffs; `true` when there was at least one.
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<bool> {
        let app = AppRef::parse(&self.app)?;
        if let Some(refresh) = refresh_mode(self.refresh, self.hard_refresh) {
            get_app(api, &app, Some(refresh)).await?;
        }
        let items = managed_resources(api, &app).await?;
        let color = self.color.enabled(std::io::stdout().is_terminal());
        let (text, found) = render(&items, color)?;
        out.write_all(text.as_bytes())?;
        Ok(found)
    }
}

/// The diffs of `items` and whether there was any.
pub(crate) fn render(items: &[ResourceDiff], color: bool) -> anyhow::Result<(String, bool)> {
    let mut text = String::new();
    let mut found = false;
    for item in items.iter().filter(|item| !item.hook) {
        let live = first_present(&[&item.normalized_live_state, &item.live_state]);
        let target = first_present(&[&item.predicted_live_state, &item.target_state]);
        if live.is_none() && target.is_none() {
            continue;
        }
        if !(item.modified || live.is_none() || target.is_none()) {
            continue;
        }
        let what = format!(
            "{}/{} {}/{}",
            item.group, item.kind, item.namespace, item.name
        );
        let live_yaml = live
            .map(|state| yaml(state, &what))
            .transpose()?
            .unwrap_or_default();
        let target_yaml = target
            .map(|state| yaml(state, &what))
            .transpose()?
            .unwrap_or_default();
        let diff = unified(
            &live_yaml,
            &target_yaml,
            &format!("{} (live)", item.name),
            &format!("{} (desired)", item.name),
            color,
        );
        if diff.is_empty() {
            continue;
        }
        found = true;
        text.push_str(&resource_header(
            &item.group,
            &item.kind,
            &item.namespace,
            &item.name,
        ));
        text.push_str(&diff);
    }
    Ok((text, found))
}

fn first_present<'a>(states: &[&'a String]) -> Option<&'a str> {
    states
        .iter()
        .find(|state| !is_absent(state))
        .map(|state| state.as_str())
}

fn yaml(state: &str, what: &str) -> anyhow::Result<String> {
    let value: Value = serde_json::from_str(state)
        .with_context(|| format!("decoding the state of {what} sent by the server"))?;
    to_yaml(&value)
}

#[cfg(test)]
mod tests {
    use capstan_proto::application::v1::ResourceDiff;
    use pretty_assertions::assert_eq;

    use super::render;

    fn item(name: &str, live: &str, predicted: &str, modified: bool) -> ResourceDiff {
        ResourceDiff {
            group: "apps".to_owned(),
            kind: "Deployment".to_owned(),
            namespace: "default".to_owned(),
            name: name.to_owned(),
            normalized_live_state: live.to_owned(),
            predicted_live_state: predicted.to_owned(),
            modified,
            ..ResourceDiff::default()
        }
    }

    #[test]
    fn only_differences_are_printed() {
        let items = vec![
            item(
                "same",
                r#"{"spec":{"replicas":1}}"#,
                r#"{"spec":{"replicas":1}}"#,
                false,
            ),
            item(
                "changed",
                r#"{"spec":{"replicas":1}}"#,
                r#"{"spec":{"replicas":3}}"#,
                true,
            ),
            item("missing", "", r#"{"kind":"Deployment"}"#, false),
            item("extra", r#"{"kind":"Deployment"}"#, "null", false),
            ResourceDiff {
                hook: true,
                ..item("hook", "", r#"{"kind":"Job"}"#, true)
            },
        ];
        let (text, found) = render(&items, false).expect("renders");
        assert!(found);
        assert_eq!(
            text,
            "\n===== apps/Deployment default/changed ======\n\
             --- changed (live)\n\
             +++ changed (desired)\n\
             @@ -1,2 +1,2 @@\n \
             spec:\n\
             -  replicas: 1\n\
             +  replicas: 3\n\
             \n===== apps/Deployment default/missing ======\n\
             --- missing (live)\n\
             +++ missing (desired)\n\
             @@ -0,0 +1 @@\n\
             +kind: Deployment\n\
             \n===== apps/Deployment default/extra ======\n\
             --- extra (live)\n\
             +++ extra (desired)\n\
             @@ -1 +0,0 @@\n\
             -kind: Deployment\n"
        );
    }

    #[test]
    fn no_differences() {
        let items = vec![item("same", r#"{"a":1}"#, r#"{"a":1}"#, false)];
        assert_eq!(
            render(&items, false).expect("renders"),
            (String::new(), false)
        );
        assert_eq!(render(&[], true).expect("renders"), (String::new(), false));
    }

    #[test]
    fn target_state_stands_in_for_a_missing_prediction() {
        let items = vec![ResourceDiff {
            target_state: r#"{"a":2}"#.to_owned(),
            live_state: r#"{"a":1}"#.to_owned(),
            ..item("x", "", "", true)
        }];
        let (text, found) = render(&items, false).expect("renders");
        assert!(found);
        assert!(text.contains("-a: 1\n+a: 2\n"), "{text}");
    }

    #[test]
    fn malformed_states_are_errors() {
        let items = vec![item("bad", "{", r#"{"a":1}"#, true)];
        let err = render(&items, false).expect_err("bad JSON");
        assert!(
            format!("{err:#}").contains("apps/Deployment default/bad"),
            "{err:#}"
        );
    }
}
