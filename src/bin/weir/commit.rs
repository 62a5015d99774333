//! When the CLI commits. The core's automatic commit covers every message
//! `next` returned. `weir consume` flushes stdout before one can run (see
//! `consume::commit_near`); `weir relay` would have to wait for the output
//! broker's acknowledgements each time, so it turns the automatic commit off
//! and commits itself, at the same interval, after a flush of its producer:
//! a SIGKILL never loses a message that was committed but not relayed.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use weir::{ConsumerOptions, NoRuntime};

/// Commits of a committing consumer, every `interval` and at exit.
pub struct Committer {
    interval: Option<Duration>,
    last: Instant,
}

impl Committer {
    /// Takes the automatic commit interval over from `options` (which then
    /// has none); only committing modes commit.
    pub fn take_over(options: &mut ConsumerOptions) -> Self {
        let interval = options.mode().commits().then(|| options.auto_commit()).flatten();
        options.set_auto_commit(None);
        Self { interval, last: Instant::now() }
    }

    /// Whether a commit is due: then make the output hold everything and call [`commit`](Self::commit).
    pub fn due(&self) -> bool {
        self.interval.is_some_and(|every| self.last.elapsed() >= every)
    }

    /// Commits everything `next` returned so far, which the caller has written
    /// out. A failure is not the end, as with an automatic commit: a broker
    /// restart or a rebalance fails a commit now and then (the group's
    /// generation changed), and the next one covers the same messages. It is
    /// reported on stderr; the commit at exit reports its failure as an error.
    pub fn commit(&mut self, consumer: &mut weir::Consumer<NoRuntime>) {
        self.last = Instant::now();
        if let Err(err) = commit_all(consumer) {
            eprintln!("weir: warning: {err:#}; the next commit retries");
        }
    }
}

/// Commits everything delivered, if this consumer commits at all (stdio's
/// load-balanced groups cannot: there is nothing to resume from).
pub fn commit_all(consumer: &mut weir::Consumer<NoRuntime>) -> anyhow::Result<()> {
    let core = consumer.core();
    if core.capabilities().commit && core.options().mode().commits() {
        weir::block_on(consumer.commit_all()).context("committing what was consumed")?;
    }
    Ok(())
}

/// How long a group consumer may take to leave its group at exit.
#[cfg(feature = "kafka")]
const LEAVE_WITHIN: Duration = Duration::from_secs(10);

/// Lets a Kafka group consumer leave its group before the process ends: one
/// that only goes away keeps the group (the next `weir` of a resumable or
/// load-balanced group among them) waiting for its session to time out.
pub fn leave(consumer: &weir::Consumer<NoRuntime>) {
    #[cfg(feature = "kafka")]
    if let weir::AnyConsumer::Kafka(kafka) = consumer.backend() {
        if consumer.core().options().mode().commits() && !kafka.close_within(LEAVE_WITHIN) {
            eprintln!(
                "weir: warning: the consumer did not leave its group within {}s; the group waits for its \
                 session to time out",
                LEAVE_WITHIN.as_secs()
            );
        }
    }
    #[cfg(not(feature = "kafka"))]
    let _ = consumer;
}
