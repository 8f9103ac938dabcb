//! Spur's core: everything that decides what happens to an event, with no I/O.
//!
//! Invariant: nothing here reads a clock, a random source or the network. The caller passes
//! `now`, ids and request facts in, so the same input always gives the same output, natively
//! and in `wasm32-unknown-unknown`.
//!
//! # Using it from the edge
//! ```
//! use spur_core::{ingest, Ingest, MessageType, Pipeline, RequestFacts};
//! use time::macros::datetime;
//!
//! // Once per isolate: parse the config and compile the tracking plan.
//! let pipeline = Pipeline::from_json(r#"{"sources": {"wk_1": {"name": "site", "allowedOrigins": ["*"]}}}"#)?;
//! // Per request: hand over the body and the raw request facts.
//! let req = Ingest {
//!     now: datetime!(2024-05-01 12:00:00 UTC),
//!     request_id: "req-1",
//!     single: MessageType::from_endpoint("t"), // `/v1/t`; `None` for `/v1/batch` and `/v1/b`
//!     request: RequestFacts { ip: Some("203.0.113.9"), origin: Some("https://shop.example"), ..Default::default() },
//! };
//! let body = br#"{"type":"track","event":"Clicked","anonymousId":"a1","writeKey":"wk_1"}"#;
//! let outcome = ingest(body, &req, &pipeline)?;
//! assert_eq!(outcome.accepted.len(), 1);
//! assert_eq!(outcome.accepted[0].context["ip"], "203.0.113.0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! A request-level failure is a [`RequestError`] (its `code()` is the response's `reason`);
//! otherwise every message is in [`Outcome::accepted`] (store it) or [`Outcome::rejected`]
//! (store a bad row with `raw`, `reason.code()`, `detail`, the write key and `receivedAt`).
//! [`replay`] re-runs a bad row.
#![deny(missing_docs)]

mod any_order;
pub mod archive;
pub mod bad_rows;
pub mod config;
pub mod debug;
pub mod decode;
pub mod email;
pub mod enrich;
pub mod error;
pub mod event;
pub mod frequency;
pub mod gzip;
pub mod identity;
pub mod ingest;
pub mod instant;
pub mod journeys;
pub mod limits;
pub mod merge;
pub mod plan;
pub mod push;
pub mod query;
pub mod request;
pub mod rules;
mod tag_first;
pub mod work;

pub use config::{write_key_from_basic_auth, Config, GpcPolicy, Pipeline, Source};
pub use error::{AuthError, ConfigError, Reason, RequestError};
pub use event::{Event, MessageType};
pub use gzip::{decode_body, gunzip_bounded};
pub use ingest::{ingest, replay, Ingest, Outcome, Rejection, Replay};
pub use plan::{CompiledPlan, TrackingPlan};
pub use request::{BotManagement, CfFacts, KeptFacts, RequestFacts};
pub use work::{BadRow, Work};
