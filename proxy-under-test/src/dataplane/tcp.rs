//! TCP: the connection is the unit. Each downstream connection draws its
//! cluster and endpoint once and is then spliced to it byte for byte, which
//! is both Istio's TCP traffic shifting and the negative control that shows
//! why a layer-4 proxy cannot balance requests on a long-lived connection.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{Decision, ListenerContext};

pub(crate) async fn serve_downstream(
    mut stream: TcpStream,
    context: Arc<ListenerContext>,
    cancel: CancellationToken,
) {
    let Decision::Forward(target) = context.decide_connection() else {
        context.count("meshproxy_tcp_unrouted_connections_total", &[]);
        return;
    };
    let connect = tokio::time::timeout(
        target.connect_timeout,
        TcpStream::connect(target.endpoint.addr),
    )
    .await;
    let Ok(Ok(mut upstream)) = connect else {
        context.count_forwarded(&target, "upstream_error");
        return;
    };
    context.count_forwarded(&target, "connected");
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream) => {}
    }
}
