//! The admin API, on loopback by default, speaking HTTP/1.1 with the
//! bench's own codec:
//! - `GET /ready`: 200 once every listener is bound;
//! - `GET /listeners`: each service's listener address, as JSON;
//! - `GET /config_dump`: the compiled table and its version, as JSON;
//! - `GET /stats/prometheus`: the counters;
//! - `PUT /config`: new routing objects (YAML); compiled against the running
//!   endpoints and applied to the next request of every connection, or
//!   refused whole with the compiler's error (400).

use std::net::SocketAddr;
use std::sync::Arc;

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
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (proxy, compiler, cancel) = (Arc::clone(&proxy), Arc::clone(&compiler), cancel.clone());
        tokio::spawn(async move {
            serve(
                stream,
                ServerCodec::default(),
                Order::Sequential,
                Some(ADMIN_IDLE),
                cancel,
                |request: Request| {
                    let answer = respond(&proxy, compiler.as_ref(), &request);
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

fn respond(proxy: &Proxy, compiler: &Compiler, request: &Request) -> Response {
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
            Ok(table) => json(&table),
            Err(e) => text(500, &format!("cannot serialise the table: {e}\n")),
        },
        ("GET", "/stats/prometheus") => text(200, &proxy.stats().render()),
        ("PUT", "/config") => reload(proxy, compiler, request),
        (_, "/ready" | "/listeners" | "/config_dump" | "/stats/prometheus" | "/config") => {
            text(405, "method not allowed\n")
        }
        _ => text(404, "not found\n"),
    }
}

fn reload(proxy: &Proxy, compiler: &Compiler, request: &Request) -> Response {
    let yaml = String::from_utf8_lossy(&request.body);
    let version = proxy.table().version + 1;
    let applied = compiler(&yaml, version).and_then(|table| proxy.apply(table));
    match applied {
        Ok(()) => json(&serde_json::json!({ "version": version })),
        Err(error) => text(400, &format!("{error}\n")),
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
