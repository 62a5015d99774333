//! `scripts/tls-proxy` run by a test: a TLS front, with a test CA made at
//! test time, for a plaintext Kafka broker or Redis server.

#![allow(dead_code)] // Each test crate uses part of it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// What the front forwards to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// A Kafka broker: its address in metadata answers becomes the front's.
    Kafka,
    /// A Redis server: bytes pass through unchanged (`--plain`).
    Redis,
}

/// A running `scripts/tls-proxy`; stopped, and its certificates removed, on drop.
pub struct TlsFront {
    child: Child,
    /// Held open: the proxy exits when its stdin closes, even if this test process dies.
    _stdin: ChildStdin,
    /// `127.0.0.1:PORT`, where it takes TLS connections.
    pub address: String,
    dir: PathBuf,
}

impl TlsFront {
    /// A front for the server at `server` (`127.0.0.1:PORT`); `name` makes its directory unique.
    pub fn start(server: &str, kind: Server, name: &str) -> Self {
        Self::spawn(server, kind, name, false)
    }

    /// The same, taking only clients that show a certificate the test CA
    /// signed (`client.pem` and `client.key` are one).
    pub fn start_mutual(server: &str, kind: Server, name: &str) -> Self {
        Self::spawn(server, kind, name, true)
    }

    fn spawn(server: &str, kind: Server, name: &str, mutual: bool) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the front's directory");
        // A venv the server scripts made, or the system's Python.
        let python = ["build/kafka-venv/bin/python", "build/redis-venv/bin/python"]
            .iter()
            .map(|venv| root.join(venv))
            .find(|venv| venv.exists())
            .unwrap_or_else(|| PathBuf::from("python3"));
        let mut command = Command::new(&python);
        command.arg(root.join("scripts/tls-proxy"));
        if kind == Server::Redis {
            command.arg("--plain");
        }
        if mutual {
            command.arg("--client-certificates");
        }
        let mut child = command
            .arg(server)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start scripts/tls-proxy with {}: {err}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        // The first line comes once it listens (or never, if it failed: then stdout closes).
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("its stdout");
        let Some(address) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let status = child.wait().expect("its exit");
            panic!("scripts/tls-proxy did not start ({status}); its stderr is above");
        };
        Self { child, _stdin: stdin, address, dir }
    }

    /// A file the front made: `ca.pem` (signs its certificate, for IP
    /// 127.0.0.1, and `client.pem`, whose key is `client.key`) or
    /// `other-ca.pem` (signs nothing here).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
