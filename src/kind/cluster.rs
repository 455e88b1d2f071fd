//! The run against a live cluster, through the Kubernetes API (the `kube`
//! crate, over the kubeconfig), in the order [`ClusterRun::actions`] says:
//!
//! 1. every object server-side applied (`meshbench` the field manager),
//!    each kind resolved by the cluster's own discovery, so a routing kind
//!    the cluster does not serve (Aeraki or Istio missing) is named. A
//!    namespace that is already there is used only if it injects sidecars
//!    and holds none of the objects the run makes: the run never changes
//!    or deletes what it did not make, and never touches `kube-*` or
//!    `istio-system`;
//! 2. each `Deployment` waited for until every replica is updated and
//!    available, then each fleet pod's endpoints read through the API
//!    server's proxy to the pod (`GET /endpoints` on port 9966);
//! 3. the workload `Job` started (it was applied suspended) and waited
//!    for; its pod probes every service through its sidecar until it
//!    routes (the convergence probe) before it sends the workload;
//! 4. the ledger read from the Job pod's log ([`agent::ledger_of_log`]: a
//!    log cut short is an error, never a shorter ledger), and each fleet
//!    pod's records through the API server's proxy (`GET /records`);
//! 5. what the run made deleted, on success, failure and Ctrl-C alike,
//!    and waited for until it is gone (the next scenario may use the same
//!    namespace): the namespaces it made, and in namespaces that were
//!    there before, each object it applied.
//!
//! Every wait is bounded ([`Bounds`]) and every request answered or failed:
//! nothing here loops forever.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams,
    TypeMeta,
};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use meshbench_sim::fleet::agent::{ENDPOINTS_PATH, RECEIVED_PATH, RECORDS_PATH, parse_page};
use meshbench_sim::fleet::{EndpointInfo, Record};
use meshbench_sim::ledger::Ledger;
use meshbench_sim::workload::agent::{self, AgentError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ClusterRun, NAME, RECORDS_PORT};
use crate::adapter::{
    AdapterError, BoxFuture, Listeners, ProxyAdapter, ProxySetting, ProxySettings, Routing,
    Service, Setup,
};

/// The field manager of every object the run applies.
const FIELD_MANAGER: &str = "meshbench";

/// How often a rollout or the Job is looked at.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// The cluster a run goes to, and how.
#[derive(Clone)]
pub struct Target {
    /// The API client (the kubeconfig's context, [`connect`]).
    pub client: Client,
    /// The image the fleet and workload pods run.
    pub image: String,
    /// How long each wait may take.
    pub bounds: Bounds,
}

/// The proxy under test in a cluster: the sidecars Istio injects and
/// istiod and Aeraki configure. meshbench does not start or configure it,
/// so it declares what it cannot give (an idle timeout, a worker count;
/// a scenario with phases is refused whole by [`super::cluster_run`]) and
/// judges the rest: a routing field Istio or
/// Aeraki does not honour shows as a failed assertion, not a gap
/// meshbench assumes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mesh;

impl ProxyAdapter for Mesh {
    fn name(&self) -> &str {
        "istio+aeraki"
    }

    fn start<'a>(
        &'a mut self,
        _services: &'a [Service],
        _routing: &'a [Routing],
        _settings: ProxySettings,
    ) -> BoxFuture<'a, Result<Listeners, AdapterError>> {
        Box::pin(async { Err(not_started("start")) })
    }

    fn apply<'a>(&'a mut self, _routing: &'a [Routing]) -> BoxFuture<'a, Result<(), AdapterError>> {
        Box::pin(async { Err(not_started("change the routing of")) })
    }

    fn stats(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }

    fn unsupported_settings(&self, setup: &Setup) -> BTreeMap<ProxySetting, String> {
        let mut gaps = BTreeMap::new();
        if let Some(idle) = setup.settings.idle_timeout {
            gaps.insert(
                ProxySetting::IdleTimeout,
                format!("a cluster run does not set the sidecars' idle timeout ({idle:?}): Istio's configuration does"),
            );
        }
        if let Some(workers) = setup.settings.workers {
            gaps.insert(
                ProxySetting::Workers,
                format!("a cluster run does not set the sidecars' concurrency ({workers}): Istio's proxy configuration does"),
            );
        }
        gaps
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn not_started(what: &str) -> AdapterError {
    AdapterError::Unsupported {
        adapter: "istio+aeraki".to_owned(),
        what: format!(
            "{what} the mesh's sidecars: a cluster run applies objects, istiod configures the proxies"
        ),
    }
}

/// How long each wait of a cluster run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Every `Deployment` of the fleet rolled out.
    pub rollout: Duration,
    /// The workload `Job` complete, its convergence probe included.
    pub workload: Duration,
    /// What the run made gone again.
    pub cleanup: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            rollout: Duration::from_secs(300),
            workload: Duration::from_secs(3600),
            cleanup: Duration::from_secs(300),
        }
    }
}

