//! Why a journey was refused on save (or skipped when loaded).
//!
//! Invariant: every refusal names a stable `&'static str` code and a JSON pointer into the
//! journey document (`/nodes/2/onTimeout`), so the admin UI can point at the field. Conditions,
//! durations and actions reuse the rules' codes (`invalid_condition`, `invalid_duration`, …).

use crate::rules::{RuleError, RuleErrorKind};

/// What is wrong with a journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JourneyErrorKind {
    /// Not JSON, or not the shape of a journey (unknown type, missing field, wrong type).
    Malformed,
    /// The journey id is empty, too long or uses characters other than `a-z 0-9 _ -`.
    InvalidId,
    /// The id in the body differs from the id in the path.
    IdMismatch,
    /// A node id is invalid or used twice.
    InvalidNodeId,
    /// No nodes, or more than the limit.
    InvalidNodes,
    /// `start` or an edge names a node that does not exist.
    UnknownNode,
    /// A node no path from `start` reaches.
    UnreachableNode,
    /// The graph has a cycle (a run could execute a node twice).
    Cycle,
    /// A branch has no conditions or too many.
    InvalidBranch,
    /// A split's paths are empty, too many, or their percentages do not sum to 100.
    InvalidSplit,
    /// `holdout` is over 100.
    InvalidHoldout,
    /// The entry policy is inconsistent (`interval` without a duration, or a duration without it).
    InvalidEntry,
    /// A `match` path is empty or does not start at an event field.
    InvalidMatch,
    /// `context` of an API entry is not an object or is too large.
    InvalidContext,
    /// A `time_window` with a bad clock time, weekday, zone name, or an empty window.
    InvalidWindow,
    /// A rules error (events, condition, duration, action), with its own code.
    Rule(RuleErrorKind),
}

impl JourneyErrorKind {
    /// The stable machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "invalid_journey",
            Self::InvalidId => "invalid_journey_id",
            Self::IdMismatch => "journey_id_mismatch",
            Self::InvalidNodeId => "invalid_node_id",
            Self::InvalidNodes => "invalid_nodes",
            Self::UnknownNode => "unknown_node",
            Self::UnreachableNode => "unreachable_node",
            Self::Cycle => "cycle",
            Self::InvalidBranch => "invalid_branch",
            Self::InvalidSplit => "invalid_split",
            Self::InvalidHoldout => "invalid_holdout",
            Self::InvalidEntry => "invalid_entry",
            Self::InvalidMatch => "invalid_match",
            Self::InvalidContext => "invalid_context",
            Self::InvalidWindow => "invalid_time_window",
            Self::Rule(k) => k.code(),
        }
    }

    /// Every journey-specific kind, for code-uniqueness tests and documentation.
    pub const ALL: [JourneyErrorKind; 15] = [
        Self::Malformed,
        Self::InvalidId,
        Self::IdMismatch,
        Self::InvalidNodeId,
        Self::InvalidNodes,
        Self::UnknownNode,
        Self::UnreachableNode,
        Self::Cycle,
        Self::InvalidBranch,
        Self::InvalidSplit,
        Self::InvalidHoldout,
        Self::InvalidEntry,
        Self::InvalidMatch,
        Self::InvalidContext,
        Self::InvalidWindow,
    ];
}

/// A refused journey: the kind, where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {detail}")]
pub struct JourneyError {
    /// What is wrong.
    pub kind: JourneyErrorKind,
    /// JSON pointer into the journey document.
    pub at: String,
    /// Human-readable explanation.
    pub detail: String,
}

impl JourneyError {
    /// A new error.
    pub fn new(kind: JourneyErrorKind, at: impl Into<String>, detail: impl Into<String>) -> Self {
        JourneyError {
            kind,
            at: at.into(),
            detail: detail.into(),
        }
    }

    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// A rules error, placed under `prefix` (its own pointer, if any, is appended).
    pub fn from_rule(e: RuleError, prefix: &str) -> Self {
        JourneyError::new(
            JourneyErrorKind::Rule(e.kind),
            format!("{prefix}{}", e.at),
            e.detail,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_distinct_from_rule_codes() {
        let mut codes: Vec<&str> = JourneyErrorKind::ALL.iter().map(|k| k.code()).collect();
        codes.extend(RuleErrorKind::ALL.iter().map(|k| k.code()));
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }
}
