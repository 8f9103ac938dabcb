//! The per-user Durable Object: stateful rules (windows, absence deadlines, sequences, caps)
//! and the person's journey runs (see [`super::journeys`]); the delivery and alarm transitions
//! are in `transitions.rs`, identity merge in `merge.rs`, live segment upkeep in `live.rs`.
//!
//! Invariant: a thin adapter — spur-core's pure transitions decide everything; this object only
//! loads per-rule state from its SQLite storage, runs them, writes the new state back in the
//! same synchronous stretch (no await between read and write, so concurrent requests cannot
//! interleave a half-update), keeps its alarm at the earliest deadline, and hands firings to the
//! actions queue. A `messageId` is applied at most once, so a retried hand-over is harmless.
//! One alarm serves both: it is set to the earliest of the rule deadlines and journey wake-ups.
//! It also keeps the person's frequency-cap [`Tally`] (`spur_core::frequency`): every in-app,
//! push or email send is admitted here — read, decided, written in one synchronous stretch —
//! so the count is exact however many requests race; each ask is remembered by its action id
//! for [`ADMITTED_TTL_MS`], so a redelivered ask gets its first answer and is counted once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spur_core::frequency::{Ask, Verdict};
use spur_core::merge::{Handover, Link};
use spur_core::rules::{next_deadline, Firing, InAppMessage, RuleIndex, RuleState};
use spur_core::Event;
mod frequency;
mod live;
mod merge;
mod outbox;
mod seen;
mod transitions;

use frequency::FREQUENCY_TALLY;
use outbox::{load_outbox, park, write_outbox};

pub use live::{LiveAnswer, LiveDelivery};

use worker::{
    console_error, durable_object, DurableObject, Env, Method, Request, RequestInit, Response,
    Result, SqlStorage, State,
};

use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::objects::journeys::{self as person_journeys, EnterRequest, Entered};
use crate::queues::firings::{self as actions, prepare};
use crate::storage::journeys as journey_set;

/// The Durable Object binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const USER_STATE: &str = "USER_STATE";
/// Meta key: the deadline the alarm is set for (ms since 1970).
const ALARM_DUE: &str = "alarm_due";
/// Meta key: `"<due> <ran>"` of the last alarm that rang (ms since 1970).
const LAST_ALARM: &str = "last_alarm";
/// Meta key: the person this (anonymous) person was merged into; set once, by the hand-over.
const MERGED_INTO: &str = "merged_into";
/// Meta key: how many merges arrived again after their source was already imported.
const MERGE_REPEATS: &str = "merge_repeats";
/// Meta key: what the hand-over exported (returned again when a merge is retried).
const HANDOVER: &str = "handover";
const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS rule_state (rule_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, message TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS admitted (key TEXT PRIMARY KEY, skip TEXT, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS admitted_at ON admitted (at);
CREATE TABLE IF NOT EXISTS merged_from (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS live_state (segment_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS live_seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS live_seen_at ON live_seen (at);";

/// What the ingest request (or the actions consumer) sends.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// userId, else anonymousId.
    pub user: String,
    /// The rule set version the sender used.
    pub version: u64,
    /// The user's events the stateful rules care about (may be empty: a message pickup).
    pub events: Vec<Event>,
    /// Whether in-app messages go back in the response (else they wait in the outbox).
    pub respond: bool,
    /// The journey set version the sender used (0: whatever is current).
    #[serde(default)]
    pub journeys: u64,
    /// An API entry into a journey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enter: Option<EnterRequest>,
    /// The person's stored profile traits, when the sender read them for a condition that
    /// names `traits.*` (`None`: the object reads them itself if a condition needs them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Map<String, serde_json::Value>>,
    /// How often this delivery was forwarded along `merged_into` links.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the merge coordinator asks the identified person's object to take in.
#[derive(Debug, Serialize, Deserialize)]
pub struct Import {
    /// The identified person (the object's own id).
    pub into: String,
    /// What the anonymous person's object handed over.
    pub handover: Handover,
    /// How often this import was forwarded along `merged_into` links.
    #[serde(default)]
    pub hops: u32,
}

/// What an import came to.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Imported {
    /// False when this source was already merged (a retried merge): nothing changed.
    pub merged: bool,
    /// Rule firings the union completed.
    pub fired: usize,
    /// What the merge left behind.
    #[serde(default)]
    pub dropped_runs: usize,
    /// Pending messages past the bound.
    #[serde(default)]
    pub dropped_messages: usize,
}

/// The object's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    /// In-app messages for the sender to return to the tracker.
    pub messages: Vec<InAppMessage>,
    /// What an API entry came to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered: Option<Entered>,
}

/// Hands events to the user's object and returns the in-app messages to show.
pub async fn deliver(env: &Env, delivery: &Delivery) -> std::result::Result<Answer, ApiError> {
    let body = serde_json::to_string(delivery).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    let req = Request::new_with_init("https://user-state/events", &init)?;
    let stub = env
        .durable_object(USER_STATE)?
        .id_from_name(&delivery.user)?
        .get_stub()?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "user state answered {}",
            resp.status_code()
        )));
    }
    Ok(resp.json().await?)
}

