//! In-process news of appends: a writer bumps its file's counter after each
//! write, so a follower in the same process wakes at once instead of at its
//! next poll of the file (which is how appends from other processes are seen).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

/// The append counter of one file path.
#[derive(Default)]
pub(crate) struct Appends {
    count: Mutex<u64>,
    grew: Condvar,
}

impl Appends {
    /// The counter of `path`, shared by everyone in the process who names it.
    pub(crate) fn of(path: &Path) -> Arc<Appends> {
        static ALL: OnceLock<Mutex<BTreeMap<PathBuf, Weak<Appends>>>> = OnceLock::new();
        let mut all = ALL.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, appends| appends.strong_count() > 0);
        if let Some(appends) = all.get(path).and_then(Weak::upgrade) {
            return appends;
        }
        let appends = Arc::new(Appends::default());
        all.insert(path.to_owned(), Arc::downgrade(&appends));
        appends
    }

    /// The number of appends so far.
    pub(crate) fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an append and wakes the waiters.
    pub(crate) fn bump(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.grew.notify_all();
    }

    /// Waits until the count passes `seen`, at most `limit`.
    pub(crate) fn wait(&self, seen: u64, limit: Duration) {
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.grew.wait_timeout_while(count, limit, |count| *count == seen);
    }
}
