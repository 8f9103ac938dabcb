//! `cargo +nightly fuzz run decode`: see `spur_fuzz_checks::decode` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::decode(data));
