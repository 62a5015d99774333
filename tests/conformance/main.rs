//! The conformance suite: one set of behaviour tests, run on every backend ×
//! runtime pair. Every case asserts something on every backend: a backend
//! that lacks an operation must refuse it with the documented error, and the
//! case checks that instead (see [`fixture::Fixture`]).

#![allow(clippy::unwrap_used)]

mod fixture;
mod suite;
#[path = "../support/mod.rs"]
mod support;

/// Instantiates every suite test for one backend fixture and one runtime,
/// each test with the attributes given (an `#[ignore = "reason"]`, say).
macro_rules! conformance {
    ($(#[$attr:meta])* $module:ident, $fixture:expr, $runtime:ty, $runner:ty) => {
        mod $module {
            use super::fixture::*;
            use super::suite;

            conformance!(@tests [$(#[$attr])*] $fixture, $runtime, $runner;
                capabilities_are_as_documented,
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
    (@tests $attrs:tt $fixture:expr, $runtime:ty, $runner:ty; $($test:ident),*) => {
        $(conformance!(@test $attrs $fixture, $runtime, $runner, $test);)*
    };
    (@test [$(#[$attr:meta])*] $fixture:expr, $runtime:ty, $runner:ty, $test:ident) => {
        #[test]
        $(#[$attr])*
        fn $test() {
            <$runner>::run(suite::$test::<$runtime, _>(&$fixture));
        }
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
#[cfg(feature = "file")]
conformance!(file_tokio, File::new(), weir::Tokio, OnTokio);
#[cfg(feature = "file")]
conformance!(file_async_std, File::new(), weir::AsyncStd, OnAsyncStd);
#[cfg(feature = "file")]
conformance!(file_smol, File::new(), weir::Smol, OnSmol);
#[cfg(feature = "file")]
conformance!(file_no_runtime, File::new(), weir::NoRuntime, OnNoRuntime);

// A Kafka test needs a broker: each is ignored with the command that runs
// it (`scripts/test` runs them all), and fails saying so if asked for
// without one.
#[cfg(feature = "kafka")]
conformance!(
    #[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
    kafka_tokio,
    Kafka::new(),
    weir::Tokio,
    OnTokio
);
#[cfg(feature = "kafka")]
conformance!(
    #[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
    kafka_async_std,
    Kafka::new(),
    weir::AsyncStd,
    OnAsyncStd
);
#[cfg(feature = "kafka")]
conformance!(
    #[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
    kafka_smol,
    Kafka::new(),
    weir::Smol,
    OnSmol
);
#[cfg(feature = "kafka")]
conformance!(
    #[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
    kafka_no_runtime,
    Kafka::new(),
    weir::NoRuntime,
    OnNoRuntime
);
#[cfg(feature = "redis")]
conformance!(
    #[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features -- --include-ignored"]
    redis_tokio,
    Redis::new(),
    weir::Tokio,
    OnTokio
);
#[cfg(feature = "redis")]
conformance!(
    #[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features -- --include-ignored"]
    redis_async_std,
    Redis::new(),
    weir::AsyncStd,
    OnAsyncStd
);
#[cfg(feature = "redis")]
conformance!(
    #[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features -- --include-ignored"]
    redis_smol,
    Redis::new(),
    weir::Smol,
    OnSmol
);
#[cfg(feature = "redis")]
conformance!(
    #[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features -- --include-ignored"]
    redis_no_runtime,
    Redis::new(),
    weir::NoRuntime,
    OnNoRuntime
);
