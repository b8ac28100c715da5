//! End-to-end tests of [`parse`] with payloads trimmed from Argo CD's `util/webhook/testdata`
//! and the providers' documentation.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use pretty_assertions::assert_eq;
use sha2::Sha256;

use super::*;

/// Argo CD's `testdata/github-commit-event.json`, trimmed.
const GITHUB_PUSH: &str = r#"{
  "ref": "refs/heads/master",
  "before": "d5c1ffa8e294bc18c639bfb4e0df499251034414",
  "after": "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
  "created": false,
  "deleted": false,
  "forced": true,
  "base_ref": null,
  "compare": "https://github.com/jessesuen/test-repo/compare/d5c1ffa8e294...63738bb582c8",
  "commits": [
    {
      "id": "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
      "distinct": true,
      "message": "Add staging-argocd-demo environment",
      "timestamp": "2018-05-04T15:40:02-07:00",
      "added": [
        "ksapps/test-app/environments/staging-argocd-demo/main.jsonnet",
        "ksapps/test-app/environments/staging-argocd-demo/params.libsonnet"
      ],
      "removed": [],
      "modified": ["ksapps/test-app/app.yaml"]
    }
  ],
  "repository": {
    "id": 123060978,
    "name": "test-repo",
    "full_name": "jessesuen/test-repo",
    "private": false,
    "html_url": "https://github.com/jessesuen/test-repo",
    "url": "https://github.com/jessesuen/test-repo",
    "git_url": "git://github.com/jessesuen/test-repo.git",
    "ssh_url": "git@github.com:jessesuen/test-repo.git",
    "clone_url": "https://github.com/jessesuen/test-repo.git",
    "svn_url": "https://github.com/jessesuen/test-repo",
    "default_branch": "master",
    "master_branch": "master"
  },
  "pusher": {"name": "jessesuen", "email": "jessesuen@users.noreply.github.com"},
  "sender": {"login": "jessesuen", "id": 12677113}
}"#;

/// Argo CD's `testdata/github-tag-event.json`, trimmed.
const GITHUB_TAG: &str = r#"{
  "ref": "refs/tags/v1.0",
  "before": "0000000000000000000000000000000000000000",
  "after": "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
  "created": true,
  "deleted": false,
  "base_ref": "refs/heads/master",
  "commits": [],
  "repository": {
    "html_url": "https://github.com/jessesuen/test-repo",
    "ssh_url": "git@github.com:jessesuen/test-repo.git",
    "clone_url": "https://github.com/jessesuen/test-repo.git",
    "default_branch": "master"
  }
}"#;

/// A GitHub ping, trimmed from Argo CD's `testdata/github-ping-event.json`.
const GITHUB_PING: &str = r#"{
  "zen": "Anything added dilutes everything else.",
  "hook_id": 109948940,
  "hook": {"type": "Repository", "id": 109948940, "events": ["push"], "active": true},
  "repository": {"full_name": "jessesuen/test-repo", "html_url": "https://github.com/jessesuen/test-repo"}
}"#;

/// Argo CD's `testdata/gitlab-event.json`, trimmed.
const GITLAB_PUSH: &str = r#"{
  "object_kind": "push",
  "event_name": "push",
  "before": "e5ba5f6c13b64670048daa88e4c053d60b0e115a",
  "after": "bb0748feaa336d841c251017e4e374c22d0c8a98",
  "ref": "refs/heads/master",
  "checkout_sha": "bb0748feaa336d841c251017e4e374c22d0c8a98",
  "project_id": 1,
  "project": {
    "id": 1,
    "name": "project",
    "web_url": "https://gitlab/group/name",
    "git_ssh_url": "ssh://git@gitlab:2222/group/name.git",
    "git_http_url": "https://gitlab/group/name.git",
    "namespace": "group",
    "path_with_namespace": "group/name",
    "default_branch": "master",
    "homepage": "https://gitlab/group/name",
    "url": "ssh://git@gitlab:2222/group/name.git",
    "ssh_url": "ssh://git@gitlab:2222/group/name.git",
    "http_url": "https://gitlab/group/name.git"
  },
  "commits": [
    {
      "id": "bb0748feaa336d841c251017e4e374c22d0c8a98",
      "message": "Test commit message\n",
      "added": ["file.yaml"],
      "modified": [],
      "removed": []
    },
    {
      "id": "e5ba5f6c13b64670048daa88e4c053d60b0e115a",
      "message": "Second commit\n",
      "added": [],
      "modified": ["file.yaml", "apps/guestbook/values.yaml"],
      "removed": ["old.yaml"]
    }
  ],
  "total_commits_count": 2,
  "repository": {
    "name": "name",
    "url": "ssh://git@gitlab:2222/group/name.git",
    "homepage": "https://gitlab/group/name",
    "git_http_url": "https://gitlab/group/name.git",
    "git_ssh_url": "ssh://git@gitlab:2222/group/name.git"
  }
}"#;

