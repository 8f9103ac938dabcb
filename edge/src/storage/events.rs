//! D1 storage: events (written by the events queue, read back for dry-run and explain),
//! profiles and bad rows.
//!
//! Invariant: every write is idempotent by its natural key — events by `message_id`
//! (`ON CONFLICT DO NOTHING`), profiles by id (merge) — so a queue message processed twice
//! leaves the database as processing it once would.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use spur_core::identity::{alias_plan, AliasRefusal, AliasStep, ALIAS_LINK_ENDPOINT};
use spur_core::limits::{
    ALIAS_SYNC_PAGE_ROWS, D1_ROWS_PARAM_BYTES, MAX_ALIAS_FAN_IN, USER_SYNC_PAGE_ROWS,
};
use spur_core::query::clickhouse::{AliasRootRow, StoredUser};
use spur_core::rules::replay::MAX_REPLAY_EVENTS;
use spur_core::rules::CompiledRule;
use spur_core::{Event, MessageType};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::clock::rfc3339;
use crate::http::error::ApiError;
use crate::storage::{js_ms, DB_BINDING};
use spur_core::BadRow;

// Each statement below writes many rows from one bound parameter: a JSON array of rows, each
// row an array of the columns in order, read with json_extract. D1 allows 100 bound parameters
// per statement, so multi-row VALUES would take at most 5 events; one parameter takes a chunk of
// up to D1_ROWS_PARAM_BYTES. Strings and NULLs read back as TEXT and NULL, whole numbers as
// INTEGER, and JSON columns are carried as JSON strings holding the same text the per-row
// statement bound, so the stored values are the same. Rows are applied in array order
// (`ORDER BY key`), as the per-row statements were: a duplicate `message_id` keeps the first,
// and two upserts of one id merge in order. `WHERE true` keeps `ON` from parsing as a join.
const INSERT_EVENTS: &str = "INSERT INTO events (message_id, type, event, name, user_id, anonymous_id, \
     group_id, previous_id, timestamp, ts_ms, received_at, sent_at, original_timestamp, properties, \
     traits, context, integrations, write_key) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
     json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
     json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
     json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]'), \
     json_extract(value, '$[12]'), json_extract(value, '$[13]'), json_extract(value, '$[14]'), \
     json_extract(value, '$[15]'), json_extract(value, '$[16]'), json_extract(value, '$[17]') \
     FROM json_each(?1) WHERE true ORDER BY key \
     ON CONFLICT(message_id) DO NOTHING RETURNING message_id";

// Traits merge with json_patch (RFC 7396): newer identify calls win key by key. A row whose
// traits change (or a new row) takes a new revision for the ClickHouse mirror: the table's
// highest revision before this statement (SQLite reads the source of an INSERT … SELECT on its
// own table before writing) plus the row's position + 1, so revisions are distinct and a later
// upsert of one user in the chunk gets the higher one. A row whose traits stay the same (any
// event's ids, a redelivered identify) keeps its revision and is not mirrored again.
const UPSERT_USERS: &str = "INSERT INTO users (user_id, traits, first_seen, last_seen, rev) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
     json_extract(value, '$[2]'), (SELECT COALESCE(MAX(rev), 0) FROM users) + key + 1 \
     FROM json_each(?1) WHERE true ORDER BY key \
     ON CONFLICT(user_id) DO UPDATE SET traits = json_patch(users.traits, excluded.traits), \
     rev = CASE WHEN json_patch(users.traits, excluded.traits) IS users.traits THEN users.rev \
     ELSE excluded.rev END, \
     first_seen = min(users.first_seen, excluded.first_seen), last_seen = max(users.last_seen, excluded.last_seen)";

const UPSERT_GROUPS: &str = "INSERT INTO groups (group_id, traits, first_seen, last_seen) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
     json_extract(value, '$[2]') FROM json_each(?1) WHERE true ORDER BY key \
     ON CONFLICT(group_id) DO UPDATE SET traits = json_patch(groups.traits, excluded.traits), \
     first_seen = min(groups.first_seen, excluded.first_seen), last_seen = max(groups.last_seen, excluded.last_seen)";

const INSERT_MEMBERS: &str = "INSERT INTO group_members (group_id, member_id, joined_at) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') \
     FROM json_each(?1) WHERE true ORDER BY key ON CONFLICT DO NOTHING";

