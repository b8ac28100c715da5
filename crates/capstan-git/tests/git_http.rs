//! Integration tests against the test environment's Git smart-HTTP server (basic auth).
//! Run `e2e/testenv-up.sh` first. Every test makes its own repositories and its own store.

use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use capstan_e2e::{TestEnv, unique_name};
use capstan_git::{
    AuthKind, GitConfig, GitError, GitStats, GitStore, RepoAuth, directories, files_matching,
};
use pretty_assertions::assert_eq;
use prometheus_client::registry::Registry;

struct Fixture {
    env: TestEnv,
    store: GitStore,
    registry: Registry,
    auth: RepoAuth,
    _root: tempfile::TempDir,
}

fn fixture(fetch_interval: Duration, max_checkouts: usize) -> anyhow::Result<Fixture> {
    let env = TestEnv::from_env()?;
    let root = tempfile::tempdir()?;
    let mut registry = Registry::default();
    let config = GitConfig {
        root: root.path().to_path_buf(),
        fetch_interval,
        op_timeout: Duration::from_secs(30),
        max_checkouts,
    };
    let store = GitStore::new(config, &mut registry)?;
    let auth = RepoAuth::user_pass(env.git_http_user(), env.git_http_password());
    Ok(Fixture {
        env,
        store,
        registry,
        auth,
        _root: root,
    })
}

const LONG: Duration = Duration::from_secs(600);

/// Runs `git` with a fixed identity and no user configuration.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Capstan E2E")
        .env("GIT_AUTHOR_EMAIL", "e2e@capstan.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Capstan E2E")
        .env("GIT_COMMITTER_EMAIL", "e2e@capstan.invalid")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn bare(env: &TestEnv, name: &str) -> PathBuf {
    env.git_repos_dir().join(format!("{name}.git"))
}

enum Node<'a> {
    File(&'a str, &'a str),
    Exec(&'a str, &'a str),
    Link(&'a str, &'a str),
}

/// Creates a served repository with the git CLI (for what `create_git_repo` cannot make:
/// symlinks, executables). Returns (url, commit sha).
fn create_repo_with(
    env: &TestEnv,
    name: &str,
    nodes: &[Node<'_>],
) -> anyhow::Result<(String, String)> {
    let work = tempfile::tempdir()?;
    git(work.path(), &["init", "-q", "-b", "main", "."])?;
    for node in nodes {
        let (path, _) = match node {
            Node::File(p, c) | Node::Exec(p, c) | Node::Link(p, c) => (p, c),
        };
        let full = work.path().join(path);
        std::fs::create_dir_all(full.parent().context("parent")?)?;
        match node {
            Node::File(_, contents) => std::fs::write(&full, contents)?,
            Node::Exec(_, contents) => {
                std::fs::write(&full, contents)?;
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))?;
            }
            Node::Link(_, target) => std::os::unix::fs::symlink(target, &full)?,
        }
    }
    git(work.path(), &["add", "-A"])?;
    git(work.path(), &["commit", "-q", "-m", "fixture"])?;
    let sha = git(work.path(), &["rev-parse", "HEAD"])?;
    git(
        work.path(),
        &[
            "clone",
            "-q",
            "--bare",
            ".",
            &bare(env, name).to_string_lossy(),
        ],
    )?;
    Ok((env.git_repo_url(name), sha))
}

// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn resolves_every_kind_of_revision() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-revs");
    let url = f
        .env
        .create_git_repo(&name, &[("app/cm.yaml", "kind: ConfigMap\n")])?;
    let dir = bare(&f.env, &name);
    let first = git(&dir, &["rev-parse", "main"])?;
    git(&dir, &["branch", "feature", "main"])?;
    git(&dir, &["tag", "v1", "main"])?;
    let second = f.env.commit_files(
        &name,
        &[("app/cm.yaml", "kind: ConfigMap\n# 2\n")],
        "second",
    )?;
    git(&dir, &["tag", "-a", "v2", "-m", "release 2", &second])?;
    let tag_object = git(&dir, &["rev-parse", "refs/tags/v2"])?;
    ensure!(tag_object != second, "v2 must be an annotated tag");

    let cases = [
        ("main", &second),
        ("HEAD", &second),
        ("", &second),
        ("refs/heads/main", &second),
        ("feature", &first),
        ("refs/heads/feature", &first),
        ("v1", &first),
        ("refs/tags/v1", &first),
        ("v2", &second),
        ("refs/tags/v2", &second),
        (&first[..7], &first),
        (&second[..12], &second),
        (first.as_str(), &first),
        (second.as_str(), &second),
        (tag_object.as_str(), &second),
    ];
    for (revision, want) in cases {
        let got = f.store.resolve_revision(&url, &f.auth, revision).await?;
        assert_eq!(&got, want, "revision {revision:?}");
    }
    // One ls-remote served every symbolic revision; one fetch filled the mirror.
    assert_eq!(f.store.stats().ls_remotes, 1, "{:?}", f.store.stats());
    assert_eq!(f.store.stats().fetches, 1, "{:?}", f.store.stats());

    let refs = f.store.list_refs(&url, &f.auth).await?;
    assert_eq!(refs.branches, ["feature", "main"]);
    assert_eq!(refs.tags, ["v1", "v2"]);

    let meta = f.store.commit_metadata(&url, &f.auth, &second).await?;
    assert_eq!(meta.sha, second);
    assert_eq!(meta.author, "Capstan E2E <e2e@capstan.invalid>");
    assert_eq!(meta.date, 1_704_067_200);
    assert_eq!(meta.message.trim(), "second");
    assert_eq!(meta.tags, ["v2"]);
    assert_eq!(
        f.store.commit_metadata(&url, &f.auth, &first).await?.tags,
        ["v1"]
    );
    Ok(())
}

#[tokio::test]
async fn unknown_revisions_are_named_in_the_error() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-unknown");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    for revision in [
        "no-such-branch",
        "refs/heads/nope",
        "deadbeef",
        "0123456789abcdef0123456789abcdef01234567",
    ] {
        let err = f
            .store
            .resolve_revision(&url, &f.auth, revision)
            .await
            .expect_err(revision);
        assert!(
            matches!(&err, GitError::RevisionNotFound { revision: r, url: u } if r == revision && *u == url),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(revision) && text.contains(&url), "{text}");
    }
    let err = f
        .store
        .checkout(&url, &f.auth, "0123456789abcdef0123456789abcdef01234567")
        .await
        .expect_err("unknown commit");
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err:?}");
    // A repository that does not exist names its URL too.
    let missing = f.env.git_repo_url(&unique_name("capstan-git-missing"));
    let err = f
        .store
        .resolve_revision(&missing, &f.auth, "main")
        .await
        .expect_err("missing repository");
    assert!(err.to_string().contains(&missing), "{err}");
    Ok(())
}

#[tokio::test]
async fn new_commits_are_seen_after_the_fetch_interval_and_not_before() -> anyhow::Result<()> {
    let interval = Duration::from_secs(2);
    let f = fixture(interval, 4)?;
    let name = unique_name("capstan-git-interval");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let first = f.store.resolve_revision(&url, &f.auth, "main").await?;
    let resolved_at = Instant::now();
    let second = f
        .env
        .commit_files(&name, &[("a.yaml", "a: 2\n")], "second")?;
    assert_ne!(first, second);

    // Within the interval: the remembered refs answer, no network.
    let again = f.store.resolve_revision(&url, &f.auth, "main").await?;
    ensure!(
        resolved_at.elapsed() < interval,
        "the machine is too slow for this test"
    );
    assert_eq!(
        again, first,
        "a branch must not move within the fetch interval"
    );
    assert_eq!(
        f.store.stats(),
        GitStats {
            ls_remotes: 1,
            fetches: 1,
            ..GitStats::default()
        }
    );

    // After it: one new ls-remote and a fetch of the new commit.
    tokio::time::sleep(interval + Duration::from_millis(200)).await;
    assert_eq!(
        f.store.resolve_revision(&url, &f.auth, "main").await?,
        second
    );
    assert_eq!(f.store.stats().ls_remotes, 2);
    assert_eq!(f.store.stats().fetches, 2);

    // A full SHA already in the mirror needs no network at all.
    tokio::time::sleep(interval + Duration::from_millis(200)).await;
    assert_eq!(
        f.store.resolve_revision(&url, &f.auth, &first).await?,
        first
    );
    assert_eq!(f.store.stats().ls_remotes, 2);
    assert_eq!(f.store.stats().fetches, 2);
    Ok(())
}

