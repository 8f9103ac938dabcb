//! Spur's core: everything that decides what happens to an event, with no I/O.
//!
//! Invariant: nothing here reads a clock, a random source or the network. The caller passes
//! `now`, ids and request facts in, so the same input always gives the same output, natively
//! and in `wasm32-unknown-unknown`.
#![deny(missing_docs)]

pub mod decode;
pub mod error;
pub mod event;
pub mod ingest;
pub mod limits;
pub mod query;

pub use error::{Reason, RequestError};
pub use event::{Event, MessageType};
pub use ingest::{ingest, Ingest, Outcome, Rejection};
