//! The events queue: the ingest request produces [`Work`] to it, its consumer stores what the
//! request accepted or rejected.
//!
//! Invariant: a message is acked only after its rows are in the events store — D1, or
//! ClickHouse when `EVENTS_STORE = "clickhouse"` (profiles then still go to D1, and their changed
//! alias and profile rows are mirrored to ClickHouse before its events; each `messageId`'s
//! first copy is recorded in D1's message-id ledger before the insert, and only it is
//! inserted, see `storage::message_ids`) — and its events are archived; any
//! failure retries the message, and after the queue's `max_retries` it reaches the dead-letter
//! queue, whose consumer records its contents as bad rows with reason `storage_failed` — so an
//! event is never dropped silently.

use worker::{console_error, Bucket, Env, HttpMetadata, Message, MessageBatch, MessageExt};

use crate::clock::{now, now_ms, rfc3339};
use crate::http::error::ApiError;
use crate::objects::live;
use crate::queues::send::send;
use crate::queues::upkeep;
use crate::storage::clickhouse::{self, ClickHouse};
use crate::storage::events::Store;
use crate::storage::message_ids::Ledger;

use spur_core::identity::synced_through;
use spur_core::limits::{
    ALIAS_SYNC_PAGE_ROWS, MAX_ALIAS_SYNC_PAGES, MAX_USER_SYNC_PAGES, USER_SYNC_PAGE_ROWS,
};
use spur_core::query::clickhouse::{event_row, row_digest, EventRow};
use spur_core::work::joins_store_run;
pub use spur_core::work::{bad_rows, split};
use spur_core::{BadRow, Work};

/// The queue binding the ingest request produces to and the consumer reads.
pub const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
/// The dead-letter queue's name (wrangler.toml `dead_letter_queue`).
pub const DEAD_LETTER_QUEUE: &str = "spur-events-dlq";

/// The R2 binding of the event archive.
pub const ARCHIVE_BUCKET: &str = "ARCHIVE";

/// Sends work items to the events queue.
pub async fn enqueue(env: &Env, items: Vec<String>) -> Result<(), ApiError> {
    send(&env.queue(EVENTS_QUEUE)?, items).await
}

