//! Kubernetes (kind) runs against Istio + Aeraki: a scenario as the
//! manifests a cluster needs, and the API actions a run takes, in order.
//!
//! Each fleet service `name.namespace.svc.cluster.local` becomes a
//! `Service` named `name` in `namespace` (labelled for sidecar injection;
//! any other host, such as a Dubbo interface, an Istio `ServiceEntry`),
//! its port named as Aeraki's MetaProtocol needs it
//! (`tcp-metaprotocol-thrift-…`, `tcp-metaprotocol-dubbo-…`) or with
//! Istio's protocol prefix (`http-…`, `grpc-…`, `tcp-…`); each version a
//! `Deployment` `app-version` of its replicas, pods labelled `app`,
//! `version` and the version's own labels, each pod one `meshbench fleet`
//! endpoint serving the version as the scenario file (mounted from a
//! `ConfigMap`) describes it, on the pod's own address, and what it
//! received on port 9966 (`GET /records`). The routing
//! objects go in unchanged. The workload is a `Job` whose pod has the
//! sidecar and runs `meshbench workload`, writing one ledger entry per
//! line to its log.
//!
//! The objects are the `k8s-openapi` types, so what is printed is what
//! the Kubernetes API's own schema allows; the routing objects are the
//! user's. [`cluster`] takes the actions through the Kubernetes API; the
//! dry run prints them as the `kubectl` commands they amount to, which
//! `kind/README.md` also shows how to take by hand.

pub mod cluster;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, Namespace,
    ObjectFieldSelector, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use meshbench_sim::scenario::{FleetService, Scenario};
use meshbench_wire::Protocol;

/// The image every pod runs: `meshbench` built from this checkout
/// (`kind/README.md` builds it and loads it into the cluster).
pub const DEFAULT_IMAGE: &str = "meshbench:dev";

/// Where the scenario file is mounted in every pod.
const SCENARIO_DIR: &str = "/etc/meshbench";

/// Where each fleet pod serves what it received (`GET /records`), for the
/// runner to read back.
const RECORDS_PORT: u16 = 9966;

/// The name of the `ConfigMap` holding the scenario and of the workload `Job`.
const NAME: &str = "meshbench";

/// How long the workload pod probes each service through its sidecar
/// before it gives up (the convergence probe): Istio's and Aeraki's
/// configuration reaches a new sidecar within seconds in a healthy mesh.
const CONVERGE_WITHIN: &str = "300s";

/// What a cluster run of one scenario applies, and in which order.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRun {
    /// The namespaces, labelled for sidecar injection.
    pub namespaces: Vec<serde_json::Value>,
    /// The fleet: the scenario's `ConfigMap`s, a `Deployment` per version
    /// and a `Service` per fleet service.
    pub fleet: Vec<serde_json::Value>,
    /// The scenario's routing objects, as written.
    pub routing: Vec<serde_json::Value>,
    /// The workload `Job`.
    pub workload: serde_json::Value,
    /// Its namespace.
    pub workload_namespace: String,
    /// The fleet's `Deployment`s, as a run waits for them.
    pub rollouts: Vec<Rollout>,
    /// The actions of a run, as `kubectl` commands.
    pub actions: Vec<String>,
}

/// A fleet `Deployment` a run waits for: where, how many pods, which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The pods it wants.
    pub replicas: i32,
    /// The labels that select its pods.
    pub selector: BTreeMap<String, String>,
}

impl Rollout {
    fn of(deployment: &Deployment) -> Rollout {
        let spec = deployment.spec.as_ref();
        Rollout {
            namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
            name: deployment.metadata.name.clone().unwrap_or_default(),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            selector: spec
                .and_then(|s| s.selector.match_labels.clone())
                .unwrap_or_default(),
        }
    }
}

/// Why a scenario cannot run in a cluster (yet).
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// Something a cluster run does not do yet.
    #[error("a cluster run cannot {0} yet")]
    NotYet(String),
    /// A typed object did not serialize.
    #[error("serializing {what}: {error}")]
    Serialize {
        /// The object.
        what: String,
        /// Why.
        error: serde_json::Error,
    },
}

