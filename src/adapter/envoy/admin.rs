//! Envoy's admin API, on loopback: stats, listeners, server info.

use std::net::SocketAddr;
use std::time::Duration;

use meshbench_sim::client::http::HttpClient;
use meshbench_wire::http1::Request;
use serde_json::Value;
use tokio::time::Instant;

use super::super::{Listeners, Service};
use super::translate::listener_name;

/// The body of `GET path`.
///
/// # Errors
/// When the admin API does not answer 200.
pub async fn get(admin: SocketAddr, path: &str) -> Result<String, String> {
    let client = HttpClient::connect(admin)
        .await
        .map_err(|e| e.to_string())?;
    let (response, _) = client
        .send(Request::new("GET", path), None)
        .await
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        200 => Ok(body),
        status => Err(format!("GET {path}: {status} {body}")),
    }
}

/// Where each service's listener is bound, once all of them are.
///
/// # Errors
/// A listener missing after `within`.
pub async fn listeners(
    admin: SocketAddr,
    services: &[Service],
    within: Duration,
) -> Result<Listeners, String> {
    let deadline = Instant::now() + within;
    loop {
        let found = get(admin, "/listeners?format=json")
            .await
            .ok()
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .map(|json| bound(&json, services))
            .unwrap_or_default();
        if found.len() == services.len() {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "Envoy opened {} of {} listeners within {within:?}",
                found.len(),
                services.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The bound address of each service's listener in `/listeners?format=json`.
fn bound(json: &Value, services: &[Service]) -> Listeners {
    let statuses = json["listener_statuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    services
        .iter()
        .filter_map(|service| {
            let name = listener_name(service);
            let status = statuses.iter().find(|s| s["name"] == name.as_str())?;
            let socket = &status["local_address"]["socket_address"];
            let ip = socket["address"].as_str()?.parse().ok()?;
            let port = u16::try_from(socket["port_value"].as_u64()?).ok()?;
            (port != 0).then(|| (service.name.clone(), SocketAddr::new(ip, port)))
        })
        .collect()
}

/// `envoy 1.40.0 (516 extensions)`, from `/server_info`.
pub async fn server_info(admin: SocketAddr) -> Option<String> {
    let body = get(admin, "/server_info").await.ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    let version = json["version"].as_str()?;
    // `<commit>/<version>/<state>/<build>/<ssl>`.
    let release = version.split('/').nth(1).unwrap_or(version);
    let extensions = json["node"]["extensions"].as_array().map_or(0, Vec::len);
    Some(format!("envoy {release} ({extensions} extensions)"))
}