/// Handles one delivery of queue messages, acking or retrying each on its own.
///
/// With D1 as the events store, the events of a delivery's messages are stored together, in
/// D1 batches of at most `STORE_BATCH_EVENTS` events ([`joins_store_run`]), with one archive object per group: a
/// delivery of many small messages (1-event requests) costs a few writes instead of two per
/// message. A group whose write fails is stored again message by message, so one message's
/// failure retries that message alone, as before.
pub async fn consume(batch: MessageBatch<String>, env: &Env) -> Result<(), ApiError> {
    let dead = batch.queue() == DEAD_LETTER_QUEUE;
    let store = Store::open(env)?;
    if dead {
        for msg in batch.messages()? {
            let id = msg.id();
            let result = dead_letter(&store, env, msg.body(), &id).await;
            settle(&msg, &id, result);
        }
        return Ok(());
    }
    let joined = !clickhouse::selected(env)?;
    let mut group: Vec<Stored> = Vec::new();
    let mut group_events = 0usize;
    for msg in batch.messages()? {
        let id = msg.id();
        let result = match decode(msg.body()) {
            Ok(Work::Events { write_key, events }) if joined => {
                match injected_store_fault(env, FAULT_BEFORE_STORE, &events, &id) {
                    Ok(()) => {
                        if !joins_store_run(group_events, events.len()) {
                            store_group(&store, env, std::mem::take(&mut group)).await;
                            group_events = 0;
                        }
                        group_events = group_events.saturating_add(events.len());
                        group.push(Stored {
                            msg,
                            id,
                            write_key,
                            events,
                        });
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(work) => process(&store, env, work, &id).await,
            Err(done) => done,
        };
        settle(&msg, &id, result);
    }
    store_group(&store, env, group).await;
    Ok(())
}

/// One decoded events message waiting in a group.
struct Stored {
    msg: Message<String>,
    id: String,
    write_key: Option<String>,
    events: Vec<spur_core::Event>,
}

/// Acks a message whose work is stored; retries it otherwise.
fn settle(msg: &Message<String>, id: &str, result: Result<(), ApiError>) {
    match result {
        Ok(()) => msg.ack(),
        Err(e) => {
            console_error!("queue message {id} failed (will retry): {e:?}");
            msg.retry();
        }
    }
}

/// Stores a group's events in one D1 batch and archives the new ones, then acks every
/// message; if that fails, each message is stored on its own and settled by its own result.
async fn store_group(store: &Store, env: &Env, group: Vec<Stored>) {
    let Some(first) = group.first() else {
        return;
    };
    let joined = async {
        let events = group
            .iter()
            .flat_map(|s| s.events.iter().map(move |e| (e, s.write_key.as_deref())));
        let fresh = store.insert_keyed(events.clone()).await?;
        let new_events: Vec<_> = events
            .zip(fresh)
            .filter(|(_, f)| *f)
            .map(|((e, _), _)| e)
            .collect();
        archive(env, new_events.iter().copied(), &first.id).await?;
        // Pushed once stored, and only first-time inserts: a redelivery shows nothing twice.
        live::publish(env, &new_events).await;
        // Every event of the group (the object observes each once): a redelivery after a
        // failed upkeep catches up.
        let all: Vec<_> = group.iter().flat_map(|s| s.events.iter()).collect();
        upkeep::after_store(env, &all).await;
        Ok::<(), ApiError>(())
    };
    match joined.await {
        Ok(()) => group.iter().for_each(|s| s.msg.ack()),
        Err(e) if group.len() > 1 => {
            console_error!(
                "storing {} queue messages together failed, storing each alone: {e:?}",
                group.len()
            );
            for s in group {
                let work = Work::Events {
                    write_key: s.write_key,
                    events: s.events,
                };
                let result = process(store, env, work, &s.id).await;
                settle(&s.msg, &s.id, result);
            }
        }
        Err(e) => settle(&first.msg, &first.id, Err(e)),
    }
}

/// Mirrors D1's changed alias rows to ClickHouse, a page at a time, and only then advances
/// the high-water mark: a failed insert leaves the rows for the retry (or any later run).
/// Rows of the revision a full page may have cut are re-read with the next page.
async fn mirror_aliases(store: &Store, ch: &ClickHouse) -> Result<(), ApiError> {
    for _ in 0..MAX_ALIAS_SYNC_PAGES {
        let rows = store.aliases_to_mirror().await?;
        let revs: Vec<i64> = rows.iter().map(|r| r.rev).collect();
        let Some(through) = synced_through(&revs, ALIAS_SYNC_PAGE_ROWS) else {
            return Ok(());
        };
        ch.insert_alias_roots(&rows).await?;
        store.mark_aliases_mirrored(through).await?;
        if rows.len() < ALIAS_SYNC_PAGE_ROWS {
            return Ok(());
        }
    }
    Ok(())
}

/// Mirrors D1's changed profile rows to ClickHouse, a page at a time, and only then advances
/// the high-water mark: a failed insert leaves the rows for the retry (or any later run), and
/// an insert repeated after a failed mark holds identical rows. Each row has its own revision,
/// so a page's last revision completes it. Profiles D1 held before ClickHouse was selected
/// are backfilled this way, [`MAX_USER_SYNC_PAGES`] pages per run.
async fn mirror_users(store: &Store, ch: &ClickHouse) -> Result<(), ApiError> {
    for _ in 0..MAX_USER_SYNC_PAGES {
        let rows = store.users_to_mirror().await?;
        let Some(through) = rows.iter().map(|r| r.rev).max() else {
            return Ok(());
        };
        ch.insert_users(&rows).await?;
        store.mark_users_mirrored(through).await?;
        if rows.len() < USER_SYNC_PAGE_ROWS {
            return Ok(());
        }
    }
    Ok(())
}

/// An event copy the message-id ledger recorded, with its ClickHouse row.
struct Kept<'a> {
    event: &'a spur_core::Event,
    row: EventRow,
    fresh: bool,
}

/// Records a ClickHouse-mode message's ids in the ledger ([`crate::storage::message_ids`])
/// and keeps the copies to insert: those whose row digest is the ledger's, each id once.
/// Later copies with another digest (client retries) are dropped, as D1 mode drops them.
async fn record_ids<'a>(
    env: &Env,
    events: &'a [spur_core::Event],
    write_key: Option<&str>,
) -> Result<Vec<Kept<'a>>, ApiError> {
    let rows: Vec<EventRow> = events.iter().map(|e| event_row(e, write_key)).collect();
    let digests = digests(&rows)?;
    let verdicts = Ledger::open(env)?
        .record(&copies(events, &digests), now_ms())
        .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(events
        .iter()
        .zip(rows)
        .zip(verdicts)
        .filter(|((e, _), v)| v.first_copy && seen.insert(e.message_id.as_str()))
        .map(|((event, row), v)| Kept {
            event,
            row,
            fresh: v.fresh,
        })
        .collect())
}

