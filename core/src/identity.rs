//! Identity links: which `id → user id` links an event carries, and how far a page of
//! mirrored alias rows may advance the mirror's high-water mark.
//!
//! Invariant: a link never points an id at itself, and [`synced_through`] never reports a
//! revision as mirrored while rows of that revision may still be unread. The links are kept
//! flattened (every id → the root of its chain) by the events consumer's SQL in
//! `edge/src/storage/events.rs`; a link that would close a cycle is refused there, because the
//! root of the target is then the linked id itself.

use crate::event::Event;
use crate::MessageType;

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
}
