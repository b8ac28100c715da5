//! Extraction of a [`PushEvent`] from each provider's push payload (Argo CD's
//! `affectedRevisionInfo` / `ParsePushEvent`).

use serde_json::Value;

use super::matching::parse_revision;
use super::{Provider, PushEvent, WebhookError};

/// Parses `body` as a JSON object.
pub(crate) fn parse_json(provider: Provider, body: &[u8]) -> Result<Value, WebhookError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(error) => {
            let reason = if provider == Provider::GitHub && body.starts_with(b"payload=") {
                "the GitHub webhook content type must be application/json, not \
                 application/x-www-form-urlencoded"
                    .to_owned()
            } else {
                error.to_string()
            };
            Err(WebhookError::InvalidJson { provider, reason })
        }
    }
}

/// Typed access to a payload, with errors naming the offending field.
struct Doc<'a> {
    provider: Provider,
    kind: &'static str,
    root: &'a Value,
}

impl<'a> Doc<'a> {
    fn new(provider: Provider, kind: &'static str, root: &'a Value) -> Result<Self, WebhookError> {
        let doc = Doc {
            provider,
            kind,
            root,
        };
        if root.is_object() {
            Ok(doc)
        } else {
            Err(doc.error("not a JSON object".to_owned()))
        }
    }

    fn error(&self, reason: String) -> WebhookError {
        WebhookError::InvalidPayload {
            provider: self.provider,
            kind: self.kind,
            reason,
        }
    }

    /// The value at `path` below `from`; `Ok(None)` when a segment is missing or `null`.
    fn lookup(
        &self,
        from: &'a Value,
        prefix: &str,
        path: &[&str],
    ) -> Result<Option<&'a Value>, WebhookError> {
        let mut current = from;
        let mut walked = prefix.to_owned();
        for segment in path {
            let Value::Object(map) = current else {
                return Err(self.error(format!("field {walked} is not an object")));
            };
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(segment);
            match map.get(*segment) {
                None | Some(Value::Null) => return Ok(None),
                Some(value) => current = value,
            }
        }
        Ok(Some(current))
    }

    /// The name of the first missing segment of `path`, for "missing field" errors.
    fn missing_name(&self, path: &[&str]) -> String {
        let mut current = self.root;
        let mut walked = Vec::new();
        for segment in path {
            walked.push(*segment);
            match current.get(segment) {
                None | Some(Value::Null) => break,
                Some(value) => current = value,
            }
        }
        walked.join(".")
    }

    fn opt_str(&self, path: &[&str]) -> Result<Option<&'a str>, WebhookError> {
        match self.lookup(self.root, "", path)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(format!("field {} is not a string", path.join(".")))),
        }
    }

    fn req_str(&self, path: &[&str]) -> Result<&'a str, WebhookError> {
        self.opt_str(path)?
            .ok_or_else(|| self.error(format!("missing field {}", self.missing_name(path))))
    }

    fn opt_array(&self, path: &[&str]) -> Result<&'a [Value], WebhookError> {
        match self.lookup(self.root, "", path)? {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.error(format!("field {} is not an array", path.join(".")))),
        }
    }

    /// A string at `path` below an array element.
    fn elem_str(
        &self,
        elem: &'a Value,
        prefix: &str,
        path: &[&str],
    ) -> Result<Option<&'a str>, WebhookError> {
        match self.lookup(elem, prefix, path)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => {
                Err(self.error(format!("field {prefix}.{} is not a string", path.join("."))))
            }
        }
    }

    /// GitHub, GitLab and Gogs: `commits[].added`, `modified` and `removed`, in that order per
    /// commit, without duplicates.
    fn changed_files(&self) -> Result<Vec<String>, WebhookError> {
        let mut files: Vec<String> = Vec::new();
        for (i, commit) in self.opt_array(&["commits"])?.iter().enumerate() {
            for list in ["added", "modified", "removed"] {
                let prefix = format!("commits[{i}]");
                let items = match self.lookup(commit, &prefix, &[list])? {
                    None => continue,
                    Some(Value::Array(items)) => items,
                    Some(_) => {
                        return Err(self.error(format!("field {prefix}.{list} is not an array")));
                    }
                };
                for item in items {
                    let Value::String(file) = item else {
                        return Err(
                            self.error(format!("field {prefix}.{list} is not an array of strings"))
                        );
                    };
                    if !files.contains(file) {
                        files.push(file.clone());
                    }
                }
            }
        }
        Ok(files)
    }
}

