//! The echo contract: what every response carries in-band about how it was
//! served, so the harness can tell which endpoint answered without trusting
//! the proxy. HTTP carries it in headers, Dubbo in response attachments,
//! Thrift in a bracketed suffix of the greeting.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The attachment, header or context key that carries a request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// What the serving endpoint says about one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    /// The service that answered.
    pub service: String,
    /// Its version label.
    pub version: String,
    /// Its pod name.
    pub pod: String,
    /// Its address (ip:port).
    pub addr: String,
    /// The request id it saw, if the request carried one.
    pub request_id: Option<String>,
    /// Which of the endpoint's accepted connections the request came on.
    pub connection: u64,
    /// How many times the fleet has seen this request id, this one included.
    pub attempt: u32,
    /// Time spent in the endpoint, in microseconds.
    pub processing_us: u64,
}

const FIELDS: [&str; 8] = [
    "service",
    "version",
    "pod",
    "addr",
    "request-id",
    "connection",
    "attempt",
    "processing-us",
];

impl Echo {
    /// The fields as `(key, value)` pairs; the request id is omitted when absent.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let values = [
            Some(self.service.clone()),
            Some(self.version.clone()),
            Some(self.pod.clone()),
            Some(self.addr.clone()),
            self.request_id.clone(),
            Some(self.connection.to_string()),
            Some(self.attempt.to_string()),
            Some(self.processing_us.to_string()),
        ];
        FIELDS
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    /// Reads an echo from `(key, value)` pairs such as headers or attachments
    /// whose keys are `prefix` + field name; `None` when a field is missing.
    pub fn from_pairs<'a>(
        prefix: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Echo> {
        let map: BTreeMap<String, &str> = pairs
            .into_iter()
            .filter_map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                k.strip_prefix(prefix).map(|field| (field.to_owned(), v))
            })
            .collect();
        let get = |field: &str| map.get(field).map(|v| (*v).to_owned());
        Some(Echo {
            service: get("service")?,
            version: get("version")?,
            pod: get("pod")?,
            addr: get("addr")?,
            request_id: get("request-id"),
            connection: get("connection")?.parse().ok()?,
            attempt: get("attempt")?.parse().ok()?,
            processing_us: get("processing-us")?.parse().ok()?,
        })
    }

    /// The text suffix (Thrift greetings, error messages): ` [meshbench service=… …]`.
    pub fn text_suffix(&self) -> String {
        let fields: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(" [meshbench {}]", fields.join(" "))
    }

    /// Splits a text into its greeting and echo suffix, if it has one.
    pub fn split_text(greeting: &str) -> (&str, Option<Echo>) {
        let Some(start) = greeting.rfind(" [meshbench ") else {
            return (greeting, None);
        };
        let inner = greeting[start..]
            .strip_prefix(" [meshbench ")
            .and_then(|rest| rest.strip_suffix(']'));
        let echo = inner.and_then(|inner| {
            Echo::from_pairs("", inner.split(' ').filter_map(|kv| kv.split_once('=')))
        });
        match echo {
            Some(echo) => (&greeting[..start], Some(echo)),
            None => (greeting, None),
        }
    }

    /// The time the endpoint spent.
    pub fn processing(&self) -> Duration {
        Duration::from_micros(self.processing_us)
    }
}

/// The prefix of echo headers (HTTP) and attachments (Dubbo).
pub const PREFIX: &str = "x-meshbench-";

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(request_id: Option<&str>) -> Echo {
        Echo {
            service: "thrift-sample-server.meta-thrift.svc.cluster.local".into(),
            version: "v2".into(),
            pod: "thrift-sample-server-v2-7d9f".into(),
            addr: "127.0.1.2:9090".into(),
            request_id: request_id.map(str::to_owned),
            connection: 3,
            attempt: 1,
            processing_us: 250,
        }
    }

    #[test]
    fn the_text_suffix_round_trips() {
        for id in [Some("r-1"), None] {
            let text = format!(
                "Hello Aeraki, response from x/127.0.1.2{}",
                echo(id).text_suffix()
            );
            let (greeting, parsed) = Echo::split_text(&text);
            assert_eq!(greeting, "Hello Aeraki, response from x/127.0.1.2");
            assert_eq!(parsed, Some(echo(id)));
        }
    }

    #[test]
    fn a_greeting_without_echo_is_left_alone() {
        assert_eq!(
            Echo::split_text("Hello [meshbench broken"),
            ("Hello [meshbench broken", None)
        );
    }

    #[test]
    fn prefixed_pairs_round_trip_case_insensitively() {
        let pairs: Vec<(String, String)> = echo(Some("r-9"))
            .pairs()
            .into_iter()
            .map(|(k, v)| (format!("X-Meshbench-{k}"), v))
            .collect();
        let parsed = Echo::from_pairs(PREFIX, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(parsed, Some(echo(Some("r-9"))));
    }
}
