//! A barrier for circuit-breaking runs: endpoints of a `hold` version keep
//! every request they admit until the run releases them, so the number of
//! requests the proxy lets through (and rejects) does not depend on how fast
//! the backends answer. It holds only while armed: the runner arms it after
//! its readiness probes, so they are answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use meshbench_wire::mux::idle::Activity;
use tokio_util::sync::CancellationToken;

/// The fleet-wide hold.
#[derive(Debug, Clone, Default)]
pub struct Hold {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    armed: AtomicBool,
    held: AtomicU64,
    /// When a request was last held.
    moved: Arc<Activity>,
    released: CancellationToken,
}

impl Default for State {
    fn default() -> Self {
        State {
            armed: AtomicBool::new(false),
            held: AtomicU64::new(0),
            moved: Activity::new(),
            released: CancellationToken::new(),
        }
    }
}

impl Hold {
    /// From now on, `hold` versions keep their requests.
    pub fn arm(&self) {
        self.state.armed.store(true, Ordering::SeqCst);
    }

    /// Lets every held request go on, and holds nothing after.
    pub fn release(&self) {
        self.state.released.cancel();
    }

    /// Requests held right now.
    pub fn held(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    /// When a request was last held.
    pub fn moved(&self) -> &Activity {
        &self.state.moved
    }

    /// Waits for the release, if armed and not released yet.
    pub(crate) async fn wait(&self) {
        if !self.state.armed.load(Ordering::SeqCst) || self.state.released.is_cancelled() {
            return;
        }
        self.state.held.fetch_add(1, Ordering::SeqCst);
        self.state.moved.touch();
        self.state.released.cancelled().await;
        self.state.held.fetch_sub(1, Ordering::SeqCst);
    }
}