/// Asks the person's object to admit sends under the frequency policy (call only when the
/// policy is active: it costs a hop). One verdict per ask, in order.
pub async fn admit(
    env: &Env,
    user: &str,
    asks: &[Ask],
) -> std::result::Result<Vec<Verdict>, ApiError> {
    post(env, user, "/admit", &asks).await
}

/// POSTs `body` as JSON to `path` of `user`'s object and reads its JSON answer.
async fn post<T: Serialize, R: serde::de::DeserializeOwned>(
    env: &Env,
    user: &str,
    path: &str,
    body: &T,
) -> std::result::Result<R, ApiError> {
    let body = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    let req = Request::new_with_init(&format!("https://user-state{path}"), &init)?;
    let stub = env
        .durable_object(USER_STATE)?
        .id_from_name(user)?
        .get_stub()?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "user state {path} answered {}",
            resp.status_code()
        )));
    }
    Ok(resp.json().await?)
}

/// Merges `link.from`'s state into `link.into`'s object, exactly once: the anonymous object
/// hands over (and from then on forwards what reaches it), the identified one imports keyed
/// by the anonymous id. Both steps repeat harmlessly, so a failed merge is simply retried.
pub async fn merge(env: &Env, link: &Link) -> std::result::Result<Imported, ApiError> {
    let handover: Handover = post(env, &link.from, "/handover", link).await?;
    let import = Import {
        into: link.into.clone(),
        handover,
        hops: 0,
    };
    post(env, &link.into, "/import", &import).await
}

/// Hands a person's stored events to their object's live segment upkeep.
pub async fn upkeep(env: &Env, d: &LiveDelivery) -> std::result::Result<LiveAnswer, ApiError> {
    post(env, &d.user, "/live", d).await
}

/// Reads the object's state (for explain).
pub async fn inspect(env: &Env, user: &str) -> std::result::Result<serde_json::Value, ApiError> {
    let stub = env
        .durable_object(USER_STATE)?
        .id_from_name(user)?
        .get_stub()?;
    let mut resp = stub.fetch_with_str("https://user-state/state").await?;
    Ok(resp.json().await?)
}

#[derive(Deserialize)]
struct StateRow {
    rule_id: String,
    state: String,
}

#[derive(Deserialize)]
struct TextRow {
    value: String,
}

/// One user's rule state.
#[durable_object]
pub struct UserState {
    state: State,
    env: Env,
}

impl std::fmt::Debug for UserState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserState").finish_non_exhaustive()
    }
}

