//! Round trip over real TCP: a tonic server for the generated `RepoServerService`
//! (with a tiny fake implementation: this tests the generated transport, not the
//! repo-server), gRPC health and reflection, called with the generated clients.

use std::{collections::HashMap, net::SocketAddr};

use capstan_proto::{
    FILE_DESCRIPTOR_SET,
    common::v1::KubeObject,
    repo::v1::{
        AppList, GitDirectoriesRequest, GitDirectoriesResponse, GitFilesRequest, GitFilesResponse,
        ListAppsRequest, ListRefsRequest, ManifestRequest, ManifestResponse, RefTarget, Refs,
        RepoAppDetailsResponse, RepoRef, RepoServerAppDetailsQuery,
        RepoServerRevisionMetadataRequest, RepoType, ResolveRevisionRequest,
        ResolveRevisionResponse, RevisionMetadata, SourceType, TestRepositoryRequest,
        TestRepositoryResponse, TrackingMethod,
        repo_server_service_client::RepoServerServiceClient,
        repo_server_service_server::{RepoServerService, RepoServerServiceServer, SERVICE_NAME},
    },
};
use pretty_assertions::assert_eq;
use prost::Message as _;
use prost_types::{FileDescriptorProto, Timestamp};
use serde_json::json;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, ServerReflectionResponse,
    server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse,
};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Answers from its arguments only; unknown revisions are NOT_FOUND.
#[derive(Debug)]
struct FakeRepoServer;

fn resolve(revision: &str) -> Result<&'static str, Status> {
    match revision {
        "main" | "HEAD" | SHA => Ok(SHA),
        other => Err(Status::not_found(format!("revision {other:?} not found"))),
    }
}

#[tonic::async_trait]
impl RepoServerService for FakeRepoServer {
    async fn generate_manifest(
        &self,
        request: Request<ManifestRequest>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let request = request.into_inner();
        let source: serde_json::Value =
            capstan_proto::required(request.application_source.as_ref(), "application_source")?
                .to_object()?;
        let config_map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": request.app_name,
                "namespace": request.namespace,
                "annotations": {
                    "path": source["path"],
                    "tracking": request.tracking_method().argo_name(),
                    "ref-sources": request.ref_sources.len().to_string(),
                },
            },
            "data": {"kubeVersion": request.kube_version},
        });
        Ok(Response::new(ManifestResponse {
            manifests: vec![config_map.to_string()],
            namespace: request.namespace,
            server: "https://kubernetes.default.svc".to_owned(),
            revision: resolve(&request.revision)?.to_owned(),
            source_type: SourceType::Directory.into(),
            verify_result: String::new(),
            commit_message: "initial commit".to_owned(),
            commit_author: "Capstan <capstan@example.com>".to_owned(),
            commit_date: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
        }))
    }

    async fn resolve_revision(
        &self,
        request: Request<ResolveRevisionRequest>,
    ) -> Result<Response<ResolveRevisionResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(ResolveRevisionResponse {
            revision: resolve(&request.ambiguous_revision)?.to_owned(),
            ambiguous_revision: request.ambiguous_revision,
        }))
    }

    async fn list_refs(&self, _: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        Ok(Response::new(Refs {
            branches: vec!["main".to_owned()],
            tags: vec!["v1.0.0".to_owned()],
        }))
    }

    async fn get_app_details(
        &self,
        _: Request<RepoServerAppDetailsQuery>,
    ) -> Result<Response<RepoAppDetailsResponse>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }

    async fn list_apps(&self, _: Request<ListAppsRequest>) -> Result<Response<AppList>, Status> {
        Ok(Response::new(AppList {
            apps: HashMap::from([("guestbook".to_owned(), SourceType::Kustomize.into())]),
        }))
    }

    async fn get_git_files(
        &self,
        _: Request<GitFilesRequest>,
    ) -> Result<Response<GitFilesResponse>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }

    async fn get_git_directories(
        &self,
        _: Request<GitDirectoriesRequest>,
    ) -> Result<Response<GitDirectoriesResponse>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }

    async fn test_repository(
        &self,
        _: Request<TestRepositoryRequest>,
    ) -> Result<Response<TestRepositoryResponse>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }

    async fn get_revision_metadata(
        &self,
        _: Request<RepoServerRevisionMetadataRequest>,
    ) -> Result<Response<RevisionMetadata>, Status> {
        Err(Status::unimplemented("not part of this test"))
    }
}

/// A server running on 127.0.0.1 with an ephemeral port; stops when dropped or shut
/// down.
struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");

        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<RepoServerServiceServer<FakeRepoServer>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("reflection service builds from the descriptor set");

        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(RepoServerServiceServer::new(FakeRepoServer))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                // Either a shutdown request or the sender being dropped stops the server.
                let _ = stopped.await;
            });
        Self {
            addr,
            shutdown: Some(shutdown),
            task: tokio::spawn(server),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A plain channel, for the health and reflection clients (which have no
    /// `connect` shortcut).
    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid URI")
            .connect()
            .await
            .expect("connect")
    }

    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task)
            .await
            .expect("server task")
            .expect("server ran cleanly");
    }
}

