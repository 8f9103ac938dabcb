//! Developer mode's answer: one verdict per message of a request, for a person tagging events.
//!
//! Invariant: [`verdicts`] gives exactly one entry per message the request held, in order
//! (`index` 0, 1, …), built only from the [`Outcome`]: an accepted message is `accepted`, or
//! `flagged` with the tracking-plan violations recorded on it; a rejected one is `rejected` with
//! its reason code and detail. It decides nothing new, so the stored result and what the
//! developer is shown cannot disagree.

use serde::Serialize;
use serde_json::Value;

use crate::event::Event;
use crate::ingest::Outcome;
use crate::plan::Violation;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageVerdict {
    /// Position in the request.
    pub index: usize,
    /// The message's `messageId`, when it had a readable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `accepted`, `flagged` (stored with tracking-plan violations) or `rejected`.
    pub status: &'static str,
    /// The event or page name, when there is one (accepted messages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The rejection's stable reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The rejection's explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Tracking-plan violations, each as one readable line
    /// (`Order Completed: /properties/total: "12" is not of type "number"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
}

/// One verdict per message of the request `out` describes, in request order.
pub fn verdicts(out: &Outcome) -> Vec<MessageVerdict> {
    let mut accepted = out.accepted.iter();
    let mut rejected = out.rejected.iter().peekable();
    (0..out.received())
        .filter_map(|index| match rejected.next_if(|r| r.index == index) {
            Some(r) => Some(MessageVerdict {
                index,
                message_id: r.message_id.clone(),
                status: "rejected",
                event: None,
                reason: Some(r.reason.code()),
                detail: Some(r.detail.clone()),
                violations: Vec::new(),
            }),
            None => accepted.next().map(|e| accepted_verdict(index, e)),
        })
        .collect()
}

fn accepted_verdict(index: usize, e: &Event) -> MessageVerdict {
    let name = e.event.clone().or_else(|| e.name.clone());
    let label = name.clone().unwrap_or_else(|| e.kind.as_str().to_owned());
    let violations: Vec<String> = e
        .context
        .get("spur")
        .and_then(|s| s.get("violations"))
        .cloned()
        .and_then(|v| serde_json::from_value::<Vec<Violation>>(v).ok())
        .unwrap_or_default()
        .iter()
        .map(|v| format!("{label}: {}: {}", v.pointer, v.message))
        .collect();
    MessageVerdict {
        index,
        message_id: Some(e.message_id.clone()),
        status: if violations.is_empty() {
            "accepted"
        } else {
            "flagged"
        },
        event: name,
        reason: None,
        detail: None,
        violations,
    }
}

/// Whether a request asks for developer mode: `?debug=1` (or `true`) on the ingest URL's query
/// string `query` (without the `?`). A query parameter, not a header, so a browser's
/// `text/plain` POST stays a simple request (no CORS preflight).
pub fn requested(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .any(|kv| matches!(kv, "debug=1" | "debug=true"))
}

/// `Value` of the verdicts (for tests and callers that merge them into a larger answer).
pub fn to_value(verdicts: &[MessageVerdict]) -> Value {
    serde_json::to_value(verdicts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{ingest, Ingest, Pipeline, RequestFacts};
    use time::macros::datetime;

    #[test]
    fn one_verdict_per_message_in_order_with_violations_and_reasons() {
        let pipeline = Pipeline::from_json(
            r#"{"sources": {"wk": {"name": "s", "allowedOrigins": ["*"]}},
                "trackingPlan": {"mode": "flag", "events": {"Order Completed": {"properties":
                  {"type": "object", "properties": {"total": {"type": "number"}}}}}}}"#,
        )
        .unwrap();
        let body = br#"{"writeKey": "wk", "batch": [
            {"type": "track", "event": "Order Completed", "anonymousId": "a", "messageId": "m0",
             "properties": {"total": "12"}},
            {"type": "track", "anonymousId": "a", "messageId": "m1"},
            {"type": "page", "name": "Home", "anonymousId": "a", "messageId": "m2"}]}"#;
        let req = Ingest {
            now: datetime!(2024-05-01 12:00 UTC),
            request_id: "r",
            single: None,
            request: RequestFacts::default(),
        };
        let out = ingest(body, &req, &pipeline).unwrap();
        let v = verdicts(&out);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v.iter().map(|v| v.status).collect::<Vec<_>>(),
            ["flagged", "rejected", "accepted"]
        );
        assert_eq!(v[0].violations.len(), 1);
        assert!(
            v[0].violations[0].starts_with("Order Completed: /properties/total: "),
            "{:?}",
            v[0].violations
        );
        assert_eq!(v[1].message_id.as_deref(), Some("m1"));
        assert!(v[1].reason.is_some());
        assert_eq!(v[2].event.as_deref(), Some("Home"));
        assert_eq!(to_value(&v)[2]["status"], "accepted");
    }

    #[test]
    fn asked_for_by_the_query_string_only() {
        assert!(requested(Some("debug=1")));
        assert!(requested(Some("x=2&debug=true")));
        assert!(!requested(Some("debug=0")));
        assert!(!requested(Some("nodebug=1")));
        assert!(!requested(None));
    }
}
