//! `capstan-podsim` — a pod-lifecycle simulator for Capstan's local test environment.
//!
//! **Test infrastructure only**: it makes a control plane without kubelets (etcd +
//! kube-apiserver + kube-controller-manager, started by `e2e/testenv-up.sh`) behave like a
//! cluster whose pods run, in the spirit of kwok. It never runs a container and never sends
//! traffic to the (fake) pod and node addresses it writes into status fields.
//!
//! What it does:
//! - registers a fake Node (`capstan-sim-node` by default), Ready, with a large capacity and
//!   allocatable, and keeps its Ready heartbeat and its `kube-node-lease` Lease fresh;
//! - watches all Pods, binds unbound ones to that Node (`pods/binding`), then patches their
//!   status to what a kubelet would report: phase `Running`, `Ready` conditions, container
//!   statuses (ready, started, running, image, imageID, restartCount), podIP and hostIP;
//! - deletes pods that carry a deletionTimestamp and no finalizers with grace period 0, since
//!   no kubelet will confirm their termination.
//! - plays the ingress controller: every Ingress gets a load-balancer address (`127.0.0.1`) in
//!   its status, as NGINX reports on AKS, so Ingresses are Healthy like in a real cluster.
//!
//! Behaviour is requested with pod annotations (set them in pod templates):
//!
//! | annotation | effect |
//! |---|---|
//! | `sim.capstan.dev/ready-after: "3s"` | Running at once, but Ready only after that long |
//! | `sim.capstan.dev/fail: "crashloop"` | container waiting in `CrashLoopBackOff`, restartCount growing, not Ready |
//! | `sim.capstan.dev/fail: "image-pull"` | container waiting in `ErrImagePull`, then `ImagePullBackOff`, phase Pending |
//! | `sim.capstan.dev/run-for: "1s"` | pods with restartPolicy Never/OnFailure (Jobs) terminate after that long (default 1s) |
//! | `sim.capstan.dev/exit-code: "1"` | exit code of such a pod: 0 gives phase Succeeded, anything else Failed |
//!
//! Durations are `<number><unit>` with unit `ms`, `s`, `m` or `h` (a bare number means seconds).
//! OnFailure pods that fail are reported as Failed; in-place container restarts are not simulated.
//!
//! Configuration: command-line flags or `CAPSTAN_PODSIM_*` environment variables (see `--help`);
//! the cluster comes from `--kubeconfig`/`CAPSTAN_PODSIM_KUBECONFIG`, else the usual
//! `KUBECONFIG`/in-cluster inference.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Binding, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Node, ObjectReference, Pod, PodCondition, PodIP,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use serde_json::json;

const ANN_READY_AFTER: &str = "sim.capstan.dev/ready-after";
const ANN_FAIL: &str = "sim.capstan.dev/fail";
const ANN_RUN_FOR: &str = "sim.capstan.dev/run-for";
const ANN_EXIT_CODE: &str = "sim.capstan.dev/exit-code";
/// How long a pod that fails to pull its image reports `ErrImagePull` before `ImagePullBackOff`.
const IMAGE_PULL_ERR_FOR: Duration = Duration::from_secs(2);
/// The fake node's InternalIP (a string in status only: nothing listens there).
const NODE_IP: &str = "10.250.0.1";
const FIELD_MANAGER: &str = "capstan-podsim";