fn repo() -> RepoRef {
    RepoRef {
        url: "https://git.example.com/org/guestbook.git".to_owned(),
        r#type: RepoType::Git.into(),
        project: "default".to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn generate_manifest_round_trips_over_tcp() {
    let server = TestServer::start().await;
    let mut client = RepoServerServiceClient::connect(server.url())
        .await
        .expect("connect");

    let source = json!({
        "repoURL": "https://git.example.com/org/guestbook.git",
        "path": "guestbook",
        "targetRevision": "main",
    });
    let request = ManifestRequest {
        repo: Some(repo()),
        revision: "main".to_owned(),
        app_name: "guestbook".to_owned(),
        namespace: "demo".to_owned(),
        application_source: Some(KubeObject::from_object(&source).expect("encode source")),
        kube_version: "1.33.1".to_owned(),
        api_versions: vec!["apps/v1".to_owned(), "v1".to_owned()],
        tracking_method: TrackingMethod::AnnotationAndLabel.into(),
        ref_sources: HashMap::from([(
            "$values".to_owned(),
            RefTarget {
                repo: Some(repo()),
                target_revision: "main".to_owned(),
                chart: String::new(),
            },
        )]),
        ..Default::default()
    };
    let response = client
        .generate_manifest(request)
        .await
        .expect("GenerateManifest")
        .into_inner();

    assert_eq!(response.revision, SHA);
    assert_eq!(response.source_type(), SourceType::Directory);
    assert_eq!(response.namespace, "demo");
    assert_eq!(response.commit_date.map(|t| t.seconds), Some(1_700_000_000));
    assert_eq!(response.manifests.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_str(&response.manifests[0]).expect("manifest is JSON");
    assert_eq!(
        manifest,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "guestbook",
                "namespace": "demo",
                "annotations": {
                    "path": "guestbook",
                    "tracking": "annotation+label",
                    "ref-sources": "1",
                },
            },
            "data": {"kubeVersion": "1.33.1"},
        })
    );

    let refs = client
        .list_refs(ListRefsRequest { repo: Some(repo()) })
        .await
        .expect("ListRefs")
        .into_inner();
    assert_eq!(refs.branches, ["main"]);
    assert_eq!(refs.tags, ["v1.0.0"]);

    let apps = client
        .list_apps(ListAppsRequest {
            repo: Some(repo()),
            revision: SHA.to_owned(),
        })
        .await
        .expect("ListApps")
        .into_inner();
    assert_eq!(
        apps.apps.get("guestbook").copied(),
        Some(i32::from(SourceType::Kustomize))
    );

    server.stop().await;
}

#[tokio::test]
async fn errors_keep_their_code_and_message() {
    let server = TestServer::start().await;
    let mut client = RepoServerServiceClient::connect(server.url())
        .await
        .expect("connect");

    let status = client
        .resolve_revision(ResolveRevisionRequest {
            repo: Some(repo()),
            ambiguous_revision: "no-such-branch".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("unknown revision");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "revision \"no-such-branch\" not found");

    // A request the server cannot convert is INVALID_ARGUMENT, via ConversionError.
    let status = client
        .generate_manifest(ManifestRequest {
            repo: Some(repo()),
            revision: "main".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("missing source");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "missing required field `application_source`"
    );

    let resolved = client
        .resolve_revision(ResolveRevisionRequest {
            repo: Some(repo()),
            ambiguous_revision: "HEAD".to_owned(),
            ..Default::default()
        })
        .await
        .expect("HEAD resolves")
        .into_inner();
    assert_eq!(resolved.revision, SHA);
    assert_eq!(resolved.ambiguous_revision, "HEAD");

    server.stop().await;
}

#[tokio::test]
async fn health_reports_the_repo_server_as_serving() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);

    for service in ["", SERVICE_NAME] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("Check")
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "capstan.no.v1.SuchService".to_owned(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(status.code(), Code::NotFound);

    server.stop().await;
}

/// Sends one reflection request and returns the single answer.
async fn reflect(
    client: &mut ServerReflectionClient<Channel>,
    request: MessageRequest,
) -> MessageResponse {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("ServerReflectionInfo")
        .into_inner();
    let response: ServerReflectionResponse = responses
        .message()
        .await
        .expect("reflection response")
        .expect("one response");
    response.message_response.expect("message response set")
}

fn decode_files(response: MessageResponse) -> Vec<FileDescriptorProto> {
    let MessageResponse::FileDescriptorResponse(files) = response else {
        panic!("expected file descriptors, got {response:?}");
    };
    files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("file descriptor"))
        .collect()
}

#[tokio::test]
async fn reflection_lists_and_describes_the_services() {
    let server = TestServer::start().await;
    let mut client = ServerReflectionClient::new(server.channel().await);

    let MessageResponse::ListServicesResponse(list) =
        reflect(&mut client, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        SERVICE_NAME,
        "capstan.application.v1.ApplicationService",
        "capstan.auth.v1.AuthService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} not in {services:?}"
        );
    }

    // A client resolving a method's types can fetch its file, then the imports.
    let files = decode_files(
        reflect(
            &mut client,
            MessageRequest::FileContainingSymbol("capstan.repo.v1.ManifestRequest".to_owned()),
        )
        .await,
    );
    let repo_file = files
        .iter()
        .find(|f| f.name() == "capstan/repo/v1/repo.proto")
        .expect("repo.proto returned");
    assert!(
        repo_file
            .dependency
            .iter()
            .any(|d| d == "capstan/common/v1/common.proto")
    );
    let files = decode_files(
        reflect(
            &mut client,
            MessageRequest::FileByFilename("google/protobuf/timestamp.proto".to_owned()),
        )
        .await,
    );
    assert_eq!(files[0].package(), "google.protobuf");

    server.stop().await;
}