/// What a cluster run gathered: the verdicts' evidence.
#[derive(Debug)]
pub struct Gathered {
    /// The workload's ledger, from the Job pod's log.
    pub ledger: Ledger,
    /// What every fleet pod received.
    pub records: Vec<Record>,
    /// Every fleet pod's endpoint, as it answers (its echo names).
    pub endpoints: Vec<EndpointInfo>,
    /// From the Job's start to its completion.
    pub duration: Duration,
    /// The cluster's versions, for the report.
    pub versions: Versions,
    /// What the workload said besides its ledger (its standard error).
    pub notes: Vec<String>,
}

/// What the cluster runs, as far as it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    /// The API server's `gitVersion`.
    pub kubernetes: String,
    /// The image of `istiod` in `istio-system`, when there is one.
    pub istiod: Option<String>,
    /// The image of `aeraki` in `istio-system`, when there is one.
    pub aeraki: Option<String>,
}

impl Versions {
    /// In words, for reports.
    pub fn describe(&self) -> String {
        let image = |image: &Option<String>| image.clone().unwrap_or_else(|| "none".to_owned());
        format!(
            "Kubernetes cluster (API server {}; istiod {}; aeraki {})",
            self.kubernetes,
            image(&self.istiod),
            image(&self.aeraki)
        )
    }
}

/// Why a cluster run gave no evidence.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig (or in-cluster configuration) to reach a cluster with.
    #[error("no cluster to reach: {0}")]
    NoCluster(String),
    /// The cluster does not serve a kind the run applies.
    #[error("the cluster does not serve {kind} ({api_version}): {hint}; the API said: {error}")]
    NotServed {
        /// The kind.
        kind: String,
        /// Its `apiVersion`.
        api_version: String,
        /// What to install.
        hint: &'static str,
        /// What discovery said.
        error: Box<kube::Error>,
    },
    /// An API call failed.
    #[error("{what}: {error}")]
    Api {
        /// What was asked.
        what: String,
        /// The answer.
        error: Box<kube::Error>,
    },
    /// A wait ran out.
    #[error("{what} did not happen within {within:?}: {last}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        within: Duration,
        /// What was seen last.
        last: String,
    },
    /// The workload Job failed.
    #[error("the workload Job failed ({reason}); the end of its log:\n{log_tail}")]
    JobFailed {
        /// The Job's `Failed` condition.
        reason: String,
        /// The last lines of its pod's log.
        log_tail: String,
    },
    /// The workload's ledger lost requests, or could not be read.
    #[error("the workload's ledger: {0}")]
    Ledger(#[from] AgentError),
    /// A fleet pod's endpoints or records do not read back.
    #[error("fleet pod {pod}: {error}")]
    Fleet {
        /// The pod.
        pod: String,
        /// Why.
        error: String,
    },
    /// The cluster holds what the run must not touch.
    #[error("{0}")]
    Refused(String),
    /// An object of the run lacks what the run needs of it.
    #[error("an object of the run has no {0}")]
    Malformed(&'static str),
    /// The run was interrupted (what it applied is deleted all the same).
    #[error("interrupted")]
    Interrupted,
}

/// An API call's failure, saying what was asked.
fn failed(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |error| ClusterError::Api {
        what,
        error: Box::new(error),
    }
}

/// A client of the cluster the kubeconfig's `context` (or its current
/// one, or the pod's own cluster) names.
///
/// # Errors
/// [`ClusterError::NoCluster`] when there is no configuration.
pub async fn connect(context: Option<&str>) -> Result<Client, ClusterError> {
    let config = match context {
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoCluster(e.to_string()))?,
        Some(context) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.to_owned()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| ClusterError::NoCluster(e.to_string()))?
        }
    };
    Client::try_from(config).map_err(|e| ClusterError::NoCluster(e.to_string()))
}

