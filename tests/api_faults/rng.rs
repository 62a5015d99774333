//! A tiny seeded generator (xorshift64*), so a failing run can be replayed
//! with `WEIR_RELIABILITY_SEED`; no crate needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// The seed of a run: `WEIR_RELIABILITY_SEED` if set, else one from the clock.
pub fn seed() -> u64 {
    match std::env::var("WEIR_RELIABILITY_SEED") {
        Ok(text) => text.trim().parse().expect("WEIR_RELIABILITY_SEED is a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    }
}

/// xorshift64*: fast, small, good enough to pick actions.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point; mix the seed so nearby seeds differ early.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True once in `n` draws on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
