//! Issue 15, the live cluster run (`meshbench kind run`), against a fake
//! Kubernetes API server on loopback that does what a cluster does with
//! what it is given: each `Deployment`'s pods run their container's
//! command (`meshbench fleet --scenario … --pod-ip …`, `$(POD_IP)` a
//! loopback address of their own), the workload `Job`'s pod runs its
//! command once resumed, behind the reference proxy standing in for the
//! sidecar (configured with the applied routing objects, as istiod and
//! Aeraki would configure Envoy), and `pods/…/log` and `pods/…:9966/proxy`
//! answer from those processes. Discovery, server-side apply, status,
//! merge patches, label selectors and deletion are answered as the API
//! answers them, so `kube` takes the same path as against a real cluster.
//!
//! What this cannot show: that Istio's and Aeraki's sidecars route as the
//! reference proxy does. `kind/README.md` says what a user sees there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use meshbench::adapter::{ProxyAdapter, ProxySpec};
use meshbench::kind::cluster::{self, Bounds, ClusterError, Target};
use meshbench_sim::fleet::agent::fetch_endpoints;
use meshbench_sim::scenario::Scenario;
use meshbench_sim::stats::Verdict;
use meshbench_wire::Limits;
use meshbench_wire::http1::{Request, Response, ServerCodec};
use meshbench_wire::mux::{self, Answer, Order};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// The kinds the fake serves, by group version: (resource, kind, namespaced).
fn served(group_version: &str) -> Option<Vec<(&'static str, &'static str, bool)>> {
    Some(match group_version {
        "v1" => vec![
            ("namespaces", "Namespace", false),
            ("configmaps", "ConfigMap", true),
            ("services", "Service", true),
            ("pods", "Pod", true),
        ],
        "apps/v1" => vec![("deployments", "Deployment", true)],
        "batch/v1" => vec![("jobs", "Job", true)],
        "networking.istio.io/v1alpha3" | "networking.istio.io/v1beta1" => vec![
            ("destinationrules", "DestinationRule", true),
            ("virtualservices", "VirtualService", true),
            ("serviceentries", "ServiceEntry", true),
        ],
        "metaprotocol.aeraki.io/v1alpha1" => vec![("metarouters", "MetaRouter", true)],
        _ => return None,
    })
}

/// A pod the fake runs: its labels, and its process.
struct PodRun {
    namespace: String,
    labels: BTreeMap<String, String>,
    child: Child,
    /// Where its fleet agent serves (`:9966` in a cluster).
    records: Option<SocketAddr>,
    /// Where its log goes.
    log: PathBuf,
}

#[derive(Default)]
struct State {
    /// Every object applied, by its path.
    objects: BTreeMap<String, Value>,
    pods: BTreeMap<String, PodRun>,
    /// The proxy standing in for the workload pod's sidecar.
    sidecar: Option<Box<dyn ProxyAdapter>>,
    /// Each request, `METHOD path`.
    calls: Vec<String>,
    /// Namespaces there, by name: the object as applied (or as it was).
    namespaces: BTreeMap<String, Value>,
    /// Namespaces being deleted: how many more reads still see them.
    terminating: BTreeMap<String, u8>,
    /// Namespaces deleted, by name; objects deleted, by path.
    deleted: Vec<String>,
    deleted_objects: Vec<String>,
    /// Deployments whose status was read once (the first read: not ready).
    rolling: std::collections::BTreeSet<String>,
    uids: u32,
    /// The kind of every object applied, in order.
    applied: Vec<String>,
}

struct Fake {
    work: tempfile::TempDir,
    /// The third octet of its first pod's address: tests running at once
    /// give their pods addresses of their own.
    subnet: u8,
    /// Groups it pretends are not installed.
    missing: Vec<&'static str>,
    state: Mutex<State>,
}

