//! The conformance suite: one set of behaviour tests, run on every backend ×
//! runtime pair. A backend that lacks an operation must refuse it with the
//! documented error; the suite checks that too.

#![allow(clippy::unwrap_used)]

mod fixture;
mod suite;
#[path = "../support/mod.rs"]
mod support;

/// Instantiates every suite test for one backend fixture and one runtime.
macro_rules! conformance {
    ($module:ident, $fixture:expr, $runtime:ty, $runner:ty) => {
        mod $module {
            use super::fixture::*;
            use super::suite;

            conformance!(@tests $fixture, $runtime, $runner;
                next_delivers_in_order,
                stream_yields_messages,
                realtime_starts_at_the_end,
                rewind_beginning_replays,
                rewind_at_and_end,
                seek_delivers_from_timestamp,
                assign_is_additive_and_deferred,
                assignment_errors,
                commit_refused_in_realtime,
                resumable_resumes_after_commit,
                commit_all_resumes_after_last_delivered,
                commit_all_covers_only_stored_messages,
                load_balanced_needs_group,
                load_balanced_splits_shards,
                dropped_next_loses_nothing,
                dropped_seek_leaves_consumer_usable,
                producer_receipts_and_errors
            );
        }
    };
    (@tests $fixture:expr, $runtime:ty, $runner:ty; $($test:ident),*) => {
        $(
            #[test]
            fn $test() {
                <$runner>::run(suite::$test::<$runtime, _>(&$fixture));
            }
        )*
    };
}

conformance!(sim_tokio, Sim::new(), weir::Tokio, OnTokio);
conformance!(sim_async_std, Sim::new(), weir::AsyncStd, OnAsyncStd);
conformance!(sim_smol, Sim::new(), weir::Smol, OnSmol);
conformance!(sim_no_runtime, Sim::new(), weir::NoRuntime, OnNoRuntime);
conformance!(stdio_tokio, Stdio::new(), weir::Tokio, OnTokio);
conformance!(stdio_async_std, Stdio::new(), weir::AsyncStd, OnAsyncStd);
conformance!(stdio_smol, Stdio::new(), weir::Smol, OnSmol);
conformance!(stdio_no_runtime, Stdio::new(), weir::NoRuntime, OnNoRuntime);

/// The Kafka fixture, or an early (skipping) return from the test when no
/// broker is configured outside CI.
#[cfg(feature = "kafka")]
macro_rules! kafka {
    () => {
        match kafka_address() {
            Some(address) => Kafka::new(address),
            None => return,
        }
    };
}

#[cfg(feature = "kafka")]
conformance!(kafka_tokio, kafka!(), weir::Tokio, OnTokio);
#[cfg(feature = "kafka")]
conformance!(kafka_async_std, kafka!(), weir::AsyncStd, OnAsyncStd);
#[cfg(feature = "kafka")]
conformance!(kafka_smol, kafka!(), weir::Smol, OnSmol);
#[cfg(feature = "kafka")]
conformance!(kafka_no_runtime, kafka!(), weir::NoRuntime, OnNoRuntime);
