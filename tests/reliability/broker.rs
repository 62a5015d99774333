//! A broker of the test's own (not the shared `WEIR_KAFKA` one), so the test
//! can stop and start it: the binary `scripts/kafka-broker install`
//! provides, on a free loopback port, with a data directory under `build/`
//! that survives restarts. It signals only the process it started, and kills
//! it on drop.
//!
//! Durability of this broker (noida-db 0.2.3): it keeps data in memory and
//! saves it to the data directory a second or two after a write, and when it
//! stops on SIGTERM. A SIGKILL loses what it acknowledged since its last save
//! (seen: 1 000 messages produced and flushed, SIGKILL within a second,
//! restart: none left; 2 s later: all kept), so a restart that must keep
//! acknowledged data stops it with SIGTERM.

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

/// How a broker is stopped.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM: it saves its data and exits.
    Term,
    /// SIGKILL: it dies at once; unsaved data is lost.
    Kill,
}

/// A broker process this test started, with its port and data directory.
pub struct Broker {
    binary: PathBuf,
    port: u16,
    data: PathBuf,
    log: PathBuf,
    process: Option<Child>,
}

impl Broker {
    /// Installs (if needed) and starts a broker on a free port with a fresh data directory.
    pub fn start() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("build").join(format!(
            "reliability-broker-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&data).expect("making the broker's data directory");
        let log = data.with_extension("log");
        let mut broker = Self { binary: install(root), port: free_port(), data, log, process: None };
        broker.start_again();
        broker
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
        let child = Command::new(&self.binary)
            .args(["start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port"])
            .arg(self.port.to_string())
            .arg("--data-dir")
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the broker's log"))
            .stderr(log)
            .spawn()
            .expect("starting the broker");
        let process = self.process.insert(child);
        let deadline = Instant::now() + START_LIMIT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = process.try_wait().expect("the broker's status") {
                panic!("the broker exited at startup ({status}); its log:\n{}", self.log_text());
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the broker did not open port {} within {START_LIMIT:?}",
                self.port
            );
            // Polling the port; the deadline above bounds it.
            std::thread::sleep(Duration::from_millis(50));
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
        if let Some(mut process) = self.process.take() {
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

/// The broker binary, installed by `scripts/kafka-broker install` (which prints its path).
fn install(root: &Path) -> PathBuf {
    let mut child = Command::new(root.join("scripts/kafka-broker"))
        .arg("install")
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
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a free port");
    listener.local_addr().expect("its address").port()
}
