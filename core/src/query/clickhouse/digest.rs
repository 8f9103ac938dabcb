//! The digest of an event's ClickHouse row: what the message-id ledger (D1 `message_ids`, see
//! `migrations/0014_message_ids.sql`) keeps of the first copy of every `messageId`, so the
//! events consumer inserts only that copy (and byte-identical redeliveries of it).
//!
//! Invariant: [`row_digest`] is a pure, deterministic function of the row's `JSONEachRow`
//! text — the exact bytes inserted — so two copies share a digest exactly when ClickHouse
//! would store identical rows (which `FINAL` collapses, their sort key being equal). The hash
//! is 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over those bytes,
//! written as 16 lowercase hex digits: fixed by its definition, so it never changes between
//! builds, platforms or Rust versions (unlike `std`'s `DefaultHasher`), and it needs no key or
//! randomness. It is no defence against a forger — digests are only ever compared between
//! copies of one `messageId` from the same authenticated sources — and a collision (2^-64 per
//! pair) would at worst let a client retry count twice, as it would without the ledger.

use super::row::EventRow;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The digest of a row: FNV-1a 64 of its serialized JSON, as 16 hex digits (D1 keeps it as
/// text: its numbers reach JavaScript as doubles, which would round a 64-bit value).
pub fn row_digest(row: &EventRow) -> Result<String, serde_json::Error> {
    Ok(format!(
        "{:016x}",
        fnv1a64(serde_json::to_string(row)?.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::clickhouse::row::event_row;
    use crate::Event;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "type": "track",
            "event": "Paid",
            "messageId": "m-1",
            "userId": "u-1",
            "anonymousId": "a-1",
            "timestamp": "2026-01-02T03:04:05.678Z",
            "receivedAt": "2026-01-02T03:04:06.000Z",
            "properties": {"plan": "pro", "n": 3},
            "context": {"page": {"path": "/x"}},
        })
    }

    #[test]
    fn fnv1a64_matches_its_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_digest_is_stable() {
        let e = event(base());
        let d = row_digest(&event_row(&e, Some("wk"))).unwrap();
        assert_eq!(d.len(), 16);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        // The same event decoded again (a redelivered queue message) has the same digest.
        assert_eq!(
            d,
            row_digest(&event_row(&event(base()), Some("wk"))).unwrap()
        );
    }

    #[test]
    fn any_field_changes_the_digest() {
        let e = event(base());
        let d = row_digest(&event_row(&e, Some("wk"))).unwrap();
        assert_ne!(d, row_digest(&event_row(&e, Some("other"))).unwrap());
        assert_ne!(d, row_digest(&event_row(&e, None)).unwrap());
        let changes = [
            ("type", json!("page")),
            ("event", json!("Paid2")),
            ("messageId", json!("m-2")),
            ("userId", json!("u-2")),
            ("anonymousId", json!("a-2")),
            ("timestamp", json!("2026-01-02T03:04:05.679Z")),
            ("receivedAt", json!("2026-01-02T03:04:06.001Z")),
            ("properties", json!({"plan": "pro", "n": 4})),
            ("context", json!({"page": {"path": "/y"}})),
            ("traits", json!({"plan": "pro"})),
            ("name", json!("Home")),
            ("groupId", json!("g-1")),
        ];
        for (k, v) in changes {
            let mut changed = base();
            changed[k] = v;
            let other = row_digest(&event_row(&event(changed), Some("wk"))).unwrap();
            assert_ne!(d, other, "changing {k} must change the digest");
        }
    }
}
