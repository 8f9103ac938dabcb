//! Every size Spur accepts, named in one place.
//!
//! Invariant: a value exactly at a limit is accepted and one over it is rejected with the
//! limit's reason code; nothing else in the crate hard-codes a size. `core/tests/limits.rs`
//! checks each constant at N and N+1.

/// Largest request body, after decompression (Segment's batch limit).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Largest single event, as it appears in the request (Segment's per-event limit).
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1_000;
/// Deepest nesting of objects and arrays inside one event (the event object itself is depth 1).
pub const MAX_JSON_DEPTH: usize = 16;
/// Most keys in `properties` or `traits` (top level).
pub const MAX_PROPERTIES: usize = 256;
/// Longest `event` / `name` value, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 256;
/// Longest `userId`, `anonymousId`, `messageId`, `groupId` or `previousId`, in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Longest string anywhere inside an event, in characters.
pub const MAX_STRING_CHARS: usize = 8_192;
/// Longest `timestamp`, `originalTimestamp` or `sentAt`, in characters. RFC 3339 with
/// nanoseconds and an offset is 35; the slack admits odd but valid spellings.
pub const MAX_TIMESTAMP_CHARS: usize = 64;
/// Most bytes a gzip body may inflate to. Equal to the batch limit, because the batch limit
/// applies to the decompressed body: inflating further could never be accepted.
pub const MAX_DECOMPRESSED_BYTES: usize = MAX_BATCH_BYTES;
/// Most times a gzip body may inflate relative to its compressed size. Real JSON batches
/// compress 5–30×; a much higher ratio is a decompression bomb, refused before it is inflated
/// in full.
pub const MAX_COMPRESSION_RATIO: usize = 100;
/// Longest user agent that is parsed; longer ones are kept but classified as unknown, so the
/// parser's work per event is bounded.
pub const MAX_USER_AGENT_CHARS: usize = 512;
/// Most tracking-plan violations recorded on one event in `flag` mode; the count is kept even
/// when the list is cut.
pub const MAX_VIOLATIONS: usize = 16;
/// How deeply a tracking-plan schema may nest subschemas (`properties` in `items` in …);
/// deeper schemas are refused when the plan is saved, so compiling one cannot exhaust the stack.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// How many subschemas one tracking-plan schema may hold (every `properties` entry, `$defs`
/// entry, `allOf` branch … counts one); bounds a compiled plan's memory.
pub const MAX_SCHEMA_NODES: usize = 4096;
/// How many subschemas deep one validation may go, counting `$ref`, `allOf`/`anyOf`/`oneOf`/`not`
/// hops as well as descents into the value; past it the value gets a `$ref` violation instead of
/// more recursion (a chain of `$ref`s can be long without any cycle).
pub const MAX_SCHEMA_EVAL_DEPTH: usize = 128;
/// The longest `pattern` a tracking-plan schema may hold, in bytes (regex-lite compiles it;
/// its own size limit bounds the compiled program too).
pub const MAX_SCHEMA_PATTERN_BYTES: usize = 1024;
/// Most `utm_*` keys read from one page URL into `context.campaign`.
pub const MAX_CAMPAIGN_KEYS: usize = 16;
/// Most brands read from a `Sec-CH-UA` header or `context.userAgentData` (browsers send 3).
pub const MAX_CLIENT_HINT_BRANDS: usize = 8;
/// Largest accepted event once enriched, as JSON (the edge adds request facts such as the
/// user agent, which can be long). Keeps one event well inside a queue message.
pub const MAX_STORED_EVENT_BYTES: usize = 64 * 1024;

