//! What ApplicationSet generators read from outside, fetched for `capstan-appset`: the cluster
//! Secrets of the control namespace, and the directories and files of repositories from the
//! repo-server. Shared by the ApplicationSet controller and the api-server's dry run, so a
//! preview generates exactly what the controller will.

use capstan_appset::{ClusterInfo, GitFile, Sources};
use capstan_proto::repo::v1 as repo;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_types::ApplicationSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

/// What the generators read: cluster Secrets, and the repo-server's directories and files.
pub async fn sources(
    client: &Client,
    namespace: &str,
    repo_server: &RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
    appset: &ApplicationSet,
) -> Result<Sources, String> {
    let mut out = Sources::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let clusters = secrets
        .list(&ListParams::default().labels("argocd.argoproj.io/secret-type=cluster"))
        .await
        .map_err(|e| format!("listing cluster Secrets: {e}"))?;
    for secret in clusters {
        let data = crate::settings::secret_bytes(secret.data.clone());
        let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
        out.clusters.push(ClusterInfo {
            name: text("name").unwrap_or_default(),
            server: text("server").unwrap_or_default(),
            project: text("project"),
            labels: secret.labels().clone(),
            annotations: secret.annotations().clone(),
        });
    }
    let project = appset.spec.template.spec.project.clone();
    for (url, revision, glob) in capstan_appset::needs(&appset.spec) {
        let repo_ref = Some(repo::RepoRef {
            url: url.clone(),
            project: project.clone(),
            ..Default::default()
        });
        let mut repo = repo_server.clone();
        match &glob {
            None => {
                let dirs = repo
                    .get_git_directories(repo::GitDirectoriesRequest {
                        repo: repo_ref,
                        revision: revision.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| {
                        format!(
                            "reading the directories of {url} at {revision}: {}",
                            s.message()
                        )
                    })?
                    .into_inner()
                    .paths;
                out.directories.insert((url, revision), dirs);
            }
            Some(pattern) => {
                let files = repo
                    .get_git_files(repo::GitFilesRequest {
                        repo: repo_ref,
                        revision: revision.clone(),
                        path: pattern.clone(),
                        new_git_file_globbing_enabled: true,
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| {
                        format!("reading {pattern} of {url} at {revision}: {}", s.message())
                    })?
                    .into_inner()
                    .map;
                let mut files: Vec<GitFile> = files
                    .into_iter()
                    .map(|(path, content)| GitFile { path, content })
                    .collect();
                files.sort_by(|a, b| a.path.cmp(&b.path));
                out.files.insert((url, revision, pattern.clone()), files);
            }
        }
    }
    Ok(out)
}
