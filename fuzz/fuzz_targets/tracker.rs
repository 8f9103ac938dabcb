//! `cargo +nightly fuzz run tracker`: see `spur_fuzz_checks::tracker` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::tracker(data));