impl DurableObject for UserState {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            console_error!("user state schema: {e}");
        }
        UserState { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let result = match (req.method(), req.path().as_str()) {
            (Method::Post, "/events") => match req.json::<Delivery>().await {
                Ok(d) => self
                    .events(d)
                    .await
                    .and_then(|a| Ok(Response::from_json(&a)?)),
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Post, "/admit") => match req.json::<Vec<Ask>>().await {
                Ok(asks) => self
                    .admit_asks(&asks)
                    .await
                    .and_then(|v| Ok(Response::from_json(&v)?)),
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Post, "/handover") => match req.json::<Link>().await {
                Ok(l) => self
                    .handover(&l)
                    .await
                    .and_then(|h| Ok(Response::from_json(&h)?)),
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Post, "/import") => match req.json::<Import>().await {
                Ok(i) => self
                    .import(i)
                    .await
                    .and_then(|a| Ok(Response::from_json(&a)?)),
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Post, "/live") => match req.json::<LiveDelivery>().await {
                Ok(d) => self
                    .live(d)
                    .await
                    .and_then(|a| Ok(Response::from_json(&a)?)),
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Get, "/state") => self.snapshot().await,
            _ => Err(ApiError::NotFound),
        };
        result.or_else(ApiError::into_response)
    }

    async fn alarm(&self) -> Result<Response> {
        match self.ring().await {
            Ok(()) => Response::ok("ok"),
            // An error leaves the state as it was; the runtime retries a failed alarm.
            Err(e) => Err(worker::Error::RustError(format!("{e:?}"))),
        }
    }
}

impl UserState {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Queues the firings' records; messages are returned or parked in the outbox.
    async fn dispatch(
        &self,
        index: &RuleIndex,
        firings: Vec<Firing>,
        user: &str,
        source: &str,
        respond: bool,
    ) -> std::result::Result<Answer, ApiError> {
        if firings.is_empty() {
            return Ok(Answer::default());
        }
        let mut prepared = prepare(index, firings, user, source, respond);
        self.gate_in_app(&mut prepared).await?;
        if !respond {
            park(&self.sql(), &prepared.messages, now_ms())?;
        }
        actions::record(&self.env, prepared.records).await?;
        Ok(Answer {
            messages: if respond {
                prepared.messages
            } else {
                Vec::new()
            },
            entered: None,
        })
    }

    /// Queues journey actions (record id = idempotency key) and adds their stats; messages
    /// are returned or parked in the outbox.
    async fn dispatch_journeys(
        &self,
        out: spur_core::journeys::Output,
        user: &str,
        source: &str,
        respond: bool,
    ) -> std::result::Result<Vec<InAppMessage>, ApiError> {
        if let Err(e) = journey_set::add_ticks(&self.env, &out.ticks).await {
            console_error!("journey stats not counted: {e:?}");
        }
        if out.effects.is_empty() {
            return Ok(Vec::new());
        }
        // `emit` actions become stored events through the events queue (which only stores:
        // emitted events never reach rules or journeys, so journeys cannot loop).
        let emitted = spur_core::journeys::deliver::emitted(&out.effects, user);
        if !emitted.is_empty() {
            let encoded = spur_core::work::encode_events(&emitted);
            crate::queues::events::enqueue(
                &self.env,
                spur_core::work::split(None, &encoded, Vec::new()),
            )
            .await?;
        }
        let mut prepared =
            spur_core::journeys::deliver::prepare(&out.effects, user, source, respond);
        self.gate_in_app(&mut prepared).await?;
        if !respond {
            park(&self.sql(), &prepared.messages, now_ms())?;
        }
        actions::record(&self.env, prepared.records).await?;
        Ok(if respond {
            prepared.messages
        } else {
            Vec::new()
        })
    }

    async fn schedule(&self, deadline: Option<i64>, at: i64) -> std::result::Result<(), ApiError> {
        let storage = self.state.storage();
        // Live membership's next time-based change shares the one alarm.
        let deadline = earliest(deadline, live::live_due(&self.sql())?);
        match deadline {
            Some(d) => {
                set_meta(&self.sql(), ALARM_DUE, &d.to_string())?;
                storage.set_alarm((d - at).max(1)).await?;
            }
            None => storage.delete_alarm().await?,
        }
        Ok(())
    }