/// Runs `run` in the cluster `client` reaches, and deletes what it applied
/// whatever happened.
///
/// # Errors
/// [`ClusterError`]: a step failed or ran out of time, or `cancel` fired.
pub async fn execute(
    client: &Client,
    run: &ClusterRun,
    bounds: Bounds,
    cancel: &CancellationToken,
) -> Result<Gathered, ClusterError> {
    let made = std::sync::Mutex::new(Made::default());
    let result = {
        let steps = async {
            let versions = versions(client).await?;
            let existing = usable_namespaces(client, run).await?;
            let job_uid = apply(client, run, &existing, &made).await?;
            let fleet = rolled_out(client, run, bounds.rollout).await?;
            let endpoints = fleet_endpoints(client, &fleet).await?;
            let started = Instant::now();
            let job = workload_job(run, job_uid);
            start(client, &job).await?;
            let pod = completed(client, &job, bounds.workload).await?;
            let duration = started.elapsed();
            let (ledger, notes) = agent::ledger_of_log(&workload_log(client, &job, &pod).await?)?;
            drain(client, &fleet).await?;
            let records = fleet_records(client, &fleet).await?;
            Ok(Gathered {
                ledger,
                records,
                endpoints,
                duration,
                versions,
                notes,
            })
        };
        tokio::select! {
            result = steps => result,
            () = cancel.cancelled() => Err(ClusterError::Interrupted),
        }
    };
    let made = made.into_inner().unwrap_or_else(|p| p.into_inner());
    let cleaned = clean_up(client, made, bounds.cleanup).await;
    match (result, cleaned) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(gathered), Ok(())) => Ok(gathered),
    }
}

/// What a run made, to be deleted when it ends: the namespaces it made
/// (all in them going with them), and each object it applied in a
/// namespace that was there before.
#[derive(Default)]
struct Made {
    namespaces: Vec<String>,
    objects: Vec<(Api<DynamicObject>, String)>,
}

/// Namespaces a run never uses, even when a scenario names them (with
/// every `kube-*` one).
const PROTECTED: [&str; 2] = ["istio-system", "local-path-storage"];

/// The namespaces of `run` that are already there, once each is found
/// usable: not one of the cluster's own, not being deleted, injecting
/// sidecars (without them the proxy under test would not be there).
async fn usable_namespaces(client: &Client, run: &ClusterRun) -> Result<Vec<String>, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut existing = Vec::new();
    for name in run.namespace_names() {
        if PROTECTED.contains(&name) || name.starts_with("kube-") {
            return Err(ClusterError::Refused(format!(
                "the scenario names namespace {name}, which is the cluster's own: a run makes and deletes objects in its namespaces"
            )));
        }
        let Some(namespace) = api
            .get_opt(name)
            .await
            .map_err(failed(format!("reading namespace {name}")))?
        else {
            continue;
        };
        if namespace.metadata.deletion_timestamp.is_some() {
            return Err(ClusterError::Refused(format!(
                "namespace {name} is being deleted: wait until it is gone"
            )));
        }
        let labels = namespace.metadata.labels.unwrap_or_default();
        let injected = labels.get("istio-injection").map(String::as_str) == Some("enabled")
            || labels.contains_key("istio.io/rev");
        if !injected {
            return Err(ClusterError::Refused(format!(
                "namespace {name} is already there without sidecar injection: label it (kubectl label namespace {name} istio-injection=enabled) or delete it, and the run makes its own"
            )));
        }
        existing.push(name.to_owned());
    }
    Ok(existing)
}

