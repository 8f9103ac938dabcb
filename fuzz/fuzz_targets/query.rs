//! `cargo +nightly fuzz run query`: see `spur_fuzz_checks::query` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::query(data));
