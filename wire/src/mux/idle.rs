//! Idle timeouts without polling. An [`Activity`] keeps when something last
//! moved, and [`Activity::idle`] sleeps until a timeout from then could
//! have run out. For byte streams that are spliced rather than decoded (a
//! TCP proxy, an echo server), every read or write of a [`Watched`] stream
//! marks it, as Envoy's `tcp_proxy` `idle_timeout` counts; a run marks
//! its requests sent, ended and answered the same way.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When bytes last moved on any stream watched by it.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last move.
    last: AtomicU64,
}

impl Activity {
    /// Activity starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    /// Counts now as a move: a timeout then runs from here.
    pub fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// How long since the last move.
    pub fn since(&self) -> Duration {
        self.last().elapsed()
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Resolves once no bytes have moved for `idle`; never without one.
    pub async fn idle(&self, idle: Option<Duration>) {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream whose reads and writes mark an [`Activity`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// `inner`, marking `activity`.
    pub fn new(inner: S, activity: &Arc<Activity>) -> Self {
        Watched {
            inner,
            activity: Arc::clone(activity),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn moving_bytes_puts_the_idle_timeout_off() {
        let activity = Activity::new();
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = Watched::new(near, &activity);
        let idle = Some(Duration::from_secs(10));
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(6)).await;
        far.write_all(b"x").await.expect("writes");
        let mut byte = [0u8; 1];
        near.read_exact(&mut byte).await.expect("reads");
        activity.idle(idle).await;
        assert_eq!(started.elapsed().as_secs(), 16, "10 s after the last byte");
    }
}
