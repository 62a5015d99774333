//! A TCP proxy in front of a test broker that counts the bytes the broker
//! sends to its clients and paces them to a fixed rate: what a consumer
//! fetches becomes observable, and slow enough to tell "stopped fetching"
//! from "fetched everything at once". The broker must name the proxy's port
//! in its metadata (`Broker::tansu_behind`), or clients would go around it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A listening proxy; it stops accepting on drop (open connections end
/// when their broker or client closes them).
pub struct Proxy {
    port: u16,
    listener: Option<TcpListener>,
    fetched: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free loopback port; forwards nothing until [`Proxy::forward_to`].
    pub fn bind() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the proxy");
        let port = listener.local_addr().expect("its address").port();
        Self {
            port,
            listener: Some(listener),
            fetched: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forwards every connection to the broker at `broker_port`, passing
    /// what the broker sends at `rate` bytes per second at most per
    /// connection.
    pub fn forward_to(&mut self, broker_port: u16, rate: u64) {
        let listener = self.listener.take().expect("forwarding once");
        let (counted, stop) = (self.fetched.clone(), self.stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(broker) = TcpStream::connect((Ipv4Addr::LOCALHOST, broker_port)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let (client_in, broker_out) =
                    (client.try_clone().expect("a socket"), broker.try_clone().expect("a socket"));
                thread::spawn(move || pump(client_in, broker_out, None));
                let counted = counted.clone();
                thread::spawn(move || pump(broker, client, Some((counted, rate))));
            }
        });
    }

    /// Bytes the broker has sent to clients so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// Copies `from` to `to` until either closes; with `paced`, counts the bytes
/// and holds them back to the rate.
fn pump(mut from: TcpStream, mut to: TcpStream, paced: Option<(Arc<AtomicU64>, u64)>) {
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
        if let Some((counted, rate)) = &paced {
            counted.fetch_add(n as u64, Ordering::Relaxed);
            sent += n as u64;
            // Shaping the link, not waiting for a result: the next chunk
            // leaves when the rate allows.
            let due = started + Duration::from_secs_f64(sent as f64 / *rate as f64);
            if let Some(early) = due.checked_duration_since(Instant::now()) {
                thread::sleep(early);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
