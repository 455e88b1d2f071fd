//! One module per command.

pub mod bench;
pub mod calibrate;
pub mod call;
pub mod endpoints;
pub mod fleet;
pub mod kind;
pub mod plan;
pub mod reliability;
pub mod run;
pub mod schema;
pub mod validate;
pub mod workload;

use std::io::Write;

use meshbench_wire::Protocol;

/// Parses a protocol name as the command line writes it.
/// A socket address inside 127.0.0.0/8 or `::1`: meshbench sends traffic
/// nowhere else.
pub fn parse_loopback(text: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = text
        .parse()
        .map_err(|_| format!("'{text}' is not HOST:PORT"))?;
    loopback(addr.ip()).map(|_| addr)
}

/// An IPv4 address inside 127.0.0.0/8.
pub fn parse_loopback_ip(text: &str) -> Result<std::net::Ipv4Addr, String> {
    let ip: std::net::Ipv4Addr = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address"))?;
    loopback(ip.into()).map(|_| ip)
}

/// `ip` unless it is outside loopback, with the sentence that says so.
pub fn loopback(ip: std::net::IpAddr) -> Result<(), String> {
    match ip.is_loopback() {
        true => Ok(()),
        false => Err(format!(
            "{ip} is not a loopback address: meshbench only sends traffic inside 127.0.0.0/8 and ::1"
        )),
    }
}

pub fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text {
        "thrift" => Ok(Protocol::Thrift),
        "dubbo" => Ok(Protocol::Dubbo),
        "http" => Ok(Protocol::Http),
        "grpc" | "triple" => Ok(Protocol::Grpc),
        "tcp" => Ok(Protocol::Tcp),
        other => Err(format!(
            "unknown protocol '{other}' (thrift, dubbo, http, grpc, triple or tcp)"
        )),
    }
}

/// Parses `key=value`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{text}' is not key=value"))
}

/// Prints to stdout; a reader that went away (`| head`) ends the program
/// quietly with success, as ripgrep does, instead of a panic.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
}
