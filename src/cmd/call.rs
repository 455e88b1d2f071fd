//! `meshbench call`: one client, one long-lived connection, a few calls.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use meshbench_sim::client::dubbo::{DEMO_SERVICE, DubboClient};
use meshbench_sim::client::grpc::{self, GrpcClient};
use meshbench_sim::client::http::HttpClient;
use meshbench_sim::client::tcp::TcpEchoClient;
use meshbench_sim::client::thrift::{ThriftClient, ThriftOptions};
use meshbench_sim::client::{ClientError, Reply};
use meshbench_wire::Protocol;
use meshbench_wire::grpc::greeter;
use meshbench_wire::http1::Request;
use meshbench_wire::thrift::{Encoding, Transport};

use super::{parse_pair, parse_protocol};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// thrift, dubbo, http, grpc (or triple) or tcp.
    #[arg(long, value_parser = parse_protocol)]
    protocol: Protocol,
    /// Where to connect: a loopback HOST:PORT.
    #[arg(value_parser = super::parse_loopback)]
    addr: SocketAddr,
    /// thrift/dubbo: the method (sayHello); grpc: the method (SayHello); http: the HTTP method; tcp: ignored.
    method: Option<String>,
    /// thrift/dubbo: the name argument (Aeraki); grpc: the name (laurence); http: the request target; tcp: the payload.
    argument: Option<String>,
    /// How many calls, one after the other on the same connection.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// thrift: framed or unframed.
    #[arg(long, default_value = "unframed", value_parser = ["framed", "unframed"])]
    transport: String,
    /// thrift: binary or compact.
    #[arg(long, default_value = "binary", value_parser = ["binary", "compact"])]
    encoding: String,
    /// thrift: multiplex under this service name; dubbo: the interface (default DemoService);
    /// grpc: the service (default the dubbo-go sample's Greeter).
    #[arg(long)]
    service: Option<String>,
    /// http header / dubbo attachment / grpc metadata / thrift context entry, key=value (repeatable).
    #[arg(long = "header", value_parser = parse_pair)]
    headers: Vec<(String, String)>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let (method, argument) = match args.protocol {
        Protocol::Grpc => (greeter::METHOD, greeter::DEFAULT_NAME),
        Protocol::Http => ("GET", "/hello"),
        _ => ("sayHello", "Aeraki"),
    };
    let method = args.method.as_deref().unwrap_or(method);
    let argument = args.argument.as_deref().unwrap_or(argument);
    match args.protocol {
        Protocol::Thrift => {
            let options = ThriftOptions {
                transport: if args.transport == "framed" {
                    Transport::Framed
                } else {
                    Transport::Unframed
                },
                encoding: if args.encoding == "compact" {
                    Encoding::Compact
                } else {
                    Encoding::Binary
                },
                service: args.service.clone(),
            };
            let client = ThriftClient::connect(args.addr, options).await?;
            let context: BTreeMap<_, _> = args.headers.iter().cloned().collect();
            for i in 0..args.count {
                let id = format!("call-{}-{i}", std::process::id());
                failed |= print(client.say_hello(argument, Some(&id), context.clone()).await);
            }
        }
        Protocol::Http => {
            let client = HttpClient::connect(args.addr).await?;
            for i in 0..args.count {
                let mut request = Request::new(method, argument);
                for (name, value) in &args.headers {
                    request.headers.append(name.as_str(), value.as_str());
                }
                let id = format!("call-{}-{i}", std::process::id());
                failed |= print(
                    client
                        .send(request, Some(&id))
                        .await
                        .map(|(_, reply)| reply),
                );
            }
        }
        Protocol::Grpc => {
            let client = GrpcClient::connect(args.addr, None).await?;
            let metadata: BTreeMap<_, _> = args.headers.iter().cloned().collect();
            let call = grpc::Call {
                service: args.service.as_deref().unwrap_or(greeter::SERVICE),
                method,
                name: argument,
                metadata: &metadata,
            };
            for i in 0..args.count {
                let id = format!("call-{}-{i}", std::process::id());
                failed |= print(client.call(call, Some(&id)).await);
            }
        }
        Protocol::Tcp => {
            for _ in 0..args.count {
                let mut client = TcpEchoClient::connect(args.addr).await?;
                let back = client.round_trip(argument.as_bytes()).await?;
                println!("{} {}", client.echo.pod, String::from_utf8_lossy(&back));
            }
        }
        Protocol::Dubbo => {
            let client = DubboClient::connect(args.addr).await?;
            let interface = args.service.as_deref().unwrap_or(DEMO_SERVICE);
            for i in 0..args.count {
                let id = format!("call-{}-{i}", std::process::id());
                failed |= print(
                    client
                        .call(interface, method, argument, Some(&id), &args.headers)
                        .await,
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one answer; true when the call failed.
fn print(result: Result<Reply, ClientError>) -> bool {
    match result {
        Ok(reply) => {
            let served_by = reply
                .echo
                .map(|e| format!(" (served by {} {}, attempt {})", e.pod, e.addr, e.attempt));
            println!(
                "{} {}{}",
                reply.code,
                reply.text,
                served_by.unwrap_or_default()
            );
            !reply.success
        }
        Err(error) => {
            println!("error {error}");
            true
        }
    }
}