#[tokio::test]
async fn fifty_concurrent_resolves_cost_one_ls_remote() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-storm");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let want = git(&bare(&f.env, &name), &["rev-parse", "main"])?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, url, auth) = (f.store.clone(), url.clone(), f.auth.clone());
            tokio::spawn(async move { store.resolve_revision(&url, &auth, "main").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await??, want);
    }
    let stats = f.store.stats();
    assert_eq!(stats.ls_remotes, 1, "{stats:?}");
    assert_eq!(stats.fetches, 1, "{stats:?}");

    // The metrics tell the same, with Argo CD's names.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &f.registry)?;
    for line in [
        format!(r#"argocd_git_request_total{{repo="{url}",request_type="ls-remote"}} 1"#),
        format!(r#"argocd_git_request_total{{repo="{url}",request_type="fetch"}} 1"#),
        format!(
            r#"argocd_git_request_duration_seconds_count{{repo="{url}",request_type="fetch"}} 1"#
        ),
    ] {
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("argocd_git_fetch_fail_total"), "{text}");
    Ok(())
}

#[tokio::test]
async fn waiters_reuse_an_ls_remote_in_flight_even_with_a_zero_interval() -> anyhow::Result<()> {
    let f = fixture(Duration::ZERO, 4)?;
    let name = unique_name("capstan-git-zero");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, url, auth) = (f.store.clone(), url.clone(), f.auth.clone());
            tokio::spawn(async move { store.resolve_revision(&url, &auth, "main").await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let stats = f.store.stats();
    // Nothing is remembered across time, but callers that waited for a running ls-remote
    // take its result instead of starting their own.
    assert!(stats.ls_remotes < 20, "{stats:?}");
    assert_eq!(stats.fetches, 1, "{stats:?}");
    // Sequential calls with a zero interval always ask the server.
    let before = f.store.stats().ls_remotes;
    f.store.resolve_revision(&url, &f.auth, "main").await?;
    assert_eq!(f.store.stats().ls_remotes, before + 1);
    Ok(())
}

#[tokio::test]
async fn checkout_exports_the_commit_tree() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-checkout");
    let (url, sha) = create_repo_with(
        &f.env,
        &name,
        &[
            Node::File("README.md", "# hello\n"),
            Node::File("apps/a/config.json", "{\"name\":\"a\"}\n"),
            Node::File("apps/b/config.json", "{\"name\":\"b\"}\n"),
            Node::File("apps/b/deep/config.json", "{\"name\":\"deep\"}\n"),
            Node::File(".github/ci.yaml", "on: push\n"),
            Node::Exec("scripts/run.sh", "#!/bin/sh\necho hi\n"),
        ],
    )?;
    let checkout = f.store.checkout(&url, &f.auth, &sha).await?;
    assert_eq!(checkout.sha(), sha);
    let root = checkout.path();
    assert!(
        root.starts_with(f._root.path().join("checkouts")),
        "{}",
        root.display()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("README.md"))?,
        "# hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("apps/b/deep/config.json"))?,
        "{\"name\":\"deep\"}\n"
    );
    assert!(!root.join(".git").exists(), "a checkout has no .git");
    let mode = |p: &str| -> anyhow::Result<u32> {
        Ok(std::fs::metadata(root.join(p))?.permissions().mode() & 0o777)
    };
    assert_eq!(mode("scripts/run.sh")?, 0o755);
    assert_eq!(mode("README.md")?, 0o644);

    // The ApplicationSet generators' views of it.
    let files = files_matching(root, "apps/*/config.json")?;
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["apps/a/config.json", "apps/b/config.json"]
    );
    assert_eq!(files["apps/a/config.json"], b"{\"name\":\"a\"}\n");
    assert_eq!(files_matching(root, "apps/**/config.json")?.len(), 3);
    assert_eq!(
        directories(root)?,
        ["apps", "apps/a", "apps/b", "apps/b/deep", "scripts"]
    );

    // Asking again reuses the export; the mirror already has the commit (no new fetch).
    let again = f.store.checkout(&url, &f.auth, &sha.to_uppercase()).await?;
    assert_eq!(again.path(), checkout.path());
    let stats = f.store.stats();
    assert_eq!(
        (stats.checkouts_created, stats.checkouts_reused),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.fetches, 1, "{stats:?}");
    assert_eq!(
        stats.ls_remotes, 0,
        "a full SHA needs no ls-remote: {stats:?}"
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_checkouts_of_one_commit_share_one_export() -> anyhow::Result<()> {
    let f = fixture(LONG, 0)?;
    let name = unique_name("capstan-git-shared");
    let url = f.env.create_git_repo(&name, &[("a/b.yaml", "b: 1\n")])?;
    let sha = f.store.resolve_revision(&url, &f.auth, "main").await?;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, url, auth, sha) =
                (f.store.clone(), url.clone(), f.auth.clone(), sha.clone());
            tokio::spawn(async move { store.checkout(&url, &auth, &sha).await })
        })
        .collect();
    let mut checkouts = vec![];
    for task in tasks {
        checkouts.push(task.await??);
    }
    let path = checkouts[0].path().to_path_buf();
    assert!(checkouts.iter().all(|c| c.path() == path));
    let stats = f.store.stats();
    assert_eq!(
        (stats.checkouts_created, stats.checkouts_reused),
        (1, 19),
        "{stats:?}"
    );
    assert_eq!(std::fs::read_to_string(path.join("a/b.yaml"))?, "b: 1\n");

    // max_checkouts = 0: the directory goes with its last holder.
    let last = checkouts.pop().context("one left")?;
    drop(checkouts);
    assert!(path.exists(), "still held");
    drop(last);
    assert!(!path.exists(), "removed after the last holder");
    Ok(())
}

