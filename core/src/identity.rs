//! Identity links: which `id → user id` links an event carries, in which order a batch's links
//! are tried and judged, and how far a page of mirrored alias rows may advance the mirror's
//! high-water mark.
//!
//! Invariant: a link never points an id at itself; [`alias_plan`] judges every event's links
//! against the same alias rows as trying and judging them one event at a time would; and
//! [`synced_through`] never reports a revision as mirrored while rows of that revision may
//! still be unread. The links are kept
//! flattened (every id → the root of its chain) by the events consumer's SQL in
//! `edge/src/storage/events.rs`; a link that would close a cycle is refused there, because the
//! root of the target is then the linked id itself.

use std::collections::HashSet;

use crate::event::Event;
use crate::MessageType;

/// The `endpoint` of a bad row that records a refused link: the event itself was stored, only
/// its link was not, so such a row is never replayed (replay would store the event twice).
pub const ALIAS_LINK_ENDPOINT: &str = "alias_link";

/// Why the events consumer did not store a link (recorded as a bad row with
/// [`ALIAS_LINK_ENDPOINT`]; the codes are stable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasRefusal {
    /// The target's root is the linked id itself: storing it would close a cycle.
    Cycle,
    /// The id is already linked to another person (the first link wins).
    Conflict,
    /// The link would re-point more than [`crate::limits::MAX_ALIAS_FAN_IN`] rows.
    FanIn,
}

impl AliasRefusal {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            AliasRefusal::Cycle => "alias_cycle",
            AliasRefusal::Conflict => "alias_conflict",
            AliasRefusal::FanIn => "alias_fan_in",
        }
    }
}

/// The `(id, user id)` links an event carries: its anonymous id to its user id, and for
/// `alias` its `previousId` to its user id. A self-link is no link.
pub fn alias_links(e: &Event) -> Vec<(&str, &str)> {
    let Some(uid) = e.user_id.as_deref() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(2);
    if let Some(anon) = e.anonymous_id.as_deref() {
        out.push((anon, uid));
    }
    if let (MessageType::Alias, Some(prev)) = (e.kind, e.previous_id.as_deref()) {
        out.push((prev, uid));
    }
    out.retain(|(from, to)| from != to);
    out.dedup();
    out
}

/// One step of a batch's alias statements, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasStep<'a> {
    /// Try to store the link `(id, to)` (and re-point the rows that pointed at `id`) at the
    /// first event (its index) that carries this pair.
    Link(usize, &'a str, &'a str),
    /// Judge these links, `(event index, id, to)` in event order: a link that does not stand is
    /// one refusal (bad row) per event.
    Judge(Vec<(usize, &'a str, &'a str)>),
}

/// The alias steps for a batch of events: each distinct pair is tried once, where the batch
/// first carries it, and every event's links are judged — as trying a pair at its first event
/// and judging each event's links right after would, event by event. Only a [`AliasStep::Link`]
/// changes the alias rows, so the judgements between two links all see the same rows and go in
/// one [`AliasStep::Judge`]: a batch of one pair is one link and one judgement, however many
/// events carry it. A pair seen again after another pair's link is judged after that link, as
/// then (a later link can settle or break it: `a → b` refused, then `a → c` re-points `b`).
pub fn alias_plan<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<AliasStep<'a>> {
    let mut steps = Vec::new();
    let mut tried = HashSet::new();
    let mut judged = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        for (id, to) in alias_links(e) {
            // A pair already tried is a no-op the second time: stored, `id` is linked (nothing
            // points at it any more); refused, it stays refused, since only linking `id` could
            // change its fan-in or its target's root.
            if tried.insert((id, to)) {
                if !judged.is_empty() {
                    steps.push(AliasStep::Judge(std::mem::take(&mut judged)));
                }
                steps.push(AliasStep::Link(i, id, to));
            }
            judged.push((i, id, to));
        }
    }
    if !judged.is_empty() {
        steps.push(AliasStep::Judge(judged));
    }
    steps
}

