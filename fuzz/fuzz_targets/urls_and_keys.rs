//! libFuzzer entry point; the check is `weir_fuzz_checks::urls_and_keys`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| weir_fuzz_checks::urls_and_keys(data));