/// Pod-lifecycle simulator for Capstan's test environment (test infrastructure only).
#[derive(Debug, Parser)]
#[command(name = "capstan-podsim", version, about)]
struct Args {
    /// Kubeconfig file to use (default: KUBECONFIG / in-cluster inference).
    #[arg(long, env = "CAPSTAN_PODSIM_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Name of the simulated node that all unbound pods are bound to.
    #[arg(
        long,
        env = "CAPSTAN_PODSIM_NODE_NAME",
        default_value = "capstan-sim-node"
    )]
    node_name: String,
    /// How often the node heartbeat (Ready condition and node Lease) is renewed.
    #[arg(long, env = "CAPSTAN_PODSIM_HEARTBEAT", default_value = "10s", value_parser = parse_duration)]
    heartbeat: Duration,
    /// Period between two simulated restarts of a crash-looping container.
    #[arg(long, env = "CAPSTAN_PODSIM_CRASHLOOP_PERIOD", default_value = "5s", value_parser = parse_duration)]
    crashloop_period: Duration,
    /// Log filter (tracing-subscriber EnvFilter syntax).
    #[arg(long, env = "CAPSTAN_PODSIM_LOG", default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    let client = Client::try_from(config)?;

    let node = NodeSim {
        client: client.clone(),
        name: args.node_name.clone(),
        booted: now_secs(),
    };
    node.register()
        .await
        .context("registering the simulated node")?;
    tracing::info!(node = %node.name, "simulated node registered");
    let heartbeat = args.heartbeat;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(heartbeat).await;
            if let Err(e) = node.heartbeat().await {
                // The node may have been deleted: register it again.
                tracing::warn!(error = %e, "node heartbeat failed, re-registering the node");
                if let Err(e) = node.register().await {
                    tracing::warn!(error = %e, "registering the node failed");
                }
            }
        }
    });

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        node_name: args.node_name,
        crashloop_period: args.crashloop_period,
    });
    tokio::spawn(ingress_controller(client.clone()));
    Controller::new(Api::<Pod>::all(client), watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((pod, _)) => tracing::trace!(pod = %pod, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
    tracing::info!("shutting down");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ingress
// ---------------------------------------------------------------------------------------------

/// The address every Ingress gets, as an ingress controller's load balancer would report.
const INGRESS_IP: &str = "127.0.0.1";

/// Plays the ingress controller: gives every Ingress a load balancer address in its status, as
/// NGINX does on AKS, so that Ingresses (and the apps holding them) become Healthy.
async fn ingress_controller(client: Client) {
    use k8s_openapi::api::networking::v1::Ingress;
    let ingresses: Api<Ingress> = Api::all(client.clone());
    Controller::new(ingresses, watcher::Config::default())
        .run(
            |ingress: Arc<Ingress>, client: Arc<Client>| async move {
                let has_address = ingress
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .is_some_and(|i| !i.is_empty());
                if !has_address {
                    let api: Api<Ingress> = Api::namespaced(
                        (*client).clone(),
                        &ingress.namespace().unwrap_or_default(),
                    );
                    let status = json!({ "status": { "loadBalancer": { "ingress": [{ "ip": INGRESS_IP }] } } });
                    api.patch_status(
                        &ingress.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&status),
                    )
                    .await?;
                }
                Ok::<_, kube::Error>(Action::await_change())
            },
            |_, _: &kube::Error, _| Action::requeue(Duration::from_secs(2)),
            Arc::new(client),
        )
        .for_each(|_| async {})
        .await;
}

// ---------------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------------

struct NodeSim {
    client: Client,
    name: String,
    booted: Timestamp,
}

impl NodeSim {
    /// Creates the node (if missing) and writes its full status.
    async fn register(&self) -> anyhow::Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.capstan.dev/simulated": "true",
                },
                "annotations": { "node.alpha.kubernetes.io/ttl": "0" },
            },
            "spec": {},
        }))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        self.heartbeat().await
    }

    /// Renews the node's status (Ready condition with a fresh heartbeat) and its Lease.
    async fn heartbeat(&self) -> anyhow::Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let now = now_secs().to_string();
        let booted = self.booted.to_string();
        let condition = |type_: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": type_, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": booted,
            })
        };
        let resources = json!({
            "cpu": "32", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti",
        });
        let status = json!({
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "phase": "Running",
                "conditions": [
                    condition("Ready", "True", "KubeletReady", "capstan-podsim is posting ready status"),
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "simulated"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "simulated"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "simulated"),
                    condition("NetworkUnavailable", "False", "RouteCreated", "simulated"),
                ],
                "addresses": [
                    { "type": "InternalIP", "address": NODE_IP },
                    { "type": "Hostname", "address": self.name },
                ],
                "daemonEndpoints": { "kubeletEndpoint": { "Port": 10250 } },
                "nodeInfo": {
                    "machineID": "capstan-podsim", "systemUUID": "capstan-podsim",
                    "bootID": format!("capstan-podsim-{}", self.booted.as_second()),
                    "kernelVersion": "simulated", "osImage": "capstan-podsim",
                    "containerRuntimeVersion": "capstan-podsim://0.0.0",
                    "kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
                    "operatingSystem": "linux", "architecture": "amd64",
                },
            }
        });
        nodes
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;

        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "kube-node-lease");
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.name.clone()),
                lease_duration_seconds: Some(40),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..LeaseSpec::default()
            }),
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        leases
            .patch(&self.name, &params, &Patch::Apply(&lease))
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

struct Ctx {
    client: Client,
    node_name: String,
    crashloop_period: Duration,
}