/// The ledger digest of each ClickHouse row.
fn digests(rows: &[EventRow]) -> Result<Vec<String>, ApiError> {
    rows.iter()
        .map(row_digest)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The digests of a message's events as the consumer stores them.
fn copy_digests(
    events: &[spur_core::Event],
    write_key: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<EventRow> = events.iter().map(|e| event_row(e, write_key)).collect();
    digests(&rows)
}

/// `(message_id, digest)` per event, as the ledger takes them.
fn copies<'a>(events: &'a [spur_core::Event], digests: &'a [String]) -> Vec<(&'a str, &'a str)> {
    events
        .iter()
        .zip(digests)
        .map(|(e, d)| (e.message_id.as_str(), d.as_str()))
        .collect()
}

/// A queue message's work; an undecodable one is an error for its message (it retries and
/// reaches the dead-letter queue, whose consumer records it).
fn decode(body: &str) -> Result<Work, Result<(), ApiError>> {
    serde_json::from_str(body)
        .map_err(|e| Err(ApiError::Internal(format!("undecodable work: {e}"))))
}

async fn process(store: &Store, env: &Env, work: Work, id: &str) -> Result<(), ApiError> {
    match work {
        Work::Events { write_key, events } => {
            injected_store_fault(env, FAULT_BEFORE_STORE, &events, id)?;
            if clickhouse::selected(env)? {
                store.insert_profiles(&events).await?;
                let ch = ClickHouse::open(env)?;
                // Alias rows first: a person must never be resolved without its link once
                // the events count.
                mirror_aliases(store, &ch).await?;
                // Profiles likewise, so trait cohorts see the traits these events set.
                mirror_users(store, &ch).await?;
                let kept = record_ids(env, &events, write_key.as_deref()).await?;
                ch.insert_rows(kept.iter().map(|k| &k.row)).await?;
                injected_store_fault(env, FAULT_AFTER_STORE, &events, id)?;
                // The recorded copies (first copies, and this message's again on a
                // redelivery): the object key is the queue message id, so a redelivery
                // overwrites, not adds, and one that failed before archiving catches up.
                archive(env, kept.iter().map(|k| k.event), id).await?;
                // Pushed once stored, and only first-time ids: a redelivery shows nothing twice.
                let fresh: Vec<_> = kept.iter().filter(|k| k.fresh).map(|k| k.event).collect();
                live::publish(env, &fresh).await;
                upkeep::after_store(env, &events.iter().collect::<Vec<_>>()).await;
                return Ok(());
            }
            let fresh = store.insert_events(&events, write_key.as_deref()).await?;
            // Archive only first-time inserts, so client retries do not duplicate the archive;
            // the object key is the queue message id, so a retry of this message overwrites.
            let new_events: Vec<_> = events
                .iter()
                .zip(fresh)
                .filter(|(_, f)| *f)
                .map(|(e, _)| e)
                .collect();
            archive(env, new_events.iter().copied(), id).await?;
            // Pushed once stored, and only first-time inserts: a redelivery shows nothing twice.
            live::publish(env, &new_events).await;
            upkeep::after_store(env, &events.iter().collect::<Vec<_>>()).await;
            Ok(())
        }
        Work::BadRows { rows } => store.insert_bad_rows(&rows).await,
    }
}

