//! `cargo +nightly fuzz run plan`: see `spur_fuzz_checks::plan` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::plan(data));
