//! Turns `events` rows as D1 holds them (NDJSON on stdin; JSON columns as text or objects,
//! `timestamp` may be replaced by `ts_ms`) into ClickHouse `JSONEachRow` lines on stdout, with
//! the same [`spur_core::query::clickhouse::event_row`] the queue consumer uses. Tests and
//! `npm run bench` load generated histories into ClickHouse with it.
//!
//! `clickhouse_rows events` (default), `clickhouse_rows aliases` (rows `{anonymous_id,
//! user_id}` → alias rows with `created_ms` 0) or `clickhouse_rows users` (D1 `users` rows
//! `{user_id, traits}`, traits as text or an object → profile rows with [`user_row`]; `rev`
//! defaults to the line number).

// A tool: a bad input line is reported and ends the run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufWriter, Write};

use serde_json::{Map, Value};
use spur_core::instant::ms_to_rfc3339;
use spur_core::query::clickhouse::{event_row, user_row, AliasRow, StoredUser};
use spur_core::Event;

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_default();
    let aliases = kind == "aliases";
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.expect("stdin");
        if line.trim().is_empty() {
            continue;
        }
        let mut row: Map<String, Value> =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let json = if kind == "users" {
            let traits = match &row["traits"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            serde_json::to_string(&user_row(&StoredUser {
                user_id: row["user_id"].as_str().unwrap().to_owned(),
                traits,
                rev: row
                    .get("rev")
                    .and_then(Value::as_i64)
                    .unwrap_or(n as i64 + 1),
            }))
        } else if aliases {
            serde_json::to_string(&AliasRow {
                anonymous_id: row["anonymous_id"].as_str().unwrap().to_owned(),
                user_id: row["user_id"].as_str().unwrap().to_owned(),
                created_ms: row.get("created_ms").and_then(Value::as_i64).unwrap_or(0),
            })
        } else {
            if let Some(ms) = row.get("ts_ms").and_then(Value::as_i64) {
                let iso = Value::String(ms_to_rfc3339(ms));
                row.entry("timestamp").or_insert_with(|| iso.clone());
                row.entry("received_at").or_insert(iso);
            }
            for col in ["properties", "traits", "context", "integrations"] {
                if let Some(v) = row.get_mut(col).filter(|v| v.is_object()) {
                    *v = Value::String(v.to_string());
                }
            }
            let e = Event::from_row(&row).unwrap_or_else(|| panic!("line {}: not an event", n + 1));
            serde_json::to_string(&event_row(&e, None))
        };
        writeln!(out, "{}", json.unwrap()).unwrap();
    }
}
