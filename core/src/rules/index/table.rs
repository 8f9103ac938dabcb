//! The condition index of one event name: its rules filed under their rarest indexable
//! conjunct in per-path tables, and how an event probes them (see the parent module).
//!
//! Invariant: every rule of a bucket is in `all` and in exactly one of `residual` or one
//! field's tables; a field's probe yields every rule whose filed conjunct the event's value
//! satisfies (more is harmless: the full condition is still evaluated), so filing never loses
//! a rule that the condition would let through.

use std::collections::HashMap;

use crate::rules::compile::{CompiledRule, Kind};
use crate::rules::condition::{Subject, SEGMENTS_ROOT};
use crate::rules::predicate::{indexable_parts, Cmp, EqKey, Indexable, Predicate};

/// The rules of one event name (or `*`).
#[derive(Default)]
pub(super) struct Bucket {
    /// Every rule, in rule order (name-only view).
    pub(super) all: Vec<usize>,
    /// Rules met by every event of this name.
    residual: Vec<usize>,
    /// Rules filed under one conjunct on a path.
    fields: Vec<Field>,
    /// Whether any rule here keeps per-user state.
    pub(super) stateful: bool,
    /// Whether any rule here reads profile traits.
    pub(super) profile: bool,
    /// Whether any rule here reads live segment membership.
    pub(super) segments: bool,
}

/// The rules filed under conjuncts on one path.
struct Field {
    path: Vec<String>,
    strs: HashMap<Box<str>, Vec<usize>>,
    nums: HashMap<u64, Vec<usize>>,
    /// Every rule filed under an equality here (when the value is an array or object).
    eq_all: Vec<usize>,
    /// `(threshold, rule)` sorted by threshold, one list per comparison.
    ranges: [Vec<(f64, usize)>; 4],
    /// Every rule filed under a range here (when the value is not a number).
    range_all: Vec<usize>,
}

impl Field {
    fn new(path: Vec<String>) -> Self {
        Field {
            path,
            strs: HashMap::new(),
            nums: HashMap::new(),
            eq_all: Vec::new(),
            ranges: Default::default(),
            range_all: Vec::new(),
        }
    }

    fn file(&mut self, rule: usize, predicate: &Predicate) {
        match predicate {
            Predicate::OneOf(keys) => {
                for k in keys {
                    let list = match k {
                        EqKey::Str(s) => self.strs.entry(s.clone()).or_default(),
                        EqKey::Num(n) => self.nums.entry(*n).or_default(),
                    };
                    if list.last() != Some(&rule) {
                        list.push(rule);
                    }
                }
                self.eq_all.push(rule);
            }
            Predicate::Range(cmp, c) => {
                if let Some(list) = self.ranges.get_mut(slot(*cmp)) {
                    list.push((*c, rule));
                }
                self.range_all.push(rule);
            }
        }
    }

