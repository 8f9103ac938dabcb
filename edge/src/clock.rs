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

/// Time-zone offsets from the platform's `Intl` data (workerd ships the IANA database), so
/// `time_window` nodes read local time without a zone database in the wasm. One formatter per
/// zone is kept per isolate (bounded); an unknown zone answers `None`, never throws.
#[derive(Debug, Default, Clone, Copy)]
pub struct IntlZones;

/// How many zones' formatters an isolate keeps.
const MAX_CACHED_ZONES: usize = 64;

thread_local! {
    static FORMATTERS: std::cell::RefCell<std::collections::HashMap<String, Option<js_sys::Intl::DateTimeFormat>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn formatter(zone: &str) -> Option<js_sys::Intl::DateTimeFormat> {
    use wasm_bindgen::JsCast;
    let make = || -> Option<js_sys::Intl::DateTimeFormat> {
        let opts = js_sys::Object::new();
        let set = |k: &str, v: &str| js_sys::Reflect::set(&opts, &k.into(), &v.into()).ok();
        set("timeZone", zone)?;
        set("hourCycle", "h23")?;
        for k in ["year", "month", "day", "hour", "minute", "second"] {
            set(k, "numeric")?;
        }
        let intl = js_sys::Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
        let ctor: js_sys::Function = js_sys::Reflect::get(&intl, &"DateTimeFormat".into())
            .ok()?
            .dyn_into()
            .ok()?;
        // `Reflect.construct` reports the RangeError of an unknown zone as an `Err`.
        let args = js_sys::Array::of2(&"en-US".into(), &opts);
        js_sys::Reflect::construct(&ctor, &args)
            .ok()?
            .dyn_into()
            .ok()
    };
    FORMATTERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(f) = cache.get(zone) {
            return f.clone();
        }
        if cache.len() >= MAX_CACHED_ZONES {
            cache.clear();
        }
        let f = make();
        cache.insert(zone.to_owned(), f.clone());
        f
    })
}

impl spur_core::journeys::Zones for IntlZones {
    fn offset_ms(&self, zone: &str, utc_ms: i64) -> Option<i64> {
        if let Some(fixed) = spur_core::journeys::window::fixed_offset_ms(zone) {
            return Some(fixed);
        }
        let f = formatter(zone)?;
        let whole = utc_ms - utc_ms.rem_euclid(1000);
        #[allow(clippy::cast_precision_loss)]
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(whole as f64));
        let parts = f.format_to_parts(&date);
        let mut v = [0i64; 6];
        for p in parts.iter() {
            let get = |k: &str| {
                js_sys::Reflect::get(&p, &k.into())
                    .ok()
                    .and_then(|x| x.as_string())
            };
            let (Some(kind), Some(value)) = (get("type"), get("value")) else {
                continue;
            };
            let slot = match kind.as_str() {
                "year" => 0,
                "month" => 1,
                "day" => 2,
                "hour" => 3,
                "minute" => 4,
                "second" => 5,
                _ => continue,
            };
            if let (Some(s), Ok(n)) = (v.get_mut(slot), value.parse::<i64>()) {
                *s = n;
            }
        }
        let [y, mo, d, h, mi, s] = v;
        let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
        let date =
            time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
                .ok()?;
        let local = date
            .with_hms(
                u8::try_from(h).ok()?,
                u8::try_from(mi).ok()?,
                u8::try_from(s).ok()?,
            )
            .ok()?
            .assume_utc()
            .unix_timestamp()
            .checked_mul(1000)?;
        Some(local - whole)
    }
}
