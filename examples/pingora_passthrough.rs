//! A bare pingora passthrough, the shape of pingora's own example proxies (`pingora-proxy/examples`): a
//! `ProxyHttp` whose only hook names the upstream. The load benchmark (`benches/load/run.sh`, row p) runs it beside
//! authgate's passthrough so that what pingora itself costs per request and what authgate adds are known.
//! Dev-only: `cargo build --release --example pingora_passthrough`; never shipped.
//!
//! `pingora_passthrough LISTEN UPSTREAM THREADS [steal|nosteal]`, e.g. `pingora_passthrough 127.0.0.1:8080
//! 127.0.0.1:8081 2`; the last argument sets pingora's `work_stealing` (default `steal`, pingora's default).

use anyhow::{bail, Context};
use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::upstreams::peer::HttpPeer;
use std::net::SocketAddr;

/// The allocator of authgate's binary (`src/main.rs`), so that the difference between the two rows is authgate's own
/// work and not glibc malloc (about a tenth of a passthrough's CPU under this load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, threads, work_stealing) = match args.as_slice() {
        [listen, upstream, threads] => (listen, upstream, threads, true),
        [listen, upstream, threads, mode] if mode == "steal" || mode == "nosteal" => {
            (listen, upstream, threads, mode == "steal")
        }
        _ => bail!("usage: pingora_passthrough LISTEN UPSTREAM THREADS [steal|nosteal]"),
    };
    let upstream: SocketAddr = upstream.parse().context("UPSTREAM: host:port")?;
    let threads: usize = threads.parse().context("THREADS: a number")?;
    let conf = ServerConf {
        threads,
        work_stealing,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Passthrough { upstream });
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever()
}
