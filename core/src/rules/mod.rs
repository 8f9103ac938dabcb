//! Real-time trigger rules: the rule model, its validation, JSONLogic conditions, the index by
//! event name, the per-user state machine (windows, absence deadlines, sequences, caps), replay
//! (dry-run, explain) and webhook signing.
//!
//! Invariant: everything here is pure — `now`, ids and stored state come in as arguments — so the
//! edge's ingest request, the per-user Durable Object, dry-run and explain all run the same code
//! and agree. Every bound on a rule is a named constant below.
//!
//! ```
//! use spur_core::rules::{parse, RuleIndex};
//! let rule = parse(r#"{"id": "big-spender", "trigger": {"events": ["Order Completed"],
//!     "condition": {">=": [{"var": "properties.total"}, 500]}},
//!     "actions": [{"type": "webhook", "url": "https://hooks.example.com/spur"}]}"#)?;
//! let index = RuleIndex::build([rule], 1);
//! assert_eq!(index.len(), 1);
//! # Ok::<(), spur_core::rules::RuleError>(())
//! ```

pub mod actions;
pub mod compile;
pub mod condition;
pub mod deferred;
pub mod error;
pub mod facts;
pub mod fanout;
pub mod index;
pub mod logic;
pub mod model;
mod model_de;
pub mod payload;
pub mod predicate;
pub mod replay;
pub mod sign;
pub mod state;

pub use actions::{
    backoff, ActionStatus, ActionWork, Attempt, FiringRecord, Outcome, Prepared, PushSpec,
    PushTally,
};
pub use compile::{compile, compile_json, compile_value, event_key, parse, CompiledRule, Kind};
pub use error::{RuleError, RuleErrorKind};
pub use facts::{Facts, Membership};
pub use fanout::{by_user, profile_of, route, route_with, Fanout, Profiles, Routing};
pub use index::{next_deadline, Routed, RuleIndex};
pub use model::{Action, Duration, EmailAction, Rule};
pub use payload::{messages, InAppMessage, WebhookBody};
pub use replay::{dry_run, explain, lookback, DryRun, Explanation};
pub use state::{Firing, RuleState};

/// The JSONLogic engine type conditions compile and run on.
pub use crate::rules::condition::Engine;

/// A fresh engine for compiling rules outside an index (admin validation, dry-run, explain).
pub fn condition_engine() -> Engine {
    Engine::new()
}

/// Longest rule id.
pub const MAX_RULE_ID_CHARS: usize = 64;
/// Largest rule document.
pub const MAX_RULE_BYTES: usize = 16 * 1024;
/// Largest condition (serialized).
pub const MAX_CONDITION_BYTES: usize = 4 * 1024;
/// Most event names in one trigger, cancel or step.
pub const MAX_EVENTS_PER_MATCHER: usize = 32;
/// Largest `window.count`.
pub const MAX_WINDOW_COUNT: u32 = 1_000;
/// Most steps after the trigger in a sequence.
pub const MAX_SEQUENCE_STEPS: usize = 8;
/// Largest `cap.max`.
pub const MAX_CAP: u32 = 1_000;
/// Most actions on one rule.
pub const MAX_ACTIONS: usize = 8;
/// Longest duration a rule may use (366 days).
pub const MAX_DURATION_MS: u64 = 366 * 86_400_000;
/// Longest in-app message title.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest in-app message body.
pub const MAX_BODY_CHARS: usize = 1_000;
/// Longest URL in an action.
pub const MAX_URL_CHARS: usize = 2_048;
/// Most rules stored (the admin API refuses more).
pub const MAX_RULES: usize = 10_000;
