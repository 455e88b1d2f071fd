//! `meshproxy`: the reference proxy, standalone.
//!
//! `meshproxy --config routing.yaml --endpoints endpoints.yaml --admin 127.0.0.1:15000`
//! compiles the routing objects against the endpoint list, binds one listener
//! per service, prints `<service> <listener address>` per line, and serves
//! until Ctrl-C (or `--for`). Exit codes: 0 stopped cleanly, 2 could not start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use meshbench_proxy_under_test::admin::{self, Access, Compiler};
use meshbench_proxy_under_test::config::{self, EndpointList};
use meshbench_proxy_under_test::dataplane::{Mode, Proxy, ProxyOptions};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "meshproxy",
    version,
    about = "The meshbench reference layer-7 proxy"
)]
struct Args {
    /// Routing objects: MetaRouter, VirtualService, DestinationRule (YAML, multi-document).
    #[arg(long)]
    config: PathBuf,
    /// The endpoint list: services, protocols, ports, endpoints and their labels (YAML).
    #[arg(long)]
    endpoints: PathBuf,
    /// The admin API address: loopback, unless --admin-token-file is given
    /// (a container's admin port), when every request must carry the token.
    #[arg(long, default_value = "127.0.0.1:15000", value_parser = socket_addr)]
    admin: SocketAddr,
    /// A file holding the admin API's bearer token (a file, so that no
    /// process listing shows it); required to bind the admin API off loopback.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// The address every listener binds (each on its own port): loopback,
    /// unless --admin-token-file is given (a container's own addresses,
    /// `0.0.0.0` in a container's network namespace).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), value_parser = ip)]
    listen_ip: IpAddr,
    /// Seed of the per-request random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run every listener as a layer-4 tcp_proxy (per-connection choice): the
    /// negative control for per-request balancing.
    #[arg(long)]
    l4: bool,
    /// Close downstream connections idle this long (Aeraki's MetaProtocolProxy
    /// `idle_timeout`): `500ms`, `2s`, `5m`, or a bare number of seconds.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// The most downstream connections open at once, over every listener;
    /// more are accepted, closed at once and counted (default: no limit but
    /// the file descriptors).
    #[arg(long)]
    max_connections: Option<usize>,
    /// MiB every downstream connection's buffered request bytes may hold
    /// together. Past it the connections holding more than the one asking
    /// are closed, largest first; when none does, the one asking is refused
    /// (HTTP 503 `x-envoy-overloaded`, gRPC UNAVAILABLE, Thrift and Dubbo a
    /// close).
    #[arg(long, default_value_t = 256)]
    memory_budget_mib: usize,
    /// Close pooled HTTP keep-alive connections to endpoints unused this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    upstream_idle_timeout: Duration,
    /// Stop after this long, a duration such as 30s (default: until Ctrl-C).
    #[arg(long = "for", value_parser = parse_duration)]
    run_for: Option<Duration>,
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not HOST:PORT"))
}

/// Who may use the admin API at `addr`: anyone on loopback without a
/// token; the token's bearers otherwise, and off loopback only with one.
fn admin_access(addr: SocketAddr, token_file: Option<&Path>) -> anyhow::Result<Access> {
    let Some(file) = token_file else {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "--admin {addr} is not a loopback address: the admin API changes the routing, so off loopback it needs --admin-token-file"
        );
        return Ok(Access::Open);
    };
    let token = std::fs::read_to_string(file)
        .with_context(|| format!("reading the admin token from {}", file.display()))?;
    let token = token.trim();
    anyhow::ensure!(
        token.len() >= 16 && token.bytes().all(|b| b.is_ascii_graphic()),
        "the admin token in {} must be at least 16 printable characters",
        file.display()
    );
    if !addr.ip().is_loopback() {
        eprintln!(
            "meshproxy: warning: the admin API listens on {addr}, off loopback; every request must carry `authorization: Bearer <token>`"
        );
    }
    Ok(Access::Token(token.to_owned()))
}