/// A GitLab tag push, after the GitLab documentation's example.
const GITLAB_TAG: &str = r#"{
  "object_kind": "tag_push",
  "event_name": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "ref": "refs/tags/v1.0.0",
  "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "project": {
    "web_url": "https://gitlab.example.com/jsmith/example",
    "git_ssh_url": "git@gitlab.example.com:jsmith/example.git",
    "git_http_url": "https://gitlab.example.com/jsmith/example.git",
    "default_branch": "master"
  },
  "commits": [],
  "total_commits_count": 0
}"#;

/// go-playground's `testdata/bitbucket/repo-push.json`, trimmed.
const BITBUCKET_PUSH: &str = r#"{
  "actor": {"username": "emmap1", "display_name": "Emma"},
  "repository": {
    "links": {
      "self": {"href": "https://api.bitbucket.org/api/2.0/repositories/bitbucket/bitbucket"},
      "html": {"href": "https://bitbucket.org/team_name/repo_name"},
      "avatar": {"href": "https://bitbucket.org/avatar.png"}
    },
    "uuid": "{673a6070-3421-46c9-9d48-90745f7bfe8e}",
    "full_name": "team_name/repo_name",
    "name": "repo_name",
    "scm": "git",
    "is_private": true
  },
  "push": {
    "changes": [
      {
        "new": {
          "type": "branch",
          "name": "name-of-branch",
          "target": {"type": "commit", "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d"}
        },
        "old": {
          "type": "branch",
          "name": "name-of-branch",
          "target": {"type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}
        },
        "created": false,
        "forced": false,
        "closed": false,
        "truncated": false
      }
    ]
  }
}"#;

/// Argo CD's `testdata/bitbucket-server-event.json`, trimmed.
const BITBUCKET_SERVER_PUSH: &str = r#"{
  "eventKey": "repo:refs_changed",
  "date": "2019-06-17T19:37:57+1000",
  "actor": {"name": "john", "emailAddress": "john@example.com", "id": 500},
  "repository": {
    "slug": "test-repo",
    "id": 656,
    "name": "test-repo",
    "scmId": "git",
    "project": {"key": "MYPROJECT", "id": 389, "name": "My Project"},
    "public": false,
    "links": {
      "clone": [
        {"href": "ssh://git@bitbucketserver:7999/myproject/test-repo.git", "name": "ssh"},
        {"href": "https://bitbucketserver/scm/myproject/test-repo.git", "name": "http"}
      ],
      "self": [{"href": "https://bitbucketserver/projects/MYPROJECT/repos/test-repo/browse"}]
    }
  },
  "changes": [
    {
      "ref": {"id": "refs/heads/master", "displayId": "master", "type": "BRANCH"},
      "refId": "refs/heads/master",
      "fromHash": "f09c8889a2d234985734958795a31589cd91ffda",
      "toHash": "22671f0349857934857983457983475ec39f196b",
      "type": "UPDATE"
    }
  ]
}"#;

/// Argo CD's `testdata/azuredevops-git-push-event.json`, trimmed.
const AZURE_DEVOPS_PUSH: &str = r#"{
  "subscriptionId": "8fd412f1-9873-4b45-8854-655b1b8a2eff",
  "notificationId": 2,
  "id": "09b0b950-47fa-4f45-8b65-5a22686314f8",
  "eventType": "git.push",
  "publisherId": "tfs",
  "resource": {
    "commits": [
      {
        "commitId": "298a79aa1552799a70718a0ee914d153d5a1a76b",
        "comment": "draft",
        "url": "https://dev.azure.com/my-org/_apis/git/repositories/ba2967cc-02c2-414c-8d10-1b99197cbaa6/commits/298a79aa1552799a70718a0ee914d153d5a1a76b"
      }
    ],
    "refUpdates": [
      {
        "name": "refs/heads/master",
        "oldObjectId": "fa51eeb1e50b98293ce281e6d5492b9decae613b",
        "newObjectId": "298a79aa1552799a70718a0ee914d153d5a1a76b"
      }
    ],
    "repository": {
      "id": "ba2967cc-02c2-414c-8d10-1b99197cbaa6",
      "name": "my-repo",
      "url": "https://dev.azure.com/my-org/_apis/git/repositories/ba2967cc-02c2-414c-8d10-1b99197cbaa6",
      "project": {"id": "ab1c194f-94fa-4d1a-87ff-e9458637d060", "name": "my-repo"},
      "defaultBranch": "refs/heads/master",
      "remoteUrl": "https://dev.azure.com/my-org/my-project/_git/my-repo"
    },
    "pushId": 4,
    "date": "2023-08-09T00:45:42.8315767Z"
  },
  "resourceVersion": "1.0",
  "createdDate": "2023-08-09T00:45:49.3448928Z"
}"#;