    fn sort(&mut self) {
        for list in &mut self.ranges {
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
    }

    /// Adds the rules whose filed conjunct the event's value satisfies.
    fn collect(&self, subject: &Subject, out: &mut Vec<usize>) {
        let probe = subject.probe(&self.path);
        if !self.eq_all.is_empty() {
            match probe.eq_keys() {
                Some((s, n)) => {
                    if let Some(list) = s.and_then(|s| self.strs.get(s)) {
                        out.extend_from_slice(list);
                    }
                    if let Some(list) = n.and_then(|n| self.nums.get(&n)) {
                        out.extend_from_slice(list);
                    }
                }
                None => out.extend_from_slice(&self.eq_all),
            }
        }
        if !self.range_all.is_empty() {
            match probe.number() {
                Some(x) => {
                    for (cmp, list) in [Cmp::Gt, Cmp::Ge, Cmp::Lt, Cmp::Le]
                        .into_iter()
                        .zip(&self.ranges)
                    {
                        // `value OP c`: the thresholds that hold form a prefix (>, >=) or a
                        // suffix (<, <=) of the sorted list.
                        let hits = match cmp {
                            Cmp::Gt => list.get(..list.partition_point(|(c, _)| *c < x)),
                            Cmp::Ge => list.get(..list.partition_point(|(c, _)| *c <= x)),
                            Cmp::Lt => list.get(list.partition_point(|(c, _)| *c <= x)..),
                            Cmp::Le => list.get(list.partition_point(|(c, _)| *c < x)..),
                        };
                        out.extend(hits.unwrap_or_default().iter().map(|(_, r)| *r));
                    }
                }
                None => out.extend_from_slice(&self.range_all),
            }
        }
    }
}

/// The `ranges` list of a comparison.
fn slot(cmp: Cmp) -> usize {
    match cmp {
        Cmp::Gt => 0,
        Cmp::Ge => 1,
        Cmp::Lt => 2,
        Cmp::Le => 3,
    }
}

impl Bucket {
    /// Whether no rule names this bucket's event.
    pub(super) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Adds the rules the event meets here: the residual ones, and those it lets through on
    /// each field.
    pub(super) fn collect(&self, subject: &Subject, out: &mut Vec<usize>) {
        out.extend_from_slice(&self.residual);
        for f in &self.fields {
            f.collect(subject, out);
        }
    }
}

/// Files every rule under its names and, where it can, under its rarest conjunct: the buckets
/// by event name, and the bucket of `*`.
pub(super) fn file_all(rules: &[CompiledRule]) -> (HashMap<String, Bucket>, Bucket) {
    let mut by_event: HashMap<String, Bucket> = HashMap::new();
    let mut any = Bucket::default();
    let parts: Vec<Vec<Indexable>> = rules.iter().map(filable_parts).collect();
    // How many rules could be filed under each (path, key): the rarest conjunct of a rule
    // is the one that lets the fewest other rules through.
    let mut counts: HashMap<(&[String], &EqKey), usize> = HashMap::new();
    for p in parts.iter().flatten() {
        if let Predicate::OneOf(keys) = &p.predicate {
            for k in keys {
                *counts.entry((p.path.as_slice(), k)).or_default() += 1;
            }
        }
    }
    let n = rules.len();
    let choice: Vec<Option<usize>> = parts
        .iter()
        .map(|ps| {
            ps.iter()
                .enumerate()
                .min_by_key(|(_, p)| match &p.predicate {
                    Predicate::OneOf(keys) => keys
                        .iter()
                        .map(|k| counts.get(&(p.path.as_slice(), k)).copied().unwrap_or(0))
                        .sum::<usize>(),
                    // A range lets through a share of the rules on its path: prefer equality.
                    Predicate::Range(..) => n.saturating_add(1),
                })
                .map(|(i, _)| i)
        })
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let filed = choice
            .get(i)
            .copied()
            .flatten()
            .and_then(|c| parts.get(i).and_then(|ps| ps.get(c)));
        let mut names: Vec<&str> = rule.event_names().collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let bucket = if name == "*" {
                &mut any
            } else {
                by_event.entry(name.to_owned()).or_default()
            };
            bucket.all.push(i);
            bucket.stateful |= rule.is_stateful();
            bucket.profile |= rule.reads_profile();
            bucket.segments |= rule.reads_segments();
            match filed {
                Some(p) => {
                    let field = match bucket.fields.iter().position(|f| f.path == p.path) {
                        Some(at) => bucket.fields.get_mut(at),
                        None => {
                            bucket.fields.push(Field::new(p.path.clone()));
                            bucket.fields.last_mut()
                        }
                    };
                    if let Some(field) = field {
                        field.file(i, &p.predicate);
                    }
                }
                None => bucket.residual.push(i),
            }
        }
    }
    for bucket in by_event.values_mut().chain([&mut any]) {
        bucket.fields.iter_mut().for_each(Field::sort);
    }
    (by_event, any)
}

/// The conjuncts a rule may be filed under: only instant and window rules (see the parent
/// module's docs), and only from the trigger's condition.
fn filable_parts(rule: &CompiledRule) -> Vec<Indexable> {
    match (&rule.kind, &rule.trigger.condition) {
        // Not under segment membership: the ingest request routes without it.
        (Kind::Instant | Kind::Window { .. }, Some(c)) => indexable_parts(c.source())
            .into_iter()
            .filter(|p| p.path.first().map(String::as_str) != Some(SEGMENTS_ROOT))
            .collect(),
        _ => Vec::new(),
    }
}