// Links id ?1 to the root of ?2's chain (rows always point at a root, so one lookup finds it).
// The first link of an id wins; a later, different user id does not re-point history. Not
// stored: a link whose target's root is ?1 itself (it would close a cycle: A -> B, then B -> A)
// and one that would re-point more than ?4 rows (MAX_ALIAS_FAN_IN; the count reads at most
// ?4 + 1 index entries); RECORD_ALIAS_REFUSAL records either, and a conflict, with its reason.
// `rev` takes the next revision for the ClickHouse mirror.
const LINK_ALIAS: &str = "INSERT INTO aliases (anonymous_id, user_id, created_at, rev) \
     SELECT ?1, r.root, ?3, (SELECT COALESCE(MAX(rev), 0) + 1 FROM aliases) \
     FROM (SELECT COALESCE((SELECT user_id FROM aliases WHERE anonymous_id = ?2), ?2) AS root) AS r \
     WHERE r.root != ?1 AND NOT EXISTS (SELECT 1 FROM aliases WHERE anonymous_id = ?1) \
     AND (SELECT COUNT(*) FROM (SELECT 1 FROM aliases WHERE user_id = ?1 \
     LIMIT CAST(?4 AS INTEGER) + 1)) <= CAST(?4 AS INTEGER) \
     ON CONFLICT DO NOTHING";

// Once ?1 is linked, the rows that pointed at ?1 (it was their root) point at ?1's root, with
// ?1's revision. Runs right after LINK_ALIAS in the same transaction; a no-op otherwise,
// because a linked id is nobody's root.
const REPOINT_ALIASES: &str = "UPDATE aliases SET (user_id, rev) = \
     (SELECT a.user_id, a.rev FROM aliases a WHERE a.anonymous_id = ?1) \
     WHERE user_id = ?1 AND EXISTS (SELECT 1 FROM aliases a WHERE a.anonymous_id = ?1)";

// The links LINK_ALIAS did not store are recorded as bad rows, one per event and link: ?1 is a
// JSON array of [id, to, message id, received at] in event order (endpoint ?2 =
// ALIAS_LINK_ENDPOINT, reason ?3 cycle / ?4 conflict / ?5 fan-in, ?6 = MAX_ALIAS_FAN_IN; no
// write key: the row is never replayed). Runs after the LINK_ALIAS and REPOINT_ALIASES of every
// pair it judges, in the same transaction, so it sees their outcome: a link stands when id now
// points at to's root (just linked, or linked so before — a redelivery), and then nothing is
// inserted. Otherwise id is linked to another person (conflict), or unlinked because to's root is
// id (cycle) or because too many rows point at id (fan-in). Two index lookups per row, no insert,
// for a stored link. Each row reads and writes what the per-event statement bound for it (the
// same text), in event order, so a message id twice in the batch keeps the first; the unique
// index bad_rows_alias_link (message id + link) keeps a redelivery to one row.
const RECORD_ALIAS_REFUSALS: &str = "INSERT INTO bad_rows (received_at, write_key, endpoint, reason, \
     detail, message_id, payload) \
     SELECT c.at, NULL, ?2, CASE WHEN c.linked IS NOT NULL THEN ?4 WHEN c.root = c.id THEN ?3 ELSE ?5 END, \
     CASE WHEN c.linked IS NOT NULL THEN c.id || ' is already linked to ' || c.linked \
     WHEN c.root = c.id THEN c.target || ' already resolves to ' || c.id || ': the link would close a cycle' \
     ELSE 'linking ' || c.id || ' would re-point more than ' || ?6 || ' ids' END, \
     c.mid, json_object('id', c.id, 'to', c.target) \
     FROM (SELECT j.key AS k, j.id, j.target, j.mid, j.at, \
     (SELECT user_id FROM aliases WHERE anonymous_id = j.id) AS linked, \
     COALESCE((SELECT user_id FROM aliases WHERE anonymous_id = j.target), j.target) AS root \
     FROM (SELECT key, json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS target, \
     json_extract(value, '$[2]') AS mid, json_extract(value, '$[3]') AS at FROM json_each(?1)) AS j) AS c \
     WHERE c.linked IS NULL OR c.linked != c.root ORDER BY c.k \
     ON CONFLICT DO NOTHING";

// Alias rows changed since the last mirror to ClickHouse, oldest revision first.
const ALIASES_TO_MIRROR: &str = "SELECT anonymous_id AS id, user_id AS root, rev FROM aliases \
     WHERE rev > COALESCE((SELECT rev FROM alias_sync WHERE id = 1), 0) ORDER BY rev LIMIT ?1";

// The mirror's high-water mark only moves forward (two consumers may mirror concurrently).
const MARK_ALIASES_MIRRORED: &str = "INSERT INTO alias_sync (id, rev) VALUES (1, ?1) \
     ON CONFLICT(id) DO UPDATE SET rev = max(alias_sync.rev, excluded.rev)";

