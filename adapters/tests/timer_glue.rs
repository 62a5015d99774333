//! The runtime glue the simulator cannot reach: a wall-clock deadline of the
//! core (auto-commit) must fire through each runtime's timer while the
//! consumer waits for a message, and a blocking job must run and wake it.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use weir_adapters::{Consumer, Runtime};
use weir_core::backend::{BlockingJob, ConsumerBackend};
use weir_core::{
    Capabilities, Command, ConsumerCore, ConsumerGroup, ConsumerMode, ConsumerOptions, Message,
    MessageHeader, SeqNo, ShardId, StreamKey, Timestamp,
};

/// Feeds one message, then answers a commit by running it as a blocking job
/// that reports back and wakes the consumer, like rdkafka's commit would.
struct WallClockBackend {
    key: StreamKey,
    first: Option<Message>,
    inbox: Arc<Mutex<(VecDeque<Message>, Option<Waker>)>>,
    jobs: Vec<BlockingJob>,
}

impl ConsumerBackend for WallClockBackend {
    fn execute(&mut self, command: Command, core: &mut ConsumerCore) {
        if let Command::Commit { id, offsets } = command {
            core.handle_committed(id, Ok(()));
            let (inbox, key) = (self.inbox.clone(), self.key.clone());
            self.jobs.push(Box::new(move || {
                let resume_at = offsets[0].2;
                let header = MessageHeader::new(key, ShardId(0), SeqNo(99), Timestamp::UNIX_EPOCH);
                let marker = Message::new(header, format!("committed {}", resume_at.0).into());
                let mut inbox = inbox.lock().unwrap();
                inbox.0.push_back(marker);
                if let Some(waker) = inbox.1.take() {
                    waker.wake();
                }
            }));
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        if let Some(first) = self.first.take() {
            core.handle_message(first);
            return Poll::Ready(());
        }
        let mut inbox = self.inbox.lock().unwrap();
        if inbox.0.is_empty() {
            inbox.1 = Some(cx.waker().clone());
            return Poll::Pending;
        }
        core.handle_messages(inbox.0.drain(..));
        Poll::Ready(())
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        self.jobs.pop()
    }
}

fn consumer<R: Runtime>() -> Consumer<WallClockBackend, R> {
    let key = StreamKey::new("glue").unwrap();
    let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
    options.set_group(ConsumerGroup::new("glue").unwrap()).set_auto_commit(Some(Duration::from_millis(20)));
    let core =
        ConsumerCore::new(Capabilities::full("glue"), options, vec![key.clone()], Instant::now()).unwrap();
    let header = MessageHeader::new(key.clone(), ShardId(0), SeqNo(7), Timestamp::UNIX_EPOCH);
    let first = Some(Message::new(header, "first".into()));
    let backend = WallClockBackend { key, first, inbox: Default::default(), jobs: Vec::new() };
    Consumer::new(core, backend)
}

async fn auto_commit_fires_while_waiting<R: Runtime>() {
    let mut consumer = consumer::<R>();
    assert_eq!(consumer.next().await.unwrap().payload.as_str().unwrap(), "first");
    // Nothing arrives unless the auto-commit timer fires and the blocking job runs.
    let marker = consumer.next().await.unwrap();
    assert_eq!(marker.payload.as_str().unwrap(), "committed 8", "resume after seq 7");
}

#[test]
fn tokio() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(auto_commit_fires_while_waiting::<weir_adapters::Tokio>());
}

#[test]
fn async_std() {
    async_std::task::block_on(auto_commit_fires_while_waiting::<weir_adapters::AsyncStd>());
}

#[test]
fn smol() {
    smol::block_on(auto_commit_fires_while_waiting::<weir_adapters::Smol>());
}

#[test]
fn no_runtime_future() {
    weir_adapters::block_on(auto_commit_fires_while_waiting::<weir_adapters::NoRuntime>());
}

#[test]
fn no_runtime_next_blocking() {
    let mut consumer = consumer::<weir_adapters::NoRuntime>();
    assert_eq!(consumer.next_blocking().unwrap().payload.as_str().unwrap(), "first");
    assert_eq!(consumer.next_blocking().unwrap().payload.as_str().unwrap(), "committed 8");
}