/// The cluster's versions: the API server's, and the images of Istio's and
/// Aeraki's control planes, when they run in `istio-system`.
async fn versions(client: &Client) -> Result<Versions, ClusterError> {
    let info = client
        .apiserver_version()
        .await
        .map_err(failed("reading the API server's version".to_owned()))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "istio-system");
    let image = |deployment: Result<Option<Deployment>, kube::Error>| match deployment {
        // Said as it is: a control plane not found is not one unreadable.
        Err(e) => Some(format!("unreadable ({e})")),
        Ok(deployment) => deployment?
            .spec?
            .template
            .spec?
            .containers
            .first()?
            .image
            .clone(),
    };
    Ok(Versions {
        kubernetes: info.git_version,
        istiod: image(deployments.get_opt("istiod").await),
        aeraki: image(deployments.get_opt("aeraki").await),
    })
}

/// Server-side applies every object of `run`, in order, noting in `made`
/// what the run made; the namespaces in `existing` are used, not applied,
/// and an object already in one of them is refused, never taken over.
/// The workload `Job`'s uid.
async fn apply(
    client: &Client,
    run: &ClusterRun,
    existing: &[String],
    made: &std::sync::Mutex<Made>,
) -> Result<String, ClusterError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut kinds = Kinds::default();
    let mut job_uid = None;
    for object in run.objects() {
        let object: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|_| ClusterError::Malformed("apiVersion, kind and metadata"))?;
        let types = object
            .types
            .clone()
            .ok_or(ClusterError::Malformed("apiVersion and kind"))?;
        let name = object
            .metadata
            .name
            .clone()
            .ok_or(ClusterError::Malformed("metadata.name"))?;
        if types.kind == "Namespace" && existing.contains(&name) {
            continue;
        }
        let namespace = object.metadata.namespace.as_deref();
        let api = kinds.api(client, &types, namespace).await?;
        let there_before = namespace.is_some_and(|ns| existing.iter().any(|e| e == ns));
        if there_before
            && api
                .get_opt(&name)
                .await
                .map_err(failed(format!("reading {} {name}", types.kind)))?
                .is_some()
        {
            return Err(ClusterError::Refused(format!(
                "{} {name} is already in namespace {}: a run makes and deletes only its own objects (delete it, or run where it is not)",
                types.kind,
                namespace.unwrap_or_default()
            )));
        }
        let applied = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(failed(format!("applying {} {name}", types.kind)))?;
        if let Ok(mut made) = made.lock() {
            match types.kind.as_str() {
                "Namespace" => made.namespaces.push(name.clone()),
                _ if there_before => made.objects.push((api, name.clone())),
                _ => {}
            }
        }
        if types.kind == "Job" {
            job_uid = applied.metadata.uid;
        }
    }
    job_uid.ok_or(ClusterError::Malformed("a workload Job with a uid"))
}

/// The cluster's APIs of the kinds a run applies, each resolved by its
/// discovery once (a run applies several objects of one kind).
#[derive(Default)]
struct Kinds {
    resolved: BTreeMap<(String, String), (ApiResource, Scope)>,
}

impl Kinds {
    /// The API of an object of kind `types` in `namespace`.
    async fn api(
        &mut self,
        client: &Client,
        types: &TypeMeta,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        let key = (types.api_version.clone(), types.kind.clone());
        if !self.resolved.contains_key(&key) {
            let gvk = GroupVersionKind::try_from(types)
                .map_err(|_| ClusterError::Malformed("a valid apiVersion"))?;
            let (resource, capabilities) =
                discovery::pinned_kind(client, &gvk)
                    .await
                    .map_err(|error| ClusterError::NotServed {
                        kind: types.kind.clone(),
                        api_version: types.api_version.clone(),
                        hint: install_hint(&gvk.group),
                        error: Box::new(error),
                    })?;
            self.resolved
                .insert(key.clone(), (resource, capabilities.scope));
        }
        let Some((resource, scope)) = self.resolved.get(&key) else {
            return Err(ClusterError::Malformed("a kind the cluster resolves"));
        };
        Ok(match (scope, namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(client.clone(), namespace, resource)
            }
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), resource),
            (Scope::Cluster, _) => Api::all_with(client.clone(), resource),
        })
    }
}