#[tokio::test]
async fn idle_checkouts_are_kept_up_to_max_checkouts() -> anyhow::Result<()> {
    let f = fixture(LONG, 1)?;
    let name = unique_name("capstan-git-lru");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let first = f.store.resolve_revision(&url, &f.auth, "main").await?;
    let second = f
        .env
        .commit_files(&name, &[("a.yaml", "a: 2\n")], "second")?;
    let one = f.store.checkout(&url, &f.auth, &first).await?;
    let one_path = one.path().to_path_buf();
    drop(one);
    assert!(one_path.exists(), "kept idle");
    let again = f.store.checkout(&url, &f.auth, &first).await?;
    assert_eq!(again.path(), one_path);
    drop(again);
    // The second commit is fetched on demand; its export pushes the first out of the LRU.
    let two = f.store.checkout(&url, &f.auth, &second).await?;
    assert_eq!(
        std::fs::read_to_string(two.path().join("a.yaml"))?,
        "a: 2\n"
    );
    drop(two);
    assert!(!one_path.exists(), "evicted");
    let stats = f.store.stats();
    assert_eq!(
        (stats.checkouts_created, stats.checkouts_reused),
        (2, 1),
        "{stats:?}"
    );
    Ok(())
}

#[tokio::test]
async fn symlinks_inside_are_kept_and_escaping_ones_fail_the_checkout() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-links-ok");
    let (url, sha) = create_repo_with(
        &f.env,
        &name,
        &[
            Node::File("base/values.yaml", "replicas: 1\n"),
            Node::Link("values.yaml", "base/values.yaml"),
            Node::Link("overlay/base", "../base"),
            Node::Link("overlay/values.yaml", "base/values.yaml"),
        ],
    )?;
    let checkout = f.store.checkout(&url, &f.auth, &sha).await?;
    let root = checkout.path();
    assert_eq!(
        std::fs::read_link(root.join("values.yaml"))?,
        Path::new("base/values.yaml")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("overlay/values.yaml"))?,
        "replicas: 1\n"
    );
    assert!(
        std::fs::symlink_metadata(root.join("overlay/base"))?
            .file_type()
            .is_symlink()
    );

    for (label, link, target) in [
        ("relative", "app/secret", "../../../../etc/passwd"),
        ("absolute", "app/secret", "/etc/passwd"),
        ("chained", "app/x", "up/.."),
    ] {
        let name = unique_name(&format!("capstan-git-links-{label}"));
        let mut nodes = vec![
            Node::File("app/ok.yaml", "a: 1\n"),
            Node::Link(link, target),
        ];
        if label == "chained" {
            // `app/up` alone stays inside (it is the root); `app/x -> up/..` then leaves.
            nodes.push(Node::Link("app/up", ".."));
        }
        let (url, sha) = create_repo_with(&f.env, &name, &nodes)?;
        let err = f
            .store
            .checkout(&url, &f.auth, &sha)
            .await
            .expect_err(label);
        match &err {
            GitError::SymlinkEscape { path, target: t } => {
                assert_eq!((path.as_str(), t.as_str()), (link, target), "{label}");
            }
            other => bail!("{label}: expected SymlinkEscape, got {other:?}"),
        }
        assert!(err.to_string().contains(link), "{err}");
    }
    // Refused checkouts leave nothing behind.
    let leftovers: Vec<_> = std::fs::read_dir(f._root.path().join("checkouts"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    Ok(())
}

#[tokio::test]
async fn submodules_are_skipped() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-submodule");
    let work = tempfile::tempdir()?;
    git(work.path(), &["init", "-q", "-b", "main", "."])?;
    std::fs::write(work.path().join("a.yaml"), "a: 1\n")?;
    git(work.path(), &["add", "a.yaml"])?;
    // A gitlink (what `git submodule add` records), pointing at a commit of another repository.
    let foreign = "0123456789abcdef0123456789abcdef01234567";
    git(
        work.path(),
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{foreign},vendor/lib"),
        ],
    )?;
    git(work.path(), &["commit", "-q", "-m", "with a submodule"])?;
    let sha = git(work.path(), &["rev-parse", "HEAD"])?;
    git(
        work.path(),
        &[
            "clone",
            "-q",
            "--bare",
            ".",
            &bare(&f.env, &name).to_string_lossy(),
        ],
    )?;
    let url = f.env.git_repo_url(&name);
    let checkout = f.store.checkout(&url, &f.auth, &sha).await?;
    assert_eq!(
        std::fs::read_to_string(checkout.path().join("a.yaml"))?,
        "a: 1\n"
    );
    let sub = checkout.path().join("vendor/lib");
    assert!(
        sub.is_dir(),
        "an uninitialised submodule is an empty directory, as with git"
    );
    assert_eq!(std::fs::read_dir(&sub)?.count(), 0);
    Ok(())
}