fn error_policy(pod: Arc<Pod>, error: &kube::Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(pod = %pod.name_any(), error = %error, "retrying");
    Action::requeue(Duration::from_secs(1))
}

/// `true` for API errors that only mean the pod moved on (gone, or changed under us).
fn is_benign(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 409)
}

async fn reconcile(pod: Arc<Pod>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    let name = pod.name_any();
    let ns = pod.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = pod.spec.as_ref();
    let node = spec.and_then(|s| s.node_name.as_deref());

    // 1. Deletion: no kubelet will confirm it, so finish it (finalizers are left to their owners).
    if pod.metadata.deletion_timestamp.is_some() {
        if pod.finalizers().is_empty() && node.is_none_or(|n| n == ctx.node_name) {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match pods.delete(&name, &params).await {
                Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), "deleted"),
                Err(e) if is_benign(&e) => {}
                Err(e) => return Err(e),
            }
        }
        return Ok(Action::await_change());
    }

    // 2. Scheduling: bind every unbound pod to the simulated node.
    let Some(node) = node else {
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(ctx.node_name.clone()),
                ..ObjectReference::default()
            },
        };
        match pods
            .create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), node = %ctx.node_name, "bound"),
            Err(e) if is_benign(&e) => {}
            Err(e) => return Err(e),
        }
        // The binding changes the pod, which triggers the next reconcile.
        return Ok(Action::await_change());
    };
    if node != ctx.node_name {
        return Ok(Action::await_change());
    }

    // 3. Status: what a kubelet would report now.
    let now = now_secs();
    let behavior = Behavior::from_pod(&pod);
    let sim = simulate(&pod, &behavior, now, ctx.crashloop_period);
    let current = pod.status.clone().unwrap_or_default();
    if fingerprint(&current) != fingerprint(&sim.status) {
        let patch = json!({ "status": sim.status });
        match pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracing::info!(
                pod = %format!("{ns}/{name}"),
                phase = sim.status.phase.as_deref().unwrap_or(""),
                ready = is_ready(&sim.status),
                "status updated"
            ),
            Err(e) if is_benign(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(match sim.next_change {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// How a pod asked to behave (its `sim.capstan.dev/*` annotations).
#[derive(Debug, Clone, PartialEq)]
struct Behavior {
    ready_after: Duration,
    fail: Option<Failure>,
    run_for: Duration,
    exit_code: i32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    CrashLoop,
    ImagePull,
}

impl Behavior {
    fn from_pod(pod: &Pod) -> Self {
        let ann = pod.annotations();
        let pod_name = pod.name_any();
        let duration = |key: &str, default: Duration| match ann.get(key) {
            None => default,
            Some(v) => parse_duration(v).unwrap_or_else(|e| {
                tracing::warn!(pod = %pod_name, annotation = key, error = %e, "ignored");
                default
            }),
        };
        let fail = match ann.get(ANN_FAIL).map(String::as_str) {
            None | Some("") => None,
            Some("crashloop") => Some(Failure::CrashLoop),
            Some("image-pull") => Some(Failure::ImagePull),
            Some(other) => {
                tracing::warn!(pod = %pod_name, value = other, "unknown {ANN_FAIL}, ignored");
                None
            }
        };
        let exit_code = match ann.get(ANN_EXIT_CODE) {
            None => 0,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                tracing::warn!(pod = %pod_name, value = %v, "bad {ANN_EXIT_CODE}, using 1");
                1
            }),
        };
        Behavior {
            ready_after: duration(ANN_READY_AFTER, Duration::ZERO),
            fail,
            run_for: duration(ANN_RUN_FOR, Duration::from_secs(1)),
            exit_code,
        }
    }
}

/// The simulated status and when it will change next (if nothing else happens).
#[derive(Debug)]
struct Simulated {
    status: PodStatus,
    next_change: Option<Duration>,
}

/// What the containers are doing, for all of the pod's app containers alike.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Running; `ready` tells whether readiness has been reached.
    Running { ready: bool },
    /// Waiting to be restarted after a crash.
    CrashLoop { restarts: i32 },
    /// Image cannot be pulled; `backoff` after the first error report.
    ImagePull { backoff: bool },
    /// Terminated (run-to-completion pods).
    Terminated { exit_code: i32 },
}

/// Computes the status a kubelet would report for `pod` at `now`. Pure, so it is unit-tested.
fn simulate(pod: &Pod, b: &Behavior, now: Timestamp, crashloop_period: Duration) -> Simulated {
    let start = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
        .unwrap_or(now);
    let elapsed = now.duration_since(start).max(SignedDuration::ZERO);
    let elapsed = Duration::try_from(elapsed).unwrap_or_default();
    let until = |d: Duration| d.checked_sub(elapsed).filter(|d| !d.is_zero());
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let runs_to_completion = restart_policy != "Always";

    let (phase, next_change) = match b.fail {
        Some(Failure::ImagePull) => match until(IMAGE_PULL_ERR_FOR) {
            Some(left) => (Phase::ImagePull { backoff: false }, Some(left)),
            None => (Phase::ImagePull { backoff: true }, None),
        },
        Some(Failure::CrashLoop) if !runs_to_completion => {
            let period = crashloop_period.max(Duration::from_millis(100));
            let n = elapsed.as_millis() / period.as_millis();
            let restarts = i32::try_from(n + 1).unwrap_or(i32::MAX);
            let left =
                period - Duration::from_millis((elapsed.as_millis() % period.as_millis()) as u64);
            (Phase::CrashLoop { restarts }, Some(left))
        }
        _ if runs_to_completion => {
            let exit_code = if b.fail == Some(Failure::CrashLoop) && b.exit_code == 0 {
                1
            } else {
                b.exit_code
            };
            match until(b.run_for) {
                Some(left) => {
                    let ready = until(b.ready_after).is_none();
                    let next = until(b.ready_after).map_or(left, |r| r.min(left));
                    (Phase::Running { ready }, Some(next))
                }
                None => (Phase::Terminated { exit_code }, None),
            }
        }
        _ => match until(b.ready_after) {
            Some(left) => (Phase::Running { ready: false }, Some(left)),
            None => (Phase::Running { ready: true }, None),
        },
    };

    Simulated {
        status: pod_status(pod, start, phase, b),
        // A little slack so that the requeue lands after the (second-truncated) deadline.
        next_change: next_change.map(|d| d + Duration::from_millis(50)),
    }
}

fn pod_status(pod: &Pod, start: Timestamp, phase: Phase, b: &Behavior) -> PodStatus {
    let t = |ts: Timestamp| Time(ts);
    let plus = |d: Duration| {
        let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO);
        start.checked_add(d).unwrap_or(start)
    };
    let ready = matches!(phase, Phase::Running { ready: true });
    let ready_since = if ready { plus(b.ready_after) } else { start };
    let condition =
        |type_: &str, status: bool, reason: Option<&str>, since: Timestamp| PodCondition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.map(Into::into),
            last_transition_time: Some(t(since)),
            ..PodCondition::default()
        };
    let not_ready_reason = match phase {
        Phase::Terminated { .. } => Some("PodCompleted"),
        _ if ready => None,
        _ => Some("ContainersNotReady"),
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();

    let container_status = |name: &str, image: &str| {
        let image_id = format!("docker-pullable://{image}@sha256:{}", fake_digest(image));
        let container_id = format!("containerd://{}", fake_digest(&format!("{uid}/{name}")));
        let running = ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(t(start)),
            }),
            ..ContainerState::default()
        };
        let terminated = |exit_code: i32, at: Timestamp| ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                started_at: Some(t(start)),
                finished_at: Some(t(at)),
                container_id: Some(container_id.clone()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        };
        let waiting = |reason: &str, message: String| ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: Some(message),
            }),
            ..ContainerState::default()
        };
        let base = ContainerStatus {
            name: name.into(),
            image: image.into(),
            image_id: image_id.clone(),
            container_id: Some(container_id.clone()),
            restart_count: 0,
            ready: false,
            started: Some(false),
            ..ContainerStatus::default()
        };
        match phase {
            Phase::Running { ready } => ContainerStatus {
                state: Some(running.clone()),
                ready,
                started: Some(true),
                ..base
            },
            Phase::Terminated { exit_code } => ContainerStatus {
                state: Some(terminated(exit_code, plus(b.run_for))),
                ..base
            },
            Phase::CrashLoop { restarts } => ContainerStatus {
                state: Some(waiting(
                    "CrashLoopBackOff",
                    format!(
                        "back-off restarting failed container {name} in pod {}",
                        pod.name_any()
                    ),
                )),
                last_state: Some(terminated(1, start)),
                restart_count: restarts,
                ..base
            },
            Phase::ImagePull { backoff } => {
                let (reason, message) = if backoff {
                    (
                        "ImagePullBackOff",
                        format!("Back-off pulling image \"{image}\""),
                    )
                } else {
                    (
                        "ErrImagePull",
                        format!("simulated: failed to pull image \"{image}\""),
                    )
                };
                ContainerStatus {
                    state: Some(waiting(reason, message)),
                    image_id: String::new(),
                    container_id: None,
                    ..base
                }
            }
        }
    };
    let container_statuses = spec
        .containers
        .iter()
        .map(|c| container_status(&c.name, c.image.as_deref().unwrap_or_default()))
        .collect();
    let init_container_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            ContainerStatus {
                name: c.name.clone(),
                image_id: format!("docker-pullable://{image}@sha256:{}", fake_digest(&image)),
                image,
                ready: true,
                started: Some(false),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".into()),
                        started_at: Some(t(start)),
                        finished_at: Some(t(start)),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }
        })
        .collect();

    let pod_phase = match phase {
        Phase::Running { .. } | Phase::CrashLoop { .. } => "Running",
        Phase::ImagePull { .. } => "Pending",
        Phase::Terminated { exit_code: 0 } => "Succeeded",
        Phase::Terminated { .. } => "Failed",
    };
    let ip = fake_pod_ip(&uid);
    PodStatus {
        phase: Some(pod_phase.into()),
        conditions: Some(vec![
            condition("Initialized", true, None, start),
            condition("Ready", ready, not_ready_reason, ready_since),
            condition("ContainersReady", ready, not_ready_reason, ready_since),
            condition("PodScheduled", true, None, start),
        ]),
        host_ip: Some(NODE_IP.into()),
        pod_ip: Some(ip.clone()),
        pod_ips: Some(vec![PodIP { ip }]),
        start_time: Some(t(start)),
        container_statuses: Some(container_statuses),
        init_container_statuses: (!init_container_statuses.is_empty())
            .then_some(init_container_statuses),
        // Keep what the apiserver computed at creation.
        qos_class: pod.status.as_ref().and_then(|s| s.qos_class.clone()),
        ..PodStatus::default()
    }
}

