//! Clients: loops, budgets, lifetimes, pauses and their calls.

use super::*;

impl<'a> Checker<'a> {
    // === workload ===

    pub(super) fn workload(&mut self) {
        let clients = &self.s.workload.clients;
        let endpoints: usize = self
            .s
            .fleet
            .iter()
            .flat_map(|s| s.versions.iter().map(|(_, v)| v.replicas))
            .fold(0, usize::saturating_add);
        if endpoints > MAX_ENDPOINTS {
            self.push(
                self.s.fleet.at,
                format!("the fleet has {endpoints} endpoints, more than the {MAX_ENDPOINTS} one run starts"),
                Some("each endpoint is a listener with its own loopback address and descriptors".into()),
            );
        }
        let requests: f64 = clients.iter().filter_map(|c| c.expected_requests()).sum();
        if requests > MAX_REQUESTS as f64 {
            let largest = clients
                .iter()
                .max_by(|a, b| {
                    let n = |c: &Located<Client>| c.expected_requests().unwrap_or(0.0);
                    n(a).total_cmp(&n(b))
                })
                .map_or(clients.at, |c| c.requests.as_ref().map_or(c.at, |r| r.at));
            self.push(
                largest,
                format!("the workload sends about {requests:.0} requests, more than the {MAX_REQUESTS} one run records"),
                Some("the ledger keeps every request (about 200 bytes each); lower 'requests', 'rate' or 'duration'".into()),
            );
        }
        if clients.is_empty() {
            self.push(
                clients.at,
                "the workload has no clients",
                Some("add a client with its service, connections and a bound".into()),
            );
        }
        let mut names = BTreeSet::new();
        for (index, client) in clients.iter().enumerate() {
            let name = client.name_or(index);
            if !names.insert(name.clone()) {
                let at = client.name.as_ref().map_or(client.at, |n| n.at);
                self.push(at, format!("client '{name}' is defined twice"), None);
            }
            self.client(&name, client);
        }
    }

    pub(super) fn client(&mut self, name: &str, client: &Located<Client>) {
        let service = self.s.service(&client.service);
        if service.is_none() {
            self.push(
                client.service.at,
                format!(
                    "client '{name}' calls '{}', which is not a service of the fleet",
                    client.service.value
                ),
                Some(format!("the fleet has {}", self.fleet_names())),
            );
        }
        for (field, value) in [
            ("connections", client.connections),
            ("in_flight", client.in_flight),
        ] {
            if value.value == 0 {
                self.push(value.at, format!("'{field}' must be at least 1"), None);
            }
        }
        match (client.loop_kind.as_ref(), client.open.as_ref()) {
            (Some(l), Some(_)) if l.value == LoopKind::Closed => self.push(
                l.at,
                format!("client '{name}' has 'loop: closed' and 'open' settings"),
                Some("remove 'open', or write 'loop: open'".into()),
            ),
            (Some(l), None) if l.value == LoopKind::Open => self.push(
                l.at,
                format!("client '{name}' runs an open loop without a rate"),
                Some("add e.g. 'open: { rate: 1000/s }'".into()),
            ),
            _ => {}
        }
        if client.requests.is_none() && client.duration.is_none() {
            self.push(
                client.at,
                format!("client '{name}' has no bound: give 'requests', 'duration' or both"),
                Some("every load loop must end; e.g. 'requests: 20000' or 'duration: 30s'".into()),
            );
        }
        if let Some(requests) = &client.requests
            && requests.value == 0
        {
            self.push(requests.at, "'requests' must be at least 1", None);
        }
        if let Some(duration) = &client.duration
            && duration.get().is_zero()
        {
            self.push(duration.at, "'duration' must be longer than 0s", None);
        }
        if let Some(lifetime) = &client.lifetime {
            let empty = match lifetime.value {
                Lifetime::Requests(n) => n == 0,
                Lifetime::Duration(d) => d.get().is_zero(),
            };
            if empty {
                self.push(
                    lifetime.at,
                    "a connection 'lifetime' must be at least 1 request or longer than 0s",
                    None,
                );
            }
        }
        if let (Some(call), Some(_)) = (&client.call, &client.mix) {
            self.push(
                call.at,
                format!("client '{name}' has both 'call' and 'mix'"),
                Some("give one call, or a mix of named calls".into()),
            );
        }
        let protocol = service.map(|s| s.protocol.value);
        if let Some(pause) = &client.pause {
            self.pause(name, client, pause, protocol);
        }
        if let Some(call) = &client.call
            && let Some(protocol) = protocol
        {
            self.call(&call.value, protocol);
        }
        if let Some(mix) = &client.mix {
            if mix.is_empty() {
                self.push(mix.at, "the mix has no entries", None);
            } else if mix.iter().all(|e| e.weight.value.0 == 0) {
                self.push(mix.at, "the weights of the mix add up to 0", None);
            }
            let mut classes = BTreeSet::new();
            for entry in mix.iter() {
                if !classes.insert(entry.name.value.as_str()) {
                    self.push(
                        entry.name.at,
                        format!("class '{}' is defined twice", entry.name.value),
                        None,
                    );
                }
                if let Some(protocol) = protocol {
                    self.call(&entry.call.value, protocol);
                }
            }
        }
    }

    pub(super) fn pause(
        &mut self,
        name: &str,
        client: &Client,
        pause: &Located<Pause>,
        protocol: Option<meshbench_wire::Protocol>,
    ) {
        if client.is_open() {
            self.push(
                pause.at,
                format!("client '{name}' runs an open loop, which cannot pause"),
                Some("an open loop starts requests on a schedule whatever the connection does; pause a closed loop".into()),
            );
        }
        if let Some(lifetime) = &client.lifetime {
            self.push(
                lifetime.at,
                format!("client '{name}' has both 'lifetime' and 'pause'"),
                Some(
                    "a pause keeps its connection, a lifetime replaces it: give one or the other"
                        .into(),
                ),
            );
        }
        if pause.every.value == 0 {
            self.push(pause.every.at, "'every' must be at least 1", None);
        }
        if pause.idle.get().is_zero() {
            self.push(pause.idle.at, "'for' must be longer than 0s", None);
        }
        let Some(heartbeat) = &pause.heartbeat else {
            return;
        };
        if let Some(protocol) = protocol
            && protocol != meshbench_wire::Protocol::Dubbo
        {
            self.push(
                heartbeat.at,
                format!(
                    "'heartbeat' applies to dubbo clients, and '{name}' calls a {protocol} service"
                ),
                Some("leave it out for a silent pause".into()),
            );
        }
        if heartbeat.get().is_zero() || heartbeat.value >= pause.idle.value {
            self.push(
                heartbeat.at,
                format!(
                    "the heartbeat interval '{}' must be above 0s and below the pause ('for: {}')",
                    heartbeat.value, pause.idle.value
                ),
                Some("otherwise no heartbeat is sent while the connection idles".into()),
            );
        }
    }

    pub(super) fn call(
        &mut self,
        call: &crate::scenario::Call,
        protocol: meshbench_wire::Protocol,
    ) {
        let allowed = call_fields(protocol);
        for (field, at) in call.written() {
            if !allowed.contains(&field) {
                self.push(
                    at,
                    format!("'{field}' does not apply to a {protocol} call"),
                    Some(format!("{protocol} calls take {}", quoted(allowed.iter()))),
                );
            }
        }
    }
}
