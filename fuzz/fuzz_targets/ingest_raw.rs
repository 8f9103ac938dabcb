//! `cargo +nightly fuzz run ingest_raw`: see `spur_fuzz_checks::ingest_raw` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spur_fuzz_checks::ingest_raw(data));