/// The objects and actions of a cluster run of `scenario`, whose file
/// text is `source`, with pods running `image` and the workload seeded
/// with `seed`.
///
/// # Errors
/// [`KindError`] when the scenario names services outside a namespace, or
/// needs what a cluster run does not do yet (phases).
pub fn cluster_run(
    scenario: &Scenario,
    source: &str,
    image: &str,
    seed: u64,
) -> Result<ClusterRun, KindError> {
    if !scenario.phases.is_empty() {
        return Err(KindError::NotYet(
            "change the routing mid-run (phases)".to_owned(),
        ));
    }
    let placed = scenario
        .fleet
        .iter()
        .map(|service| Placed::new(service, scenario))
        .collect::<Vec<_>>();
    let namespaces: Vec<&str> = placed
        .iter()
        .map(|p| p.namespace)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let workload_namespace = placed.first().map_or("default", |p| p.namespace);
    let mut fleet = Vec::new();
    for namespace in &namespaces {
        fleet.push(json("ConfigMap", &scenario_config_map(namespace, source))?);
    }
    let mut rollouts = Vec::new();
    for service in &placed {
        for deployment in service.deployments(image) {
            rollouts.push(Rollout::of(&deployment));
            fleet.push(json("Deployment", &deployment)?);
        }
        fleet.push(service.service()?);
    }
    let routing = scenario
        .routing_in_phase(0)
        .iter()
        .map(|object| object.to_json())
        .collect();
    let job = workload_job(&placed, workload_namespace, (image, seed));
    Ok(ClusterRun {
        namespaces: namespaces
            .iter()
            .map(|n| json("Namespace", &namespace(n)))
            .collect::<Result<_, _>>()?,
        fleet,
        routing,
        workload: json("Job", &job)?,
        workload_namespace: workload_namespace.to_owned(),
        actions: actions(&rollouts, &namespaces, workload_namespace),
        rollouts,
    })
}

impl ClusterRun {
    /// The namespaces the run uses, by name.
    pub fn namespace_names(&self) -> impl Iterator<Item = &str> {
        self.namespaces
            .iter()
            .filter_map(|namespace| namespace["metadata"]["name"].as_str())
    }

    /// Every object, in the order a run applies them.
    pub fn objects(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.namespaces
            .iter()
            .chain(&self.fleet)
            .chain(&self.routing)
            .chain(std::iter::once(&self.workload))
    }

    /// The objects as one multi-document YAML stream, for `kubectl apply -f`.
    ///
    /// # Errors
    /// When an object does not serialize as YAML.
    pub fn yaml(&self) -> Result<String, String> {
        let documents = self
            .objects()
            .map(|object| serde_saphyr::to_string(object).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(documents
            .iter()
            .map(|d| format!("---\n{}", d.trim_end()))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n")
    }
}

fn json<T: serde::Serialize>(what: &str, object: &T) -> Result<serde_json::Value, KindError> {
    serde_json::to_value(object).map_err(|error| KindError::Serialize {
        what: what.to_owned(),
        error,
    })
}

/// A fleet service with its Kubernetes name and namespace.
struct Placed<'a> {
    spec: &'a FleetService,
    /// The `Service` (or `ServiceEntry`) name.
    name: String,
    namespace: &'a str,
    /// The pods' `app` label, which the service selects.
    app: String,
    /// A `ServiceEntry`: the host is not a cluster name (Aeraki's Dubbo
    /// samples name the interface, `org.apache…demoservice`).
    entry: bool,
    /// The Dubbo interface the clients call, as written: Aeraki reads it
    /// from the `ServiceEntry`'s `interface` annotation.
    interface: Option<String>,
}

impl<'a> Placed<'a> {
    /// `name.namespace.svc.cluster.local` is a `Service` in `namespace`;
    /// any other host a `ServiceEntry` in the namespace of the scenario's
    /// routing objects (`meshbench` without any), as Aeraki's Dubbo
    /// samples declare their providers.
    fn new(spec: &'a FleetService, scenario: &'a Scenario) -> Placed<'a> {
        let fqdn = spec.service.value.as_str();
        let app = spec
            .versions
            .iter()
            .next()
            .and_then(|(v, _)| spec.pod_labels(&v.value))
            .and_then(|labels| labels.get("app").cloned())
            .unwrap_or_else(|| spec.app().to_owned());
        let mut labels = fqdn.split('.');
        if let (Some(name), Some(namespace), Some("svc"), Some(_)) =
            (labels.next(), labels.next(), labels.next(), labels.next())
        {
            return Placed {
                spec,
                name: name.to_owned(),
                namespace,
                app,
                entry: false,
                interface: None,
            };
        }
        let namespace = scenario
            .routing
            .first()
            .map_or(NAME, |object| object.namespace());
        let mut name = fqdn.replace('.', "-");
        name.truncate(63);
        Placed {
            spec,
            name: name.trim_end_matches('-').to_owned(),
            namespace,
            app,
            entry: true,
            interface: dubbo_interface(scenario, fqdn),
        }
    }

    fn protocol(&self) -> Protocol {
        self.spec.protocol.value
    }

    fn port(&self) -> u16 {
        self.spec
            .port
            .unwrap_or_else(|| meshbench_sim::scenario::default_port(self.protocol()))
    }