/// The revision through which a page of alias rows (read `ORDER BY rev`, at most `page`
/// rows) is completely mirrored, or `None` when it completes nothing. A full page may have cut
/// its last revision's rows, so that revision is left for the next page.
pub fn synced_through(revs: &[i64], page: usize) -> Option<i64> {
    let last = *revs.last()?;
    if revs.len() < page {
        return Some(last);
    }
    revs.iter().rev().find(|r| **r < last).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{ALIAS_SYNC_PAGE_ROWS, MAX_ALIAS_FAN_IN};

    fn event(
        kind: MessageType,
        user: Option<&str>,
        anon: Option<&str>,
        prev: Option<&str>,
    ) -> Event {
        let mut e: Event = serde_json::from_value(serde_json::json!({
            "messageId": "m",
            "type": kind.as_str(),
            "timestamp": "2026-01-01T00:00:00Z",
            "receivedAt": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        e.user_id = user.map(Into::into);
        e.anonymous_id = anon.map(Into::into);
        e.previous_id = prev.map(Into::into);
        e
    }

    #[test]
    fn identify_links_the_anonymous_id() {
        let e = event(MessageType::Identify, Some("B"), Some("A"), None);
        assert_eq!(alias_links(&e), vec![("A", "B")]);
        let e = event(MessageType::Track, None, Some("A"), None);
        assert!(alias_links(&e).is_empty());
    }

    #[test]
    fn alias_links_previous_id_and_skips_self_links() {
        let e = event(MessageType::Alias, Some("C"), Some("A"), Some("B"));
        assert_eq!(alias_links(&e), vec![("A", "C"), ("B", "C")]);
        let e = event(MessageType::Alias, Some("C"), Some("C"), Some("C"));
        assert!(alias_links(&e).is_empty());
        let e = event(MessageType::Alias, Some("C"), Some("B"), Some("B"));
        assert_eq!(alias_links(&e), vec![("B", "C")]);
        // previousId only counts on alias calls.
        let e = event(MessageType::Track, Some("C"), None, Some("B"));
        assert!(alias_links(&e).is_empty());
    }

    fn track(anon: &str, user: &str) -> Event {
        event(MessageType::Track, Some(user), Some(anon), None)
    }

    /// The per-event order the plan stands for: each event's new pairs tried, then each of its
    /// links judged on its own.
    fn per_event<'a>(steps: &[AliasStep<'a>]) -> Vec<AliasStep<'a>> {
        steps
            .iter()
            .flat_map(|s| match s {
                AliasStep::Link(..) => vec![s.clone()],
                AliasStep::Judge(js) => js.iter().map(|j| AliasStep::Judge(vec![*j])).collect(),
            })
            .collect()
    }

    #[test]
    fn one_device_batch_is_one_link_and_one_judgement() {
        let events: Vec<Event> = (0..100).map(|_| track("A", "U")).collect();
        let steps = alias_plan(&events);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0], AliasStep::Link(0, "A", "U"));
        let judged: Vec<_> = (0..100).map(|i| (i, "A", "U")).collect();
        assert_eq!(steps[1], AliasStep::Judge(judged));
    }

    #[test]
    fn events_without_links_take_no_step() {
        let anon = event(MessageType::Track, None, Some("A"), None);
        assert!(alias_plan(&[anon.clone(), anon]).is_empty());
        let events = [
            event(MessageType::Page, None, Some("A"), None),
            track("A", "U"),
        ];
        assert_eq!(
            alias_plan(&events),
            vec![
                AliasStep::Link(1, "A", "U"),
                AliasStep::Judge(vec![(1, "A", "U")])
            ]
        );
    }

    #[test]
    fn a_pair_seen_again_after_another_link_is_judged_after_it() {
        // a -> b, b -> c (a chain in one batch), then a -> b again: its judgement must see
        // b -> c, as the per-event statements did.
        let events = [
            track("a", "b"),
            track("a", "b"),
            track("b", "c"),
            track("a", "b"),
        ];
        assert_eq!(
            alias_plan(&events),
            vec![
                AliasStep::Link(0, "a", "b"),
                AliasStep::Judge(vec![(0, "a", "b"), (1, "a", "b")]),
                AliasStep::Link(2, "b", "c"),
                AliasStep::Judge(vec![(2, "b", "c"), (3, "a", "b")]),
            ]
        );
    }

    #[test]
    fn an_alias_call_tries_both_links_in_order() {
        let alias = event(MessageType::Alias, Some("C"), Some("A"), Some("B"));
        assert_eq!(
            alias_plan(&[alias.clone(), track("A", "C"), alias]),
            vec![
                AliasStep::Link(0, "A", "C"),
                AliasStep::Judge(vec![(0, "A", "C")]),
                AliasStep::Link(0, "B", "C"),
                AliasStep::Judge(vec![
                    (0, "B", "C"),
                    (1, "A", "C"),
                    (2, "A", "C"),
                    (2, "B", "C")
                ]),
            ]
        );
    }

    #[test]
    fn the_plan_keeps_the_per_event_order() {
        // Unrolled, the plan is the per-event sequence: each new pair tried at its first
        // event, then every link of every event judged, in event order, with nothing moved
        // across a link.
        let ids = ["a", "b", "c", "d"];
        let events: Vec<Event> = (0..64)
            .map(|i| track(ids[(i * 7 / 3) % 4], ids[(i * 5 + 1) % 4]))
            .collect();
        let mut expected = Vec::new();
        let mut tried = HashSet::new();
        for (i, e) in events.iter().enumerate() {
            for (id, to) in alias_links(e) {
                if tried.insert((id, to)) {
                    expected.push(AliasStep::Link(i, id, to));
                }
                expected.push(AliasStep::Judge(vec![(i, id, to)]));
            }
        }
        let steps = alias_plan(&events);
        assert_eq!(per_event(&steps), expected);
        // Judgements are merged: never two in a row.
        assert!(steps
            .windows(2)
            .all(|w| !matches!(w, [AliasStep::Judge(_), AliasStep::Judge(_)])));
    }

    #[test]
    fn a_short_page_is_mirrored_through_its_last_revision() {
        assert_eq!(synced_through(&[], 4), None);
        assert_eq!(synced_through(&[3, 3, 5], 4), Some(5));
    }

    #[test]
    fn a_full_page_leaves_its_last_revision_for_the_next() {
        assert_eq!(synced_through(&[3, 4, 5, 5], 4), Some(4));
        assert_eq!(synced_through(&[5, 5, 5, 5], 4), None);
    }

    #[test]
    fn every_page_can_complete_a_revision() {
        // One link moves at most MAX_ALIAS_FAN_IN rows plus its own: a full page holds two
        // revisions at least, so the mirror always advances.
        const { assert!(ALIAS_SYNC_PAGE_ROWS > 2 * (MAX_ALIAS_FAN_IN + 1)) };
        let mut revs = vec![1; MAX_ALIAS_FAN_IN + 1];
        revs.resize(ALIAS_SYNC_PAGE_ROWS, 2);
        assert_eq!(synced_through(&revs, ALIAS_SYNC_PAGE_ROWS), Some(1));
    }

    #[test]
    fn refusal_codes_are_stable_and_distinct() {
        let codes = [
            AliasRefusal::Cycle,
            AliasRefusal::Conflict,
            AliasRefusal::FanIn,
        ]
        .map(AliasRefusal::code);
        assert_eq!(codes, ["alias_cycle", "alias_conflict", "alias_fan_in"]);
        // The migration's unique index and the replay guard match this endpoint literally.
        assert_eq!(ALIAS_LINK_ENDPOINT, "alias_link");
    }

    #[test]
    fn two_largest_links_on_one_page_complete_the_first() {
        // Two links that each moved exactly MAX_ALIAS_FAN_IN rows (plus their own) on a
        // full page: the first revision is complete, the second may continue on the next.
        let mut revs = vec![7; MAX_ALIAS_FAN_IN + 1];
        revs.extend(vec![8; ALIAS_SYNC_PAGE_ROWS - revs.len()]);
        assert_eq!(synced_through(&revs, ALIAS_SYNC_PAGE_ROWS), Some(7));
        // One row short of a full page: everything read is complete.
        revs.pop();
        assert_eq!(synced_through(&revs, ALIAS_SYNC_PAGE_ROWS), Some(8));
    }
}