fn status(code: u16, message: &str) -> Response {
    let reason = match code {
        404 => "NotFound",
        _ => "BadRequest",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    reply(code, &body)
}

fn reply(code: u16, body: &Value) -> Response {
    let mut response = Response::new(code, body.to_string());
    response.headers.append("content-type", "application/json");
    response
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Fake {
    fn new(missing: Vec<&'static str>) -> Arc<Fake> {
        Fake::with(missing, &[], &[])
    }

    /// A fake whose cluster already has `namespaces` (name, sidecar
    /// injection on) and `objects` (path, object).
    fn with(
        missing: Vec<&'static str>,
        namespaces: &[(&str, bool)],
        objects: &[(&str, Value)],
    ) -> Arc<Fake> {
        static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(150);
        let mut state = State::default();
        for (name, injected) in namespaces {
            let labels = match injected {
                true => json!({ "istio-injection": "enabled" }),
                false => json!({}),
            };
            let namespace = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": { "name": name, "labels": labels },
            });
            state.namespaces.insert((*name).to_owned(), namespace);
        }
        for (path, object) in objects {
            state.objects.insert((*path).to_owned(), object.clone());
        }
        Arc::new(Fake {
            work: tempfile::tempdir().expect("a temporary directory"),
            subnet: NEXT.fetch_add(10, std::sync::atomic::Ordering::SeqCst),
            missing,
            state: Mutex::new(state),
        })
    }

    /// Serves on a free loopback port until `stop`.
    async fn serve(self: &Arc<Fake>, stop: CancellationToken) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        let fake = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => accepted.expect("accepts").0,
                };
                let (fake, stop) = (Arc::clone(&fake), stop.clone());
                tokio::spawn(async move {
                    let codec = ServerCodec::new(Limits::default());
                    let handle = |request: Request| {
                        let fake = Arc::clone(&fake);
                        async move { Answer::Reply(fake.answer(request).await) }
                    };
                    mux::serve(stream, codec, Order::Sequential, None, stop, handle).await;
                });
            }
        });
        addr
    }

    async fn answer(&self, request: Request) -> Response {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target.as_str(), ""));
        let path = path.to_owned();
        let query = decode(query);
        let call = match request.headers.get("content-type") {
            Some(kind) if request.method == "PATCH" => format!("PATCH {path} {kind}"),
            _ => format!("{} {path}", request.method),
        };
        self.state.lock().await.calls.push(call);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), parts.as_slice()) {
            ("GET", ["version"]) => reply(
                200,
                &json!({
                    "major": "1", "minor": "33", "gitVersion": "v1.33.1-fake",
                    "gitCommit": "0", "gitTreeState": "clean", "buildDate": "2026-12-07T00:00:00Z",
                    "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
                }),
            ),
            ("GET", ["api", version]) => self.discovery(version),
            ("GET", ["apis", group, version]) => self.discovery(&format!("{group}/{version}")),
            ("PATCH", _)
                if request.headers.get("content-type") == Some("application/apply-patch+yaml") =>
            {
                self.apply(&path, &request.body).await
            }
            ("PATCH", [.., "jobs", _]) => self.resume(&path, &request.body).await,
            ("GET", ["api", "v1", "namespaces", _, "pods"]) => self.list_pods(&query).await,
            ("GET", ["api", "v1", "namespaces", _, "pods", pod, "log"]) => self.log(pod).await,
            (
                "GET",
                [
                    "api",
                    "v1",
                    "namespaces",
                    _,
                    "pods",
                    pod_port,
                    "proxy",
                    rest @ ..,
                ],
            ) => {
                self.proxy(pod_port, &format!("/{}", rest.join("/")), &query)
                    .await
            }
            ("GET", [.., "deployments", _, "status"]) => self.deployment(&path).await,
            ("GET", [.., "jobs", _, "status"]) => self.job(&path).await,
            ("GET", ["api", "v1", "namespaces", name]) => self.namespace(name).await,
            ("DELETE", ["api", "v1", "namespaces", name]) => self.delete(name).await,
            ("GET", ["api", "v1", "namespaces", _, "pods", pod]) => self.pod(pod).await,
            ("DELETE", _) => self.delete_object(&path).await,
            ("GET", _) => match self.state.lock().await.objects.get(&path) {
                Some(object) => reply(200, object),
                None => status(404, "not found"),
            },
            _ => status(
                404,
                &format!("the fake serves no {} {path}", request.method),
            ),
        }
    }

    fn discovery(&self, group_version: &str) -> Response {
        let group = group_version.split('/').next().unwrap_or_default();
        let resources = match served(group_version) {
            Some(resources) if !self.missing.contains(&group) => resources,
            _ => return status(404, &format!("{group_version} is not served")),
        };
        let resources: Vec<Value> = resources
            .into_iter()
            .map(|(name, kind, namespaced)| {
                json!({
                    "name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                    "kind": kind, "verbs": ["get", "list", "patch", "delete"],
                })
            })
            .collect();
        reply(
            200,
            &json!({
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": group_version, "resources": resources,
            }),
        )
    }

    /// Server-side apply: keeps the object, and runs a `Deployment`'s pods.
    async fn apply(&self, path: &str, body: &[u8]) -> Response {
        let Ok(object) = serde_json::from_slice::<Value>(body) else {
            return status(400, "not JSON");
        };
        let mut object = object;
        if object["kind"] == "Deployment" {
            self.run_deployment(&object).await;
        }
        let mut state = self.state.lock().await;
        state.uids += 1;
        object["metadata"]["uid"] = json!(format!("uid-{}", state.uids));
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        state.applied.push(kind);
        if object["kind"] == "Namespace" {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            state.namespaces.insert(name.to_owned(), object.clone());
        }
        state.objects.insert(path.to_owned(), object.clone());
        reply(200, &object)
    }

    /// The scenario file the `ConfigMap`s carry, as a pod mounts it.
    async fn scenario_file(&self) -> PathBuf {
        let state = self.state.lock().await;
        let data = state
            .objects
            .values()
            .find(|o| o["kind"] == "ConfigMap")
            .and_then(|o| o["data"]["scenario.yaml"].as_str())
            .expect("the scenario's ConfigMap is applied before the fleet")
            .to_owned();
        let file = self.work.path().join("scenario.yaml");
        std::fs::write(&file, data).expect("writes the mounted scenario");
        file
    }

    /// A container's command line as the kubelet would run it here.
    fn command(&self, container: &Value, pod_ip: &str, scenario: &Path) -> Vec<String> {
        container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|arg| {
                arg.as_str()
                    .expect("a string")
                    .replace("$(POD_IP)", pod_ip)
                    .replace("/etc/meshbench/scenario.yaml", &scenario.to_string_lossy())
            })
            .collect()
    }

    async fn run_deployment(&self, deployment: &Value) {
        let scenario = self.scenario_file().await;
        let name = deployment["metadata"]["name"].as_str().expect("a name");
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .expect("a namespace");
        let template = &deployment["spec"]["template"];
        let labels: BTreeMap<String, String> =
            serde_json::from_value(template["metadata"]["labels"].clone()).expect("labels");
        let container = &template["spec"]["containers"][0];
        let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
        for replica in 0..replicas {
            let mut state = self.state.lock().await;
            let subnet = usize::from(self.subnet) + state.pods.len();
            let pod_ip = format!("127.0.{subnet}.{}", replica + 1);
            let pod = format!("{name}-{replica}");
            let log = self.work.path().join(format!("{pod}.log"));
            let mut child = Command::new(BIN)
                .args(self.command(container, &pod_ip, &scenario))
                .args(["--for", "300s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("the fleet pod's command starts");
            let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
            let mut records = None;
            while let Some(line) = lines.next_line().await.expect("reads") {
                if let Some(url) = line.strip_prefix("records http://") {
                    let addr = url.trim_end_matches("/records");
                    records = Some(addr.parse().expect("the records address"));
                    break;
                }
            }
            state.pods.insert(
                pod,
                PodRun {
                    namespace: namespace.to_owned(),
                    labels: labels.clone(),
                    child,
                    records,
                    log,
                },
            );
        }
    }

    /// Resumes the workload `Job`: the sidecar (the reference proxy, given
    /// the applied routing and the fleet's endpoints), then its command.
    async fn resume(&self, path: &str, body: &[u8]) -> Response {
        let patch: Value = serde_json::from_slice(body).unwrap_or_default();
        assert_eq!(
            patch,
            json!({ "spec": { "suspend": false } }),
            "the run only resumes the Job"
        );
        let scenario_file = self.scenario_file().await;
        let scenario = Scenario::load(&scenario_file).expect("the mounted scenario loads");
        let resolved = meshbench::resolve::resolve(&scenario, 1).expect("resolves");
        let mut state = self.state.lock().await;
        let mut endpoints = Vec::new();
        for pod in state.pods.values() {
            if let Some(records) = pod.records {
                endpoints.extend(fetch_endpoints(records).await.expect("the pod's endpoints"));
            }
        }
        let services = meshbench::run::services(&resolved.spec.services, &endpoints);
        let mut sidecar = ProxySpec::Builtin.adapter();
        let listeners = sidecar
            .start(&services, &resolved.spec.routing, resolved.spec.proxy)
            .await
            .expect("the sidecar starts");
        let job = state
            .objects
            .get(path)
            .expect("the Job was applied before it is resumed")
            .clone();
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        let mut args = self.command(container, "", &scenario_file);
        for arg in &mut args {
            // The service's cluster name resolves to the sidecar here.
            if let Some((service, _)) = arg.split_once('=')
                && let Some(listener) = listeners.get(service)
            {
                *arg = format!("{service}={listener}");
            }
        }
        let log = self.work.path().join("workload.log");
        let out = std::fs::File::create(&log).expect("the log");
        let child = Command::new(BIN)
            .args(&args)
            .stdout(out.try_clone().expect("the log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("the workload pod's command starts");
        let namespace = job["metadata"]["namespace"].as_str().expect("a namespace");
        state.pods.insert(
            "meshbench-job-0".to_owned(),
            PodRun {
                namespace: namespace.to_owned(),
                labels: BTreeMap::from([
                    ("job-name".to_owned(), "meshbench".to_owned()),
                    (
                        "batch.kubernetes.io/controller-uid".to_owned(),
                        job["metadata"]["uid"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                ]),
                child,
                records: None,
                log,
            },
        );
        state.sidecar = Some(sidecar);
        reply(200, &job)
    }

    async fn list_pods(&self, query: &str) -> Response {
        let selector: BTreeMap<&str, &str> = query
            .strip_prefix("labelSelector=")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let state = self.state.lock().await;
        let items: Vec<Value> = state
            .pods
            .iter()
            .filter(|(_, pod)| {
                selector
                    .iter()
                    .all(|(k, v)| pod.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(name, pod)| pod_json(name, pod))
            .collect();
        reply(
            200,
            &json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items }),
        )
    }

    async fn log(&self, pod: &str) -> Response {
        let state = self.state.lock().await;
        let Some(run) = state.pods.get(pod) else {
            return status(404, "no such pod");
        };
        let text = std::fs::read_to_string(&run.log).unwrap_or_default();
        Response::new(200, text)
    }

    /// `pods/NAME:9966/proxy/PATH`: the pod's fleet agent answers.
    async fn proxy(&self, pod_port: &str, path: &str, query: &str) -> Response {
        let Some((pod, "9966")) = pod_port.split_once(':') else {
            return status(404, "only port 9966 is proxied");
        };
        let records = self
            .state
            .lock()
            .await
            .pods
            .get(pod)
            .and_then(|p| p.records);
        let Some(records) = records else {
            return status(404, "no such pod");
        };
        let target = match query {
            "" => path.to_owned(),
            query => format!("{path}?{query}"),
        };
        let client = meshbench_sim::client::http::HttpClient::connect(records)
            .await
            .expect("the pod's agent answers");
        let (response, _) = client
            .send(Request::new("GET", &target), None)
            .await
            .expect("the pod's agent answers");
        response
    }

    async fn deployment(&self, path: &str) -> Response {
        let mut state = self.state.lock().await;
        let Some(applied) = state.objects.get(path.trim_end_matches("/status")) else {
            return status(404, "not applied");
        };
        let replicas = applied["spec"]["replicas"].clone();
        let mut deployment = applied.clone();
        deployment["metadata"]["generation"] = json!(1);
        // Rolling out on the first look, rolled out from the second on.
        let available = match state.rolling.insert(path.to_owned()) {
            true => json!(0),
            false => replicas.clone(),
        };
        deployment["status"] = json!({
            "observedGeneration": 1, "replicas": replicas,
            "updatedReplicas": replicas, "availableReplicas": available,
        });
        reply(200, &deployment)
    }

    async fn job(&self, path: &str) -> Response {
        let mut state = self.state.lock().await;
        let Some(mut job) = state.objects.get(path.trim_end_matches("/status")).cloned() else {
            return status(404, "not applied");
        };
        let exited = state
            .pods
            .get_mut("meshbench-job-0")
            .and_then(|pod| pod.child.try_wait().ok().flatten());
        job["status"] = match exited {
            None => json!({}),
            Some(exit) if exit.success() => {
                json!({ "conditions": [{ "type": "Complete", "status": "True" }] })
            }
            Some(exit) => json!({ "conditions": [{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": format!("the pod's container exited: {exit}"),
            }] }),
        };
        reply(200, &job)
    }

    /// A namespace is seen terminating once after its deletion, then gone.
    async fn namespace(&self, name: &str) -> Response {
        let mut state = self.state.lock().await;
        let Some(mut namespace) = state.namespaces.get(name).cloned() else {
            return status(404, "no such namespace");
        };
        match state.terminating.get_mut(name) {
            None => {}
            Some(0) => {
                state.terminating.remove(name);
                state.namespaces.remove(name);
                return status(404, "no such namespace");
            }
            Some(left) => {
                *left -= 1;
                namespace["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
            }
        }
        reply(200, &namespace)
    }

    async fn delete(&self, name: &str) -> Response {
        let mut state = self.state.lock().await;
        if !state.namespaces.contains_key(name) {
            return status(404, "no such namespace");
        }
        state.deleted.push(name.to_owned());
        state.terminating.insert(name.to_owned(), 1);
        let inside = format!("/namespaces/{name}/");
        state.objects.retain(|path, _| !path.contains(&inside));
        let pods: Vec<String> = state
            .pods
            .iter()
            .filter(|(_, pod)| pod.namespace == name)
            .map(|(pod, _)| pod.clone())
            .collect();
        for pod in pods {
            if let Some(mut run) = state.pods.remove(&pod) {
                let _ = run.child.kill().await;
            }
        }
        if let Some(mut sidecar) = state.sidecar.take() {
            sidecar.stop().await;
        }
        reply(
            200,
            &json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } }),
        )
    }

    /// Deletes one object, and the pods a Deployment or Job owns.
    async fn delete_object(&self, path: &str) -> Response {
        let mut state = self.state.lock().await;
        let Some(object) = state.objects.remove(path) else {
            return status(404, "not found");
        };
        state.deleted_objects.push(path.to_owned());
        let owned: BTreeMap<String, String> = match object["kind"].as_str() {
            Some("Deployment") => {
                serde_json::from_value(object["spec"]["template"]["metadata"]["labels"].clone())
                    .unwrap_or_default()
            }
            Some("Job") => BTreeMap::from([("job-name".to_owned(), "meshbench".to_owned())]),
            _ => BTreeMap::new(),
        };
        if !owned.is_empty() {
            let pods: Vec<String> = state
                .pods
                .iter()
                .filter(|(_, pod)| owned.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
                .map(|(name, _)| name.clone())
                .collect();
            for pod in pods {
                if let Some(mut run) = state.pods.remove(&pod) {
                    let _ = run.child.kill().await;
                }
            }
        }
        if object["kind"] == "Job"
            && let Some(mut sidecar) = state.sidecar.take()
        {
            sidecar.stop().await;
        }
        reply(200, &object)
    }

    async fn pod(&self, name: &str) -> Response {
        let state = self.state.lock().await;
        match state.pods.get(name) {
            Some(pod) => reply(200, &pod_json(name, pod)),
            None => status(404, "no such pod"),
        }
    }
}

/// A running pod as the API shows it.
fn pod_json(name: &str, pod: &PodRun) -> Value {
    json!({
        "metadata": { "name": name, "namespace": pod.namespace, "labels": pod.labels },
        "status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": "endpoint", "image": "meshbench:dev", "imageID": "", "ready": true,
                "restartCount": 0,
            }],
        },
    })
}

/// A client of the fake at `addr`.
fn client(addr: SocketAddr) -> kube::Client {
    let url = format!("http://{addr}").parse().expect("a URL");
    kube::Client::try_from(kube::Config::new(url)).expect("a client")
}

fn target(addr: SocketAddr) -> Target {
    Target {
        client: client(addr),
        image: "meshbench:dev".to_owned(),
        bounds: Bounds {
            rollout: Duration::from_secs(60),
            workload: Duration::from_secs(120),
            cleanup: Duration::from_secs(60),
        },
    }
}

fn scenario(file: &str) -> (Scenario, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let source = std::fs::read_to_string(&path).expect("the scenario");
    (Scenario::load(&path).expect("loads"), source)
}

/// `thrift/method-route` run in the cluster `fake` pretends to be.
async fn method_route_in(fake: &Arc<Fake>) -> meshbench::report::Report {
    let stop = CancellationToken::new();
    let addr = fake.serve(stop.clone()).await;
    let (scenario, source) = scenario("scenarios/thrift/method-route.yaml");
    let report = meshbench::run_scenario_in_cluster(
        &scenario,
        &source,
        &target(addr),
        1,
        CancellationToken::new(),
    )
    .await
    .expect("the cluster run gives a report");
    stop.cancel();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_run_applies_waits_reads_back_judges_and_cleans_up() {
    let fake = Fake::new(Vec::new());
    let report = method_route_in(&fake).await;
    let state = fake.state.lock().await;
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{:#?}\n{:?}",
        report.assertions,
        state.calls
    );
    assert_eq!(report.sent, 600);
    assert_eq!(report.proxy, "istio+aeraki");
    assert!(
        report.environment.contains("v1.33.1-fake") && report.environment.contains("istiod none"),
        "{}",
        report.environment
    );
    let applied: Vec<&str> = state.applied.iter().map(String::as_str).collect();
    for kind in [
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "DestinationRule",
        "MetaRouter",
        "Job",
    ] {
        assert!(applied.contains(&kind), "{kind} applied: {applied:?}");
    }
    let position = |call: &str| {
        state
            .calls
            .iter()
            .position(|c| c.starts_with(call))
            .unwrap_or_else(|| panic!("{call} in {:?}", state.calls))
    };
    let job = "/apis/batch/v1/namespaces/meta-thrift/jobs/meshbench";
    let applied = position(&format!("PATCH {job} application/apply-patch+yaml"));
    let rolled_out = position("GET /apis/apps/v1/namespaces/meta-thrift/deployments");
    let resumed = position(&format!("PATCH {job} application/merge-patch+json"));
    let waited = position(&format!("GET {job}/status"));
    assert!(
        applied < rolled_out && rolled_out < resumed && resumed < waited,
        "applied suspended, the fleet rolled out, then started and waited for: {:?}",
        state.calls
    );
    assert!(
        state
            .calls
            .iter()
            .any(|c| c.contains(":9966/proxy/records"))
    );
    let discovered = |group_version: &str| {
        let call = format!("GET /apis/{group_version}");
        state.calls.iter().filter(|c| **c == call).count()
    };
    assert_eq!(
        discovered("apps/v1"),
        1,
        "two Deployments, one discovery of their kind"
    );
    assert_eq!(state.deleted, vec!["meta-thrift".to_owned()]);
    assert!(state.pods.is_empty(), "every pod went with its namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_aeraki_is_named_and_what_was_applied_is_deleted() {
    let fake = Fake::new(vec!["metaprotocol.aeraki.io"]);
    let (scenario, source) = scenario("scenarios/thrift/method-route.yaml");
    let objects =
        meshbench::kind::cluster_run(&scenario, &source, "meshbench:dev", 1).expect("the objects");
    let error = refused_by(&fake, &objects).await;
    assert!(matches!(error, ClusterError::NotServed { .. }), "{error}");
    assert!(error.to_string().contains("install Aeraki"), "{error}");
    let state = fake.state.lock().await;
    assert!(
        !state.applied.iter().any(|kind| kind == "Job"),
        "nothing after the refusal"
    );
    assert_eq!(state.deleted, vec!["meta-thrift".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_cluster_run_deletes_what_it_applied() {
    let fake = Fake::new(Vec::new());
    let stop = CancellationToken::new();
    let addr = fake.serve(stop.clone()).await;
    let (scenario, source) = scenario("scenarios/thrift/method-route.yaml");
    let objects =
        meshbench::kind::cluster_run(&scenario, &source, "meshbench:dev", 1).expect("the objects");
    let cancel = CancellationToken::new();
    let interrupt = {
        let (fake, cancel) = (Arc::clone(&fake), cancel.clone());
        async move {
            // Interrupted once the fleet is up, as a user's Ctrl-C would be.
            loop {
                if fake.state.lock().await.pods.len() >= 2 {
                    cancel.cancel();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let client = client(addr);
    let (result, ()) = tokio::join!(
        cluster::execute(&client, &objects, Bounds::default(), &cancel),
        interrupt
    );
    assert!(
        matches!(result, Err(ClusterError::Interrupted)),
        "{result:?}"
    );
    let state = fake.state.lock().await;
    assert_eq!(state.deleted, vec!["meta-thrift".to_owned()]);
    assert!(state.pods.is_empty());
    stop.cancel();
}

/// `meshbench kind run` itself, against the fake through a kubeconfig:
/// several files, a report each and the index; a scenario a cluster run
/// cannot do (phases) is an error row saying why, not an abort of the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_run_judges_every_file_it_is_given_through_the_kubeconfig() {
    let fake = Fake::new(Vec::new());
    let stop = CancellationToken::new();
    let addr = fake.serve(stop.clone()).await;
    let work = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {{ server: 'http://{addr}' }}
users:
  - name: fake
    user: {{}}
contexts:
  - name: fake
    context: {{ cluster: fake, user: fake }}
current-context: fake
"
        ),
    )
    .expect("writes the kubeconfig");
    let out = work.path().join("out");
    let scenarios = [
        "thrift/method-route.yaml",
        "thrift/route-switch-mid-connection.yaml",
    ]
    .map(|file| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file)
    });
    let run = Command::new(BIN)
        .args(["kind", "run"])
        .args(&scenarios)
        .arg("--out")
        .arg(&out)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .await
        .expect("meshbench kind run runs");
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(2),
        "an error row makes the run an error: {said}"
    );
    assert!(said.contains("PASS thrift-method-route"), "{said}");
    assert!(
        said.contains("a cluster run cannot change the routing mid-run (phases) yet"),
        "{said}"
    );
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("conformance.json")).expect("the index"),
    )
    .expect("json");
    assert_eq!(index["scenarios_by_verdict"]["pass"], 1, "{index}");
    assert_eq!(index["scenarios_by_verdict"]["error"], 1, "{index}");
    let report = std::fs::read_to_string(out.join("thrift-method-route/report.json"))
        .expect("the scenario's report");
    assert!(
        report.contains("v1.33.1-fake"),
        "the report says where it ran"
    );
    assert_eq!(
        fake.state.lock().await.deleted,
        vec!["meta-thrift".to_owned()]
    );
    stop.cancel();
}

/// A namespace that is already there, injecting sidecars: the run uses it,
/// leaves it, and deletes each object it made there (and only those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_that_was_there_is_left_with_only_the_runs_objects_deleted() {
    let theirs = "/api/v1/namespaces/meta-thrift/configmaps/theirs";
    let their_config =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "theirs" } });
    let fake = Fake::with(
        Vec::new(),
        &[("meta-thrift", true)],
        &[(theirs, their_config)],
    );
    let report = method_route_in(&fake).await;
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.assertions);
    let state = fake.state.lock().await;
    assert!(
        state.deleted.is_empty(),
        "the namespace stays: {:?}",
        state.deleted
    );
    assert!(state.namespaces.contains_key("meta-thrift"));
    assert!(
        !state.applied.iter().any(|kind| kind == "Namespace"),
        "{:?}",
        state.applied
    );
    assert!(
        state.objects.contains_key(theirs),
        "what the run did not make stays"
    );
    let deleted: Vec<&str> = state.deleted_objects.iter().map(String::as_str).collect();
    for made in [
        "/apis/batch/v1/namespaces/meta-thrift/jobs/meshbench",
        "/apis/apps/v1/namespaces/meta-thrift/deployments/thrift-sample-server-v1",
        "/api/v1/namespaces/meta-thrift/services/thrift-sample-server",
        "/api/v1/namespaces/meta-thrift/configmaps/meshbench",
    ] {
        assert!(deleted.contains(&made), "{made} deleted: {deleted:?}");
    }
    assert_eq!(
        state.objects.len(),
        1,
        "nothing of the run is left: {:?}",
        state.objects.keys()
    );
    assert!(state.pods.is_empty(), "its pods went with their owners");
}

