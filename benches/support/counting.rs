//! A global allocator that forwards to `System` and counts: allocations
//! made, by the process and by the calling thread (the core bench shows its
//! hot path makes none, `tests/allocations.rs` asserts it), and the bytes
//! the Rust heap holds and the most it held (the memory bench). Included
//! with `#[path]`.

// A counting global allocator needs `unsafe`; it only forwards to `System`.
#![allow(unsafe_code)]
#![allow(dead_code)] // Each bench reads what it needs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates,
    // so the allocator may use it.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // Gone while the thread exits; its count no longer matters then.
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made so far by this process.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocations made so far by the calling thread: not disturbed by other
/// threads (a test harness's, say).
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// The most bytes the Rust heap held at once so far.
pub fn heap_peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}
