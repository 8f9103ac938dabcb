//! D1 storage of accepted events.
//!
//! Invariant: inserts are idempotent by `message_id` (`ON CONFLICT DO NOTHING`), so storing
//! the same event twice leaves one row.

use spur_core::Event;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::error::ApiError;

/// The D1 binding name (wrangler.toml `[[d1_databases]] binding`).
pub const DB_BINDING: &str = "DB";

const INSERT_EVENT: &str = "INSERT INTO events (message_id, type, event, name, user_id, anonymous_id, \
     group_id, previous_id, timestamp, ts_ms, received_at, sent_at, original_timestamp, properties, \
     traits, context, integrations, write_key) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
     ON CONFLICT(message_id) DO NOTHING";

/// The events database.
pub struct Store {
    db: D1Database,
}

impl Store {
    /// Opens the binding.
    pub fn open(env: &Env) -> Result<Self, ApiError> {
        Ok(Store {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Inserts events in one D1 batch (one implicit transaction).
    pub async fn insert_events(
        &self,
        events: &[Event],
        write_key: Option<&str>,
    ) -> Result<(), ApiError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut stmts = Vec::with_capacity(events.len());
        for e in events {
            let args = [
                JsValue::from_str(&e.message_id),
                JsValue::from_str(e.kind.as_str()),
                opt(e.event.as_deref()),
                opt(e.name.as_deref()),
                opt(e.user_id.as_deref()),
                opt(e.anonymous_id.as_deref()),
                opt(e.group_id.as_deref()),
                opt(e.previous_id.as_deref()),
                JsValue::from_str(&rfc3339(e.timestamp)),
                JsValue::from_f64(unix_ms(e.timestamp)),
                JsValue::from_str(&rfc3339(e.received_at)),
                opt(e.sent_at.map(rfc3339).as_deref()),
                opt(e.original_timestamp.map(rfc3339).as_deref()),
                JsValue::from_str(&json(&e.properties)?),
                JsValue::from_str(&json(&e.traits)?),
                JsValue::from_str(&json(&e.context)?),
                JsValue::from_str(&json(&e.integrations)?),
                opt(write_key),
            ];
            stmts.push(self.db.prepare(INSERT_EVENT).bind(&args)?);
        }
        self.db.batch(stmts).await?;
        Ok(())
    }
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn json(v: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[allow(clippy::cast_precision_loss)] // ms since 1970 fit in f64's 53-bit mantissa for ~285k years
fn unix_ms(t: time::OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}