#[tokio::test]
async fn wrong_password_is_authentication_failed_without_the_secret() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-auth");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let wrong_password = "wrong-Pa55word-do-not-print";
    let wrong = RepoAuth::user_pass(f.env.git_http_user(), wrong_password);
    let real_password = f.env.git_http_password().to_string();

    let check = |err: &GitError| {
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        for text in [&shown, &debug] {
            assert!(!text.contains(wrong_password), "{text}");
            assert!(!text.contains(&real_password), "{text}");
        }
        shown
    };

    let err = f
        .store
        .test_access(&url, &wrong)
        .await
        .expect_err("wrong password");
    assert!(
        matches!(&err, GitError::AuthenticationFailed { url: u } if *u == url),
        "{err:?}"
    );
    let shown = check(&err);
    assert_eq!(
        shown,
        format!(
            "authentication failed for {url}: check the username and password or token of its repository Secret"
        )
    );
    assert!(err.is_auth());

    let err = f
        .store
        .resolve_revision(&url, &wrong, "main")
        .await
        .expect_err("wrong password");
    assert!(
        matches!(err, GitError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    check(&err);

    // Credentials in the URL itself are never shown either.
    let (scheme, rest) = url.split_once("://").context("url")?;
    let with_creds = format!(
        "{scheme}://{}:{wrong_password}@{rest}",
        f.env.git_http_user()
    );
    let err = f
        .store
        .test_access(&with_creds, &RepoAuth::none())
        .await
        .expect_err("wrong password in the URL");
    assert!(err.is_auth(), "{err:?}");
    assert!(check(&err).contains(&url), "{err}");

    // No credentials at all.
    let err = f
        .store
        .test_access(&url, &RepoAuth::none())
        .await
        .expect_err("no credentials");
    assert!(
        matches!(err, GitError::AuthenticationRequired { .. }),
        "{err:?}"
    );
    check(&err);

    // An SSH key for an http URL.
    let key = RepoAuth {
        kind: AuthKind::SshKey {
            private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n".into(),
            known_hosts: None,
        },
        insecure: false,
    };
    let err = f
        .store
        .test_access(&url, &key)
        .await
        .expect_err("key for http");
    assert!(
        matches!(err, GitError::CredentialsMismatch { .. }),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("not-a-key"));

    // The right password works, and failures did not poison the remembered refs.
    f.store.test_access(&url, &f.auth).await?;
    let sha = f.store.resolve_revision(&url, &f.auth, "main").await?;
    assert_eq!(sha.len(), 40);
    Ok(())
}

#[tokio::test]
async fn network_operations_time_out() -> anyhow::Result<()> {
    // A server that accepts and then says nothing for 4 s.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(4)));
            let _ = conn.read(&mut buf);
            std::thread::sleep(Duration::from_secs(4));
        }
    });
    let root = tempfile::tempdir()?;
    let mut registry = Registry::default();
    let store = GitStore::new(
        GitConfig {
            root: root.path().to_path_buf(),
            fetch_interval: LONG,
            op_timeout: Duration::from_secs(1),
            max_checkouts: 1,
        },
        &mut registry,
    )?;
    let url = format!("http://127.0.0.1:{port}/slow.git");
    let started = Instant::now();
    let err = store
        .resolve_revision(&url, &RepoAuth::none(), "main")
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, GitError::Timeout { url: u, op: "ls-remote", .. } if *u == url),
        "{err:?}"
    );
    let _ = server.join();
    Ok(())
}

