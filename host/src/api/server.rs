//! The listener: heph's own accept loop, so that what a client without an account can hold is
//! bounded. axum's `serve` sets no header timeout and admits every connection; here
//!
//! - a connection must send a request's headers within the header timeout, and a kept-alive
//!   connection must start its next request within it too (hyper's timer covers both), so
//!   idle and slow-header ("slowloris") connections close within seconds;
//! - at most `total` connections are open at once, and `per_address` from one client address:
//!   one client cannot hold the sockets everyone else needs. A connection over either is closed
//!   as soon as it is accepted;
//! - `total` is kept below the process's open-file limit (raised to its hard limit at start),
//!   so the database, the connectors' sockets and the log always have descriptors left.
//!
//! Bodies have their own deadline and size limits ([`super::body`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tower_service::Service;

/// How many connections, and how long a connection may take to say what it wants.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once, from everyone.
    pub total: usize,
    /// Connections open at once from one client address.
    pub per_address: usize,
    /// How long a connection has to send a request's headers (and, kept alive, to start the
    /// next request).
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            total: 4096,
            per_address: 64,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Descriptors kept for everything that is not a client connection.
const RESERVED_FILES: u64 = 256;

/// Serves `router` on `listener` until `shutdown` resolves; then finishes the requests in
/// flight (for at most 30 s).
pub async fn serve(
    router: Router,
    limits: ConnectionLimits,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let total = fit_open_files(limits.total);
    let open = Arc::new(Open::new(total, limits.per_address));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(100);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors (or a connection reset before it was accepted): wait
                    // for some to close instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ticket) = open.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer.ip(), "connection closed: {e}");
            }
            drop(ticket);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after 30 s were cut off");
    }
    Ok(())
}

/// The connections open, in total and per address.
struct Open {
    total: usize,
    per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    warned: Option<Instant>,
}

/// One admitted connection; dropping it frees its place.
struct Ticket {
    open: Arc<Open>,
    address: IpAddr,
}

impl Open {
    fn new(total: usize, per_address: usize) -> Open {
        Open {
            total: total.max(1),
            per_address: per_address.max(1),
            counts: Mutex::default(),
        }
    }

    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Ticket> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let from_address = counts.by_address.get(&address).copied().unwrap_or(0);
        let refusal = if counts.total >= self.total {
            Some(format!("{} connections are open", self.total))
        } else if from_address >= self.per_address {
            Some(format!(
                "{address} has {} connections open",
                self.per_address
            ))
        } else {
            None
        };
        if let Some(why) = refusal {
            // Once a minute at most: a flood would otherwise flood the log too.
            if counts
                .warned
                .is_none_or(|at| at.elapsed() > Duration::from_secs(60))
            {
                counts.warned = Some(Instant::now());
                tracing::warn!("refusing connections: {why} (the limit)");
            }
            return None;
        }
        counts.total += 1;
        *counts.by_address.entry(address).or_insert(0) += 1;
        Some(Ticket {
            open: self.clone(),
            address,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.open.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

/// Raises the open-file limit to its hard limit and keeps `wanted` connections below it.
fn fit_open_files(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max.min(1 << 20),
            rlim_max: limit.rlim_max,
        };
        if raised.rlim_cur > limit.rlim_cur && libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            raised.rlim_cur
        } else {
            limit.rlim_cur
        }
    };
    let fits = soft.saturating_sub(RESERVED_FILES).max(16) as usize;
    if fits < wanted {
        tracing::warn!(
            open_file_limit = soft,
            "the open-file limit allows {fits} client connections, not {wanted}: raise `ulimit -n` to allow more"
        );
    }
    wanted.min(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_admitted_up_to_each_limit_and_freed_on_close() {
        let open = Arc::new(Open::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = open.admit(a).expect("first from a");
        let second = open.admit(a).expect("second from a");
        assert!(open.admit(a).is_none(), "a third from one address");
        let third = open.admit(b).expect("another address has its own share");
        assert!(open.admit(b).is_none(), "the total is reached");
        drop(first);
        assert!(
            open.admit(a).is_some(),
            "a closed connection frees its place"
        );
        drop((second, third));
        assert_eq!(open.counts.lock().unwrap().total, 0);
        assert!(open.counts.lock().unwrap().by_address.is_empty());
    }
}
