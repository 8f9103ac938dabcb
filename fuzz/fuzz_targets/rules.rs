//! `cargo +nightly fuzz run rules`: see `spur_fuzz_checks::rules` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::rules(data));