    /// The port name Istio and Aeraki read the protocol from: Aeraki's
    /// MetaProtocol needs `tcp-metaprotocol-<protocol>-…`, Istio a
    /// protocol prefix; a DNS label of at most 63 characters.
    fn port_name(&self) -> String {
        let prefix = match self.protocol() {
            Protocol::Thrift => "tcp-metaprotocol-thrift",
            Protocol::Dubbo => "tcp-metaprotocol-dubbo",
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        };
        let mut name = format!("{prefix}-{}", self.app);
        name.truncate(63);
        name.trim_end_matches('-').to_owned()
    }

    /// The `Service`, or for a host outside the cluster's names Istio's
    /// `ServiceEntry` selecting the pods (`resolution: STATIC`), as
    /// Aeraki's Dubbo sample declares its provider.
    fn service(&self) -> Result<serde_json::Value, KindError> {
        if !self.entry {
            return json("Service", &self.cluster_service());
        }
        let mut metadata = serde_json::json!({ "name": self.name, "namespace": self.namespace });
        if let Some(interface) = &self.interface {
            metadata["annotations"] = serde_json::json!({ "interface": interface });
        }
        Ok(serde_json::json!({
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "ServiceEntry",
            "metadata": metadata,
            "spec": {
                "hosts": [self.spec.service.value],
                "ports": [{ "number": self.port(), "name": self.port_name(), "protocol": "TCP" }],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "workloadSelector": { "labels": { "app": self.app } },
            },
        }))
    }