/// Cloudflare Queues: largest message (platform limit).
pub const QUEUE_MESSAGE_BYTES: usize = 128 * 1024;
/// Cloudflare Queues: most messages in one `sendBatch` call (platform limit).
pub const QUEUE_BATCH_MESSAGES: usize = 100;
/// Cloudflare Queues: most bytes in one `sendBatch` call (platform limit).
pub const QUEUE_BATCH_BYTES: usize = 256 * 1024;
/// Largest JSON Spur puts in one queue message: under [`QUEUE_MESSAGE_BYTES`] with room for
/// the platform's own per-message overhead.
pub const WORK_MESSAGE_BYTES: usize = 100 * 1024;
/// Most JSON bytes Spur puts in one `sendBatch` call: under [`QUEUE_BATCH_BYTES`] with room
/// for per-message overhead of [`QUEUE_BATCH_MESSAGES`] messages.
pub const SEND_BATCH_BYTES: usize = 200 * 1024;

/// Most events the events-queue consumer stores in one D1 batch (one transaction) when it
/// joins the small messages of one delivery: many 1-event requests become one write instead of
/// one each, while a transaction stays a few thousand statements at most.
pub const STORE_BATCH_EVENTS: usize = 500;

/// Most bytes of the one JSON parameter that carries many rows into a D1 statement (the
/// events consumer writes a batch's events a chunk per statement, not one statement each):
/// half of D1's 2 MB largest string, so a chunk never nears it; the SQL text itself is constant.
pub const D1_ROWS_PARAM_BYTES: usize = 1024 * 1024;

/// Most bytes of a rejected message kept in its bad row (JSON-escaped); longer payloads are
/// cut and flagged `payload_truncated`.
pub const MAX_BAD_ROW_PAYLOAD_BYTES: usize = 16 * 1024;
/// Most bytes of a bad row's detail (JSON-escaped).
pub const MAX_BAD_ROW_DETAIL_BYTES: usize = 2 * 1024;
/// Most bytes of a bad row's message id, write key or endpoint (JSON-escaped).
pub const MAX_BAD_ROW_ID_BYTES: usize = 1024;
/// Largest request facts kept with a bad row (JSON-escaped); larger ones (a huge User-Agent
/// header) are not kept.
pub const MAX_BAD_ROW_REQUEST_BYTES: usize = 8 * 1024;
/// Largest bad row as JSON, given the bounds above (plus field names and the receipt time).
pub const MAX_BAD_ROW_BYTES: usize = MAX_BAD_ROW_PAYLOAD_BYTES
    + MAX_BAD_ROW_DETAIL_BYTES
    + 3 * MAX_BAD_ROW_ID_BYTES
    + MAX_BAD_ROW_REQUEST_BYTES
    + 512;

// The packing arithmetic holds only while these relations do.
const _: () = assert!(WORK_MESSAGE_BYTES < QUEUE_MESSAGE_BYTES);
const _: () = assert!(SEND_BATCH_BYTES < QUEUE_BATCH_BYTES);
const _: () = assert!(WORK_MESSAGE_BYTES <= SEND_BATCH_BYTES);
const _: () = assert!(MAX_STORED_EVENT_BYTES + 1024 <= WORK_MESSAGE_BYTES);
const _: () = assert!(MAX_BAD_ROW_BYTES + 1024 <= WORK_MESSAGE_BYTES);

// Journeys (issue 11).
/// Longest journey id or node id, in characters.
pub const MAX_JOURNEY_ID_CHARS: usize = 64;
/// Largest journey document, in bytes.
pub const MAX_JOURNEY_BYTES: usize = 64 * 1024;
/// Most nodes in one journey.
pub const MAX_JOURNEY_NODES: usize = 64;
/// Most ordered conditions in one branch node.
pub const MAX_BRANCH_CONDITIONS: usize = 16;
/// Most paths in one split node.
pub const MAX_SPLIT_PATHS: usize = 10;
/// Most journeys stored (the admin API refuses more).
pub const MAX_JOURNEYS: usize = 1_000;
/// Most steps a run keeps in its path (for explain); older steps are dropped first.
pub const MAX_RUN_PATH: usize = 128;
/// Largest `context` (journey variables) an API entry may carry, in bytes of JSON.
pub const MAX_JOURNEY_CONTEXT_BYTES: usize = 4 * 1024;
/// Most runs of one journey one person may have active at once (`entry.maxActive`).
pub const MAX_ACTIVE_RUNS: u32 = 20;
/// Most ended runs a person's journey state remembers per journey (for explain).
pub const MAX_ENDED_RUNS: usize = 4;
/// How much earlier than the start of a wait (or a run's entry) an event's time may be and
/// still wake the wait (or meet the goal). Event times are corrected for the client's clock
/// (`timestamp + receivedAt - sentAt`), so two events a browser sends a few ms apart can come
/// out in the other order by the difference of their requests' latencies (hundreds of ms seen
/// on this machine); older events than this are late deliveries from before the wait.
pub const JOURNEY_CLOCK_SKEW_MS: i64 = 5_000;

