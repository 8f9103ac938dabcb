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

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::field::{EventMatcher, Field, Filter, FilterOp};
use super::segment::{Condition, Did, LastSeen, SavedSegment, Trait};
use super::time_range::{parse_instant, Window};
use super::QueryError;
use crate::limits;
use crate::{Event, MessageType};

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

/// A value as `json_extract` returns it to SQL.
#[derive(Debug, Clone, PartialEq)]
enum Sv {
    Int(i64),
    Real(f64),
    Text(String),
}

fn sv(v: &Value) -> Option<Sv> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Sv::Int(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sv::Int(i),
            None => Sv::Real(n.as_f64()?),
        },
        Value::String(s) => Sv::Text(s.clone()),
        // json_extract returns a container as its (minified) JSON text.
        Value::Array(_) | Value::Object(_) => Sv::Text(v.to_string()),
    })
}

/// SQLite's comparison of two non-NULL values without affinity: numbers by value, any
/// number below any text, text by bytes.
#[allow(clippy::cast_precision_loss)] // SQLite compares INTEGER with REAL as doubles too
fn cmp(a: &Sv, b: &Sv) -> Ordering {
    match (a, b) {
        (Sv::Int(x), Sv::Int(y)) => x.cmp(y),
        (Sv::Int(x), Sv::Real(y)) => (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal),
        (Sv::Real(x), Sv::Int(y)) => x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal),
        (Sv::Real(x), Sv::Real(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Sv::Text(x), Sv::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Sv::Text(_), _) => Ordering::Greater,
        (_, Sv::Text(_)) => Ordering::Less,
    }
}

/// The text `instr` sees for a value.
fn as_text(v: &Sv) -> String {
    match v {
        Sv::Int(i) => i.to_string(),
        Sv::Real(r) => {
            let s = r.to_string();
            if s.contains(['.', 'e', 'E']) || !r.is_finite() {
                s
            } else {
                format!("{s}.0")
            }
        }
        Sv::Text(t) => t.clone(),
    }
}

/// Whether `filter` holds for the value `x` (`None`: SQL NULL), as its SQL does.
fn compare(filter: &Filter, x: Option<&Sv>) -> bool {
    let value = filter.value.as_ref().and_then(sv);
    match filter.op {
        FilterOp::Exists => x.is_some(),
        FilterOp::NotExists => x.is_none(),
        FilterOp::Neq => match (x, value.as_ref()) {
            (None, _) => true,
            (Some(x), Some(v)) => cmp(x, v) != Ordering::Equal,
            (Some(_), None) => true,
        },
        FilterOp::Contains => match (x, value.as_ref()) {
            (Some(x), Some(Sv::Text(s))) => as_text(x).contains(s.as_str()),
            _ => false,
        },
        FilterOp::In => {
            let Some(x) = x else { return false };
            match &filter.value {
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(sv)
                    .any(|v| cmp(x, &v) == Ordering::Equal),
                _ => false,
            }
        }
        op => {
            let (Some(x), Some(v)) = (x, value.as_ref()) else {
                return false;
            };
            let o = cmp(x, v);
            match op {
                FilterOp::Eq => o == Ordering::Equal,
                FilterOp::Gt => o == Ordering::Greater,
                FilterOp::Gte => o != Ordering::Less,
                FilterOp::Lt => o == Ordering::Less,
                _ => o != Ordering::Greater,
            }
        }
    }
}