    fn cluster_service(&self) -> Service {
        Service {
            metadata: meta(&self.name, self.namespace, labels([("app", &self.app)])),
            spec: Some(ServiceSpec {
                selector: Some(labels([("app", &self.app)])),
                ports: Some(vec![ServicePort {
                    name: Some(self.port_name()),
                    port: i32::from(self.port()),
                    target_port: Some(IntOrString::Int(i32::from(self.port()))),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    /// One `Deployment` per version, each pod one endpoint of it.
    fn deployments(&self, image: &str) -> Vec<Deployment> {
        self.spec
            .versions
            .iter()
            .filter_map(|(version, spec)| {
                let pod_labels = self.spec.pod_labels(&version.value)?;
                Some(Deployment {
                    metadata: meta(
                        &format!("{}-{}", self.app, version.value),
                        self.namespace,
                        pod_labels.clone(),
                    ),
                    spec: Some(DeploymentSpec {
                        replicas: Some(i32::try_from(spec.replicas).unwrap_or(i32::MAX)),
                        selector: LabelSelector {
                            match_labels: Some(pod_labels.clone()),
                            ..LabelSelector::default()
                        },
                        template: PodTemplateSpec {
                            metadata: Some(ObjectMeta {
                                labels: Some(pod_labels),
                                ..ObjectMeta::default()
                            }),
                            spec: Some(self.endpoint_pod(&version.value, image)),
                        },
                        ..DeploymentSpec::default()
                    }),
                    ..Deployment::default()
                })
            })
            .collect()
    }

    /// A pod serving one endpoint of `version` on the pod's own address,
    /// as the mounted scenario describes the version.
    fn endpoint_pod(&self, version: &str, image: &str) -> PodSpec {
        let args = [
            "fleet",
            "--scenario",
            &format!("{SCENARIO_DIR}/scenario.yaml"),
            "--service",
            &self.spec.service.value,
            "--version",
            version,
            "--pod-ip",
            "$(POD_IP)",
            "--records-on",
            &format!("$(POD_IP):{RECORDS_PORT}"),
        ]
        .map(str::to_owned)
        .to_vec();
        PodSpec {
            containers: vec![Container {
                name: "endpoint".to_owned(),
                image: Some(image.to_owned()),
                image_pull_policy: Some("IfNotPresent".to_owned()),
                command: Some(vec!["meshbench".to_owned()]),
                args: Some(args),
                env: Some(vec![pod_ip()]),
                ports: Some(vec![
                    ContainerPort {
                        container_port: i32::from(self.port()),
                        ..ContainerPort::default()
                    },
                    ContainerPort {
                        name: Some("records".to_owned()),
                        container_port: i32::from(RECORDS_PORT),
                        ..ContainerPort::default()
                    },
                ]),
                volume_mounts: Some(vec![scenario_mount()]),
                ..Container::default()
            }],
            volumes: Some(vec![scenario_volume()]),
            ..PodSpec::default()
        }
    }
}

/// The workload: one pod with the sidecar, sending the scenario's
/// workload to each service by its cluster name and logging the ledger.
fn workload_job(placed: &[Placed<'_>], namespace: &str, (image, seed): (&str, u64)) -> Job {
    let mut args = vec![
        "workload".to_owned(),
        format!("{SCENARIO_DIR}/scenario.yaml"),
        "--in-pod".to_owned(),
        "--ready-within".to_owned(),
        CONVERGE_WITHIN.to_owned(),
        "--seed".to_owned(),
        seed.to_string(),
    ];
    for service in placed {
        args.push("--to".to_owned());
        args.push(format!(
            "{}={}:{}",
            service.spec.service.value,
            service.spec.service.value,
            service.port()
        ));
    }
    Job {
        metadata: meta(NAME, namespace, labels([("app", NAME)])),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            // Applied with the rest, started once the fleet has rolled out.
            suspend: Some(true),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels([("app", NAME)])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_owned()),
                    containers: vec![Container {
                        name: "workload".to_owned(),
                        image: Some(image.to_owned()),
                        image_pull_policy: Some("IfNotPresent".to_owned()),
                        command: Some(vec!["meshbench".to_owned()]),
                        args: Some(args),
                        volume_mounts: Some(vec![scenario_mount()]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![scenario_volume()]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The actions of a run, in order, as `kubectl` commands.
fn actions(rollouts: &[Rollout], namespaces: &[&str], workload: &str) -> Vec<String> {
    let mut actions = vec![
        "kubectl apply --server-side --force-conflicts --field-manager=meshbench -f manifests.yaml   # namespaces, the scenario, the fleet, the routing, the workload Job (suspended)".to_owned(),
    ];
    actions.extend(each_deployment(rollouts, |ns, deployment| {
        format!("kubectl -n {ns} rollout status deployment/{deployment} --timeout=300s")
    }));
    actions.extend(each_deployment(rollouts, |ns, deployment| {
        format!(
            "kubectl get --raw /api/v1/namespaces/{ns}/pods/<each pod of {deployment}>:{RECORDS_PORT}/proxy/endpoints   # the names it answers with"
        )
    }));
    actions.push(format!(
        "kubectl -n {workload} patch job/{NAME} --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'   # start the workload: it probes each service through its sidecar until routed ({CONVERGE_WITHIN} at most), then sends"
    ));
    actions.push(format!(
        "kubectl -n {workload} wait --for=condition=complete job/{NAME} --timeout=3600s"
    ));
    actions.push(format!(
        "kubectl -n {workload} logs job/{NAME} -c workload > ledger.jsonl   # one event per request, then the end with the counts"
    ));
    actions.extend(each_deployment(rollouts, |ns, deployment| {
        format!(
            "kubectl get --raw '/api/v1/namespaces/{ns}/pods/<each pod of {deployment}>:{RECORDS_PORT}/proxy/records?from=0'   # what it received, pages of 10,000"
        )
    }));
    actions.push(format!(
        "kubectl delete namespace {}   # on success, failure and Ctrl-C",
        namespaces.join(" ")
    ));
    actions
}

/// `action(namespace, deployment)` for each fleet `Deployment`, in order.
fn each_deployment<'r>(
    rollouts: &'r [Rollout],
    action: impl Fn(&str, &str) -> String + 'r,
) -> impl Iterator<Item = String> + 'r {
    rollouts
        .iter()
        .map(move |rollout| action(&rollout.namespace, &rollout.name))
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels([("istio-injection", "enabled")])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn scenario_config_map(namespace: &str, source: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(NAME, namespace, BTreeMap::new()),
        data: Some(BTreeMap::from([(
            "scenario.yaml".to_owned(),
            source.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}

fn scenario_volume() -> Volume {
    Volume {
        name: "scenario".to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: NAME.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn scenario_mount() -> VolumeMount {
    VolumeMount {
        name: "scenario".to_owned(),
        mount_path: SCENARIO_DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// `POD_IP` from the downward API: the address the endpoint listens on.
fn pod_ip() -> EnvVar {
    EnvVar {
        name: "POD_IP".to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "status.podIP".to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn meta(name: &str, namespace: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: (!labels.is_empty()).then_some(labels),
        ..ObjectMeta::default()
    }
}

fn labels<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The Dubbo interface the scenario's clients of `fqdn` call, as written.
fn dubbo_interface(scenario: &Scenario, fqdn: &str) -> Option<String> {
    let service = scenario.service(fqdn)?;
    scenario
        .clients()
        .filter(|(_, client)| {
            scenario
                .service(&client.service)
                .is_some_and(|s| s.service.value == fqdn)
        })
        .flat_map(|(name, client)| {
            client
                .classes(&name)
                .into_iter()
                .map(|class| class.call.spec(service.protocol.value))
                .collect::<Vec<_>>()
        })
        .find_map(|call| match call {
            meshbench_sim::workload::Call::Dubbo { interface, .. } => Some(interface),
            _ => None,
        })
}
