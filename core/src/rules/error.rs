//! Why a rule was refused on save (or skipped when loaded).
//!
//! Invariant: every refusal names a stable `&'static str` code and the place in the rule document
//! it concerns (a JSON pointer such as `/trigger/condition`), so an admin UI can point at the field
//! and scripts can match on the code.

/// What is wrong with a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleErrorKind {
    /// The document is not JSON or not the shape of a rule (unknown or missing field, wrong type).
    Malformed,
    /// The id is empty, too long, or uses characters other than `a-z 0-9 _ -`.
    InvalidId,
    /// The id in the body differs from the id in the path.
    IdMismatch,
    /// An event list is empty, too long, or holds an unusable event name.
    InvalidEvents,
    /// A condition is not valid JSONLogic (unknown operator, wrong arity, not an object).
    InvalidCondition,
    /// A condition reads a variable outside the event (`properties.*`, `context.*`, `traits.*`, …).
    UnknownVariable,
    /// A condition is larger than [`super::MAX_CONDITION_BYTES`].
    ConditionTooLarge,
    /// A duration is not `<digits><ms|s|m|h|d>` or is out of range.
    InvalidDuration,
    /// More than one of `window`, `absence`, `sequence`.
    ConflictingKinds,
    /// `window.count` is out of range.
    InvalidWindow,
    /// `sequence.then` is empty or too long.
    InvalidSequence,
    /// `cap.max` is out of range.
    InvalidCap,
    /// No actions, or too many.
    InvalidActions,
    /// An action's fields are unusable (a webhook URL that is not http(s), an empty message, …).
    InvalidAction,
    /// An email template does not parse, or an email lacks a subject or body, or names an
    /// unusable sender.
    InvalidTemplate,
    /// A condition reads `segments.<id>` of a segment that does not exist or is not live.
    UnknownSegment,
}

impl RuleErrorKind {
    /// The stable machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "invalid_rule",
            Self::InvalidId => "invalid_rule_id",
            Self::IdMismatch => "rule_id_mismatch",
            Self::InvalidEvents => "invalid_events",
            Self::InvalidCondition => "invalid_condition",
            Self::UnknownVariable => "unknown_variable",
            Self::ConditionTooLarge => "condition_too_large",
            Self::InvalidDuration => "invalid_duration",
            Self::ConflictingKinds => "conflicting_rule_kinds",
            Self::InvalidWindow => "invalid_window",
            Self::InvalidSequence => "invalid_sequence",
            Self::InvalidCap => "invalid_cap",
            Self::InvalidActions => "invalid_actions",
            Self::InvalidAction => "invalid_action",
            Self::InvalidTemplate => "invalid_template",
            Self::UnknownSegment => "unknown_segment",
        }
    }

    /// Every kind, for code-uniqueness tests and documentation.
    pub const ALL: [RuleErrorKind; 16] = [
        Self::Malformed,
        Self::InvalidId,
        Self::IdMismatch,
        Self::InvalidEvents,
        Self::InvalidCondition,
        Self::UnknownVariable,
        Self::ConditionTooLarge,
        Self::InvalidDuration,
        Self::ConflictingKinds,
        Self::InvalidWindow,
        Self::InvalidSequence,
        Self::InvalidCap,
        Self::InvalidActions,
        Self::InvalidAction,
        Self::InvalidTemplate,
        Self::UnknownSegment,
    ];
}

/// A refused rule: the kind (its code), where, and what an operator should fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {detail}")]
pub struct RuleError {
    /// What is wrong.
    pub kind: RuleErrorKind,
    /// JSON pointer into the rule document (`""` for the whole document).
    pub at: String,
    /// Human-readable explanation, meant for the rule's author.
    pub detail: String,
}

impl RuleError {
    /// A new error.
    pub fn new(kind: RuleErrorKind, at: impl Into<String>, detail: impl Into<String>) -> Self {
        RuleError {
            kind,
            at: at.into(),
            detail: detail.into(),
        }
    }

    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        self.kind.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut codes: Vec<&str> = RuleErrorKind::ALL.iter().map(|k| k.code()).collect();
        for c in &codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn display_names_the_place() {
        let e = RuleError::new(RuleErrorKind::InvalidCap, "/cap/max", "must be at least 1");
        assert_eq!(e.to_string(), "/cap/max: must be at least 1");
        assert_eq!(e.code(), "invalid_cap");
    }
}
