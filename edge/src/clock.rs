//! The Worker's clock, id and randomness source: the only places the edge reads time or randomness,
//! handed to `spur-core` as plain values. Nothing else in `edge/` calls `Date.now`.

use time::OffsetDateTime;
use worker::Date;

pub use spur_core::instant::rfc3339;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Fills `buf` from the platform's CSPRNG (at most 65,536 bytes per call, the Web Crypto limit;
/// callers ask for a key and a salt).
pub fn random_bytes(buf: &mut [u8]) {
    get_random_values(buf);
}

/// Now, in milliseconds since 1970 (as the platform gives it).
pub fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

/// Now, in UTC (millisecond precision).
pub fn now() -> OffsetDateTime {
    spur_core::instant::from_ms(now_ms())
}

/// A random v4 UUID from the platform's CSPRNG.
pub fn uuid() -> String {
    random_uuid()
}
