//! Compiling a saved segment's conditions into a live segment's tree of leaves.
//!
//! Invariant: a condition compiles only if its membership can be kept from bounded state; a
//! `did` whose bound needs more than [`limits::MAX_LIVE_HITS`] hits kept is refused with
//! [`NOT_LIVE`].

use super::{Bound, Leaf, Node, Span, NOT_LIVE};
use crate::limits;
use crate::query::field::{EventMatcher, Field, Filter};
use crate::query::segment::{Condition, Did, LastSeen, Trait};
use crate::query::time_range::{parse_instant, Window};
use crate::query::QueryError;

fn not_live(why: String) -> QueryError {
    QueryError::value(NOT_LIVE, why)
}

pub(super) fn node(c: &Condition, leaves: &mut Vec<Leaf>) -> Result<Node, QueryError> {
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