// Web Push (issue 12).
/// Largest encrypted push message body a push service must accept (RFC 8030 §7.2 / RFC 8291 §4).
pub const MAX_PUSH_BODY_BYTES: usize = 4_096;
/// Largest push payload (the JSON the service worker receives): the body limit less the
/// `aes128gcm` header (86 bytes), the padding delimiter and the GCM tag.
pub const MAX_PUSH_PAYLOAD_BYTES: usize = MAX_PUSH_BODY_BYTES - 86 - 1 - 16;
/// The `rs` written in the `aes128gcm` header; one record always holds the whole payload.
pub const PUSH_RECORD_SIZE: u32 = 4_096;
/// Longest push subscription endpoint, in characters.
pub const MAX_PUSH_ENDPOINT_CHARS: usize = 1_024;
/// Longest RFC 8030 `Topic`.
pub const MAX_PUSH_TOPIC_CHARS: usize = 32;
/// Longest push `TTL` (28 days, what the big push services keep a message at most).
pub const MAX_PUSH_TTL_SECS: u32 = 2_419_200;
/// Lifetime of a VAPID token (RFC 8292 §2: at most 24 hours).
pub const VAPID_TOKEN_LIFETIME_SECS: i64 = 12 * 3_600;
/// Most push subscriptions kept per person (the oldest is replaced beyond it).
pub const MAX_PUSH_SUBSCRIPTIONS_PER_PERSON: usize = 10;
/// A push action's `TTL` when it names none (one day).
pub const DEFAULT_PUSH_TTL_SECS: u32 = 86_400;
/// Largest `POST`/`DELETE /v1/push/subscriptions` body.
pub const MAX_PUSH_SUBSCRIBE_BYTES: usize = 8 * 1024;

// Email (issue 12).
/// Longest template source of an email action field (subject, html, text, to, from).
pub const MAX_EMAIL_TEMPLATE_CHARS: usize = 32 * 1024;
/// Longest rendered subject, in characters (a longer one is cut).
pub const MAX_EMAIL_SUBJECT_CHARS: usize = 998;
/// Largest rendered email (html + text + subject), and the most rendered email bytes one
/// rule firing carries over all its email actions: emails travel in the firing's
/// actions-queue message, next to the event (≤ [`MAX_STORED_EVENT_BYTES`]), within
/// [`WORK_MESSAGE_BYTES`].
pub const MAX_EMAIL_BODY_BYTES: usize = 24 * 1024;
/// Longest email address (RFC 5321 §4.5.3.1.3 path limit).
pub const MAX_EMAIL_ADDRESS_CHARS: usize = 254;
/// How much work one template render may do (minijinja fuel: roughly one unit per
/// instruction), so a loop over a large trait cannot stall the Durable Object.
pub const EMAIL_TEMPLATE_FUEL: u64 = 50_000;
/// How long an unsubscribe link works (RFC 8058 asks for a long-lived link: 180 days).
pub const UNSUBSCRIBE_TOKEN_LIFETIME_SECS: i64 = 180 * 86_400;
/// Longest unsubscribe token accepted (person ≤ 256 chars + address + MAC, base64url).
pub const MAX_UNSUBSCRIBE_TOKEN_CHARS: usize = 1_024;
/// Largest provider answer body read to classify a bounce.
pub const MAX_EMAIL_PROVIDER_ANSWER_BYTES: usize = 4 * 1024;
// A firing with the largest event and its emails fits a work message (email text grows by
// about a quarter when JSON-escaped; 4 KB for the rest of the record).
const _: () =
    assert!(MAX_STORED_EVENT_BYTES + MAX_EMAIL_BODY_BYTES * 5 / 4 + 4 * 1024 <= WORK_MESSAGE_BYTES);

