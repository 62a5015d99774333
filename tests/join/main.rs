//! The join driven through weir's consumers: order and bound on every
//! runtime (`runtimes`), seeded simulator scenarios with delays and a silent
//! source (`sim`), and sources on two backends in one join (`mixed`).

mod mixed;
mod runtimes;
mod sim;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use weir::{JoinError, Joined, Runtime};

/// The next joined message if one is ready now; the pending future is
/// dropped, which must lose nothing.
pub fn try_next<R: Runtime>(join: &mut weir::Join<R>) -> Option<Result<Joined, JoinError>> {
    let mut next = join.next();
    match Pin::new(&mut next).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// `stream/seq` of a joined message, `+late` if marked.
pub fn name(joined: &Joined) -> String {
    let h = &joined.message.header;
    format!("{}/{}{}", h.stream_key, h.seq, if joined.late { "+late" } else { "" })
}

/// Every message ready now, by name; stops at an error.
pub fn ready<R: Runtime>(join: &mut weir::Join<R>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Ok(joined)) = try_next(join) {
        out.push(name(&joined));
    }
    out
}
