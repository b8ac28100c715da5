//! The contract as a table: every service and method name Capstan promises, checked
//! against the compiled descriptor set. Renaming, removing or adding a method (or
//! changing whether it streams) fails here, so contract changes are always deliberate.

use std::collections::{BTreeMap, BTreeSet};

use pretty_assertions::assert_eq;
use prost::Message as _;
use prost_types::FileDescriptorSet;

/// Fully qualified service name to its methods, in the order they are listed in the
/// brief and in Argo CD. Server-streaming methods are marked with a leading `~`.
const SERVICES: &[(&str, &[&str])] = &[
    (
        "capstan.repo.v1.RepoServerService",
        &[
            "GenerateManifest",
            "ResolveRevision",
            "ListRefs",
            "GetAppDetails",
            "ListApps",
            "GetGitFiles",
            "GetGitDirectories",
            "TestRepository",
            "GetRevisionMetadata",
        ],
    ),
    (
        "capstan.application.v1.ApplicationService",
        &[
            "List",
            "Get",
            "Create",
            "Update",
            "UpdateSpec",
            "Patch",
            "Delete",
            "Sync",
            "Rollback",
            "TerminateOperation",
            "ResourceTree",
            "~WatchResourceTree",
            "ManagedResources",
            "~Watch",
            "GetManifests",
            "RevisionMetadata",
            "ListResourceEvents",
            "GetResource",
            "PatchResource",
            "DeleteResource",
            "~PodLogs",
            "ListLinks",
            "ListResourceLinks",
            "ListResourceActions",
            "RunResourceAction",
            "GetApplicationSyncWindows",
        ],
    ),
    (
        "capstan.applicationset.v1.ApplicationSetService",
        &["List", "Get", "Create", "Delete", "~Watch", "Generate"],
    ),
    (
        "capstan.project.v1.ProjectService",
        &[
            "List",
            "Get",
            "Create",
            "Update",
            "Delete",
            "CreateToken",
            "DeleteToken",
            "GetDetailedProject",
            "GetSyncWindowsState",
            "ListEvents",
        ],
    ),
    (
        "capstan.repository.v1.RepositoryService",
        &[
            "List",
            "Get",
            "Create",
            "Update",
            "Delete",
            "ListRefs",
            "ListApps",
            "GetAppDetails",
            "ValidateAccess",
            "ListRepositoryCredentials",
            "CreateRepositoryCredentials",
            "UpdateRepositoryCredentials",
            "DeleteRepositoryCredentials",
        ],
    ),
    (
        "capstan.cluster.v1.ClusterService",
        &[
            "List",
            "Get",
            "Create",
            "Update",
            "Delete",
            "RotateAuth",
            "InvalidateCache",
        ],
    ),
    (
        "capstan.session.v1.SessionService",
        &["Create", "Delete", "GetUserInfo"],
    ),
    (
        "capstan.account.v1.AccountService",
        &[
            "ListAccounts",
            "GetAccount",
            "CanI",
            "UpdatePassword",
            "CreateToken",
            "DeleteToken",
        ],
    ),
    (
        "capstan.settings.v1.SettingsService",
        &["Get", "GetPlugins"],
    ),
    ("capstan.version.v1.VersionService", &["Version"]),
    (
        "capstan.auth.v1.AuthService",
        &[
            "VerifyToken",
            "IssueToken",
            "RevokeToken",
            "GetUserInfo",
            "GetJwks",
            "Login",
            "UpdatePassword",
        ],
    ),
];

fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(capstan_proto::FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
}

/// Service name to method names (`~` marks server streaming) as compiled.
fn compiled_services() -> BTreeMap<String, BTreeSet<String>> {
    let mut services = BTreeMap::new();
    for file in descriptor_set().file {
        let package = file.package().to_owned();
        for service in &file.service {
            let mut methods = BTreeSet::new();
            for method in &service.method {
                assert!(
                    !method.client_streaming(),
                    "{package}.{}/{} streams from the client; no Capstan method does",
                    service.name(),
                    method.name()
                );
                let marker = if method.server_streaming() { "~" } else { "" };
                methods.insert(format!("{marker}{}", method.name()));
            }
            services.insert(format!("{package}.{}", service.name()), methods);
        }
    }
    services
}

#[test]
fn descriptor_set_has_every_service_and_method() {
    let expected: BTreeMap<String, BTreeSet<String>> = SERVICES
        .iter()
        .map(|(service, methods)| {
            let set: BTreeSet<String> = methods.iter().map(|m| (*m).to_owned()).collect();
            assert_eq!(
                set.len(),
                methods.len(),
                "duplicate method in table for {service}"
            );
            ((*service).to_owned(), set)
        })
        .collect();
    assert_eq!(compiled_services(), expected);
}

#[test]
fn every_capstan_file_is_proto3_in_a_versioned_package_matching_its_path() {
    for file in descriptor_set().file {
        let name = file.name().to_owned();
        if name.starts_with("google/protobuf/") {
            continue;
        }
        assert_eq!(file.syntax(), "proto3", "{name}");
        let package = file.package();
        // capstan/<name>/v1/<name>.proto declares package capstan.<name>.v1.
        let dir = name
            .rsplit_once('/')
            .map(|(dir, _)| dir)
            .unwrap_or_default();
        assert_eq!(
            dir.replace('/', "."),
            package,
            "{name}: package and directory differ"
        );
        assert!(
            package.starts_with("capstan.") && package.ends_with(".v1"),
            "{name}: package {package} is not capstan.<name>.v1"
        );
    }
}

#[test]
fn descriptor_set_includes_imported_well_known_types() {
    let names: BTreeSet<String> = descriptor_set()
        .file
        .into_iter()
        .map(|file| file.name().to_owned())
        .collect();
    for needed in [
        "google/protobuf/timestamp.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/empty.proto",
        "capstan/common/v1/common.proto",
    ] {
        assert!(names.contains(needed), "{needed} missing from {names:?}");
    }
}

/// The generated server types carry the same names as the descriptor, so health and
/// reflection registrations agree with what clients call.
#[test]
fn generated_service_names_match_descriptor() {
    use capstan_proto::{
        account, application, applicationset, auth, cluster, project, repo, repository, session,
        settings, version,
    };
    let generated = [
        repo::v1::repo_server_service_server::SERVICE_NAME,
        application::v1::application_service_server::SERVICE_NAME,
        applicationset::v1::application_set_service_server::SERVICE_NAME,
        project::v1::project_service_server::SERVICE_NAME,
        repository::v1::repository_service_server::SERVICE_NAME,
        cluster::v1::cluster_service_server::SERVICE_NAME,
        session::v1::session_service_server::SERVICE_NAME,
        account::v1::account_service_server::SERVICE_NAME,
        settings::v1::settings_service_server::SERVICE_NAME,
        version::v1::version_service_server::SERVICE_NAME,
        auth::v1::auth_service_server::SERVICE_NAME,
    ];
    let generated: BTreeSet<String> = generated.iter().map(|s| (*s).to_owned()).collect();
    let compiled: BTreeSet<String> = compiled_services().into_keys().collect();
    assert_eq!(generated, compiled);
}
