//! VirtualService `tcp` -> `tcp_proxy`, which picks a weighted cluster once
//! per downstream connection.

use std::net::SocketAddr;

use meshbench_mesh_api::Resource;
use meshbench_mesh_api::istio::VirtualServiceSpec;
use serde_json::{Value, json};

use super::{Builder, Gap, Service, socket_address};

/// The tcp_proxy listener of a TCP service.
pub(super) fn listener(
    builder: &mut Builder,
    service: &Service,
    vs: Option<&Resource<VirtualServiceSpec>>,
    bind: SocketAddr,
) -> Result<Value, Gap> {
    let action = match vs {
        None => {
            let target = builder.default_target(service)?;
            let mut action = serde_json::Map::new();
            action.insert("cluster".into(), json!(target.cluster));
            action
        }
        Some(vs) => {
            let object = format!(
                "VirtualService {}/{}",
                vs.metadata.namespace, vs.metadata.name
            );
            let route = match vs.spec.tcp.as_slice() {
                [route] if route.match_.is_empty() => route,
                _ => {
                    return Err(Gap::Unsupported(format!(
                        "{object}: only one `tcp` route without match is translated"
                    )));
                }
            };
            let destinations = route.route.iter().map(|d| (&d.destination, d.weight));
            let (action, _) = builder.weighted(
                destinations,
                &vs.metadata.namespace,
                &format!("{object} spec.tcp[0]"),
            )?;
            action
        }
    };
    let mut proxy = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": format!("outbound_{}", service.port),
    });
    for (key, value) in action {
        proxy[key] = value;
    }
    Ok(json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": super::http::listener_name(service),
        "address": socket_address(bind),
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": proxy,
        }] }]
    }))
}
