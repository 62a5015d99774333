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
pub struct Answer<T>(Arc<Mutex<Slot<T>>>);

/// The backend's end of an [`Answer`].
pub struct AnswerSender<T>(Arc<Mutex<Slot<T>>>);

impl<T> Answer<T> {
    /// An answer and the sender that resolves it.
    pub fn pending() -> (Answer<T>, AnswerSender<T>) {
        let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
        (Answer(slot.clone()), AnswerSender(slot))
    }

    /// An answer resolved already.
    pub fn ready(value: T) -> Answer<T> {
        Answer(Arc::new(Mutex::new(Slot { value: Some(value), waker: None })))
    }

    /// The value, if sent, without waiting.
    pub fn try_take(&mut self) -> Option<T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).value.take()
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
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.value.take() {
            Some(value) => Poll::Ready(Some(value)),
            None if Arc::strong_count(&self.0) == 1 => Poll::Ready(None),
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
