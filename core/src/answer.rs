//! A one-shot answer: a value a backend delivers later, from another thread,
//! to whoever awaits it. [`Receipt`](crate::backend::Receipt)s and
//! [`Lookup`](crate::backend::Lookup)s are made of it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// Resolves to the value its [`AnswerSender`] sends, or to `None` if the
/// sender was dropped without sending (the backend that owed it died).
#[must_use = "an answer does nothing unless awaited"]
pub struct Answer<T>(Held<T>);

/// Where an answer's value is: with the answer itself when it was known at
/// once (no allocation: a producer that stores a message as it is sent
/// makes one such answer per message), or in a slot shared with its sender.
enum Held<T> {
    Here(Option<T>),
    Shared(Arc<Mutex<Slot<T>>>),
}

// The value is never pinned: it is moved out whole once resolved.
impl<T> Unpin for Answer<T> {}

/// The backend's end of an [`Answer`].
pub struct AnswerSender<T>(Arc<Mutex<Slot<T>>>);

impl<T> Answer<T> {
    /// An answer and the sender that resolves it.
    pub fn pending() -> (Answer<T>, AnswerSender<T>) {
        let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
        (Answer(Held::Shared(slot.clone())), AnswerSender(slot))
    }

    /// An answer resolved already.
    pub fn ready(value: T) -> Answer<T> {
        Answer(Held::Here(Some(value)))
    }

    /// The value, if sent, without waiting.
    pub fn try_take(&mut self) -> Option<T> {
        match &mut self.0 {
            Held::Here(value) => value.take(),
            Held::Shared(slot) => slot.lock().unwrap_or_else(PoisonError::into_inner).value.take(),
        }
    }
}

impl<T> AnswerSender<T> {
    /// Resolves the answer and wakes whoever awaits it.
    pub fn send(self, value: T) {
        let waker = {
            let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Answer<T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let shared = match &mut self.get_mut().0 {
            // Taken already (a second poll): as for a sender gone.
            Held::Here(value) => return Poll::Ready(value.take()),
            Held::Shared(shared) => shared,
        };
        let mut slot = shared.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.value.take() {
            Some(value) => Poll::Ready(Some(value)),
            None if Arc::strong_count(shared) == 1 => Poll::Ready(None),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for AnswerSender<T> {
    fn drop(&mut self) {
        // A sender dropped unresolved (the backend died): wake the answer so it
        // sees it is the last owner and reports the loss.
        let waker = self.0.lock().unwrap_or_else(PoisonError::into_inner).waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Answer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once<T>(answer: &mut Answer<T>) -> Poll<Option<T>> {
        Pin::new(answer).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_ready_answer_resolves_once_then_reads_as_gone() {
        let mut answer = Answer::ready(7);
        assert_eq!(poll_once(&mut answer), Poll::Ready(Some(7)));
        assert_eq!(poll_once(&mut answer), Poll::Ready(None));
        assert_eq!(Answer::ready("x").try_take(), Some("x"));
    }

    #[test]
    fn a_pending_answer_waits_for_its_sender_or_its_drop() {
        let (mut answer, sender) = Answer::pending();
        assert_eq!(poll_once(&mut answer), Poll::Pending);
        assert_eq!(answer.try_take(), None);
        sender.send(3);
        assert_eq!(poll_once(&mut answer), Poll::Ready(Some(3)));
        assert_eq!(poll_once(&mut answer), Poll::Ready(None));

        let (mut answer, sender) = Answer::<u8>::pending();
        assert_eq!(poll_once(&mut answer), Poll::Pending);
        drop(sender);
        assert_eq!(poll_once(&mut answer), Poll::Ready(None));
    }
}
