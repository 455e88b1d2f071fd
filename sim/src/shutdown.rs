//! One shutdown signal for every long-lived task, the mini-redis way: the
//! owner keeps a [`ShutdownTrigger`]; each task holds a [`Shutdown`] and
//! stops at its next await point once the trigger fires or is dropped.

use tokio::sync::watch;

/// Fires the shutdown of every [`Shutdown`] made from it, also when dropped.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A task's view of the shutdown signal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl ShutdownTrigger {
    /// A trigger that has not fired.
    pub fn new() -> Self {
        ShutdownTrigger(watch::channel(false).0)
    }

    /// A receiver for a task.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }

    /// Signals every task to stop.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Default for ShutdownTrigger {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Completes once shutdown is signalled (or the trigger is gone).
    pub async fn signalled(&mut self) {
        // An error means the trigger was dropped, which also means stop.
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    /// Whether shutdown has been signalled.
    pub fn is_signalled(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}
