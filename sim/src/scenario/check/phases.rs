//! Mid-run routing phases.

use super::*;

impl<'a> Checker<'a> {
    // === phases ===

    pub(super) fn phases(&mut self) {
        let names = self.s.phase_names();
        let mut seen = BTreeSet::new();
        seen.insert(INITIAL_PHASE.to_owned());
        let total_requests: Option<f64> = self
            .s
            .workload
            .clients
            .iter()
            .map(|c| c.expected_requests())
            .sum();
        let mut last_requests = 0;
        let mut last_time = std::time::Duration::ZERO;
        for (phase, name) in self.s.phases.iter().zip(names.iter().skip(1)) {
            let name_at = phase.name.as_ref().map_or(phase.at, |n| n.at);
            if !seen.insert(name.clone()) {
                let hint = (name == INITIAL_PHASE)
                    .then(|| "'initial' names the routing before the first phase".to_owned());
                self.push(name_at, format!("phase '{name}' is defined twice"), hint);
            }
            match phase.start {
                PhaseStart::Requests(n) => {
                    if n < last_requests {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts before the phase above it"),
                            Some("list phases in the order they start".into()),
                        );
                    }
                    last_requests = n;
                    if let Some(total) = total_requests
                        && n as f64 >= total
                    {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts after the workload ends"),
                            Some(format!(
                                "it starts at {n} requests; the workload sends about {}",
                                total.round()
                            )),
                        );
                    }
                }
                PhaseStart::Time(t) => {
                    if t.get() < last_time {
                        self.push(
                            name_at,
                            format!("phase '{name}' starts before the phase above it"),
                            Some("list phases in the order they start".into()),
                        );
                    }
                    last_time = t.get();
                }
            }
            if phase.routing.is_empty() {
                self.push(
                    name_at,
                    format!("phase '{name}' applies no routing object"),
                    None,
                );
            }
        }
    }
}