/// Argo CD's `testdata/gogs-event.json`, trimmed.
const GOGS_PUSH: &str = r#"{
  "ref": "refs/heads/master",
  "before": "0000000000000000000000000000000000000000",
  "after": "0a05129851238652bf806a400af89fa974ade739",
  "compare_url": "",
  "commits": [
    {
      "id": "0a05129851238652bf806a400af89fa974ade739",
      "message": "New commit message\n",
      "added": [],
      "removed": [],
      "modified": ["cm.yaml"]
    }
  ],
  "repository": {
    "id": 1,
    "name": "repo-test",
    "full_name": "john/repo-test",
    "html_url": "http://gogs-server/john/repo-test",
    "ssh_url": "git@gogs-server/repo-test.git",
    "clone_url": "http://gogs-server/john/repo-test.git",
    "default_branch": "master"
  }
}"#;

/// A header name and value.
type Entry<'a> = (&'a str, &'a str);
/// Header names and values.
type Entries<'a> = Vec<Entry<'a>>;

fn headers(entries: &[Entry<'_>]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in entries {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn sign(key: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn secret(value: &str) -> Option<SecretValue> {
    Some(SecretValue::new(value))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn push(outcome: Result<WebhookOutcome, WebhookError>) -> PushEvent {
    match outcome {
        Ok(WebhookOutcome::Push(event)) => event,
        other => panic!("expected a push event, got {other:?}"),
    }
}

#[test]
fn github_push() {
    let event = push(parse(
        &headers(&[("X-GitHub-Event", "push")]),
        GITHUB_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(
        event,
        PushEvent {
            provider: Provider::GitHub,
            repo_urls: strings(&[
                "https://github.com/jessesuen/test-repo",
                "https://github.com/jessesuen/test-repo.git",
                "git@github.com:jessesuen/test-repo.git",
            ]),
            revision: "master".to_owned(),
            change_sha: Some("63738bb582c8b540af7bcfc18f87c575c3ed66e0".to_owned()),
            before_sha: Some("d5c1ffa8e294bc18c639bfb4e0df499251034414".to_owned()),
            default_branch: Some("master".to_owned()),
            touched_head: true,
            changed_files: Some(strings(&[
                "ksapps/test-app/environments/staging-argocd-demo/main.jsonnet",
                "ksapps/test-app/environments/staging-argocd-demo/params.libsonnet",
                "ksapps/test-app/app.yaml",
            ])),
        }
    );
}

#[test]
fn github_tag_push() {
    let event = push(parse(
        &headers(&[("X-GitHub-Event", "push")]),
        GITHUB_TAG.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(event.revision, "v1.0");
    assert!(!event.touched_head);
    assert_eq!(event.changed_files, Some(vec![]));
    assert_eq!(
        event.before_sha.as_deref(),
        Some("0000000000000000000000000000000000000000")
    );
}

#[test]
fn gitlab_push_and_tag() {
    let event = push(parse(
        &headers(&[("X-Gitlab-Event", "Push Hook")]),
        GITLAB_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(
        event,
        PushEvent {
            provider: Provider::GitLab,
            repo_urls: strings(&[
                "https://gitlab/group/name",
                "https://gitlab/group/name.git",
                "ssh://git@gitlab:2222/group/name.git",
            ]),
            revision: "master".to_owned(),
            change_sha: Some("bb0748feaa336d841c251017e4e374c22d0c8a98".to_owned()),
            before_sha: Some("e5ba5f6c13b64670048daa88e4c053d60b0e115a".to_owned()),
            default_branch: Some("master".to_owned()),
            touched_head: true,
            changed_files: Some(strings(&[
                "file.yaml",
                "apps/guestbook/values.yaml",
                "old.yaml"
            ])),
        }
    );

    // System hooks are dispatched on object_kind.
    let system = push(parse(
        &headers(&[("X-Gitlab-Event", "System Hook")]),
        GITLAB_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(system, event);

    let tag = push(parse(
        &headers(&[("X-Gitlab-Event", "Tag Push Hook")]),
        GITLAB_TAG.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(tag.revision, "v1.0.0");
    assert!(!tag.touched_head);
    assert_eq!(
        tag.repo_urls,
        strings(&[
            "https://gitlab.example.com/jsmith/example",
            "https://gitlab.example.com/jsmith/example.git",
            "git@gitlab.example.com:jsmith/example.git",
        ])
    );
    let system_tag = push(parse(
        &headers(&[("X-Gitlab-Event", "System Hook")]),
        GITLAB_TAG.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(system_tag, tag);
}

#[test]
fn bitbucket_cloud_push() {
    let event = push(parse(
        &headers(&[
            ("X-Hook-UUID", "d8f2bc46-6d47-4b4a-9e27-1f5c0a6bd0c9"),
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", "afd5e1fc-8b26-4a7c-a4a9-0d4bd3e5f2a1"),
        ]),
        BITBUCKET_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(
        event,
        PushEvent {
            provider: Provider::Bitbucket,
            repo_urls: strings(&["https://bitbucket.org/team_name/repo_name"]),
            revision: "name-of-branch".to_owned(),
            change_sha: Some("709d658dc5b6d6afcd46049c2f332ee3f515a67d".to_owned()),
            before_sha: Some("1e65c05c1d5171631d92438a13901ca7dae9618c".to_owned()),
            default_branch: None,
            touched_head: true,
            changed_files: None,
        }
    );
}

#[test]
fn bitbucket_server_push() {
    let event = push(parse(
        &headers(&[
            ("X-Event-Key", "repo:refs_changed"),
            ("X-Request-Id", "a7c1b5b8-4a29-4a4b-9f8f-3b9d4a0e6f11"),
        ]),
        BITBUCKET_SERVER_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(
        event,
        PushEvent {
            provider: Provider::BitbucketServer,
            repo_urls: strings(&[
                "ssh://git@bitbucketserver:7999/myproject/test-repo.git",
                "https://bitbucketserver/scm/myproject/test-repo.git",
            ]),
            revision: "master".to_owned(),
            change_sha: Some("22671f0349857934857983457983475ec39f196b".to_owned()),
            before_sha: Some("f09c8889a2d234985734958795a31589cd91ffda".to_owned()),
            default_branch: None,
            touched_head: true,
            changed_files: None,
        }
    );
}

#[test]
fn azure_devops_push() {
    let event = push(parse(
        &headers(&[("X-Vss-ActivityId", "abc")]),
        AZURE_DEVOPS_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(
        event,
        PushEvent {
            provider: Provider::AzureDevOps,
            repo_urls: strings(&["https://dev.azure.com/my-org/my-project/_git/my-repo"]),
            revision: "master".to_owned(),
            change_sha: Some("298a79aa1552799a70718a0ee914d153d5a1a76b".to_owned()),
            before_sha: Some("fa51eeb1e50b98293ce281e6d5492b9decae613b".to_owned()),
            default_branch: Some("master".to_owned()),
            touched_head: true,
            changed_files: None,
        }
    );
}

#[test]
fn gogs_push() {
    // Gogs also sends X-GitHub-Event; X-Gogs-Event wins.
    let event = push(parse(
        &headers(&[("X-Gogs-Event", "push"), ("X-GitHub-Event", "push")]),
        GOGS_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert_eq!(event.provider, Provider::Gogs);
    assert_eq!(
        event.repo_urls,
        strings(&[
            "http://gogs-server/john/repo-test",
            "http://gogs-server/john/repo-test.git",
            "git@gogs-server/repo-test.git",
        ])
    );
    assert_eq!(event.revision, "master");
    assert!(event.touched_head);
    assert_eq!(event.changed_files, Some(strings(&["cm.yaml"])));
}

#[test]
fn provider_detection() {
    let cases: &[(&[Entry<'_>], Option<Provider>)] = &[
        (&[("X-GitHub-Event", "push")], Some(Provider::GitHub)),
        (&[("x-github-event", "push")], Some(Provider::GitHub)),
        (&[("X-Gitlab-Event", "Push Hook")], Some(Provider::GitLab)),
        (
            &[("X-Event-Key", "repo:push"), ("X-Hook-UUID", "u")],
            Some(Provider::Bitbucket),
        ),
        (
            &[("X-Event-Key", "repo:refs_changed"), ("X-Request-Id", "r")],
            Some(Provider::BitbucketServer),
        ),
        (&[("X-Vss-ActivityId", "a")], Some(Provider::AzureDevOps)),
        (
            &[("X-Gogs-Event", "push"), ("X-GitHub-Event", "push")],
            Some(Provider::Gogs),
        ),
        // Azure DevOps is checked first.
        (
            &[("X-Vss-ActivityId", "a"), ("X-GitHub-Event", "push")],
            Some(Provider::AzureDevOps),
        ),
        // Empty values do not count.
        (&[("X-GitHub-Event", "")], None),
        (&[("X-Unknown-Event", "push")], None),
        (&[], None),
    ];
    for (entries, expected) in cases {
        assert_eq!(detect_provider(&headers(entries)), *expected, "{entries:?}");
    }
    assert_eq!(
        parse(
            &headers(&[("X-Unknown-Event", "push")]),
            b"{}",
            &WebhookSecrets::default()
        ),
        Err(WebhookError::UnknownProvider)
    );
}

#[test]
fn github_signatures() {
    let secrets = WebhookSecrets {
        github: secret("s3cr3t"),
        ..WebhookSecrets::default()
    };
    let good = format!("sha256={}", sign("s3cr3t", GITHUB_PUSH));
    let bare = sign("s3cr3t", GITHUB_PUSH);
    let wrong = format!("sha256={}", sign("other", GITHUB_PUSH));
    let upper = format!("sha256={}", sign("s3cr3t", GITHUB_PUSH).to_uppercase());
    let sha1_only = "sha1=0123456789abcdef0123456789abcdef01234567";
    let mismatch = Err(WebhookError::SignatureMismatch {
        provider: Provider::GitHub,
    });
    let cases: Vec<(Entries<'_>, Result<(), WebhookError>)> = vec![
        (vec![("X-Hub-Signature-256", &good)], Ok(())),
        // go-playground trims an optional prefix.
        (vec![("X-Hub-Signature-256", &bare)], Ok(())),
        (vec![("X-Hub-Signature-256", &wrong)], mismatch.clone()),
        // Argo CD compares lowercase hex strings.
        (vec![("X-Hub-Signature-256", &upper)], mismatch.clone()),
        (
            vec![("X-Hub-Signature-256", "sha256=abc")],
            Err(WebhookError::MalformedSignature {
                provider: Provider::GitHub,
                header: "X-Hub-Signature-256",
            }),
        ),
        // The legacy SHA-1 header alone is not enough.
        (
            vec![("X-Hub-Signature", sha1_only)],
            Err(WebhookError::MissingSignature {
                provider: Provider::GitHub,
                header: "X-Hub-Signature-256",
            }),
        ),
        (
            vec![],
            Err(WebhookError::MissingSignature {
                provider: Provider::GitHub,
                header: "X-Hub-Signature-256",
            }),
        ),
    ];
    for (extra, expected) in cases {
        let mut entries = vec![("X-GitHub-Event", "push")];
        entries.extend(extra.iter().copied());
        let got = parse(&headers(&entries), GITHUB_PUSH.as_bytes(), &secrets);
        match (&got, &expected) {
            (Ok(WebhookOutcome::Push(_)), Ok(())) => {}
            (Err(got), Err(expected)) => assert_eq!(got, expected, "{extra:?}"),
            _ => panic!("{extra:?}: got {got:?}, expected {expected:?}"),
        }
    }
    // The body is what is signed.
    let tampered = GITHUB_PUSH.replace("master", "main");
    assert_eq!(
        parse(
            &headers(&[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)]),
            tampered.as_bytes(),
            &secrets
        )
        .unwrap_err(),
        WebhookError::SignatureMismatch {
            provider: Provider::GitHub
        }
    );
}

#[test]
fn github_ping_and_other_events_are_ignored() {
    let ignored = |event: &str| {
        Ok(WebhookOutcome::Ignored {
            provider: Provider::GitHub,
            event: event.to_owned(),
        })
    };
    assert_eq!(
        parse(
            &headers(&[("X-GitHub-Event", "ping")]),
            GITHUB_PING.as_bytes(),
            &WebhookSecrets::default()
        ),
        ignored("ping")
    );
    assert_eq!(
        parse(
            &headers(&[("X-GitHub-Event", "pull_request")]),
            b"{\"action\":\"opened\"}",
            &WebhookSecrets::default()
        ),
        ignored("pull_request")
    );
    // With a secret, the ping is verified first.
    let secrets = WebhookSecrets {
        github: secret("s3cr3t"),
        ..WebhookSecrets::default()
    };
    let signature = format!("sha256={}", sign("s3cr3t", GITHUB_PING));
    assert_eq!(
        parse(
            &headers(&[
                ("X-GitHub-Event", "ping"),
                ("X-Hub-Signature-256", &signature)
            ]),
            GITHUB_PING.as_bytes(),
            &secrets
        ),
        ignored("ping")
    );
    assert_eq!(
        parse(
            &headers(&[("X-GitHub-Event", "ping")]),
            GITHUB_PING.as_bytes(),
            &secrets
        ),
        Err(WebhookError::MissingSignature {
            provider: Provider::GitHub,
            header: "X-Hub-Signature-256",
        })
    );
}

#[test]
fn gitlab_tokens() {
    let secrets = WebhookSecrets {
        gitlab: secret("gl-token"),
        ..WebhookSecrets::default()
    };
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("X-Gitlab-Token", "gl-token")], true),
        (&[("X-Gitlab-Token", "wrong")], false),
        (&[("X-Gitlab-Token", "gl-token-longer")], false),
        (&[], false),
    ];
    for (extra, ok) in cases {
        let mut entries = vec![("X-Gitlab-Event", "Push Hook")];
        entries.extend(extra.iter().copied());
        let got = parse(&headers(&entries), GITLAB_PUSH.as_bytes(), &secrets);
        if *ok {
            push(got);
        } else {
            assert_eq!(got, Err(WebhookError::GitLabTokenMismatch), "{extra:?}");
        }
    }
    // The token is checked before the event, even for ignored events.
    assert_eq!(
        parse(
            &headers(&[
                ("X-Gitlab-Event", "Merge Request Hook"),
                ("X-Gitlab-Token", "wrong")
            ]),
            b"{}",
            &secrets
        ),
        Err(WebhookError::GitLabTokenMismatch)
    );
    assert_eq!(
        parse(
            &headers(&[
                ("X-Gitlab-Event", "Merge Request Hook"),
                ("X-Gitlab-Token", "gl-token")
            ]),
            b"{\"object_kind\":\"merge_request\"}",
            &secrets
        ),
        Ok(WebhookOutcome::Ignored {
            provider: Provider::GitLab,
            event: "Merge Request Hook".to_owned()
        })
    );
    // Without a configured secret, any token is accepted.
    push(parse(
        &headers(&[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Token", "anything"),
        ]),
        GITLAB_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
}

#[test]
fn bitbucket_uuid() {
    let secrets = WebhookSecrets {
        bitbucket_uuid: secret("{d8f2bc46-6d47-4b4a-9e27-1f5c0a6bd0c9}"),
        ..WebhookSecrets::default()
    };
    push(parse(
        &headers(&[
            ("X-Hook-UUID", "{d8f2bc46-6d47-4b4a-9e27-1f5c0a6bd0c9}"),
            ("X-Event-Key", "repo:push"),
        ]),
        BITBUCKET_PUSH.as_bytes(),
        &secrets,
    ));
    assert_eq!(
        parse(
            &headers(&[
                ("X-Hook-UUID", "{00000000-0000-0000-0000-000000000000}"),
                ("X-Event-Key", "repo:push"),
            ]),
            BITBUCKET_PUSH.as_bytes(),
            &secrets,
        ),
        Err(WebhookError::BitbucketUuidMismatch)
    );
    assert_eq!(
        parse(
            &headers(&[("X-Hook-UUID", "{d8f2bc46-6d47-4b4a-9e27-1f5c0a6bd0c9}")]),
            BITBUCKET_PUSH.as_bytes(),
            &secrets,
        ),
        Err(WebhookError::MissingHeader {
            provider: Provider::Bitbucket,
            header: "X-Event-Key",
        })
    );
    assert_eq!(
        parse(
            &headers(&[
                ("X-Hook-UUID", "{d8f2bc46-6d47-4b4a-9e27-1f5c0a6bd0c9}"),
                ("X-Event-Key", "pullrequest:created"),
            ]),
            b"{}",
            &secrets,
        ),
        Ok(WebhookOutcome::Ignored {
            provider: Provider::Bitbucket,
            event: "pullrequest:created".to_owned()
        })
    );
}

#[test]
fn bitbucket_server_signatures() {
    let secrets = WebhookSecrets {
        bitbucket_server: secret("bbs-secret"),
        ..WebhookSecrets::default()
    };
    let good = format!("sha256={}", sign("bbs-secret", BITBUCKET_SERVER_PUSH));
    let wrong = format!("sha256={}", sign("other", BITBUCKET_SERVER_PUSH));
    let bare = sign("bbs-secret", BITBUCKET_SERVER_PUSH);
    let provider = Provider::BitbucketServer;
    let cases: Vec<(Entries<'_>, Result<(), WebhookError>)> = vec![
        (vec![("X-Hub-Signature", &good)], Ok(())),
        (
            vec![("X-Hub-Signature", &wrong)],
            Err(WebhookError::SignatureMismatch { provider }),
        ),
        (
            vec![("X-Hub-Signature", &bare)],
            Err(WebhookError::MalformedSignature {
                provider,
                header: "X-Hub-Signature",
            }),
        ),
        (
            vec![],
            Err(WebhookError::MissingSignature {
                provider,
                header: "X-Hub-Signature",
            }),
        ),
    ];
    for (extra, expected) in cases {
        let mut entries = vec![("X-Event-Key", "repo:refs_changed")];
        entries.extend(extra.iter().copied());
        let got = parse(
            &headers(&entries),
            BITBUCKET_SERVER_PUSH.as_bytes(),
            &secrets,
        );
        match (&got, &expected) {
            (Ok(WebhookOutcome::Push(_)), Ok(())) => {}
            (Err(got), Err(expected)) => assert_eq!(got, expected, "{extra:?}"),
            _ => panic!("{extra:?}: got {got:?}, expected {expected:?}"),
        }
    }
    // The ping is ignored without verification, as in Argo CD.
    assert_eq!(
        parse(
            &headers(&[("X-Event-Key", "diagnostics:ping")]),
            b"{\"test\": true}",
            &secrets
        ),
        Ok(WebhookOutcome::Ignored {
            provider,
            event: "diagnostics:ping".to_owned()
        })
    );
    // Other events are verified, then ignored.
    assert_eq!(
        parse(&headers(&[("X-Event-Key", "pr:opened")]), b"{}", &secrets),
        Err(WebhookError::MissingSignature {
            provider,
            header: "X-Hub-Signature",
        })
    );
}

#[test]
fn azure_devops_basic_auth() {
    let secrets = WebhookSecrets {
        azure_devops_username: secret("argocd"),
        azure_devops_password: secret("p4ss"),
        ..WebhookSecrets::default()
    };
    let cases: &[(Option<String>, bool)] = &[
        (Some(basic("argocd", "p4ss")), true),
        (Some(basic("argocd", "wrong")), false),
        (Some(basic("other", "p4ss")), false),
        (Some(basic("argocd", "p4ss:extra")), false),
        (Some("Bearer abc".to_owned()), false),
        (None, false),
    ];
    for (authorization, ok) in cases {
        let mut entries = vec![("X-Vss-ActivityId", "abc")];
        if let Some(authorization) = authorization {
            entries.push(("Authorization", authorization));
        }
        let got = parse(&headers(&entries), AZURE_DEVOPS_PUSH.as_bytes(), &secrets);
        if *ok {
            push(got);
        } else {
            assert_eq!(
                got,
                Err(WebhookError::BasicAuthMismatch),
                "{authorization:?}"
            );
        }
    }
    // Only a password configured: the username must be empty.
    let password_only = WebhookSecrets {
        azure_devops_password: secret("p4ss"),
        ..WebhookSecrets::default()
    };
    let auth = basic("", "p4ss");
    push(parse(
        &headers(&[("X-Vss-ActivityId", "abc"), ("Authorization", &auth)]),
        AZURE_DEVOPS_PUSH.as_bytes(),
        &password_only,
    ));
    // Non-push event types are ignored once authenticated.
    let auth = basic("argocd", "p4ss");
    assert_eq!(
        parse(
            &headers(&[("X-Vss-ActivityId", "abc"), ("Authorization", &auth)]),
            br#"{"eventType": "git.pullrequest.created"}"#,
            &secrets
        ),
        Ok(WebhookOutcome::Ignored {
            provider: Provider::AzureDevOps,
            event: "git.pullrequest.created".to_owned()
        })
    );
}

#[test]
fn gogs_signatures() {
    let secrets = WebhookSecrets {
        gogs: secret("gogs-secret"),
        ..WebhookSecrets::default()
    };
    let good = sign("gogs-secret", GOGS_PUSH);
    push(parse(
        &headers(&[("X-Gogs-Event", "push"), ("X-Gogs-Signature", &good)]),
        GOGS_PUSH.as_bytes(),
        &secrets,
    ));
    assert_eq!(
        parse(
            &headers(&[("X-Gogs-Event", "push"), ("X-Gogs-Signature", "00")]),
            GOGS_PUSH.as_bytes(),
            &secrets,
        ),
        Err(WebhookError::SignatureMismatch {
            provider: Provider::Gogs
        })
    );
}

#[test]
fn invalid_payloads() {
    let none = WebhookSecrets::default();
    let github = headers(&[("X-GitHub-Event", "push")]);
    let cases: Vec<(&HeaderMap, &[u8], &str)> = vec![
        (&github, b"", "empty GitHub webhook payload"),
        (
            &github,
            br#"{"ref": "refs/heads/main"}"#,
            "payload is not a valid GitHub push event: missing field repository",
        ),
        (
            &github,
            br#"{"ref": "refs/heads/main", "repository": {}}"#,
            "payload is not a valid GitHub push event: missing field repository.html_url",
        ),
        (
            &github,
            br#"{"ref": "refs/heads/main", "repository": "x"}"#,
            "payload is not a valid GitHub push event: field repository is not an object",
        ),
        (
            &github,
            br#"{"repository": {"html_url": "https://github.com/o/r"}}"#,
            "payload is not a valid GitHub push event: missing field ref",
        ),
        (
            &github,
            br#"{"ref": 1, "repository": {"html_url": "https://github.com/o/r"}}"#,
            "payload is not a valid GitHub push event: field ref is not a string",
        ),
        (
            &github,
            br#"{"ref": "refs/heads/x", "repository": {"html_url": "https://github.com/o/r"},
                 "commits": [{"added": [1]}]}"#,
            "payload is not a valid GitHub push event: field commits[0].added is not an array \
             of strings",
        ),
        (
            &github,
            b"[]",
            "payload is not a valid GitHub push event: not a JSON object",
        ),
        (
            &github,
            b"payload=%7B%7D",
            "GitHub webhook payload is not valid JSON: the GitHub webhook content type must be \
             application/json, not application/x-www-form-urlencoded",
        ),
    ];
    for (headers, body, expected) in cases {
        let got = parse(headers, body, &none);
        match got {
            Err(error) => assert_eq!(error.to_string(), expected),
            Ok(outcome) => panic!("expected {expected:?}, got {outcome:?}"),
        }
    }
    let bbs = headers(&[("X-Event-Key", "repo:refs_changed")]);
    assert_eq!(
        parse(&bbs, br#"{"repository": {"links": {}}}"#, &none)
            .unwrap_err()
            .to_string(),
        "payload is not a valid Bitbucket Server refs_changed event: missing field \
         repository.links.clone"
    );
    let azure = headers(&[("X-Vss-ActivityId", "abc")]);
    assert!(matches!(
        parse(&azure, b"not json", &none),
        Err(WebhookError::InvalidJson {
            provider: Provider::AzureDevOps,
            ..
        })
    ));
}

#[test]
fn error_messages_never_contain_secrets() {
    let secrets = WebhookSecrets {
        github: secret("gh-SECRET-1"),
        gitlab: secret("gl-SECRET-2"),
        bitbucket_uuid: secret("bb-SECRET-3"),
        bitbucket_server: secret("bbs-SECRET-4"),
        gogs: secret("gogs-SECRET-5"),
        azure_devops_username: secret("az-SECRET-6"),
        azure_devops_password: secret("az-SECRET-7"),
    };
    let requests: &[&[(&str, &str)]] = &[
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=0000000"),
        ],
        &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "nope")],
        &[("X-Hook-UUID", "nope"), ("X-Event-Key", "repo:push")],
        &[
            ("X-Event-Key", "repo:refs_changed"),
            ("X-Hub-Signature", "sha256=00"),
        ],
        &[("X-Gogs-Event", "push"), ("X-Gogs-Signature", "00")],
        &[("X-Vss-ActivityId", "a"), ("Authorization", "Basic Og==")],
    ];
    for entries in requests {
        let error = parse(&headers(entries), b"{}", &secrets).unwrap_err();
        assert!(error.is_verification_failure(), "{error}");
        let message = format!("{error} {error:?}");
        assert!(!message.contains("SECRET"), "{message}");
    }
    assert_eq!(
        WebhookError::SignatureMismatch {
            provider: Provider::GitHub
        }
        .to_string(),
        "webhook signature does not match the github secret"
    );
}

#[test]
fn push_events_match_sources() {
    let event = push(parse(
        &headers(&[("X-GitHub-Event", "push")]),
        GITHUB_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    let source = |repo_url, target_revision, path| AppSourceRef {
        repo_url,
        target_revision,
        path,
    };
    let cases = [
        (
            source("https://github.com/jessesuen/test-repo", "HEAD", "."),
            true,
        ),
        (
            source("https://github.com/jessesuen/test-repo.git", "", "."),
            true,
        ),
        (
            source("git@github.com:jessesuen/test-repo.git", "master", "."),
            true,
        ),
        (
            source(
                "git@github.com:JesseSuen/Test-Repo",
                "refs/heads/master",
                ".",
            ),
            true,
        ),
        (
            source("https://github.com/jessesuen/test-repo", "dev", "."),
            false,
        ),
        (
            source("https://github.com/jessesuen/other-repo", "HEAD", "."),
            false,
        ),
        (
            source(
                "https://github.com/jessesuen/test-repo",
                "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
                ".",
            ),
            false,
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(source_matches(&event, &source), expected, "{source:?}");
    }
    // And the files of the push decide between apps of a monorepo.
    let files = event.changed_files.as_deref();
    assert!(app_files_changed(Some("."), "ksapps/test-app", files));
    assert!(!app_files_changed(Some("."), "ksapps/other-app", files));
    assert!(app_files_changed(None, "ksapps/other-app", files));

    // Bitbucket Server clone URLs match the app's clone URLs.
    let event = push(parse(
        &headers(&[("X-Event-Key", "repo:refs_changed")]),
        BITBUCKET_SERVER_PUSH.as_bytes(),
        &WebhookSecrets::default(),
    ));
    assert!(source_matches(
        &event,
        &source(
            "https://bitbucketserver/scm/myproject/test-repo.git",
            "HEAD",
            "."
        )
    ));
    assert!(source_matches(
        &event,
        &source("git@bitbucketserver:myproject/test-repo.git", "master", ".")
    ));
    assert!(app_files_changed(
        Some("."),
        "anything",
        event.changed_files.as_deref()
    ));
}

#[test]
fn max_payload_size() {
    let mib = 1024 * 1024;
    let cases = [
        (None, DEFAULT_MAX_PAYLOAD_BYTES),
        (Some(""), DEFAULT_MAX_PAYLOAD_BYTES),
        (Some("10"), 10 * mib),
        (Some("+10"), 10 * mib),
        (Some("1024"), 1024 * mib),
        (Some("0"), 0),
        (Some("-5"), 0),
        (Some("abc"), DEFAULT_MAX_PAYLOAD_BYTES),
        (Some(" 10"), DEFAULT_MAX_PAYLOAD_BYTES),
        (Some("1.5"), DEFAULT_MAX_PAYLOAD_BYTES),
        (Some("9223372036854775807"), usize::MAX),
    ];
    for (value, expected) in cases {
        assert_eq!(parse_max_payload_size(value), expected, "{value:?}");
    }
    assert_eq!(DEFAULT_MAX_PAYLOAD_BYTES, 50 * mib);
    assert_eq!(check_payload_size(10, 10), Ok(()));
    assert_eq!(
        check_payload_size(11, 10),
        Err(WebhookError::PayloadTooLarge {
            size: 11,
            limit: 10
        })
    );
}
