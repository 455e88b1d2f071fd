//! The TCP echo server (a mysqldb-like stand-in for TCP traffic shifting):
//! on connect it writes one greeting line naming itself and the connection,
//! then echoes every byte back. The unit of routing here is the connection,
//! so each connection is one record. A connection on which nothing moves
//! for the fleet's idle timeout is closed.

use std::sync::Arc;

use meshbench_wire::mux::idle::{Activity, Watched};
use tokio::io::{AsyncWriteExt, copy};
use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use tokio_util::sync::CancellationToken;

/// The greeting's first word, so a client can tell a greeting from echoed bytes.
pub const GREETING: &str = "meshbench-tcp";

pub(crate) async fn serve_endpoint(
    mut stream: TcpStream,
    endpoint: Arc<Endpoint>,
    connection: u64,
    cancel: CancellationToken,
) {
    let admission = endpoint.admit(None, connection, &Default::default());
    let echo = endpoint.process(&admission).await;
    if admission.fate.close {
        return;
    }
    let fields: Vec<String> = echo
        .pairs()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let line = format!("{GREETING} {}\n", fields.join(" "));
    if stream.write_all(line.as_bytes()).await.is_err() {
        return;
    }
    let activity = Activity::new();
    let (read, mut write) = stream.split();
    let mut read = Watched::new(read, &activity);
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = copy(&mut read, &mut write) => {}
        () = activity.idle(endpoint.limits().idle) => {}
    }
}
