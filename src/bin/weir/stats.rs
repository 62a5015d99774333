//! `--stats`: messages/s and bytes/s on stderr, once a second.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Counters shared with the printing thread; dropping stops it and prints totals.
pub struct Stats {
    /// `None` without `--stats`: then counting costs nothing.
    shared: Option<Arc<Shared>>,
}

#[derive(Default)]
struct Shared {
    messages: AtomicU64,
    bytes: AtomicU64,
    stop: AtomicBool,
}

impl Stats {
    /// Starts printing if `enabled`; counting then costs two relaxed
    /// (but locked) adds a message, and nothing if not.
    pub fn start(enabled: bool) -> Self {
        if !enabled {
            return Self { shared: None };
        }
        let shared = Arc::new(Shared::default());
        let printing = Arc::clone(&shared);
        // Reporting is best-effort: without a thread there are no stats, and no failure.
        let _ = thread::Builder::new().name("weir-stats".into()).spawn(move || report(&printing));
        Self { shared: Some(shared) }
    }

    /// Counts one message of `bytes` payload bytes.
    pub fn count(&self, bytes: usize) {
        if let Some(shared) = &self.shared {
            shared.messages.fetch_add(1, Ordering::Relaxed);
            shared.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
}

fn report(shared: &Shared) {
    let start = Instant::now();
    let (mut last_messages, mut last_bytes) = (0, 0);
    while !shared.stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_secs(1));
        let (messages, bytes) =
            (shared.messages.load(Ordering::Relaxed), shared.bytes.load(Ordering::Relaxed));
        // Best-effort like the thread itself: a closed stderr ends nothing.
        let _ = writeln!(
            std::io::stderr().lock(),
            "weir: {} msg/s, {:.2} MB/s ({} messages in {:.0?})",
            messages - last_messages,
            (bytes - last_bytes) as f64 / 1e6,
            messages,
            start.elapsed()
        );
        (last_messages, last_bytes) = (messages, bytes);
    }
}
