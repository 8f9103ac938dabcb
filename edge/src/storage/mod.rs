//! Storage: every SQL statement and binding read of the Worker lives below this module.
//!
//! Invariant: handlers and consumers call typed functions here; none of them builds SQL or
//! holds the raw D1 database.

pub mod events;
pub mod rules;
pub mod settings;

/// The D1 binding name (wrangler.toml `[[d1_databases]] binding`).
pub const DB_BINDING: &str = "DB";
