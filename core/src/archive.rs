//! The R2 archive format: gzip NDJSON of Segment-spec events, partitioned by hour.
//!
//! Invariant: an event lands in the partition of its `receivedAt` hour (UTC), so a partition
//! is complete once its hour has passed plus the queue's retry horizon; object keys are
//! `events/dt=YYYY-MM-DD/hour=HH/<batch id>.ndjson.gz`, which DuckDB and ClickHouse read with
//! hive partitioning.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use time::OffsetDateTime;

use crate::event::Event;

/// Where events archive to, under the bucket root.
pub const PREFIX: &str = "events";

/// One archive object: its key and its gzip NDJSON bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveObject {
    /// The object key, e.g. `events/dt=2026-11-28/hour=09/<batch id>.ndjson.gz`.
    pub key: String,
    /// Gzip-compressed NDJSON, one event per line.
    pub body: Vec<u8>,
    /// How many events it holds.
    pub events: usize,
}

/// The partition directory of an instant: `events/dt=YYYY-MM-DD/hour=HH`.
pub fn partition(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{PREFIX}/dt={:04}-{:02}-{:02}/hour={:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

/// Groups events by partition and encodes each group. `batch_id` must be unique per batch
/// and stable across retries of the same batch, so a retry overwrites rather than duplicates.
pub fn encode<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    batch_id: &str,
) -> Result<Vec<ArchiveObject>, std::io::Error> {
    let mut groups: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events {
        groups.entry(partition(e.received_at)).or_default().push(e);
    }
    let safe_id: String = batch_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    groups
        .into_iter()
        .map(|(dir, events)| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            for e in &events {
                serde_json::to_writer(&mut gz, e)?;
                gz.write_all(b"\n")?;
            }
            Ok(ArchiveObject {
                key: format!("{dir}/{safe_id}.ndjson.gz"),
                body: gz.finish()?,
                events: events.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MessageType;
    use flate2::read::GzDecoder;
    use std::io::Read;
    use time::macros::datetime;

    fn event(id: &str, received_at: OffsetDateTime) -> Event {
        Event {
            message_id: id.into(),
            kind: MessageType::Track,
            event: Some("Order Completed".into()),
            name: None,
            category: None,
            user_id: Some("u1".into()),
            anonymous_id: None,
            group_id: None,
            previous_id: None,
            properties: serde_json::Map::new(),
            traits: serde_json::Map::new(),
            context: serde_json::Map::new(),
            integrations: serde_json::Map::new(),
            timestamp: received_at,
            original_timestamp: None,
            sent_at: None,
            received_at,
        }
    }

    #[test]
    fn partition_is_utc_hour() {
        assert_eq!(
            partition(datetime!(2026-11-28 09:59:59 UTC)),
            "events/dt=2026-11-28/hour=09"
        );
        assert_eq!(
            partition(datetime!(2026-11-28 01:30 +02:00)),
            "events/dt=2026-11-27/hour=23"
        );
    }

    #[test]
    fn groups_by_hour_and_round_trips() {
        let a = event("a", datetime!(2026-11-28 09:10 UTC));
        let b = event("b", datetime!(2026-11-28 09:50 UTC));
        let c = event("c", datetime!(2026-11-28 10:00 UTC));
        let objects = encode([&a, &b, &c], "batch/1").unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(
            objects[0].key,
            "events/dt=2026-11-28/hour=09/batch_1.ndjson.gz"
        );
        assert_eq!(objects[0].events, 2);
        assert_eq!(
            objects[1].key,
            "events/dt=2026-11-28/hour=10/batch_1.ndjson.gz"
        );
        let mut text = String::new();
        GzDecoder::new(&objects[0].body[..])
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, vec![a, b]);
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(encode([], "x").unwrap().is_empty());
    }
}
