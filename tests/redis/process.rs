//! A `weir consume` process under test: its printed lines come over a
//! channel, read slowly enough that the pipe fills and holds the consumer
//! back, so it can be SIGKILLed with messages left to read.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Consume {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Consume {
    /// Starts `weir ARGS`.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = crate::support::spawn_weir(args, &[], Stdio::null());
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            // At most about 5,000 lines a second (a pace, not a wait for
            // anything: what is read does not depend on it).
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            for n in 0.. {
                line.clear();
                // A last piece without its newline is a line torn by the
                // SIGKILL, not a line printed: it is left out.
                if !(stdout.read_until(b'\n', &mut line).is_ok() && line.ends_with(b"\n")) {
                    break;
                }
                line.pop();
                if sender.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                    break;
                }
                if n % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).ok();
            text
        });
        Self { child, lines, stderr: Some(stderr) }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next printed line, if one comes within `wait`; `Err` once the
    /// process's output ended.
    pub fn line_within(&self, wait: Duration) -> Result<Option<String>, String> {
        match self.lines.recv_timeout(wait) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err("its output ended".into()),
        }
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// After [`Consume::kill`]: the lines it had printed before it died and
    /// were not read yet, read to the end of its output within `limit`.
    pub fn rest(&mut self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => panic!("its output did not end within {limit:?}"),
            }
        }
    }

    /// What it wrote to stderr (after [`Consume::kill`]).
    pub fn stderr(&mut self) -> String {
        self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for Consume {
    fn drop(&mut self) {
        // A test that failed midway leaves no process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
