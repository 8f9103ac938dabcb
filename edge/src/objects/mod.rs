//! Durable Objects.
//!
//! Invariant: an object is a thin adapter over `spur-core`'s pure transitions.

pub mod journeys;
pub mod live;
pub mod user_state;
