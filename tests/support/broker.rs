//! A broker of the test's own (not the shared `WEIR_KAFKA` one), so the test
//! can stop and start it, on a free loopback port, with storage that
//! survives restarts. It signals only the processes it started, and kills
//! them on drop. Two kinds:
//!
//! - noida-db ([`Kind::NoidaDb`]), with a data directory under `build/`. It
//!   keeps data in memory and saves it to the directory a second or two
//!   after a write, and when it stops on SIGTERM. A SIGKILL loses what it
//!   acknowledged since its last save (seen: 1 000 messages produced and
//!   flushed, SIGKILL within a second, restart: none left; 2 s later: all
//!   kept), so a restart that must keep acknowledged data stops it with
//!   SIGTERM. It never expires a dead member's session (see tests/killed_processes/kills.rs).
//! - tansu ([`Kind::Tansu`]), storing in an S3 bucket of a moto server
//!   (PyPI's S3 stand-in) this test starts and keeps running across the
//!   broker's restarts; tansu writes a batch there before it acknowledges
//!   it. It expires dead members' sessions.
//!
//! - tansu in memory behind a proxy ([`Broker::tansu_behind`]): it names
//!   the proxy's port in its metadata, so every connection of a client goes
//!   through the proxy (`tests/kafka/backpressure.rs` counts what it fetches).
//!
//! Shared by `tests/killed_processes`, `tests/api_faults` and `tests/kafka`,
//! each including it with `#[path]`.

#![allow(dead_code)] // Not every crate uses every kind of broker or stop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::wait_within;

/// How long the broker may take to open its port, or to stop.
const START_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Installing may download the broker from PyPI the first time.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// Which broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NoidaDb,
    Tansu,
}

/// How a broker is stopped.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM: it saves its data and exits.
    Term,
    /// SIGKILL: it dies at once; unsaved data is lost.
    Kill,
}

/// A broker process this test started, with its port and storage.
pub struct Broker {
    kind: Kind,
    binary: PathBuf,
    port: u16,
    data: PathBuf,
    log: PathBuf,
    process: Option<Child>,
    /// tansu's S3 server (moto) and its port; without, tansu keeps data in memory.
    store: Option<(Child, u16)>,
    /// The port the broker names in its metadata, if not its own (a proxy's in front of it).
    advertised: Option<u16>,
}

