//! Live segments: a saved segment's membership kept per person, event by event, instead of
//! asked of the stored events.
//!
//! Invariant: for a person whose every event (of any type, deduplicated by `messageId`) was
//! observed, [`LiveSegment::member`] at `now` answers exactly what the SQL segment query
//! ([`super::segment`]) answers with `asOf = now` over the same events and profile traits:
//! filters compare like SQLite's `json_extract` (numbers with numbers, text above numbers,
//! booleans as 1/0, a missing or null value compares as SQL NULL — false, except `neq`
//! and `not_exists`), and a `did` keeps only the newest `max(min, max + 1)` hits, which is
//! all a count capped there needs. The state is bounded: at most
//! [`limits::MAX_LIVE_HITS`] timestamps per leaf. Nothing here reads a clock: `now` is passed
//! in, and [`LiveSegment::next_change`] says when a time-based leave or entry can next happen
//! (the caller's alarm).
//!
//! Refused (stable reason [`NOT_LIVE`]): a `did` whose bound needs more than
//! [`limits::MAX_LIVE_HITS`] hits kept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::field::{EventMatcher, Field, Filter};
use super::segment::SavedSegment;
use super::QueryError;
use crate::limits;
use crate::{Event, MessageType};

mod compare;
mod compile;

use compare::{compare, field_value, lookup, matches, ms, sv};
use compile::node;

/// The reason code a segment that cannot be kept live is refused with.
pub const NOT_LIVE: &str = "segment_not_live";

/// The event a person entering a live segment gets.
pub const ENTERED: &str = "$segment_entered";
/// The event a person leaving a live segment gets.
pub const EXITED: &str = "$segment_exited";

/// A membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Became a member.
    Entered,
    /// Stopped being a member.
    Exited,
}

impl Transition {
    /// The event name.
    pub const fn event_name(self) -> &'static str {
        match self {
            Transition::Entered => ENTERED,
            Transition::Exited => EXITED,
        }
    }
}

/// A compiled segment condition.
#[derive(Debug, Clone)]
pub struct LiveSegment {
    /// The saved segment's id.
    pub id: String,
    root: Node,
    leaves: Vec<Leaf>,
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Leaf(usize),
}

#[derive(Debug, Clone)]
enum Leaf {
    Did {
        matcher: EventMatcher,
        filters: Vec<(Field, Filter)>,
        min: u32,
        max: Option<u32>,
        span: Span,
        keep: usize,
    },
    LastSeen {
        before: Option<Bound>,
        after: Option<Bound>,
    },
    Trait {
        path: Vec<String>,
        filter: Filter,
    },
}

#[derive(Debug, Clone, Copy)]
enum Span {
    /// `as_of - ms <= t <= as_of`.
    Within(i64),
    /// `from <= t < to`, `t <= as_of`.
    Between(Option<i64>, Option<i64>),
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    /// `as_of - ms`.
    Ago(i64),
    /// A fixed instant.
    At(i64),
}

impl Bound {
    const fn at(self, now: i64) -> i64 {
        match self {
            Bound::Ago(ms) => now - ms,
            Bound::At(t) => t,
        }
    }
}

/// One person's state for one live segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    /// Whether the person is a member (as of the last observe/tick).
    pub member: bool,
    /// Per leaf: the newest hit timestamps (ms), ascending (empty for non-`did` leaves).
    #[serde(default)]
    pub hits: Vec<Vec<i64>>,
    /// The latest event time seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
    /// Per leaf: the latest `identify` value of a `trait` leaf, with its time.
    #[serde(default)]
    pub identified: Vec<Option<(i64, Value)>>,
    /// How many transitions happened (numbers the transition events).
    #[serde(default)]
    pub seq: u64,
}

impl LiveSegment {
    /// Compiles a saved segment (validated by [`SavedSegment::validate`], which calls this
    /// when `live` is set); refuses with [`NOT_LIVE`] what cannot
    /// be kept exactly within the bounds.
    pub fn compile(id: &str, saved: &SavedSegment) -> Result<LiveSegment, QueryError> {
        let mut leaves = Vec::new();
        let root = node(&saved.condition, &mut leaves)?;
        Ok(LiveSegment {
            id: id.to_owned(),
            root,
            leaves,
        })
    }

    /// Whether any event of the person can change the state (`lastSeen` or `$any` reads
    /// every event); else only [`LiveSegment::wants`] events.
    pub fn wants_every_event(&self) -> bool {
        self.leaves.iter().any(|l| match l {
            Leaf::LastSeen { .. } => true,
            Leaf::Did { matcher, .. } => matches!(matcher, EventMatcher::Any),
            Leaf::Trait { .. } => false,
        })
    }

    /// Whether the event can change the person's state.
    pub fn wants(&self, e: &Event) -> bool {
        self.leaves.iter().any(|l| match l {
            Leaf::LastSeen { .. } => true,
            Leaf::Did { matcher, .. } => matches(matcher, e),
            Leaf::Trait { .. } => e.kind == MessageType::Identify,
        })
    }

    /// Whether a condition reads profile traits.
    pub fn reads_traits(&self) -> bool {
        self.leaves.iter().any(|l| matches!(l, Leaf::Trait { .. }))
    }

