//! The queues: events (ingest → storage) and actions (rule firings → webhooks, forwards,
//! user objects).
//!
//! Invariant: every consumer acks a message only once its effect is stored, and records what
//! its dead-letter queue receives, so nothing leaves the pipeline silently.

pub mod actions;
pub mod campaign;
pub mod email;
pub mod events;
pub mod firings;
pub mod send;
pub mod upkeep;