/// What serves an API group, for the error that says it is missing.
fn install_hint(group: &str) -> &'static str {
    match group {
        "metaprotocol.aeraki.io" => {
            "install Aeraki (meshbench kind up --aeraki CHECKOUT; kind/README.md, step 2)"
        }
        "networking.istio.io" => "install Istio (meshbench kind up; kind/README.md, step 2)",
        _ => "is the cluster's Kubernetes 1.33 or later?",
    }
}

fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A fleet pod, by namespace and name, and how often its endpoint
/// container had restarted when it was found (a restart loses the
/// records it kept in memory).
#[derive(Debug, Clone)]
struct FleetPod {
    namespace: String,
    name: String,
    restarts: i32,
}

/// How often `pod`'s endpoint container has restarted.
fn endpoint_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|status| status.container_statuses.as_ref())
        .and_then(|statuses| statuses.iter().find(|c| c.name == "endpoint"))
        .map_or(0, |c| c.restart_count)
}

/// Waits until every fleet `Deployment` has all its replicas updated and
/// available; its running pods.
async fn rolled_out(
    client: &Client,
    run: &ClusterRun,
    within: Duration,
) -> Result<Vec<FleetPod>, ClusterError> {
    let deadline = Instant::now() + within;
    let mut pods = Vec::new();
    for deployment in &run.rollouts {
        let api: Api<Deployment> = Api::namespaced(client.clone(), &deployment.namespace);
        let what = format!(
            "the rollout of deployment/{} in {}",
            deployment.name, deployment.namespace
        );
        let (api, name, replicas) = (&api, deployment.name.as_str(), deployment.replicas);
        poll(&what, deadline, within, || async move {
            let seen = api
                .get_status(name)
                .await
                .map_err(failed(format!("reading deployment/{name}")))?;
            Ok(rollout(&seen, replicas))
        })
        .await?;
        let selector = selector(&deployment.selector);
        pods.extend(running_pods(client, &deployment.namespace, &selector).await?);
    }
    Ok(pods)
}

/// `Ok(())` once `deployment` has `replicas` updated and available for its
/// latest generation; else what it has.
fn rollout(deployment: &Deployment, replicas: i32) -> Result<(), String> {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return Err("no status yet".to_owned());
    };
    let observed = status.observed_generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if observed >= generation && updated == replicas && available == replicas {
        return Ok(());
    }
    Err(format!(
        "generation {observed} of {generation} observed, {updated} of {replicas} updated, {available} available"
    ))
}

/// The running pods `selector` selects in `namespace`.
async fn running_pods(
    client: &Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<FleetPod>, ClusterError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(failed(format!(
            "listing the pods {selector} in {namespace}"
        )))?;
    Ok(pods
        .items
        .into_iter()
        .filter(|pod| {
            pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && pod.metadata.deletion_timestamp.is_none()
        })
        .filter_map(|pod| {
            Some(FleetPod {
                namespace: namespace.to_owned(),
                restarts: endpoint_restarts(&pod),
                name: pod.metadata.name?,
            })
        })
        .collect())
}

