//! Which downstream connections are let in. Two limits, each refused
//! cleanly (the connection is accepted and closed at once, so a client
//! learns in a round trip instead of waiting in the backlog), counted in
//! `meshproxy_downstream_connections_refused_total{cause}` and said in a
//! warning at most every [`WARN_EVERY`]:
//!
//! - `max_connections`: the proxy-wide maximum of open downstream
//!   connections (`--max-connections`), as Envoy's overload manager's
//!   `global_downstream_max_connections`;
//! - `descriptors`: the process is out of file descriptors. The accept loop
//!   keeps one descriptor in reserve; when `accept` fails for want of one,
//!   it frees the reserve, accepts the waiting connection, closes it and
//!   takes the reserve back, the way nginx and libev do.
//!
//! Any other accept error is `cause="accept_error"` and backs off briefly.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::ListenerContext;

/// The refusal counter.
const REFUSED: &str = "meshproxy_downstream_connections_refused_total";

/// The most one listener warns about refusals.
pub const WARN_EVERY: Duration = Duration::from_secs(5);

/// The proxy-wide connection limit, shared by every listener.
#[derive(Debug)]
pub(crate) struct Admission {
    slots: Option<Arc<Semaphore>>,
    limit: usize,
}

/// A connection's place under the limit, given back when it is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// At most `max` open downstream connections; `None` for no limit but
    /// the descriptors.
    pub(crate) fn new(max: Option<usize>) -> Self {
        Admission {
            slots: max.map(|max| Arc::new(Semaphore::new(max))),
            limit: max.unwrap_or(usize::MAX),
        }
    }

    /// A slot for one more connection, or `None` at the limit.
    fn admit(&self) -> Option<Slot> {
        match &self.slots {
            None => Some(Slot { _permit: None }),
            Some(slots) => Arc::clone(slots)
                .try_acquire_owned()
                .ok()
                .map(|permit| Slot {
                    _permit: Some(permit),
                }),
        }
    }
}

/// One listener's accept loop state: the reserve descriptor and the
/// warnings' rate limit.
pub(crate) struct Acceptor {
    listener: TcpListener,
    reserve: Option<std::fs::File>,
    warned: Option<Instant>,
    refused_since_warning: u64,
    /// The descriptor limit, read while there are descriptors to read it.
    descriptors: Option<u64>,
}

impl Acceptor {
    /// Accepts on `listener`, with a descriptor in reserve.
    pub(crate) fn new(listener: TcpListener) -> Self {
        Acceptor {
            listener,
            reserve: reserve(),
            warned: None,
            refused_since_warning: 0,
            descriptors: descriptor_limit(),
        }
    }

    /// The next connection let in, with its slot; refusals are handled
    /// here and never returned.
    pub(crate) async fn next(&mut self, context: &ListenerContext) -> (TcpStream, Slot) {
        loop {
            let error = match self.listener.accept().await {
                Ok((stream, _)) => match context.shared.admission.admit() {
                    Some(slot) => return (stream, slot),
                    None => {
                        drop(stream);
                        self.refused(context, "max_connections");
                        continue;
                    }
                },
                Err(error) => error,
            };
            if out_of_descriptors(&error) {
                self.refuse_one_without_descriptors(context).await;
            } else {
                tracing::debug!(%error, listener = %context.service, "accept failed");
                self.refused(context, "accept_error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Frees the reserve descriptor, accepts the connection that found
    /// none, closes it, counts it and takes the reserve back. Without a
    /// reserve (another task took the freed descriptor) it only backs off:
    /// the connection waits in the backlog and nothing is counted for it.
    async fn refuse_one_without_descriptors(&mut self, context: &ListenerContext) {
        let refused = match self.reserve.take() {
            Some(reserve) => {
                drop(reserve);
                let accepted =
                    tokio::time::timeout(Duration::from_millis(10), self.listener.accept()).await;
                matches!(accepted, Ok(Ok(_)))
            }
            None => false,
        };
        self.reserve = reserve();
        match refused {
            true => self.refused(context, "descriptors"),
            false => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    /// Counts one refusal and warns, at most every [`WARN_EVERY`], with
    /// how many were refused since the last warning.
    fn refused(&mut self, context: &ListenerContext, cause: &str) {
        context.count(REFUSED, &[("cause", cause)]);
        self.refused_since_warning += 1;
        let now = Instant::now();
        if self.warned.is_some_and(|at| now < at + WARN_EVERY) {
            return;
        }
        tracing::warn!(
            listener = %context.service,
            cause,
            refused = self.refused_since_warning,
            "refusing downstream connections: {}",
            why(cause, context.shared.admission.limit, self.descriptors)
        );
        self.warned = Some(now);
        self.refused_since_warning = 0;
    }
}

/// A refusal's cause in words, with what to do about it.
fn why(cause: &str, limit: usize, descriptors: Option<u64>) -> String {
    match cause {
        "descriptors" => format!(
            "out of file descriptors (limit {}); raise `ulimit -n` or lower --max-connections",
            descriptors.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
        ),
        "max_connections" => format!("{limit} downstream connections are open (--max-connections)"),
        _ => "accept failed".to_owned(),
    }
}

/// A descriptor held for the moment there is none left.
fn reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// `EMFILE` (this process) or `ENFILE` (the system).
fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(24 | 23))
}

/// This process's soft descriptor limit, from `/proc/self/limits`.
fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_admits_up_to_its_size_and_frees_on_drop() {
        let admission = Admission::new(Some(2));
        let (a, b) = (admission.admit(), admission.admit());
        assert!(a.is_some() && b.is_some());
        assert!(admission.admit().is_none(), "the third is refused");
        drop(a);
        assert!(admission.admit().is_some(), "a freed slot is reused");
        let unlimited = Admission::new(None);
        let slots: Vec<_> = (0..1000).filter_map(|_| unlimited.admit()).collect();
        assert_eq!(slots.len(), 1000);
    }

    #[test]
    fn descriptor_exhaustion_is_recognised_and_the_limit_read() {
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(24)));
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(23)));
        assert!(!out_of_descriptors(&std::io::Error::from_raw_os_error(104)));
        assert!(descriptor_limit().is_some_and(|n| n > 0));
    }
}
