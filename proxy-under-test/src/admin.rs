//! The admin API, on loopback by default, speaking HTTP/1.1 with the
//! bench's own codec:
//! - `GET /ready`: 200 once every listener is bound;
//! - `GET /listeners`: each service's listener address, as JSON;
//! - `GET /config_dump`: the compiled table and its version, as JSON, the
//!   values matched on secret headers (`authorization`, cookies, API keys)
//!   redacted;
//! - `GET /stats/prometheus`: the counters;
//! - `PUT /config`: new routing objects (YAML); compiled against the running
//!   endpoints and applied to the next request of every connection, or
//!   refused whole with the compiler's error (400); an empty body is
//!   refused; reloads are serialised, so versions strictly increase.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use meshbench_wire::http1::{Request, Response, ServerCodec};
use meshbench_wire::mux::{Answer, Order, serve};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::dataplane::Proxy;
use crate::route::RouteTable;

/// Admin connections idle longer than this are closed.
const ADMIN_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Compiles routing objects (YAML text) into a table with the given version.
pub type Compiler = dyn Fn(&str, u64) -> Result<RouteTable, String> + Send + Sync;

/// Serves the admin API on `listener` until `cancel` fires.
pub async fn run(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    compiler: Arc<Compiler>,
    cancel: CancellationToken,
) {
    let reloads = Arc::new(Mutex::new(()));
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (proxy, compiler, cancel) = (Arc::clone(&proxy), Arc::clone(&compiler), cancel.clone());
        let reloads = Arc::clone(&reloads);
        tokio::spawn(async move {
            serve(
                stream,
                ServerCodec::default(),
                Order::Sequential,
                Some(ADMIN_IDLE),
                cancel,
                |request: Request| {
                    let answer = respond(&proxy, compiler.as_ref(), &reloads, &request);
                    async move { Answer::Reply(answer) }
                },
            )
            .await;
        });
    }
}

/// Binds the admin address.
///
/// # Errors
/// The bind error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn respond(proxy: &Proxy, compiler: &Compiler, reloads: &Mutex<()>, request: &Request) -> Response {
    match (request.method.as_str(), request.path()) {
        ("GET", "/ready") => text(200, "ready\n"),
        ("GET", "/listeners") => {
            let listeners: Vec<_> = proxy
                .listeners()
                .iter()
                .map(|(service, addr)| serde_json::json!({ "service": service, "address": addr.to_string() }))
                .collect();
            json(&serde_json::Value::Array(listeners))
        }
        ("GET", "/config_dump") => match serde_json::to_value(&*proxy.table()) {
            Ok(mut table) => {
                redact(&mut table);
                json(&table)
            }
            Err(e) => text(500, &format!("cannot serialise the table: {e}\n")),
        },
        ("GET", "/stats/prometheus") => text(200, &proxy.stats().render()),
        ("PUT", "/config") => reload(proxy, compiler, reloads, request),
        (_, "/ready" | "/listeners" | "/config_dump" | "/stats/prometheus" | "/config") => {
            text(405, "method not allowed\n")
        }
        _ => text(404, "not found\n"),
    }
}

/// Applies new routing. Reloads are serialised, so every applied table has
/// its own version, strictly above the last; an empty body is refused, as
/// it would silently remove every route.
fn reload(proxy: &Proxy, compiler: &Compiler, reloads: &Mutex<()>, request: &Request) -> Response {
    let yaml = String::from_utf8_lossy(&request.body);
    if yaml.trim().is_empty() {
        return text(
            400,
            "an empty body would remove every routing object; send the objects that stay in force (an empty `kind: List` clears them on purpose)\n",
        );
    }
    let _one_at_a_time = reloads.lock().unwrap_or_else(|p| p.into_inner());
    let version = proxy.table().version + 1;
    let applied = compiler(&yaml, version).and_then(|table| proxy.apply(table));
    match applied {
        Ok(()) => json(&serde_json::json!({ "version": version })),
        Err(error) => text(400, &format!("{error}\n")),
    }
}

/// Header names whose values `config_dump` does not show.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// Replaces the values that match conditions on secret headers hold.
fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            let secret = object
                .get("attribute")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|name| SECRET_HEADERS.contains(&name));
            match (secret, object.get_mut("matcher")) {
                (true, Some(serde_json::Value::Object(matcher))) => {
                    for v in matcher.values_mut().filter(|v| v.is_string()) {
                        *v = serde_json::Value::String("<redacted>".to_owned());
                    }
                }
                _ => object.values_mut().for_each(redact),
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn text(status: u16, body: &str) -> Response {
    let mut response = Response::new(status, body.to_owned());
    response
        .headers
        .append("content-type", "text/plain; charset=utf-8");
    response
}

fn json(value: &serde_json::Value) -> Response {
    let mut response = Response::new(200, value.to_string());
    response.headers.append("content-type", "application/json");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_dump_redacts_values_matched_on_secret_headers() {
        let mut table = serde_json::json!({"routes": [{"matches": [{"conditions": [
            {"attribute": "authorization", "matcher": {"exact": "Bearer s3cret"}, "invert": false},
            {"attribute": "x-user", "matcher": {"exact": "admin"}, "invert": false}
        ]}]}]});
        redact(&mut table);
        let text = table.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("admin"),
            "{text}"
        );
    }
}
