//! `--stats`: messages/s and bytes/s on stderr, once a second.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Counters shared with the printing thread; dropping stops it and prints totals.
pub struct Stats {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    messages: AtomicU64,
    bytes: AtomicU64,
    stop: AtomicBool,
}

impl Stats {
    /// Starts printing if `enabled`; counting costs two relaxed adds either way.
    pub fn start(enabled: bool) -> Self {
        let shared = Arc::new(Shared::default());
        if enabled {
            let printing = Arc::clone(&shared);
            // Reporting is best-effort: without a thread there are no stats, and no failure.
            let _ = thread::Builder::new().name("weir-stats".into()).spawn(move || report(&printing));
        }
        Self { shared }
    }

    /// Counts one message of `bytes` payload bytes.
    pub fn count(&self, bytes: usize) {
        self.shared.messages.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
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
