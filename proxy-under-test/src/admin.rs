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
//!   refused; reloads are serialised, so versions strictly increase; a body
//!   over [`MAX_BODY`] is answered 413 before it is read.
//!
//! Off loopback (a container's admin port), every request must carry
//! `authorization: Bearer <token>` ([`Access::Token`]); without it, 401.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use meshbench_wire::Limits;
use meshbench_wire::http1::{Request, Response, ServerCodec};
use meshbench_wire::mux::{Answer, Order, serve};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::dataplane::Proxy;
use crate::route::RouteTable;

/// Admin connections idle longer than this are closed.
const ADMIN_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// The largest `PUT /config` body: a routing stream of thousands of objects
/// fits; a larger one is answered 413 from its `content-length`.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Who may use the admin API.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches it: on loopback, that is this machine's users.
    Open,
    /// Requests carrying `authorization: Bearer <token>`.
    Token(String),
}

impl std::fmt::Debug for Access {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Open => f.write_str("Open"),
            Access::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl Access {
    /// Whether `request` may be answered.
    fn allows(&self, request: &Request) -> bool {
        let Access::Token(token) = self else {
            return true;
        };
        let given = request
            .headers
            .get("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared in full whatever the first difference, so the time
        // taken says nothing about how much of the token was right.
        given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

/// Compiles routing objects (YAML text) into a table with the given version.
pub type Compiler = dyn Fn(&str, u64) -> Result<RouteTable, String> + Send + Sync;

/// Serves the admin API on `listener` until `cancel` fires.
pub async fn run(
    listener: TcpListener,
    (proxy, compiler): (Arc<Proxy>, Arc<Compiler>),
    access: Access,
    cancel: CancellationToken,
) {
    let reloads = Arc::new(Mutex::new(()));
    let access = Arc::new(access);
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors, most likely: let connections close
                    // rather than spin on the error.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (proxy, compiler, cancel) = (Arc::clone(&proxy), Arc::clone(&compiler), cancel.clone());
        let (reloads, access) = (Arc::clone(&reloads), Arc::clone(&access));
        tokio::spawn(async move {
            serve(
                stream,
                ServerCodec::new(Limits::with_max_frame(MAX_BODY)),
                Order::Sequential,
                Some(ADMIN_IDLE),
                cancel,
                |request: Request| {
                    let answer = match access.allows(&request) {
                        true => respond(&proxy, compiler.as_ref(), &reloads, &request),
                        false => unauthorized(),
                    };
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

fn unauthorized() -> Response {
    let mut response = text(
        401,
        "this admin API needs `authorization: Bearer <token>`\n",
    );
    response.headers.append("www-authenticate", "Bearer");
    response
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
    fn a_token_admits_only_requests_that_carry_it_whole() {
        let with = |value: Option<&str>| {
            let mut request = Request::new("GET", "/ready");
            if let Some(value) = value {
                request.headers.append("authorization", value);
            }
            request
        };
        let access = Access::Token("s3cret-token".to_owned());
        assert!(access.allows(&with(Some("Bearer s3cret-token"))));
        for refused in [
            None,
            Some("Bearer s3cret"),
            Some("Bearer s3cret-token2"),
            Some("s3cret-token"),
        ] {
            assert!(!access.allows(&with(refused)), "{refused:?}");
        }
        assert!(Access::Open.allows(&with(None)));
        assert!(!format!("{access:?}").contains("s3cret"));
    }

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