async fn archive<'a>(
    env: &Env,
    events: impl Iterator<Item = &'a spur_core::Event>,
    id: &str,
) -> Result<(), ApiError> {
    let objects =
        spur_core::archive::encode(events, id).map_err(|e| ApiError::Internal(e.to_string()))?;
    if objects.is_empty() {
        return Ok(());
    }
    let bucket: Bucket = env.bucket(ARCHIVE_BUCKET)?;
    for o in objects {
        bucket
            .put(o.key, o.body)
            .http_metadata(HttpMetadata {
                content_type: Some("application/x-ndjson".into()),
                content_encoding: Some("gzip".into()),
                ..HttpMetadata::default()
            })
            .execute()
            .await?;
    }
    Ok(())
}

/// A message that kept failing: keep its contents as bad rows so they can be replayed (with
/// ClickHouse, after the message-id ledger forgets its copies: see [`Ledger::forget`]).
async fn dead_letter(store: &Store, env: &Env, body: &str, id: &str) -> Result<(), ApiError> {
    let received_at = rfc3339(now());
    let rows = match serde_json::from_str::<Work>(body) {
        Ok(Work::BadRows { rows }) => rows,
        Ok(Work::Events { write_key, events }) => {
            if clickhouse::selected(env)? {
                let digests = copy_digests(&events, write_key.as_deref())?;
                Ledger::open(env)?
                    .forget(&copies(&events, &digests))
                    .await?;
            }
            events
                .iter()
                .map(|e| BadRow {
                    received_at: rfc3339(e.received_at),
                    write_key: write_key.clone(),
                    endpoint: "/v1/batch".into(),
                    reason: "storage_failed".into(),
                    detail: format!("storing failed after every retry (queue message {id})"),
                    message_id: Some(e.message_id.clone()),
                    payload: serde_json::to_string(e).unwrap_or_default(),
                    request: None,
                    payload_truncated: false,
                })
                .collect()
        }
        Err(e) => vec![BadRow {
            received_at,
            write_key: None,
            endpoint: "queue".into(),
            reason: "undecodable_work".into(),
            detail: format!("queue message {id} could not be decoded: {e}"),
            message_id: None,
            payload: body.to_owned(),
            request: None,
            payload_truncated: false,
        }],
    };
    let rows: Vec<BadRow> = rows.into_iter().map(BadRow::bounded).collect();
    store.insert_bad_rows(&rows).await
}

/// Fault injection before the events store write (see [`injected_store_fault`]).
const FAULT_BEFORE_STORE: &str = "SPUR_FAULT_STORE_FAIL";
/// Fault injection right after a ClickHouse write, so the message is redelivered with its rows
/// already stored (the redelivery the store must not double count).
const FAULT_AFTER_STORE: &str = "SPUR_FAULT_AFTER_STORE";

/// Test-only fault injection; the vars are absent from wrangler.toml, so production never fails
/// here. With `var` set to a marker, a message holding an event whose name
/// is `<marker>` fails as a D1 write would on every delivery (a poison message), and one named
/// `<marker><n>` fails on its first `n` deliveries only (storage that recovers). Deliveries
/// are counted per queue message id in this isolate, which workerd keeps for the run.
fn injected_store_fault(
    env: &Env,
    var: &str,
    events: &[spur_core::Event],
    id: &str,
) -> Result<(), ApiError> {
    thread_local! {
        static FAILED: std::cell::RefCell<std::collections::HashMap<String, u32>> =
            std::cell::RefCell::default();
    }
    let marker = env.var(var).ok().map(|v| v.to_string());
    let Some(marker) = marker.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let limit = events
        .iter()
        .filter_map(|e| e.event.as_deref()?.strip_prefix(marker.as_str()))
        .map(|n| {
            if n.is_empty() {
                u32::MAX
            } else {
                n.parse().unwrap_or(0)
            }
        })
        .max();
    let Some(limit) = limit.filter(|n| *n > 0) else {
        return Ok(());
    };
    let failed = FAILED.with(|f| {
        let mut f = f.borrow_mut();
        let n = f.entry(format!("{var}:{id}")).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    if failed <= limit {
        Err(ApiError::Internal(format!(
            "injected store failure {failed} of {limit} ({var})"
        )))
    } else {
        Ok(())
    }
}