    async fn snapshot(&self) -> std::result::Result<Response, ApiError> {
        let sql = self.sql();
        let states = load(&sql)?;
        let outbox: Vec<TextRow> = sql
            .exec("SELECT message AS value FROM outbox ORDER BY at", None)?
            .to_array()?;
        let waiting: Vec<serde_json::Value> = outbox
            .iter()
            .filter_map(|r| serde_json::from_str(&r.value).ok())
            .collect();
        let alarm = self.state.storage().get_alarm().await?;
        let merged_from: Vec<String> = sql
            .exec("SELECT id AS value FROM merged_from ORDER BY at", None)?
            .to_array::<TextRow>()?
            .into_iter()
            .map(|r| r.value)
            .collect();
        let last_alarm = get_meta(&sql, LAST_ALARM)?.and_then(|v| {
            let (due, ran) = v.split_once(' ')?;
            Some(serde_json::json!({ "dueMs": due.parse::<i64>().ok()?, "ranMs": ran.parse::<i64>().ok()? }))
        });
        Ok(Response::from_json(&serde_json::json!({
            "lastAlarm": last_alarm,
            "user": get_meta(&sql, "user")?,
            "identity": {
                "mergedInto": get_meta(&sql, MERGED_INTO)?,
                "mergedFrom": merged_from,
                "repeats": get_meta(&sql, MERGE_REPEATS)?
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0),
            },
            "rules": states,
            "live": live::load_live(&sql)?,
            "liveDue": live::live_due(&sql)?,
            "journeys": person_journeys::load(&sql)?,
            "alarm": alarm,
            "outbox": waiting,
            "frequency": get_meta(&sql, FREQUENCY_TALLY)?
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()),
        }))?)
    }
}

/// The earliest stored rule deadline or journey wake-up.
fn stored_due(sql: &SqlStorage) -> std::result::Result<Option<i64>, ApiError> {
    let person = person_journeys::load(sql)?;
    Ok(earliest(next_deadline(&load(sql)?), person.next_wake()))
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn load(sql: &SqlStorage) -> std::result::Result<BTreeMap<String, RuleState>, ApiError> {
    let rows: Vec<StateRow> = sql
        .exec("SELECT rule_id, state FROM rule_state", None)?
        .to_array()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.rule_id, serde_json::from_str(&r.state).ok()?)))
        .collect())
}

fn save(
    sql: &SqlStorage,
    before: &BTreeMap<String, RuleState>,
    after: &BTreeMap<String, RuleState>,
) -> std::result::Result<(), ApiError> {
    for id in before.keys().filter(|k| !after.contains_key(*k)) {
        sql.exec(
            "DELETE FROM rule_state WHERE rule_id = ?",
            vec![id.as_str().into()],
        )?;
    }
    for (id, state) in after.iter().filter(|(k, v)| before.get(*k) != Some(v)) {
        let text = serde_json::to_string(state).map_err(|e| ApiError::Internal(e.to_string()))?;
        sql.exec(
            "INSERT INTO rule_state (rule_id, state) VALUES (?, ?) \
             ON CONFLICT(rule_id) DO UPDATE SET state = excluded.state",
            vec![id.as_str().into(), text.into()],
        )?;
    }
    Ok(())
}

fn set_meta(sql: &SqlStorage, key: &str, value: &str) -> std::result::Result<(), ApiError> {
    sql.exec(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        vec![key.into(), value.into()],
    )?;
    Ok(())
}

fn get_meta(sql: &SqlStorage, key: &str) -> std::result::Result<Option<String>, ApiError> {
    let rows: Vec<TextRow> = sql
        .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?
        .to_array()?;
    Ok(rows.into_iter().next().map(|r| r.value))
}