/// The parts of a pod status whose change is worth a patch (no timestamps).
fn fingerprint(s: &PodStatus) -> String {
    let mut out = format!(
        "{}|ready={}|ip={}|",
        s.phase.as_deref().unwrap_or(""),
        is_ready(s),
        s.pod_ip.as_deref().unwrap_or("")
    );
    for c in s.container_statuses.iter().flatten() {
        let state = c.state.as_ref();
        let kind = match state {
            Some(ContainerState {
                running: Some(_), ..
            }) => "running".to_string(),
            Some(ContainerState {
                terminated: Some(t),
                ..
            }) => format!("terminated:{}", t.exit_code),
            Some(ContainerState {
                waiting: Some(w), ..
            }) => {
                format!("waiting:{}", w.reason.as_deref().unwrap_or(""))
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}:{}:{}:{};",
            c.name, kind, c.restart_count, c.ready
        ));
    }
    out
}

fn is_ready(s: &PodStatus) -> bool {
    s.conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A stable, fake 64-hex-digit digest of `s` (not cryptographic; it only has to look like one).
fn fake_digest(s: &str) -> String {
    (0..4u8)
        .map(|i| {
            let mut h = DefaultHasher::new();
            (i, s).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

/// A stable fake pod IP in 10.244.0.0/16 derived from the pod UID (only ever a status string).
fn fake_pod_ip(uid: &str) -> String {
    let mut h = DefaultHasher::new();
    uid.hash(&mut h);
    let v = h.finish();
    format!("10.244.{}.{}", (v >> 8) & 0xff, (v & 0xff) % 253 + 2)
}

/// Now, truncated to whole seconds (what the API stores for `Time` fields).
fn now_secs() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

/// Parses `500ms`, `3s`, `2m`, `1h`, or a bare number of seconds (fractions allowed: `1.5s`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 500ms, 3s, 2m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("invalid duration unit {other:?} in {s:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: serde_json::Value, restart_policy: &str, started: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": { "name": "p", "namespace": "ns", "uid": "u-1", "annotations": annotations },
            "spec": {
                "restartPolicy": restart_policy,
                "nodeName": "capstan-sim-node",
                "containers": [{ "name": "app", "image": "example/app:1" }],
            },
            "status": match started { Some(t) => json!({ "startTime": t }), None => json!({}) },
        }))
        .unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn state_of(s: &PodStatus) -> String {
        fingerprint(s)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn plain_pod_runs_and_is_ready() {
        let p = pod(json!({}), "Always", None);
        let sim = simulate(
            &p,
            &Behavior::from_pod(&p),
            at("2024-01-01T00:00:00Z"),
            Duration::from_secs(5),
        );
        assert_eq!(sim.status.phase.as_deref(), Some("Running"));
        assert!(is_ready(&sim.status));
        assert!(sim.next_change.is_none());
        let c = &sim.status.container_statuses.as_ref().unwrap()[0];
        assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
        assert!(
            c.image_id
                .starts_with("docker-pullable://example/app:1@sha256:")
        );
        assert!(sim.status.pod_ip.as_deref().unwrap().starts_with("10.244."));
    }

    #[test]
    fn ready_after_delays_readiness() {
        let p = pod(
            json!({ ANN_READY_AFTER: "3s" }),
            "Always",
            Some("2024-01-01T00:00:00Z"),
        );
        let b = Behavior::from_pod(&p);
        let early = simulate(&p, &b, at("2024-01-01T00:00:01Z"), Duration::from_secs(5));
        assert_eq!(early.status.phase.as_deref(), Some("Running"));
        assert!(!is_ready(&early.status));
        assert!(early.next_change.unwrap() >= Duration::from_secs(2));
        let late = simulate(&p, &b, at("2024-01-01T00:00:03Z"), Duration::from_secs(5));
        assert!(is_ready(&late.status));
        assert_ne!(state_of(&early.status), state_of(&late.status));
    }

    #[test]
    fn crashloop_restarts_grow() {
        let p = pod(
            json!({ ANN_FAIL: "crashloop" }),
            "Always",
            Some("2024-01-01T00:00:00Z"),
        );
        let b = Behavior::from_pod(&p);
        let s1 = simulate(&p, &b, at("2024-01-01T00:00:01Z"), Duration::from_secs(5));
        let s2 = simulate(&p, &b, at("2024-01-01T00:00:06Z"), Duration::from_secs(5));
        let c1 = &s1.status.container_statuses.as_ref().unwrap()[0];
        let c2 = &s2.status.container_statuses.as_ref().unwrap()[0];
        assert_eq!(c1.restart_count, 1);
        assert_eq!(c2.restart_count, 2);
        assert_eq!(
            c1.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
        assert!(!is_ready(&s1.status) && !c1.ready);
        assert_eq!(s1.status.phase.as_deref(), Some("Running"));
    }

    #[test]
    fn image_pull_backs_off() {
        let p = pod(
            json!({ ANN_FAIL: "image-pull" }),
            "Always",
            Some("2024-01-01T00:00:00Z"),
        );
        let b = Behavior::from_pod(&p);
        let s1 = simulate(&p, &b, at("2024-01-01T00:00:00Z"), Duration::from_secs(5));
        let s2 = simulate(&p, &b, at("2024-01-01T00:00:05Z"), Duration::from_secs(5));
        assert_eq!(s1.status.phase.as_deref(), Some("Pending"));
        assert!(state_of(&s1.status).contains("waiting:ErrImagePull"));
        assert!(state_of(&s2.status).contains("waiting:ImagePullBackOff"));
    }

    #[test]
    fn jobs_complete_or_fail() {
        let ok = pod(json!({}), "Never", Some("2024-01-01T00:00:00Z"));
        let b = Behavior::from_pod(&ok);
        let running = simulate(&ok, &b, at("2024-01-01T00:00:00Z"), Duration::from_secs(5));
        assert_eq!(running.status.phase.as_deref(), Some("Running"));
        let done = simulate(&ok, &b, at("2024-01-01T00:00:01Z"), Duration::from_secs(5));
        assert_eq!(done.status.phase.as_deref(), Some("Succeeded"));
        assert!(done.next_change.is_none());

        let bad = pod(
            json!({ ANN_EXIT_CODE: "3", ANN_RUN_FOR: "2s" }),
            "OnFailure",
            Some("2024-01-01T00:00:00Z"),
        );
        let b = Behavior::from_pod(&bad);
        let still = simulate(&bad, &b, at("2024-01-01T00:00:01Z"), Duration::from_secs(5));
        assert_eq!(still.status.phase.as_deref(), Some("Running"));
        let failed = simulate(&bad, &b, at("2024-01-01T00:00:02Z"), Duration::from_secs(5));
        assert_eq!(failed.status.phase.as_deref(), Some("Failed"));
        assert!(state_of(&failed.status).contains("terminated:3"));
    }
}