    fn shape(&self, s: &mut LiveState) {
        s.hits.resize(self.leaves.len(), Vec::new());
        s.identified.resize(self.leaves.len(), None);
    }

    /// Takes one (new, not yet observed) event in; returns the membership change it causes
    /// at `now`, if any.
    pub fn observe(
        &self,
        s: &mut LiveState,
        e: &Event,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Option<Transition> {
        self.shape(s);
        let t = ms(e);
        s.last_seen = Some(s.last_seen.map_or(t, |l| l.max(t)));
        for (i, leaf) in self.leaves.iter().enumerate() {
            match leaf {
                Leaf::Did {
                    matcher,
                    filters,
                    span,
                    keep,
                    ..
                } => {
                    let hit = matches(matcher, e)
                        && filters.iter().all(|(f, filter)| {
                            compare(filter, field_value(f, &filter.field, e).as_ref())
                        })
                        && match span {
                            Span::Within(_) => true,
                            Span::Between(from, to) => {
                                from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x)
                            }
                        };
                    if let Some(hits) = s.hits.get_mut(i) {
                        if hit {
                            let at = hits.partition_point(|h| *h <= t);
                            hits.insert(at, t);
                            let over = hits.len().saturating_sub(*keep);
                            hits.drain(..over);
                        }
                    }
                }
                Leaf::Trait { path, .. } if e.kind == MessageType::Identify => {
                    if let Some(v) = lookup(&e.traits, path).filter(|v| !v.is_null()) {
                        if let Some(slot) = s.identified.get_mut(i) {
                            if slot.as_ref().is_none_or(|(at, _)| *at <= t) {
                                *slot = Some((t, v.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.settle(s, traits, now)
    }

    /// Re-evaluates at `now` (the alarm); returns the membership change, if any.
    pub fn tick(
        &self,
        s: &mut LiveState,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Option<Transition> {
        self.shape(s);
        self.settle(s, traits, now)
    }

    /// Whether the person is a member at `now` (without changing the state).
    pub fn member(&self, s: &LiveState, traits: Option<&Map<String, Value>>, now: i64) -> bool {
        let mut s = s.clone();
        self.shape(&mut s);
        self.eval(&self.root, &s, traits, now)
    }

    fn settle(
        &self,
        s: &mut LiveState,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Option<Transition> {
        // Hits that left a sliding window never come back (time only moves on).
        for (leaf, hits) in self.leaves.iter().zip(s.hits.iter_mut()) {
            if let Leaf::Did {
                span: Span::Within(w),
                ..
            } = leaf
            {
                let gone = hits.partition_point(|h| *h < now - w);
                hits.drain(..gone);
            }
        }
        let now_member = self.eval(&self.root, s, traits, now);
        if now_member == s.member {
            return None;
        }
        s.member = now_member;
        s.seq += 1;
        Some(if now_member {
            Transition::Entered
        } else {
            Transition::Exited
        })
    }

    fn eval(&self, n: &Node, s: &LiveState, traits: Option<&Map<String, Value>>, now: i64) -> bool {
        match n {
            Node::And(list) => list.iter().all(|c| self.eval(c, s, traits, now)),
            Node::Or(list) => list.iter().any(|c| self.eval(c, s, traits, now)),
            Node::Not(c) => !self.eval(c, s, traits, now),
            Node::Leaf(i) => self.leaf(*i, s, traits, now),
        }
    }

    fn leaf(&self, i: usize, s: &LiveState, traits: Option<&Map<String, Value>>, now: i64) -> bool {
        match self.leaves.get(i) {
            Some(Leaf::Did { min, max, span, .. }) => {
                let hits = s.hits.get(i).map_or(&[][..], Vec::as_slice);
                let lo = match span {
                    Span::Within(w) => now - w,
                    Span::Between(..) => i64::MIN,
                };
                let n = hits.iter().filter(|h| **h >= lo && **h <= now).count();
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                n >= u64::from(*min) && max.is_none_or(|m| n <= u64::from(m))
            }
            Some(Leaf::LastSeen { before, after }) => match s.last_seen {
                // SQL: the latest event at or before as_of; events later than now are not
                // expected live (the caller observes at their arrival).
                Some(last) => {
                    before.is_none_or(|b| last < b.at(now))
                        && after.is_none_or(|a| last >= a.at(now))
                }
                None => false,
            },
            Some(Leaf::Trait { path, filter }) => {
                let profile = traits.and_then(|t| lookup(t, path)).and_then(sv);
                let x = profile.or_else(|| {
                    s.identified
                        .get(i)
                        .and_then(Option::as_ref)
                        .filter(|(at, _)| *at <= now)
                        .and_then(|(_, v)| sv(v))
                });
                compare(filter, x.as_ref())
            }
            None => false,
        }
    }

    /// The earliest time after `now` at which membership can change without an event (a hit
    /// leaving or entering a window, a last-seen bound passing), for the alarm.
    pub fn next_change(&self, s: &LiveState, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut consider = |t: i64| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for (i, leaf) in self.leaves.iter().enumerate() {
            match leaf {
                Leaf::Did { span, .. } => {
                    for h in s.hits.get(i).map_or(&[][..], Vec::as_slice) {
                        // A future hit starts counting at its time; a windowed one stops
                        // counting just after `t + w`.
                        consider(*h);
                        if let Span::Within(w) = span {
                            consider(h.saturating_add(*w).saturating_add(1));
                        }
                    }
                }
                Leaf::LastSeen { before, after } => {
                    if let Some(last) = s.last_seen {
                        for b in [before, after].into_iter().flatten() {
                            if let Bound::Ago(d) = b {
                                consider(last.saturating_add(*d).saturating_add(1));
                            }
                        }
                    }
                }
                Leaf::Trait { .. } => {
                    if let Some(Some((at, _))) = s.identified.get(i) {
                        consider(*at);
                    }
                }
            }
        }
        next
    }

    /// Unites two people's states for this segment (an identity merge): the hits of both
    /// (each event was observed by one of them only), the later last-seen and identify value;
    /// `member` stays `ours` until the next settle (a tick reports the change).
    pub fn merge(&self, ours: &mut LiveState, theirs: &LiveState) {
        self.shape(ours);
        for (i, leaf) in self.leaves.iter().enumerate() {
            if let (Leaf::Did { keep, .. }, Some(mine), Some(other)) =
                (leaf, ours.hits.get_mut(i), theirs.hits.get(i))
            {
                mine.extend_from_slice(other);
                mine.sort_unstable();
                let over = mine.len().saturating_sub(*keep);
                mine.drain(..over);
            }
            if let (Some(mine), Some(Some((at, v)))) =
                (ours.identified.get_mut(i), theirs.identified.get(i))
            {
                if mine.as_ref().is_none_or(|(m, _)| m <= at) {
                    *mine = Some((*at, v.clone()));
                }
            }
        }
        ours.last_seen = match (ours.last_seen, theirs.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        ours.seq = ours.seq.max(theirs.seq);
    }
}

/// Membership at `as_of` recomputed from a person's stored history (the events of
/// [`history_sql`], any order) and profile traits: what a person's live state holds once
/// every event was observed. Also returns when it can next change without an event.
pub fn replay(
    seg: &LiveSegment,
    events: &[Event],
    traits: Option<&Map<String, Value>>,
    as_of: i64,
) -> (bool, Option<i64>) {
    let mut sorted: Vec<&Event> = events.iter().filter(|e| ms(e) <= as_of).collect();
    sorted.sort_by_key(|e| ms(e));
    let mut s = LiveState::default();
    for e in sorted {
        seg.observe(&mut s, e, traits, ms(e));
    }
    seg.tick(&mut s, traits, as_of);
    (s.member, seg.next_change(&s, as_of))
}

/// The statement reading a person's newest [`limits::MAX_LIVE_BACKFILL`] events at or before
/// `as_of` (alias chains resolved as the segment query resolves them); rows are
/// [`Event::from_row`] maps.
pub fn history_sql(person: &str, as_of: i64) -> Result<super::Sql, QueryError> {
    use super::sql::{Params, EVENTS_WITH_ALIASES, PERSON};
    let mut p = Params::default();
    let who = p.text(person);
    let at = p.int(as_of);
    p.finish(format!(
        "SELECT e.message_id, e.type, e.event, e.name, e.user_id, e.anonymous_id, e.group_id, \
         e.previous_id, e.timestamp, e.received_at, e.sent_at, e.original_timestamp, \
         e.properties, e.traits, e.context, e.integrations FROM {EVENTS_WITH_ALIASES} \
         WHERE {PERSON} = {who} AND e.ts_ms <= {at} ORDER BY e.ts_ms DESC LIMIT {}",
        limits::MAX_LIVE_BACKFILL
    ))
}

/// The `$segment_entered`/`$segment_exited` event of a transition: a `track` event of
/// `person` (its `userId`, or its `anonymousId` when `anonymous`: a visitor not yet
/// identified must not gain a profile from it) at `at_ms` with properties `{segmentId}`, whose
/// `messageId` `<segment>:<person>:<seq>:<entered|exited>` is the same however often it is
/// re-sent.
pub fn transition_event(
    segment: &str,
    person: &str,
    anonymous: bool,
    t: Transition,
    seq: u64,
    at_ms: i64,
) -> Event {
    let mut props = Map::new();
    props.insert("segmentId".into(), segment.into());
    let at = crate::instant::from_ms(at_ms);
    let what = match t {
        Transition::Entered => "entered",
        Transition::Exited => "exited",
    };
    Event {
        message_id: format!("{segment}:{person}:{seq}:{what}"),
        kind: MessageType::Track,
        event: Some(t.event_name().to_owned()),
        name: None,
        category: None,
        user_id: (!anonymous).then(|| person.to_owned()),
        anonymous_id: anonymous.then(|| person.to_owned()),
        group_id: None,
        previous_id: None,
        properties: props,
        traits: Map::new(),
        context: Map::new(),
        integrations: Map::new(),
        timestamp: at,
        original_timestamp: None,
        sent_at: None,
        received_at: at,
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