/// `Some(s)` unless empty.
fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The primary URL first, then the other forms the payload gives, without empties or
/// duplicates.
fn urls(primary: &str, others: &[Option<&str>]) -> Vec<String> {
    let mut urls = vec![primary.to_owned()];
    for url in others.iter().flatten() {
        if !url.is_empty() && !urls.iter().any(|u| u == url) {
            urls.push((*url).to_owned());
        }
    }
    urls
}

/// GitHub `push` (and Gogs `push`, whose payload has the same shape): `repository.html_url`
/// (plus `clone_url` and `ssh_url`), `ref`, `after`, `before`, `repository.default_branch`,
/// and the files of `commits`.
pub(crate) fn github_like(provider: Provider, root: &Value) -> Result<PushEvent, WebhookError> {
    let doc = Doc::new(provider, "push event", root)?;
    let html_url = doc.req_str(&["repository", "html_url"])?;
    let reference = doc.req_str(&["ref"])?;
    let revision = parse_revision(reference).to_owned();
    let default_branch = doc.opt_str(&["repository", "default_branch"])?;
    Ok(PushEvent {
        provider,
        repo_urls: urls(
            html_url,
            &[
                doc.opt_str(&["repository", "clone_url"])?,
                doc.opt_str(&["repository", "ssh_url"])?,
            ],
        ),
        touched_head: default_branch.unwrap_or_default() == revision,
        revision,
        change_sha: non_empty(doc.opt_str(&["after"])?.map(parse_revision)),
        before_sha: non_empty(doc.opt_str(&["before"])?.map(parse_revision)),
        default_branch: non_empty(default_branch),
        changed_files: Some(doc.changed_files()?),
    })
}

/// GitLab `Push Hook` and `Tag Push Hook`: `project.web_url` (plus `git_http_url` and
/// `git_ssh_url`), `ref`, `after`, `before`, `project.default_branch`, and the files of
/// `commits`. A tag push never touches the default branch (as in current Argo CD).
pub(crate) fn gitlab(root: &Value, tag: bool) -> Result<PushEvent, WebhookError> {
    let kind = if tag { "tag push event" } else { "push event" };
    let doc = Doc::new(Provider::GitLab, kind, root)?;
    let web_url = doc.req_str(&["project", "web_url"])?;
    let reference = doc.req_str(&["ref"])?;
    let revision = parse_revision(reference).to_owned();
    let default_branch = doc.opt_str(&["project", "default_branch"])?;
    Ok(PushEvent {
        provider: Provider::GitLab,
        repo_urls: urls(
            web_url,
            &[
                doc.opt_str(&["project", "git_http_url"])?,
                doc.opt_str(&["project", "git_ssh_url"])?,
            ],
        ),
        touched_head: !tag && default_branch.unwrap_or_default() == revision,
        revision,
        change_sha: non_empty(doc.opt_str(&["after"])?.map(parse_revision)),
        before_sha: non_empty(doc.opt_str(&["before"])?.map(parse_revision)),
        default_branch: non_empty(default_branch),
        changed_files: Some(doc.changed_files()?),
    })
}

/// Bitbucket Cloud `repo:push`: `repository.links.html.href`; the first of `push.changes`
/// gives the revision (`new.name`, a bare branch or tag name that is *not* stripped of
/// `refs/heads/`) and the SHAs. The payload names no default branch and lists no files, so
/// `touched_head` is `true` and `changed_files` is `None`, as in Argo CD (which can ask the
/// Bitbucket API for both; that is IO and not done here).
pub(crate) fn bitbucket(root: &Value) -> Result<PushEvent, WebhookError> {
    let doc = Doc::new(Provider::Bitbucket, "push event", root)?;
    let html_url = doc.req_str(&["repository", "links", "html", "href"])?;
    let (mut revision, mut after, mut before) = (None, None, None);
    if let Some(change) = doc.opt_array(&["push", "changes"])?.first() {
        let prefix = "push.changes[0]";
        revision = doc.elem_str(change, prefix, &["new", "name"])?;
        after = doc.elem_str(change, prefix, &["new", "target", "hash"])?;
        before = doc.elem_str(change, prefix, &["old", "target", "hash"])?;
    }
    Ok(PushEvent {
        provider: Provider::Bitbucket,
        repo_urls: vec![html_url.to_owned()],
        revision: revision.unwrap_or_default().to_owned(),
        change_sha: non_empty(after),
        before_sha: non_empty(before),
        default_branch: None,
        touched_head: true,
        changed_files: None,
    })
}