/// What a run must not touch is refused before it is touched: a namespace
/// without sidecar injection, an object of the run's name already there
/// (never taken over, never deleted), a namespace of the cluster's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_run_did_not_make_is_refused_and_left_as_it_was() {
    let (scenario, source) = scenario("scenarios/thrift/method-route.yaml");
    let objects =
        meshbench::kind::cluster_run(&scenario, &source, "meshbench:dev", 1).expect("the objects");
    let plain = Fake::with(Vec::new(), &[("meta-thrift", false)], &[]);
    let error = refused_by(&plain, &objects).await;
    assert!(
        error.to_string().contains("without sidecar injection"),
        "{error}"
    );
    let state = plain.state.lock().await;
    assert!(
        state.applied.is_empty() && state.deleted.is_empty(),
        "untouched"
    );
    drop(state);

    let deployment = "/apis/apps/v1/namespaces/meta-thrift/deployments/thrift-sample-server-v1";
    let theirs = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "thrift-sample-server-v1" } });
    let taken = Fake::with(
        Vec::new(),
        &[("meta-thrift", true)],
        &[(deployment, theirs.clone())],
    );
    let error = refused_by(&taken, &objects).await;
    assert!(
        error
            .to_string()
            .contains("Deployment thrift-sample-server-v1 is already in namespace meta-thrift"),
        "{error}"
    );
    let state = taken.state.lock().await;
    assert_eq!(
        state.objects.get(deployment),
        Some(&theirs),
        "theirs, untouched"
    );
    assert!(!state.deleted_objects.iter().any(|p| p == deployment));
    assert!(
        state
            .deleted_objects
            .iter()
            .any(|p| p.ends_with("/configmaps/meshbench")),
        "what the run applied before the refusal is deleted: {:?}",
        state.deleted_objects
    );
    drop(state);

    let own = scenario_text(&source.replace("meta-thrift", "istio-system"));
    let objects =
        meshbench::kind::cluster_run(&own.0, &own.1, "meshbench:dev", 1).expect("the objects");
    let cluster = Fake::new(Vec::new());
    let error = refused_by(&cluster, &objects).await;
    assert!(error.to_string().contains("the cluster's own"), "{error}");
    assert!(cluster.state.lock().await.applied.is_empty());
}

/// Why the cluster `fake` pretends to be refuses a run of `objects`.
async fn refused_by(fake: &Arc<Fake>, objects: &meshbench::kind::ClusterRun) -> ClusterError {
    let stop = CancellationToken::new();
    let addr = fake.serve(stop.clone()).await;
    let error = cluster::execute(
        &client(addr),
        objects,
        Bounds::default(),
        &CancellationToken::new(),
    )
    .await
    .expect_err("refused");
    stop.cancel();
    error
}

/// A scenario from its text, through a file as the loader takes it.
fn scenario_text(source: &str) -> (Scenario, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, source).expect("writes the scenario");
    (Scenario::load(&path).expect("loads"), source.to_owned())
}