impl Broker {
    /// Installs (if needed) and starts a broker of `kind` on a free port with fresh storage.
    pub fn start(kind: Kind) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("build").join(format!(
            "reliability-broker-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&data).expect("making the broker's data directory");
        let log = data.with_extension("log");
        let (binary, store) = match kind {
            Kind::NoidaDb => (install(root, "--noida-db"), None),
            Kind::Tansu => (install(root, "--tansu"), Some(start_store(root, &log))),
        };
        let mut broker =
            Self { kind, binary, port: free_port(), data, log, process: None, store, advertised: None };
        broker.start_again();
        broker
    }

    /// A tansu keeping its data in memory that tells clients to connect at
    /// `advertised` (a proxy the test puts in front of it) instead of its own port.
    pub fn tansu_behind(advertised: u16) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("build").join(format!("proxied-broker-{}-{advertised}", std::process::id()));
        std::fs::create_dir_all(&data).expect("making the broker's data directory");
        let log = data.with_extension("log");
        let binary = install(root, "--tansu");
        let mut broker = Self {
            kind: Kind::Tansu,
            binary,
            port: free_port(),
            data,
            log,
            process: None,
            store: None,
            advertised: Some(advertised),
        };
        broker.start_again();
        broker
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for a `kafka://` URL.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on the same port and data directory, and
    /// waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the broker is running already");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("the broker's log");
        let mut command = Command::new(&self.binary);
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised.unwrap_or(self.port));
        match (self.kind, &self.store) {
            (Kind::Tansu, None) => {
                command
                    .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &advertised])
                    .args(["--storage-engine", "memory://tansu/"]);
            }
            (Kind::Tansu, Some((_, store))) => {
                command
                    .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &advertised])
                    .args(["--storage-engine", "s3://tansu/"])
                    .env("AWS_ENDPOINT", format!("http://127.0.0.1:{store}"))
                    .env("AWS_ALLOW_HTTP", "true")
                    .env("AWS_ACCESS_KEY_ID", "weir")
                    .env("AWS_SECRET_ACCESS_KEY", "weir")
                    .env("AWS_DEFAULT_REGION", "us-east-1");
            }
            _ => {
                command
                    .args(["start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port"])
                    .arg(self.port.to_string())
                    .arg("--data-dir")
                    .arg(&self.data);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the broker's log"))
            .stderr(log)
            .spawn()
            .expect("starting the broker");
        let process = self.process.insert(child);
        if let Err(why) = wait_for_port(process, self.port) {
            panic!("the broker {why}; its log:\n{}", self.log_text());
        }
    }

    /// Stops the broker and waits until it exited.
    pub fn stop(&mut self, how: Stop) {
        let mut process = self.process.take().expect("the broker is running");
        match how {
            Stop::Kill => {
                let _ = process.kill();
            }
            Stop::Term => {
                // The pid is our unreaped child's: it cannot name another process.
                let sent = Command::new("kill").arg("-TERM").arg(process.id().to_string()).status();
                assert!(sent.as_ref().is_ok_and(|s| s.success()), "sending SIGTERM to the broker: {sent:?}");
            }
        }
        let status = wait_within(&mut process, STOP_LIMIT);
        assert!(
            status.is_some(),
            "the broker did not stop within {STOP_LIMIT:?} after {how:?}; it was killed"
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|err| format!("(unreadable: {err})"))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let store = self.store.take().map(|(process, _)| process);
        for mut process in self.process.take().into_iter().chain(store) {
            let _ = process.kill();
            let _ = process.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "broker data kept for inspection: {} (log {})",
                self.data.display(),
                self.log.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.data);
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Waits until `process` listens on `port`; why not, if it exits first or
/// takes longer than [`START_LIMIT`].
fn wait_for_port(process: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_LIMIT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Some(status) = process.try_wait().expect("the process's status") {
            return Err(format!("exited at startup ({status})"));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("did not open port {port} within {START_LIMIT:?}"));
        }
        // Polling the port; the deadline above bounds it.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts moto's S3 server on a free port (its output appended to `log`)
/// and makes the bucket `tansu` in it.
fn start_store(root: &Path, log: &Path) -> (Child, u16) {
    let port = free_port();
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("the broker's log");
    let mut process = Command::new(install(root, "--s3"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("the broker's log"))
        .stderr(out)
        .spawn()
        .expect("starting the S3 server");
    if let Err(why) = wait_for_port(&mut process, port) {
        let _ = process.kill();
        panic!("the S3 server {why}");
    }
    // moto takes an unsigned request: PUT /BUCKET makes it.
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connecting to the S3 server");
    let request = format!(
        "PUT /tansu HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).expect("asking for the bucket");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("the S3 server's answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "making the bucket: {answer}");
    (process, port)
}

/// What `scripts/kafka-broker install FLAG` installs (`--noida-db`: the
/// default broker), by the path it prints.
fn install(root: &Path, flag: &str) -> PathBuf {
    let mut command = Command::new(root.join("scripts/kafka-broker"));
    command.arg("install");
    if flag != "--noida-db" {
        command.arg(flag);
    }
    let mut child = command
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running scripts/kafka-broker install");
    let status = wait_within(&mut child, INSTALL_LIMIT);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut out).expect("its output");
    assert!(status.is_some_and(|s| s.success()), "scripts/kafka-broker install failed ({status:?}): {out}");
    let binary = PathBuf::from(out.lines().last().expect("the binary's path").trim());
    assert!(binary.is_file(), "scripts/kafka-broker install named {binary:?}, which is not a file");
    binary
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a free port");
    listener.local_addr().expect("its address").port()
}
