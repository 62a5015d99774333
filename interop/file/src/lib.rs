//! Test-only crate: `tests/reference.rs` checks that weir-file and the
//! reference implementation (the `sea-streamer-file` crate) read each other's
//! `.ss` files, and that both write the same bytes for the same messages.
