//! A consumer's I/O side on stdin: takes what the hub dispatched to it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};

use weir_core::backend::ConsumerBackend;
use weir_core::{Command, ConsumerCore, Message, ShardId};

use crate::hub::{ConsumerId, Hub, Input};

/// One consumer of a process's stdin (or of the input given to
/// [`StdioStreamer::with_io`](crate::StdioStreamer::with_io)).
pub struct StdioConsumer {
    hub: Arc<Hub>,
    id: ConsumerId,
    inbox: VecDeque<Message>,
    /// Set until the first input round reports the assignment: shard 0 of every stream.
    unannounced: bool,
    ended: bool,
}

impl StdioConsumer {
    pub(crate) fn new(hub: Arc<Hub>, id: ConsumerId) -> Self {
        Self { hub, id, inbox: VecDeque::new(), unannounced: true, ended: false }
    }
}

impl Drop for StdioConsumer {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl ConsumerBackend for StdioConsumer {
    fn execute(&mut self, command: Command, _core: &mut ConsumerCore) {
        match command {
            Command::Pause => self.hub.set_paused(self.id, true),
            Command::Resume => self.hub.set_paused(self.id, false),
            // The core refuses rewind, seek and commit for stdio's capabilities.
            Command::Position { .. } | Command::Commit { .. } => {}
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        if self.unannounced {
            self.unannounced = false;
            let shards: Vec<_> = core.streams().iter().map(|key| (key.clone(), ShardId::ZERO)).collect();
            core.handle_assignment(shards);
            return Poll::Ready(());
        }
        if self.ended {
            return Poll::Pending;
        }
        let input = self.hub.take(self.id, &mut self.inbox, cx.waker());
        if !self.inbox.is_empty() {
            core.handle_message_queue(&mut self.inbox);
            return Poll::Ready(());
        }
        match input {
            Input::Open => Poll::Pending,
            Input::Ended(failure) => {
                self.ended = true;
                core.handle_end(failure);
                Poll::Ready(())
            }
        }
    }
}
