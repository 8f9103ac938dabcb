//! The Worker's clock and id source: the only places the edge reads time or randomness,
//! handed to `spur-core` as plain values.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use worker::Date;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

/// Now, in UTC (millisecond precision, as the platform gives it).
pub fn now() -> OffsetDateTime {
    let ms = i128::from(Date::now().as_millis());
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A random v4 UUID from the platform's CSPRNG.
pub fn uuid() -> String {
    random_uuid()
}

/// RFC 3339 text of an instant.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Milliseconds since 1970 as the f64 JavaScript (and D1) binds numbers with.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms, i.e. for ~285,000 years
pub fn unix_ms(t: OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}