/// Looks at `check` every [`POLL_EVERY`] until it gives a value (or
/// `deadline` passes): the value.
async fn poll<T, F, Fut>(
    what: &str,
    deadline: Instant,
    within: Duration,
    mut check: F,
) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>, ClusterError>>,
{
    loop {
        let last = match check().await? {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() + POLL_EVERY > deadline {
            return Err(ClusterError::Timeout {
                what: what.to_owned(),
                within,
                last,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `GET path` on a fleet pod's records port, through the API server.
async fn pod_get(client: &Client, pod: &FleetPod, path: &str) -> Result<String, ClusterError> {
    let url = format!(
        "/api/v1/namespaces/{}/pods/{}:{RECORDS_PORT}/proxy{path}",
        pod.namespace, pod.name
    );
    let request = http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| ClusterError::Fleet {
            pod: pod.name.clone(),
            error: e.to_string(),
        })?;
    client
        .request_text(request)
        .await
        .map_err(failed(format!("GET {path} of fleet pod {}", pod.name)))
}

/// Every fleet pod's endpoints, as they name themselves in their answers.
async fn fleet_endpoints(
    client: &Client,
    pods: &[FleetPod],
) -> Result<Vec<EndpointInfo>, ClusterError> {
    let mut endpoints = Vec::new();
    for pod in pods {
        let body = pod_get(client, pod, ENDPOINTS_PATH).await?;
        let served: Vec<EndpointInfo> =
            serde_json::from_str(&body).map_err(|e| ClusterError::Fleet {
                pod: pod.name.clone(),
                error: format!("its endpoints do not read: {e}"),
            })?;
        endpoints.extend(served);
    }
    Ok(endpoints)
}

/// Every record of every fleet pod, page by page.
async fn fleet_records(client: &Client, pods: &[FleetPod]) -> Result<Vec<Record>, ClusterError> {
    let mut all = Vec::new();
    for pod in pods {
        let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
        let now = api
            .get_opt(&pod.name)
            .await
            .map_err(failed(format!("reading pod {}", pod.name)))?;
        if now.as_ref().map(endpoint_restarts) != Some(pod.restarts) {
            return Err(ClusterError::Fleet {
                pod: pod.name.clone(),
                error: "it restarted or went during the run: what it had received is lost"
                    .to_owned(),
            });
        }
        let mut records = Vec::new();
        loop {
            let path = format!("{RECORDS_PATH}?from={}", records.len());
            let body = pod_get(client, pod, &path).await?;
            let page = parse_page(&body, records.len()).map_err(|e| ClusterError::Fleet {
                pod: pod.name.clone(),
                error: e.to_string(),
            })?;
            if page.is_empty() {
                break;
            }
            records.extend(page);
        }
        all.extend(records);
    }
    // Each pod's times run from its own start; no verdict compares arrival
    // times across pods, only within one (as in containers).
    all.sort_by_key(|record| record.at);
    Ok(all)
}

/// The workload `Job`: its namespace, name and uid (this run's Job, and
/// no other of the same name).
#[derive(Debug, Clone)]
struct WorkloadJob {
    namespace: String,
    name: String,
    uid: String,
}

fn workload_job(run: &ClusterRun, uid: String) -> WorkloadJob {
    WorkloadJob {
        namespace: run.workload_namespace.clone(),
        name: NAME.to_owned(),
        uid,
    }
}

/// Starts the suspended workload `Job`.
async fn start(client: &Client, job: &WorkloadJob) -> Result<(), ClusterError> {
    let api: Api<Job> = Api::namespaced(client.clone(), &job.namespace);
    let resume = serde_json::json!({ "spec": { "suspend": false } });
    api.patch(&job.name, &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .map_err(failed(format!("starting job/{}", job.name)))?;
    Ok(())
}

/// Waits for the workload `Job` to complete; its pod.
async fn completed(
    client: &Client,
    job: &WorkloadJob,
    within: Duration,
) -> Result<String, ClusterError> {
    let api: Api<Job> = Api::namespaced(client.clone(), &job.namespace);
    let deadline = Instant::now() + within;
    let what = format!("the completion of job/{} in {}", job.name, job.namespace);
    let (api, name) = (&api, job.name.as_str());
    let ended = poll(&what, deadline, within, || async move {
        let seen = api
            .get_status(name)
            .await
            .map_err(failed(format!("reading job/{name}")))?;
        Ok(job_ended(&seen).ok_or_else(|| "not complete yet".to_owned()))
    })
    .await?;
    let pod = job_pod(client, job).await?;
    if let JobEnd::Failed(reason) = ended {
        let log = workload_log(client, job, &pod).await.unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(ClusterError::JobFailed {
            reason,
            log_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(pod)
}

/// How a `Job` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JobEnd {
    Complete,
    /// With its `Failed` condition's message (or reason).
    Failed(String),
}

/// How `job` ended, if it has.
fn job_ended(job: &Job) -> Option<JobEnd> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Complete").is_some() {
        return Some(JobEnd::Complete);
    }
    holds("Failed").map(|condition| {
        JobEnd::Failed(
            condition
                .message
                .clone()
                .or_else(|| condition.reason.clone())
                .unwrap_or_default(),
        )
    })
}

/// The workload `Job`'s pod (it runs once: `backoffLimit: 0`).
async fn job_pod(client: &Client, job: &WorkloadJob) -> Result<String, ClusterError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &job.namespace);
    // The Job controller labels its pods with the Job's uid.
    let selector = format!("batch.kubernetes.io/controller-uid={}", job.uid);
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(failed(format!("listing the pods of job/{}", job.name)))?;
    pods.items
        .into_iter()
        .find_map(|pod| pod.metadata.name)
        .ok_or_else(|| ClusterError::Fleet {
            pod: format!("job/{}", job.name),
            error: "the Job has no pod".to_owned(),
        })
}

/// The log of the workload container of the Job's pod.
async fn workload_log(
    client: &Client,
    job: &WorkloadJob,
    pod: &str,
) -> Result<String, ClusterError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &job.namespace);
    let params = LogParams {
        container: Some("workload".to_owned()),
        ..LogParams::default()
    };
    api.logs(pod, &params)
        .await
        .map_err(failed(format!("reading the log of pod {pod}")))
}

/// Deletes what the run made, and waits until it is gone (at most
/// `within`): the next scenario may use the same namespace.
async fn clean_up(client: &Client, made: Made, within: Duration) -> Result<(), ClusterError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut first_error = None;
    let mut note = |error: ClusterError| {
        first_error.get_or_insert(error);
    };
    // Foreground: an object is gone once what it owns (pods) is.
    let params = DeleteParams::foreground();
    for (api, name) in made.objects.iter().rev() {
        if let Err(error) = gone_or(api.delete(name, &params).await.map(drop)) {
            note(failed(format!("deleting {name}"))(error));
        }
    }
    for name in &made.namespaces {
        if let Err(error) = gone_or(namespaces.delete(name, &params).await.map(drop)) {
            note(failed(format!("deleting namespace {name}"))(error));
        }
    }
    let deadline = Instant::now() + within;
    for (api, name) in &made.objects {
        let what = format!("the deletion of {name}");
        if let Err(error) = poll(&what, deadline, within, || still_there(api, name)).await {
            note(error);
        }
    }
    for name in &made.namespaces {
        let what = format!("the deletion of namespace {name}");
        if let Err(error) = poll(&what, deadline, within, || still_there(&namespaces, name)).await {
            note(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A deletion's result, where "not found" is success.
fn gone_or(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

/// `Ok(())` once `name` is gone.
async fn still_there<K>(api: &Api<K>, name: &str) -> Result<Result<(), String>, ClusterError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let found = api
        .get_opt(name)
        .await
        .map_err(failed(format!("reading {name}")))?;
    Ok(match found {
        None => Ok(()),
        Some(_) => Err("still there".to_owned()),
    })
}

/// Waits until the fleet pods' counts of what they received stop moving
/// (mirrored copies and late retries land after the workload's last
/// answer), as a run on loopback drains its fleet.
async fn drain(client: &Client, pods: &[FleetPod]) -> Result<(), ClusterError> {
    crate::run::until_still(|| received(client, pods)).await
}

/// What every fleet pod has received so far, pod by pod.
async fn received(client: &Client, pods: &[FleetPod]) -> Result<Vec<String>, ClusterError> {
    let mut counts = Vec::new();
    for pod in pods {
        counts.push(pod_get(client, pod, RECEIVED_PATH).await?);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deployment(generation: i64, status: Option<DeploymentStatus>) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            status,
            ..Deployment::default()
        }
    }

    #[test]
    fn a_rollout_is_done_when_every_replica_of_the_latest_generation_is_available() {
        let status = |observed, updated, available| DeploymentStatus {
            observed_generation: Some(observed),
            updated_replicas: Some(updated),
            available_replicas: Some(available),
            ..DeploymentStatus::default()
        };
        assert!(rollout(&deployment(2, Some(status(2, 3, 3))), 3).is_ok());
        assert!(rollout(&deployment(2, Some(status(1, 3, 3))), 3).is_err());
        assert!(rollout(&deployment(2, Some(status(2, 2, 3))), 3).is_err());
        assert!(rollout(&deployment(2, Some(status(2, 3, 2))), 3).is_err());
        assert!(rollout(&deployment(1, None), 1).is_err());
    }

    #[test]
    fn a_missing_routing_kind_says_what_to_install() {
        assert!(install_hint("metaprotocol.aeraki.io").contains("Aeraki"));
        assert!(install_hint("networking.istio.io").contains("Istio"));
    }
}
