//! A `weir consume` process whose stdout the test reads through a gate: the
//! test decides how many lines it takes, so it can hold the process
//! mid-stream (a full pipe blocks its writes) at a point it chooses, then kill
//! it there. Killed on drop; every wait has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the reader thread has taken so far.
#[derive(Default)]
struct Taken {
    lines: Vec<String>,
    /// The reader takes no line past this many until it is raised.
    limit: usize,
    /// stdout reached its end (the process exited or was killed).
    ended: bool,
}

#[derive(Default)]
struct Gate {
    taken: Mutex<Taken>,
    changed: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, Taken> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running `weir consume` (or any `weir` command that prints lines).
pub struct Printer {
    name: String,
    child: Child,
    gate: Arc<Gate>,
    reader: Option<JoinHandle<()>>,
    /// Everything the process wrote to stderr so far (read on a thread of its own).
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Printer {
    /// Starts `weir args`, its stdout gated at `limit` lines.
    pub fn spawn(name: &str, args: &[&str], limit: usize) -> Self {
        let mut child = crate::support::spawn_weir(args, &[("HOST_ID", "weir-reliability")], Stdio::null());
        let gate = Arc::new(Gate::default());
        gate.lock().limit = limit;
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = {
            let gate = gate.clone();
            std::thread::spawn(move || read_lines(stdout, &gate))
        };
        let mut pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    stderr.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(&chunk[..n]);
                }
            });
        }
        Self { name: name.to_owned(), child, gate, reader: Some(reader), stderr }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lets the reader take lines up to `limit` (`usize::MAX`: all).
    pub fn set_limit(&self, limit: usize) {
        self.gate.lock().limit = limit;
        self.gate.changed.notify_all();
    }

    /// Lines taken so far.
    pub fn count(&self) -> usize {
        self.gate.lock().lines.len()
    }

    /// Waits until `done` holds for the lines taken so far (it is called again
    /// after each new line). Fails if the process's output ends first, or at
    /// `limit`, naming `what` and showing the process's stderr.
    pub fn wait_until(&self, what: &str, limit: Duration, done: impl FnMut(&[String]) -> bool) {
        if let Err(failure) = self.try_wait_until(what, limit, done) {
            panic!("{failure}");
        }
    }

    /// [`wait_until`](Self::wait_until), returning the failure instead, for a
    /// caller that has more to say about it.
    pub fn try_wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut taken = self.gate.lock();
        loop {
            if done(&taken.lines) {
                return Ok(());
            }
            let now = Instant::now();
            if taken.ended || now >= deadline {
                let (count, ended) = (taken.lines.len(), taken.ended);
                drop(taken);
                let why = if ended { "its output ended" } else { "the time limit passed" };
                let (name, stderr) = (&self.name, self.stderr_so_far());
                return Err(format!(
                    "{name}: {why} before {what} ({count} lines after {limit:?}); stderr:\n{stderr}"
                ));
            }
            taken = self
                .gate
                .changed
                .wait_timeout(taken, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until `lines` lines were taken.
    pub fn wait_for_lines(&self, lines: usize, limit: Duration) {
        self.wait_until(&format!("printing {lines} lines"), limit, |taken| taken.len() >= lines);
    }

    /// SIGKILLs the process and returns every complete line it printed
    /// (what is still in the pipe is read to the end first).
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect()
    }

    fn collect(&mut self) -> Vec<String> {
        self.set_limit(usize::MAX);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader thread");
        }
        std::mem::take(&mut self.gate.lock().lines)
    }

    /// The last few kilobytes the process wrote to stderr so far.
    fn stderr_so_far(&self) -> String {
        const TAIL: usize = 8 * 1024;
        let bytes = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let tail = &bytes[bytes.len().saturating_sub(TAIL)..];
        String::from_utf8_lossy(tail).into_owned()
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        // The process this test started, and only it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.set_limit(usize::MAX);
    }
}

/// The reader thread: takes lines while the gate allows, until stdout ends.
fn read_lines(stdout: ChildStdout, gate: &Gate) {
    let mut stdout = BufReader::new(stdout);
    loop {
        {
            let mut taken = gate.lock();
            while taken.lines.len() >= taken.limit {
                taken = gate.changed.wait(taken).unwrap_or_else(PoisonError::into_inner);
            }
        }
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let mut taken = gate.lock();
        match read {
            Ok(0) | Err(_) => {
                taken.ended = true;
                gate.changed.notify_all();
                return;
            }
            Ok(_) => {
                // A last line without its newline was being written when the
                // process died: it was not printed.
                if let Some(complete) = line.strip_suffix('\n') {
                    taken.lines.push(complete.to_owned());
                }
            }
        }
        gate.changed.notify_all();
    }
}
