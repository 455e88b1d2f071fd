//! The fleet and the `proxy:` block.

use super::*;

impl<'a> Checker<'a> {
    // === fleet ===

    pub(super) fn fleet(&mut self) {
        if self.s.fleet.is_empty() {
            self.push(
                self.s.fleet.at,
                "the fleet has no service",
                Some("list at least one service under 'fleet'".into()),
            );
        }
        let mut seen = BTreeSet::new();
        for service in self.s.fleet.iter() {
            if !seen.insert(service.service.value.as_str()) {
                self.push(
                    service.service.at,
                    format!("service '{}' is defined twice", service.service.value),
                    None,
                );
            }
            if let Some(thrift) = &service.thrift
                && service.protocol.value != meshbench_wire::Protocol::Thrift
            {
                self.push(
                    thrift.at,
                    format!(
                        "'thrift' configures Thrift servers, but '{}' speaks {}",
                        service.service.value, service.protocol.value
                    ),
                    Some("remove it, or set 'protocol: thrift'".into()),
                );
            }
            if service.versions.is_empty() {
                self.push(
                    service.at,
                    format!("service '{}' has no versions", service.service.value),
                    Some("add e.g. 'versions: { v1: { replicas: 1 } }'".into()),
                );
            }
            for (name, version) in service.versions.iter() {
                if version.replicas == 0 {
                    self.push(
                        name.at,
                        format!("version '{}' has 0 replicas", name.value),
                        Some("a version needs at least one endpoint; 'down: true' lists pods that do not listen".into()),
                    );
                }
                match version.latency {
                    crate::scenario::LatencyModel::Uniform { min, max } if min > max => self.push(
                        name.at,
                        format!(
                            "the latency of '{}' has min '{min}' above max '{max}'",
                            name.value
                        ),
                        None,
                    ),
                    crate::scenario::LatencyModel::Lognormal { sigma, .. }
                        if !(sigma.is_finite() && sigma >= 0.0) =>
                    {
                        self.push(
                            name.at,
                            format!(
                                "the latency sigma of '{}' is not a positive number",
                                name.value
                            ),
                            None,
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    // === proxy ===

    pub(super) fn proxy(&mut self) {
        if let Some(idle) = &self.s.proxy.idle_timeout
            && idle.get().is_zero()
        {
            self.push(
                idle.at,
                "'idle_timeout' must be longer than 0s",
                Some("leave it out for the proxy's own default".into()),
            );
        }
        if let Some(workers) = &self.s.proxy.workers
            && !(1..=64).contains(&workers.value)
        {
            self.push(
                workers.at,
                "'workers' must be between 1 and 64",
                Some("leave it out for the proxy's own default".into()),
            );
        }
    }
}
