//! The Dubbo sample provider (filled in with the dubbo codec).

use std::sync::Arc;

use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use crate::shutdown::Shutdown;

pub(crate) async fn serve(_stream: TcpStream, _endpoint: Arc<Endpoint>, _connection: u64, _shutdown: Shutdown) {}
