//! libFuzzer entry point; the check is `weir_fuzz_checks::file_codec`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| weir_fuzz_checks::file_codec(data));
