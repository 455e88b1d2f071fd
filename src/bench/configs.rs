//! Configuration files the bench writes for the third-party servers: nginx
//! as a reverse proxy or as a plain web server, HAProxy as a reverse proxy,
//! each with one worker, logging off, keep-alive on both sides, and every
//! socket on loopback (127.0.0.0/8).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// The directives every nginx configuration shares: foreground, one
/// process (no master, so the process the bench starts is the one that
/// works and stopping it stops everything), logs and temp files in `dir`.
fn nginx_head(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; multi_accept on; }}\n"
    )
}

fn nginx_http_common(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "    access_log off;\n    keepalive_requests 100000000;\n    keepalive_timeout 300s;\n\
         \x20   client_body_temp_path {dir}/client_body;\n    proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n"
    )
}

/// nginx as a reverse proxy from `listen` to `backends` (round robin, a
/// keep-alive pool of 128 upstream connections, HTTP/1.1 upstream).
pub fn nginx_proxy(dir: &Path, listen: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut upstream = String::new();
    for backend in backends {
        let _ = writeln!(upstream, "        server {backend};");
    }
    format!(
        "{head}http {{\n{common}\
         \x20   upstream backends {{\n{upstream}        keepalive 128;\n        keepalive_requests 100000000;\n    }}\n\
         \x20   server {{\n        listen {listen};\n        location / {{\n\
         \x20           proxy_pass http://backends;\n            proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n        }}\n    }}\n}}\n",
        head = nginx_head(dir),
        common = nginx_http_common(dir),
    )
}

/// nginx as a web server answering `hello` to every request on `listen`.
pub fn nginx_web(dir: &Path, listen: SocketAddr) -> String {
    format!(
        "{head}http {{\n{common}\
         \x20   server {{\n        listen {listen};\n        location / {{\n\
         \x20           default_type text/plain;\n            return 200 \"hello\\n\";\n        }}\n    }}\n}}\n",
        head = nginx_head(dir),
        common = nginx_http_common(dir),
    )
}

/// HAProxy as a reverse proxy from `listen` to `backends`: one thread,
/// HTTP mode, keep-alive and connection reuse to the servers.
pub fn haproxy(listen: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut servers = String::new();
    for (i, backend) in backends.iter().enumerate() {
        let _ = writeln!(servers, "    server s{i} {backend} maxconn 1000");
    }
    format!(
        "global\n    nbthread 1\n    maxconn 4000\n\n\
         defaults\n    mode http\n    option http-keep-alive\n    http-reuse always\n\
         \x20   timeout connect 5s\n    timeout client 300s\n    timeout server 300s\n\n\
         frontend bench\n    bind {listen}\n    default_backend backends\n\n\
         backend backends\n    balance roundrobin\n{servers}"
    )
}

/// Every address a generated configuration binds or connects to, as
/// written after `listen`, `bind`, `server NAME` or `server` (in nginx
/// upstreams): what the loopback check reads.
pub fn addresses(config: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in config.lines() {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_end_matches(';'))
            .collect();
        match words.as_slice() {
            ["listen", addr, ..] | ["bind", addr, ..] => found.push((*addr).to_owned()),
            // nginx `server ADDR;` in an upstream, not a `server {` block.
            ["server", addr] if *addr != "{" => found.push((*addr).to_owned()),
            // HAProxy `server NAME ADDR …`.
            ["server", _, addr, ..] if addr.contains(':') => found.push((*addr).to_owned()),
            _ => {}
        }
    }
    found
}

/// Whether every address in `config` is an IPv4 loopback socket address.
pub fn loopback_only(config: &str) -> bool {
    let addrs = addresses(config);
    !addrs.is_empty()
        && addrs.iter().all(|a| {
            a.parse::<SocketAddr>()
                .is_ok_and(|s| s.ip().is_loopback() && s.is_ipv4())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn every_generated_config_binds_and_connects_on_loopback_only() {
        let dir = Path::new("/tmp/meshbench-bench-test");
        let backends = [addr("127.0.3.1:3000"), addr("127.0.3.2:3000")];
        let proxy = nginx_proxy(dir, addr("127.0.4.1:8080"), &backends);
        let web = nginx_web(dir, addr("127.0.4.2:8081"));
        let ha = haproxy(addr("127.0.4.3:8082"), &backends);
        assert_eq!(
            addresses(&proxy),
            vec!["127.0.3.1:3000", "127.0.3.2:3000", "127.0.4.1:8080"]
        );
        assert_eq!(addresses(&web), vec!["127.0.4.2:8081"]);
        assert_eq!(
            addresses(&ha),
            vec!["127.0.4.3:8082", "127.0.3.1:3000", "127.0.3.2:3000"]
        );
        for config in [&proxy, &web, &ha] {
            assert!(loopback_only(config), "{config}");
        }
        assert!(proxy.contains("master_process off;") && proxy.contains("keepalive 128;"));
        assert!(ha.contains("nbthread 1"));
    }

    #[test]
    fn the_check_refuses_other_addresses() {
        assert!(!loopback_only("server {\n listen 0.0.0.0:80;\n}"));
        assert!(!loopback_only("    bind :8080"));
        assert!(!loopback_only("    server s0 10.0.0.1:80 maxconn 1"));
        assert!(!loopback_only("no sockets here"));
        assert!(loopback_only("listen 127.0.0.1:80;"));
    }
}