/// Bitbucket Server `repo:refs_changed`: the `http` and `ssh` links of
/// `repository.links.clone` (in payload order); the first of `changes` gives the revision
/// (`ref.id`, stripped) and the SHAs (`toHash`, `fromHash`). No default branch, no files:
/// `touched_head` is `true` and `changed_files` is `None`, as in Argo CD.
pub(crate) fn bitbucket_server(root: &Value) -> Result<PushEvent, WebhookError> {
    let doc = Doc::new(Provider::BitbucketServer, "refs_changed event", root)?;
    let clone = match doc.lookup(root, "", &["repository", "links", "clone"])? {
        None => {
            let missing = doc.missing_name(&["repository", "links", "clone"]);
            return Err(doc.error(format!("missing field {missing}")));
        }
        Some(Value::Array(links)) => links,
        Some(_) => {
            return Err(doc.error("field repository.links.clone is not an array".to_owned()));
        }
    };
    let mut repo_urls: Vec<String> = Vec::new();
    for link in clone {
        let (Some(Value::String(name)), Some(Value::String(href))) =
            (link.get("name"), link.get("href"))
        else {
            continue;
        };
        if (name == "http" || name == "ssh") && !repo_urls.contains(href) {
            repo_urls.push(href.clone());
        }
    }
    if repo_urls.is_empty() {
        return Err(doc.error("repository.links.clone has no http or ssh link".to_owned()));
    }
    let (mut revision, mut after, mut before) = (None, None, None);
    if let Some(change) = doc.opt_array(&["changes"])?.first() {
        let prefix = "changes[0]";
        revision = match doc.elem_str(change, prefix, &["ref", "id"])? {
            Some(id) => Some(id),
            None => doc.elem_str(change, prefix, &["refId"])?,
        };
        after = doc.elem_str(change, prefix, &["toHash"])?;
        before = doc.elem_str(change, prefix, &["fromHash"])?;
    }
    Ok(PushEvent {
        provider: Provider::BitbucketServer,
        repo_urls,
        revision: parse_revision(revision.unwrap_or_default()).to_owned(),
        change_sha: non_empty(after),
        before_sha: non_empty(before),
        default_branch: None,
        touched_head: true,
        changed_files: None,
    })
}

/// Azure DevOps `git.push`: `resource.repository.remoteUrl` (plus `sshUrl` and `webUrl` when
/// present); the first of `resource.refUpdates` gives the revision (`name`, stripped) and the
/// SHAs; `touched_head` compares the full ref with `resource.repository.defaultBranch`. The
/// payload lists no files: `changed_files` is `None` (Argo CD may ask the Azure DevOps API).
pub(crate) fn azure_devops(root: &Value) -> Result<PushEvent, WebhookError> {
    let doc = Doc::new(Provider::AzureDevOps, "git.push event", root)?;
    let remote_url = doc.req_str(&["resource", "repository", "remoteUrl"])?;
    let default_branch = doc.opt_str(&["resource", "repository", "defaultBranch"])?;
    let (mut name, mut after, mut before) = (None, None, None);
    if let Some(update) = doc.opt_array(&["resource", "refUpdates"])?.first() {
        let prefix = "resource.refUpdates[0]";
        name = doc.elem_str(update, prefix, &["name"])?;
        after = doc.elem_str(update, prefix, &["newObjectId"])?;
        before = doc.elem_str(update, prefix, &["oldObjectId"])?;
    }
    Ok(PushEvent {
        provider: Provider::AzureDevOps,
        repo_urls: urls(
            remote_url,
            &[
                doc.opt_str(&["resource", "repository", "sshUrl"])?,
                doc.opt_str(&["resource", "repository", "webUrl"])?,
            ],
        ),
        revision: parse_revision(name.unwrap_or_default()).to_owned(),
        touched_head: name.is_some() && name == default_branch,
        change_sha: non_empty(after.map(parse_revision)),
        before_sha: non_empty(before.map(parse_revision)),
        default_branch: non_empty(default_branch.map(parse_revision)),
        changed_files: None,
    })
}