// Profiles ClickHouse's `users` does not have yet, oldest revision first.
const USERS_TO_MIRROR: &str = "SELECT user_id, traits, rev FROM users \
     WHERE rev > COALESCE((SELECT rev FROM user_sync WHERE id = 1), 0) ORDER BY rev LIMIT ?1";

// The profile mirror's high-water mark only moves forward.
const MARK_USERS_MIRRORED: &str = "INSERT INTO user_sync (id, rev) VALUES (1, ?1) \
     ON CONFLICT(id) DO UPDATE SET rev = max(user_sync.rev, excluded.rev)";

const INSERT_BAD_ROW: &str =
    "INSERT INTO bad_rows (received_at, write_key, endpoint, reason, detail, message_id, payload, request, payload_truncated) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The Spur database.
pub struct Store {
    db: D1Database,
}

impl Store {
    /// Opens the binding.
    pub fn open(env: &Env) -> Result<Self, ApiError> {
        Ok(Store {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Stores events and the profile facts they carry, in one D1 batch (one transaction).
    /// Returns, per event, whether it was new (not a duplicate `messageId`).
    pub async fn insert_events(
        &self,
        events: &[Event],
        write_key: Option<&str>,
    ) -> Result<Vec<bool>, ApiError> {
        self.insert_keyed(events.iter().map(|e| (e, write_key)))
            .await
    }

    /// Stores events that may come from several queue messages (each with its write key) in
    /// one D1 batch, as [`Store::insert_events`] does for one message. The events go in a few
    /// statements (one per [`D1_ROWS_PARAM_BYTES`] of rows), not one each.
    pub async fn insert_keyed<'a>(
        &self,
        events: impl Iterator<Item = (&'a Event, Option<&'a str>)> + Clone,
    ) -> Result<Vec<bool>, ApiError> {
        let mut rows = Chunks::default();
        for (e, key) in events.clone() {
            rows.push(&event_row(e, key)?)?;
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmts = self.chunk_statements(INSERT_EVENTS, rows)?;
        let count = stmts.len();
        self.profile_statements(events.clone().map(|(e, _)| e), &mut stmts)?;
        let results = self.db.batch(stmts).await?;
        // RETURNING names the rows this batch inserted; the first event with each id is the
        // new one, as the first of two per-row inserts was.
        let mut inserted = HashSet::new();
        for r in results.iter().take(count) {
            for row in r.results::<Inserted>()? {
                inserted.insert(row.message_id);
            }
        }
        Ok(events
            .map(|(e, _)| inserted.remove(&e.message_id))
            .collect())
    }

    /// Stores only the profile facts events carry (users, groups, aliases), in one D1 batch:
    /// for a deployment whose events live in ClickHouse. Idempotent like [`Store::insert_events`].
    pub async fn insert_profiles(&self, events: &[Event]) -> Result<(), ApiError> {
        let mut stmts = Vec::new();
        self.profile_statements(events.iter(), &mut stmts)?;
        if !stmts.is_empty() {
            self.db.batch(stmts).await?;
        }
        Ok(())
    }

    /// One statement per chunk of rows.
    fn chunk_statements(
        &self,
        sql: &str,
        rows: Chunks,
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        rows.finish()
            .into_iter()
            .map(|chunk| Ok(self.db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?))
            .collect()
    }

    /// The profile statements for `events`: users, groups and members a few statements in
    /// all, alias links two per distinct pair plus their judgements ([`Store::alias_statements`]). Tables are written in this order, each in event order;
    /// no statement reads another's table, so the result is the per-event order's.
    fn profile_statements<'a>(
        &self,
        events: impl Iterator<Item = &'a Event>,
        out: &mut Vec<D1PreparedStatement>,
    ) -> Result<(), ApiError> {
        let (mut users, mut groups, mut members) =
            (Chunks::default(), Chunks::default(), Chunks::default());
        let empty = serde_json::Map::new();
        let events: Vec<&Event> = events.collect();
        for e in &events {
            let at = rfc3339(e.timestamp);
            if let Some(uid) = e.user_id.as_deref() {
                let traits = if e.kind == MessageType::Identify {
                    &e.traits
                } else {
                    &empty
                };
                users.push(&(uid, json(traits)?, &at))?;
            }
            if let (MessageType::Group, Some(gid)) = (e.kind, e.group_id.as_deref()) {
                groups.push(&(gid, json(&e.traits)?, &at))?;
                members.push(&(gid, e.identity(), &at))?;
            }
        }
        out.extend(self.chunk_statements(UPSERT_USERS, users)?);
        self.alias_statements(&events, out)?;
        out.extend(self.chunk_statements(UPSERT_GROUPS, groups)?);
        out.extend(self.chunk_statements(INSERT_MEMBERS, members)?);
        Ok(())
    }

    /// The alias statements for `events`, in [`alias_plan`]'s order: each distinct pair's
    /// LINK_ALIAS and REPOINT_ALIASES where the batch first carries it, and the links judged
    /// between two pairs' links in one RECORD_ALIAS_REFUSALS (a chunk each) — so a device's
    /// batch of one anonymous/user pair is three statements, not two plus one per event.
    fn alias_statements(
        &self,
        events: &[&Event],
        out: &mut Vec<D1PreparedStatement>,
    ) -> Result<(), ApiError> {
        for step in alias_plan(events.iter().copied()) {
            match step {
                AliasStep::Link(i, id, to) => {
                    let Some(e) = events.get(i) else { continue };
                    out.push(self.db.prepare(LINK_ALIAS).bind(&[
                        id.into(),
                        to.into(),
                        JsValue::from_str(&rfc3339(e.timestamp)),
                        JsValue::from_f64(MAX_ALIAS_FAN_IN as f64),
                    ])?);
                    out.push(self.db.prepare(REPOINT_ALIASES).bind(&[id.into()])?);
                }
                AliasStep::Judge(links) => {
                    let mut rows = Chunks::default();
                    for (i, id, to) in links {
                        let Some(e) = events.get(i) else { continue };
                        rows.push(&(id, to, &e.message_id, rfc3339(e.received_at)))?;
                    }
                    for chunk in rows.finish() {
                        out.push(self.db.prepare(RECORD_ALIAS_REFUSALS).bind(&[
                            JsValue::from_str(&chunk),
                            ALIAS_LINK_ENDPOINT.into(),
                            AliasRefusal::Cycle.code().into(),
                            AliasRefusal::Conflict.code().into(),
                            AliasRefusal::FanIn.code().into(),
                            MAX_ALIAS_FAN_IN.to_string().into(),
                        ])?);
                    }
                }
            }
        }
        Ok(())
    }

    /// The next page of alias rows ClickHouse's `alias_roots` does not have yet (at most
    /// [`ALIAS_SYNC_PAGE_ROWS`], oldest revision first).
    pub async fn aliases_to_mirror(&self) -> Result<Vec<AliasRootRow>, ApiError> {
        Ok(self
            .db
            .prepare(ALIASES_TO_MIRROR)
            .bind(&[JsValue::from_f64(ALIAS_SYNC_PAGE_ROWS as f64)])?
            .all()
            .await?
            .results()?)
    }

    /// Records that ClickHouse has every alias row through revision `rev`.
    pub async fn mark_aliases_mirrored(&self, rev: i64) -> Result<(), ApiError> {
        self.db
            .prepare(MARK_ALIASES_MIRRORED)
            .bind(&[js_ms(rev)])?
            .run()
            .await?;
        Ok(())
    }

    /// The next page of profiles ClickHouse's `users` does not have yet (at most
    /// [`USER_SYNC_PAGE_ROWS`], oldest revision first; revisions are distinct per row).
    pub async fn users_to_mirror(&self) -> Result<Vec<StoredUser>, ApiError> {
        Ok(self
            .db
            .prepare(USERS_TO_MIRROR)
            .bind(&[JsValue::from_f64(USER_SYNC_PAGE_ROWS as f64)])?
            .all()
            .await?
            .results()?)
    }

    /// Records that ClickHouse has every profile row through revision `rev`.
    pub async fn mark_users_mirrored(&self, rev: i64) -> Result<(), ApiError> {
        self.db
            .prepare(MARK_USERS_MIRRORED)
            .bind(&[js_ms(rev)])?
            .run()
            .await?;
        Ok(())
    }

    /// Records bad rows.
    pub async fn insert_bad_rows(&self, rows: &[BadRow]) -> Result<(), ApiError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut stmts = Vec::with_capacity(rows.len());
        for r in rows {
            stmts.push(self.db.prepare(INSERT_BAD_ROW).bind(&[
                r.received_at.as_str().into(),
                opt(r.write_key.as_deref()),
                r.endpoint.as_str().into(),
                r.reason.as_str().into(),
                r.detail.as_str().into(),
                opt(r.message_id.as_deref()),
                r.payload.as_str().into(),
                opt(r.request.as_deref()),
                JsValue::from_f64(if r.payload_truncated { 1.0 } else { 0.0 }),
            ])?);
        }
        self.db.batch(stmts).await?;
        Ok(())
    }
}

/// Stored events in `[from, to)` that the rule names (all of them for `*`; with `user`, every
/// event of that user, so misspelt trigger names show up in explain), oldest first, at most
/// [`MAX_REPLAY_EVENTS`]; the flag says whether more were there.
pub async fn for_rule(
    env: &Env,
    rule: &CompiledRule,
    from: i64,
    to: i64,
    user: Option<&str>,
) -> Result<(Vec<Event>, bool), ApiError> {
    let names: Vec<&str> = rule.event_names().collect();
    for_names(env, &names, from, to, user).await
}

/// Stored events named `names` (`*`: any) in `[from, to)` in time order, at most
/// `MAX_REPLAY_EVENTS` (the flag says whether more were left out) — for rule and journey replay.
pub async fn for_names(
    env: &Env,
    names: &[&str],
    from: i64,
    to: i64,
    user: Option<&str>,
) -> Result<(Vec<Event>, bool), ApiError> {
    let mut sql = String::from(
        "SELECT message_id, type, event, name, user_id, anonymous_id, group_id, previous_id, timestamp, \
         received_at, sent_at, original_timestamp, properties, traits, context, integrations \
         FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2",
    );
    let mut args: Vec<JsValue> = vec![js_ms(from), js_ms(to)];
    if let Some(u) = user {
        args.push(u.into());
        sql.push_str(" AND (user_id = ?3 OR anonymous_id = ?3)");
    } else if !names.contains(&"*") {
        let mut clauses = Vec::new();
        for name in names {
            args.push(name.trim_start_matches('$').into());
            let n = args.len();
            clauses.push(if name.starts_with('$') {
                format!("type = ?{n}")
            } else {
                format!("(type = 'track' AND event = ?{n})")
            });
        }
        sql.push_str(&format!(" AND ({})", clauses.join(" OR ")));
    }
    sql.push_str(&format!(
        " ORDER BY ts_ms, message_id LIMIT {}",
        MAX_REPLAY_EVENTS + 1
    ));
    let rows: Vec<Map<String, Value>> = env
        .d1(DB_BINDING)?
        .prepare(&sql)
        .bind(&args)?
        .all()
        .await?
        .results()?;
    let truncated = rows.len() > MAX_REPLAY_EVENTS as usize;
    let events = rows
        .iter()
        .take(MAX_REPLAY_EVENTS as usize)
        .filter_map(Event::from_row)
        .collect();
    Ok((events, truncated))
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn json(v: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// An events row in column order, as INSERT_EVENTS reads it: the values the per-row statement
/// bound, with the JSON columns as their JSON text.
#[derive(Serialize)]
struct EventRow<'a>(
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<&'a str>,
);

fn event_row<'a>(e: &'a Event, write_key: Option<&'a str>) -> Result<EventRow<'a>, ApiError> {
    Ok(EventRow(
        &e.message_id,
        e.kind.as_str(),
        e.event.as_deref(),
        e.name.as_deref(),
        e.user_id.as_deref(),
        e.anonymous_id.as_deref(),
        e.group_id.as_deref(),
        e.previous_id.as_deref(),
        rfc3339(e.timestamp),
        spur_core::instant::to_ms(e.timestamp),
        rfc3339(e.received_at),
        e.sent_at.map(rfc3339),
        e.original_timestamp.map(rfc3339),
        json(&e.properties)?,
        json(&e.traits)?,
        json(&e.context)?,
        json(&e.integrations)?,
        write_key,
    ))
}

/// A row INSERT_EVENTS inserted (its RETURNING clause).
#[derive(Deserialize)]
struct Inserted {
    message_id: String,
}

/// Rows packed into JSON arrays of at most [`D1_ROWS_PARAM_BYTES`] each (a row larger than
/// that alone gets a chunk of its own; stored events are far smaller).
#[derive(Default)]
struct Chunks {
    done: Vec<String>,
    open: String,
}

impl Chunks {
    fn push(&mut self, row: &impl Serialize) -> Result<(), ApiError> {
        let row = json(row)?;
        if !self.open.is_empty() && self.open.len() + row.len() + 2 > D1_ROWS_PARAM_BYTES {
            let full = std::mem::take(&mut self.open);
            self.done.push(full + "]");
        }
        self.open.push(if self.open.is_empty() { '[' } else { ',' });
        self.open.push_str(&row);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.done.is_empty() && self.open.is_empty()
    }

    fn finish(mut self) -> Vec<String> {
        if !self.open.is_empty() {
            self.done.push(self.open + "]");
        }
        self.done
    }
}
