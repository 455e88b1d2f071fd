//! Loopback addresses for endpoints. Each endpoint gets its own 127.a.b.c so
//! that, as with pod IPs, the address alone tells endpoints apart and every
//! endpoint of a service can listen on the service's port.
//!
//! Tests run fleets concurrently (several test threads, several test
//! binaries), so the pool starts in a block chosen from the process id and
//! moves to the next address when one is taken.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::TcpListener;

/// How many addresses are tried before giving up on binding.
const ATTEMPTS: usize = 64;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Hands out distinct loopback addresses in 127.0.0.0/8, avoiding 127.0.0.1.
fn next_ip() -> Ipv4Addr {
    let base = (std::process::id() % 200 + 20) << 16;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Skip host octets 0 and 255 so no address looks like a network or broadcast.
    let offset = (n / 254) << 8 | (n % 254 + 1);
    Ipv4Addr::from(0x7f00_0000 | ((base + offset) & 0x00ff_ffff))
}

/// Binds `port` on a fresh loopback address (or on `ip` when given).
///
/// # Errors
/// The last bind error when no address could be bound.
pub async fn bind(ip: Option<IpAddr>, port: u16) -> std::io::Result<TcpListener> {
    if let Some(ip) = ip {
        return TcpListener::bind(SocketAddr::new(ip, port)).await;
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match TcpListener::bind(SocketAddr::new(IpAddr::V4(next_ip()), port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no loopback address could be bound")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_distinct_and_never_the_default() {
        let ips: Vec<_> = (0..600).map(|_| next_ip()).collect();
        for ip in &ips {
            assert!(ip.is_loopback(), "{ip}");
            assert_ne!(*ip, Ipv4Addr::LOCALHOST);
            assert!(ip.octets()[3] != 0 && ip.octets()[3] != 255, "{ip}");
        }
        let distinct: std::collections::HashSet<_> = ips.iter().collect();
        assert_eq!(distinct.len(), ips.len());
    }
}