/// Most `userId`s one profile lookup statement names (D1 binds at most 100 parameters); a
/// request with more people than this reads their profiles in several statements.
pub const MAX_PROFILE_LOOKUP: usize = 50;
/// Largest frequency cap (messages per person per day, per channel or overall) a policy may set.
pub const MAX_FREQUENCY_PER_DAY: u32 = 1_000;

/// Most alias rows one new link may re-point. Linking id X to a person re-points every id that
/// pointed at X (so chains stay one hop); a link that would move more is not stored (as a
/// later conflicting link is not), which bounds the consumer's work per link.
pub const MAX_ALIAS_FAN_IN: usize = 1_000;
/// Most alias rows mirrored to ClickHouse per page; larger than any one link's rows
/// ([`MAX_ALIAS_FAN_IN`] + 1), so every page completes at least one revision.
pub const ALIAS_SYNC_PAGE_ROWS: usize = 4 * (MAX_ALIAS_FAN_IN + 1);
/// Most pages mirrored per consumer run; the rest follow in the next run.
pub const MAX_ALIAS_SYNC_PAGES: usize = 8;
/// Most profile rows (`users`) mirrored to ClickHouse per page. Each row has its own revision,
/// so any page size completes its revisions; this bounds one insert's body (a row carries the
/// profile's traits, at most `MAX_EVENT_BYTES` of JSON, twice: as text and flattened).
pub const USER_SYNC_PAGE_ROWS: usize = 500;
/// Most profile pages mirrored per consumer run; the rest (a backfill of the profiles D1 held
/// before ClickHouse was selected) follow in later runs.
pub const MAX_USER_SYNC_PAGES: usize = 8;
/// Most in-app messages a person's Durable Object keeps waiting for pickup (the oldest are
/// dropped first), also after an identity merge unites two people's waiting messages.
pub const MAX_PENDING_MESSAGES: usize = 20;
/// Most times an event or a merge is forwarded along `merged_into` links (an anonymous id
/// merged into a user who was later aliased again); past it the object keeps what it got.
pub const MAX_MERGE_HOPS: u32 = 4;
/// Most identity merges (identify with both ids, alias) one ingest request performs itself;
/// the rest go through the actions queue.
pub const MAX_INLINE_MERGES: usize = 4;
/// Most anonymous ids whose hand-over a person's object remembers (the import's idempotency
/// keys); the oldest are forgotten first.
pub const MAX_MERGE_SOURCES: usize = 1_000;

/// Most live segments (saved segments marked `live`) at once; each is evaluated for every
/// event routed to a person's Durable Object.
pub const MAX_LIVE_SEGMENTS: usize = 20;
/// Most live-observed `messageId`s an identity merge hands over (the newest), for the
/// identified person's live de-duplication.
pub const MAX_HANDOVER_SEEN: usize = 1_000;
/// Most hit timestamps a live segment keeps per `did` condition per person: a `did` live
/// segment needs `max(min, max + 1)` of them, so larger bounds are refused.
pub const MAX_LIVE_HITS: usize = 100;
/// Most stored events replayed into a person's live segments when the segment first meets
/// them (the history before it was marked live).
pub const MAX_LIVE_BACKFILL: usize = 1_000;

/// How long the ClickHouse events store's message-id ledger (D1 `message_ids`) remembers a
/// `messageId`: 7 days. A copy of an id older than that (a client retry days later) is stored,
/// and counted, again; within it only the first copy is.
pub const MESSAGE_ID_WINDOW_MS: i64 = 7 * 24 * 3_600 * 1_000;
/// Fewest expired ledger rows one consumer run may delete; a run may delete up to twice the
/// events it records plus this many, so the sweep outpaces the inserts while one statement
/// stays a bounded index range.
pub const MESSAGE_ID_SWEEP_ROWS: usize = 200;
