//! weir-stdio: the stdio backend.

pub mod codec;