fn ip(text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an IP address"))
}

/// A Go duration (`500ms`, `1.5s`, `5m`, as Istio writes them): the one
/// grammar of every duration meshbench reads.
fn parse_duration(text: &str) -> Result<Duration, String> {
    meshbench_mesh_api::duration::parse_text(text.trim())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Warnings (refused connections) by default; RUST_LOG overrides.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("meshproxy: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let access = admin_access(args.admin, args.admin_token_file.as_deref())?;
    anyhow::ensure!(
        args.listen_ip.is_loopback() || args.admin_token_file.is_some(),
        "--listen-ip {} is not a loopback address: off loopback (in a container) the admin API needs --admin-token-file",
        args.listen_ip
    );
    let endpoints_text = std::fs::read_to_string(&args.endpoints)
        .with_context(|| format!("reading {}", args.endpoints.display()))?;
    let endpoints: Arc<EndpointList> = Arc::new(
        config::load_endpoints(&endpoints_text)
            .with_context(|| format!("in {}", args.endpoints.display()))?,
    );
    let routing = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let compiler: Arc<Compiler> = {
        let endpoints = Arc::clone(&endpoints);
        Arc::new(move |yaml: &str, version: u64| {
            let objects = config::load_objects(yaml).map_err(|e| e.to_string())?;
            config::compile(&objects, &endpoints, version).map_err(|e| e.to_string())
        })
    };
    let table = compiler(&routing, 1)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("in {}", args.config.display()))?;
    let options = ProxyOptions {
        ip: args.listen_ip,
        seed: args.seed,
        mode: if args.l4 { Mode::L4 } else { Mode::L7 },
        idle_timeout: Some(args.idle_timeout),
        max_connections: args.max_connections,
        memory_budget: args.memory_budget_mib.saturating_mul(1024 * 1024),
        upstream_idle_timeout: args.upstream_idle_timeout,
        ..ProxyOptions::default()
    };
    let proxy = Arc::new(Proxy::start(table, &options).await?);
    let admin_listener = admin::bind(args.admin)
        .await
        .with_context(|| format!("binding the admin API on {}", args.admin))?;
    let admin_addr = admin_listener.local_addr()?;
    let cancel = CancellationToken::new();
    tokio::spawn(admin::run(
        admin_listener,
        (Arc::clone(&proxy), compiler),
        access,
        cancel.clone(),
    ));
    println!("admin {admin_addr}");
    for (service, addr) in proxy.listeners() {
        println!("{service} {addr}");
    }
    match args.run_for {
        Some(run_for) => {
            tokio::select! {
                _ = tokio::time::sleep(run_for) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?,
    }
    cancel.cancel();
    proxy.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_api_leaves_loopback_only_with_a_token() {
        let file = std::env::temp_dir().join(format!("meshproxy-token-{}", std::process::id()));
        std::fs::write(&file, "0123456789abcdef-token\n").expect("writes");
        let loopback: SocketAddr = "127.0.0.1:15000".parse().expect("address");
        let any: SocketAddr = "0.0.0.0:15000".parse().expect("address");
        assert_eq!(admin_access(loopback, None).expect("open"), Access::Open);
        let refused = admin_access(any, None).expect_err("needs a token");
        assert!(
            refused.to_string().contains("--admin-token-file"),
            "{refused}"
        );
        let token = Access::Token("0123456789abcdef-token".to_owned());
        assert_eq!(admin_access(any, Some(&file)).expect("token"), token);
        std::fs::write(&file, "short").expect("writes");
        assert!(admin_access(any, Some(&file)).is_err(), "a short token");
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn durations_are_go_durations_only() {
        // One grammar everywhere: a bare number has no unit, so it is no duration.
        assert!(parse_duration("300").is_err());
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(
            parse_duration("2x"),
            Err("'2x' is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1m30s".to_owned())
        );
        assert!(parse_duration("ms").is_err());
    }
}
