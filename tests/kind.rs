//! Cluster runs (`meshbench kind`): the manifests generated from the seed
//! scenarios are the Kubernetes API's own types (each object reads back
//! into its `k8s-openapi` type and writes out unchanged), name ports as
//! Aeraki and Istio read them, and carry the fleet as the scenario states
//! it; the traffic-split manifests are pinned as a golden file.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use meshbench::kind::{ClusterRun, DEFAULT_IMAGE, cluster_run};
use meshbench_sim::scenario::Scenario;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn planned(path: &Path) -> Result<ClusterRun, String> {
    let source = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
    cluster_run(&scenario, &source, DEFAULT_IMAGE, 1).map_err(|e| e.to_string())
}

/// `object` read back as `T` and written out again is `object`: every
/// field is one the type knows, with the type it has.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(object: &serde_json::Value) {
    let typed: T = serde_json::from_value(object.clone()).expect("reads back as its type");
    let again = serde_json::to_value(&typed).expect("writes out");
    assert_eq!(
        &again, object,
        "a field the type does not know, or of another type"
    );
}

fn seed_scenarios() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for protocol in ["thrift", "dubbo", "http", "grpc", "tcp"] {
        let Ok(dir) = std::fs::read_dir(repo().join("scenarios").join(protocol)) else {
            continue;
        };
        for entry in dir.flatten() {
            if entry.path().extension().is_some_and(|e| e == "yaml") {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_object_is_the_kubernetes_apis_own_type() {
    let mut planned_runs = 0;
    for file in seed_scenarios() {
        let Ok(run) = planned(&file) else {
            continue;
        };
        planned_runs += 1;
        for object in run.objects() {
            match object["kind"].as_str() {
                Some("Namespace") => round_trips::<Namespace>(object),
                Some("ConfigMap") => round_trips::<ConfigMap>(object),
                Some("Deployment") => round_trips::<Deployment>(object),
                Some("Service") => round_trips::<Service>(object),
                Some("Job") => round_trips::<Job>(object),
                Some("ServiceEntry") => {
                    let spec = &object["spec"];
                    assert!(spec["hosts"][0].is_string(), "{file:?}: {object}");
                    assert!(spec["ports"][0]["number"].is_u64(), "{file:?}: {object}");
                    assert!(spec["workloadSelector"]["labels"]["app"].is_string());
                }
                // The scenario's routing objects, as the user wrote them.
                _ => assert!(run.routing.contains(object), "{file:?}: {object}"),
            }
        }
    }
    assert!(
        planned_runs > 20,
        "only {planned_runs} seed scenarios planned"
    );
}

#[test]
fn ports_are_named_as_aeraki_and_istio_read_the_protocol() {
    for file in seed_scenarios() {
        let Ok(run) = planned(&file) else {
            continue;
        };
        let scenario = Scenario::load(&file).expect("loads");
        let services = run
            .fleet
            .iter()
            .filter(|o| o["kind"] == "Service" || o["kind"] == "ServiceEntry");
        for (service, fleet) in services.zip(scenario.fleet.iter()) {
            let port = service["spec"]["ports"][0]["name"].as_str().expect("named");
            let prefix = match fleet.protocol.value.to_string().as_str() {
                "thrift" => "tcp-metaprotocol-thrift-",
                "dubbo" => "tcp-metaprotocol-dubbo-",
                "http" => "http-",
                "grpc" => "grpc-",
                _ => "tcp-",
            };
            assert!(port.starts_with(prefix), "{file:?}: {port}");
            assert!(port.len() <= 63, "{file:?}: {port} is no DNS label");
        }
        let deployments = run.fleet.iter().filter(|o| o["kind"] == "Deployment");
        let versions: usize = scenario
            .fleet
            .iter()
            .map(|f| f.versions.iter().count())
            .sum();
        assert_eq!(
            deployments.count(),
            versions,
            "{file:?}: one Deployment per version"
        );
    }
}

#[test]
fn a_deployment_carries_the_versions_replicas_and_labels() {
    // Its versions carry an extra label (`service_group`), as Aeraki's sample's do.
    let run = planned(&repo().join("scenarios/dubbo/attachment-routing.yaml")).expect("plans");
    for deployment in run.fleet.iter().filter(|o| o["kind"] == "Deployment") {
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            &deployment["spec"]["selector"]["matchLabels"], labels,
            "the selector selects exactly the pods"
        );
        assert!(labels["app"].is_string() && labels["version"].is_string());
        assert!(
            labels["service_group"].is_string(),
            "the version's own label: {labels}"
        );
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args");
        let version = labels["version"].as_str().expect("a version");
        assert!(
            args.iter().any(|a| a == version),
            "serves its own version: {args:?}"
        );
    }
}

#[test]
fn scenarios_a_cluster_run_cannot_do_yet_are_refused_with_why() {
    let phased = planned(&repo().join("scenarios/thrift/route-switch-mid-connection.yaml"));
    assert_eq!(
        phased.expect_err("phases are refused"),
        "a cluster run cannot change the routing mid-run (phases) yet"
    );
}

/// `meshbench kind run scenarios/thrift/traffic-split.yaml --dry-run`'s
/// objects, pinned: regenerate with `cargo run -- kind manifests
/// scenarios/thrift/traffic-split.yaml > tests/expected/kind/thrift-traffic-split.yaml`.
#[test]
fn the_traffic_split_manifests_are_the_golden_ones() {
    let run = planned(&repo().join("scenarios/thrift/traffic-split.yaml")).expect("plans");
    let golden = repo().join("tests/expected/kind/thrift-traffic-split.yaml");
    let expected = std::fs::read_to_string(&golden).expect("the golden file is committed");
    assert_eq!(
        run.yaml().expect("serializes"),
        expected,
        "regenerate as the doc says"
    );
}

/// The Job is applied suspended and started only after every Deployment
/// has rolled out, so no request goes out before the fleet is up.
#[test]
fn the_workload_starts_after_the_fleet_has_rolled_out() {
    let run = planned(&repo().join("scenarios/thrift/traffic-split.yaml")).expect("plans");
    assert_eq!(run.workload["spec"]["suspend"], true);
    let at = |needle: &str| {
        run.actions
            .iter()
            .rposition(|a| a.contains(needle))
            .unwrap_or_else(|| panic!("no action {needle}: {:?}", run.actions))
    };
    assert!(at("rollout status") < at("patch job/"), "{:?}", run.actions);
    assert!(at("patch job/") < at("wait --for=condition=complete"));
    assert!(at("logs job/") < at("delete namespace"));
}