/// Follows a `json_path`-validated dotted path inside an object.
fn lookup<'a>(root: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = root.get(first)?;
    for seg in rest {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

fn field_value(field: &Field, raw: &str, e: &Event) -> Option<Sv> {
    match field {
        Field::Column(super::field::Column::Event) => e.event.clone().map(Sv::Text),
        Field::Column(super::field::Column::Name) => e.name.clone().map(Sv::Text),
        Field::Column(super::field::Column::Type) => Some(Sv::Text(e.kind.as_str().into())),
        Field::Json(col, _) => {
            let (root, rest) = raw.split_once('.')?;
            let obj = match (col, root) {
                (super::field::JsonColumn::Properties, _) => &e.properties,
                (super::field::JsonColumn::Context, _) => &e.context,
                (super::field::JsonColumn::Traits, _) => &e.traits,
            };
            let path: Vec<String> = rest.split('.').map(str::to_owned).collect();
            lookup(obj, &path).and_then(sv)
        }
    }
}

fn matches(m: &EventMatcher, e: &Event) -> bool {
    match m {
        EventMatcher::Any => true,
        EventMatcher::Track(name) => e.event.as_deref() == Some(name.as_str()),
        EventMatcher::Type(t) => e.kind.as_str() == *t,
    }
}

fn ms(e: &Event) -> i64 {
    crate::instant::to_ms(e.timestamp)
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

fn not_live(why: String) -> QueryError {
    QueryError::value(NOT_LIVE, why)
}

fn node(c: &Condition, leaves: &mut Vec<Leaf>) -> Result<Node, QueryError> {
    Ok(match c {
        Condition::And(list) => Node::And(
            list.iter()
                .map(|c| node(c, leaves))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(list) => Node::Or(
            list.iter()
                .map(|c| node(c, leaves))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Not(c) => Node::Not(Box::new(node(c, leaves)?)),
        Condition::Did(d) => {
            leaves.push(did(d)?);
            Node::Leaf(leaves.len() - 1)
        }
        Condition::LastSeen(l) => {
            leaves.push(last_seen(l)?);
            Node::Leaf(leaves.len() - 1)
        }
        Condition::Trait(t) => {
            leaves.push(trait_leaf(t)?);
            Node::Leaf(leaves.len() - 1)
        }
    })
}

fn did(d: &Did) -> Result<Leaf, QueryError> {
    let min = d.min.unwrap_or(if d.max.is_some() { 0 } else { 1 });
    let keep = u64::from(d.max.map_or(min, |m| min.max(m.saturating_add(1))));
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    if keep > limits::MAX_LIVE_HITS {
        return Err(not_live(format!(
            "a live `did` keeps at most {} hits: use min/max up to {}",
            limits::MAX_LIVE_HITS,
            limits::MAX_LIVE_HITS - 1
        )));
    }
    let span = match &d.within {
        Some(w) => Span::Within(Window::parse("within", w)?.ms),
        None => Span::Between(
            d.from
                .as_deref()
                .map(|f| parse_instant("from", f))
                .transpose()?,
            d.to.as_deref()
                .map(|t| parse_instant("to", t))
                .transpose()?,
        ),
    };
    let mut filters = Vec::with_capacity(d.filters.len());
    for f in &d.filters {
        filters.push((Field::parse(&f.field)?, f.clone()));
    }
    Ok(Leaf::Did {
        matcher: EventMatcher::parse(&d.event)?,
        filters,
        min,
        max: d.max,
        span,
        keep,
    })
}

fn bound(what: &'static str, s: &str) -> Result<Bound, QueryError> {
    Ok(match Window::parse(what, s) {
        Ok(w) => Bound::Ago(w.ms),
        Err(_) => Bound::At(parse_instant(what, s)?),
    })
}

fn last_seen(l: &LastSeen) -> Result<Leaf, QueryError> {
    Ok(Leaf::LastSeen {
        before: l
            .before
            .as_deref()
            .map(|b| bound("before", b))
            .transpose()?,
        after: l.after.as_deref().map(|a| bound("after", a)).transpose()?,
    })
}

fn trait_leaf(t: &Trait) -> Result<Leaf, QueryError> {
    Ok(Leaf::Trait {
        path: t.name.split('.').map(str::to_owned).collect(),
        filter: Filter {
            field: String::new(),
            op: t.op,
            value: t.value.clone(),
        },
    })
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
