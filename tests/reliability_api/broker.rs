//! A broker of the test's own (the binary `scripts/kafka-broker install`
//! provides), on a free loopback port with a data directory under `build/`,
//! so a test can kill it while a consumer streams from it. Killed on drop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a fresh broker may take to open its port.
const STARTUP: Duration = Duration::from_secs(20);

/// A running broker process, killed (and its data removed) on drop.
pub struct OwnBroker {
    child: Child,
    address: String,
    data: PathBuf,
}

impl OwnBroker {
    /// Installs (if needed) and starts a broker; waits until its port accepts connections.
    pub fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let installed = Command::new(root.join("scripts/kafka-broker"))
            .arg("install")
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/kafka-broker install");
        assert!(installed.status.success(), "scripts/kafka-broker install failed");
        let stdout = String::from_utf8(installed.stdout).expect("utf-8 path");
        let binary = stdout.lines().last().expect("the broker binary's path").trim().to_owned();
        let port = free_port();
        let build = root.join("build");
        std::fs::create_dir_all(&build).expect("build/");
        let data = build.join(format!("reliability-api-broker-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&data).expect("the broker's data directory");
        let log = std::fs::File::create(data.with_extension("log")).expect("the broker's log");
        let child = Command::new(&binary)
            .args(["start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", &port.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting the broker");
        let mut broker = Self { child, address: format!("127.0.0.1:{port}"), data };
        broker.wait_for_port(port);
        broker
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Kills the broker (SIGKILL: a crash, not a shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + STARTUP;
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the broker exited during startup ({status}); see {}",
                    self.data.with_extension("log").display()
                );
            }
            if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "the broker did not open port {port} within {STARTUP:?}");
            // Polling a condition with a deadline.
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(self.data.with_extension("log"));
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}