#[tokio::test]
async fn one_mirror_per_repository_whatever_the_spelling() -> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-spelling");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let sha = f.store.resolve_revision(&url, &f.auth, "main").await?;
    // git http-backend finds `<name>.git` for `<name>` too.
    let spelled = url.trim_end_matches(".git").to_string();
    assert_ne!(spelled, url);
    let same = f.store.resolve_revision(&spelled, &f.auth, "main").await?;
    assert_eq!(same, sha);
    assert_eq!(
        f.store.stats().ls_remotes,
        1,
        "{spelled} must share {url}'s mirror"
    );
    let mirrors: Vec<_> = std::fs::read_dir(f._root.path().join("mirrors"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(mirrors.len(), 1, "{mirrors:?}");
    assert_eq!(
        mirrors[0].len(),
        64,
        "sha256 hex, never the URL: {mirrors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_fresh_resolve_sees_a_push_at_once_and_concurrent_ones_share_an_ls_remote()
-> anyhow::Result<()> {
    let f = fixture(LONG, 4)?;
    let name = unique_name("capstan-git-fresh");
    let url = f.env.create_git_repo(&name, &[("a.yaml", "a: 1\n")])?;
    let first = f.store.resolve_revision(&url, &f.auth, "main").await?;
    let second = f
        .env
        .commit_files(&name, &[("a.yaml", "a: 2\n")], "second")?;
    // Within the (long) interval a plain resolve answers from memory...
    assert_eq!(
        f.store.resolve_revision(&url, &f.auth, "main").await?,
        first
    );
    // ...an explicit refresh does not.
    assert_eq!(
        f.store
            .resolve_revision_fresh(&url, &f.auth, "main")
            .await?,
        second
    );
    assert_eq!(f.store.stats().ls_remotes, 2);
    // A storm of refreshes: callers that arrive while one ls-remote runs share the next one.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, url, auth) = (f.store.clone(), url.clone(), f.auth.clone());
            tokio::spawn(async move { store.resolve_revision_fresh(&url, &auth, "main").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await??, second);
    }
    let storm = f.store.stats().ls_remotes - 2;
    assert!(
        (1..=2).contains(&storm),
        "{storm} ls-remotes for 20 refreshes"
    );
    Ok(())
}
