//! TCP: the connection is the unit. Each downstream connection draws its
//! cluster and endpoint once and is then spliced to it byte for byte, which
//! is both Istio's TCP traffic shifting and the negative control that shows
//! why a layer-4 proxy cannot balance requests on a long-lived connection.
//! A connection on which no byte moves either way for the idle timeout is
//! closed, as `tcp_proxy`'s `idle_timeout` does.

use std::sync::Arc;

use meshbench_wire::mux::idle::{Activity, Watched};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{Decision, ListenerContext};

pub(crate) async fn serve_downstream(
    stream: TcpStream,
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
    let Ok(Ok(upstream)) = connect else {
        context.count_forwarded(&target, "upstream_error");
        return;
    };
    context.count_forwarded(&target, "connected");
    let activity = Activity::new();
    let (mut down, mut up) = (
        Watched::new(stream, &activity),
        Watched::new(upstream, &activity),
    );
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
        () = activity.idle(context.shared.idle_timeout) => {
            context.count("meshproxy_downstream_idle_timeouts_total", &[]);
        }
    }
}
