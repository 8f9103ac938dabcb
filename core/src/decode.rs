//! Bytes to events: the request envelope, then each message on its own.
//!
//! Invariant: a request either fails as a whole with a [`RequestError`] (too large, not JSON,
//! no batch) or yields one `Result` per message in it, in order; one bad message never
//! affects its neighbours.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Reason, RequestError};
use crate::event::{Event, MessageType, Object};
use crate::limits;

/// What a request body holds before its messages are judged.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// Each message's exact bytes, in order.
    pub messages: Vec<&'a RawValue>,
    /// The write key sent in the body, if any.
    pub write_key: Option<String>,
    /// The batch's `sentAt`, if any (a message's own `sentAt` wins).
    pub sent_at: Option<String>,
    /// Batch-level `context`, merged under each message's own.
    pub context: Option<Object>,
    /// Batch-level `integrations`, merged under each message's own.
    pub integrations: Option<Object>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    #[serde(rename = "sentAt")]
    sent_at: Option<String>,
    context: Option<Object>,
    integrations: Option<Object>,
}

#[derive(Deserialize)]
struct SingleHead {
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
}

/// Splits a body into messages. `single` is the message type of a `/v1/{type}` endpoint,
/// whose body is one message; `None` means a `/v1/batch` body.
pub fn envelope(body: &[u8], single: Option<MessageType>) -> Result<Envelope<'_>, RequestError> {
    if body.len() > limits::MAX_BATCH_BYTES {
        return Err(RequestError::BodyTooLarge(body.len()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| RequestError::Malformed(format!("body is not UTF-8: {e}")))?;
    if single.is_some() {
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| RequestError::Malformed(e.to_string()))?;
        let head: SingleHead =
            serde_json::from_str(raw.get()).unwrap_or(SingleHead { write_key: None });
        return Ok(Envelope {
            messages: vec![raw],
            write_key: head.write_key.and_then(|v| v.as_str().map(str::to_owned)),
            sent_at: None,
            context: None,
            integrations: None,
        });
    }
    let parsed: BatchBody<'_> =
        serde_json::from_str(text).map_err(|e| RequestError::Malformed(e.to_string()))?;
    let messages = parsed.batch.ok_or(RequestError::MissingBatch)?;
    if messages.len() > limits::MAX_BATCH_EVENTS {
        return Err(RequestError::BatchTooLong(messages.len()));
    }
    Ok(Envelope {
        messages,
        write_key: parsed.write_key,
        sent_at: parsed.sent_at,
        context: parsed.context,
        integrations: parsed.integrations,
    })
}

/// A message that failed, with a human-readable detail next to the stable reason.
pub type Failure = (Reason, String);

/// Facts a message is decoded against.
#[derive(Debug, Clone, Copy)]
pub struct DecodeFacts<'a> {
    /// Server time at receipt.
    pub received_at: OffsetDateTime,
    /// The message type forced by a `/v1/{type}` endpoint.
    pub single: Option<MessageType>,
    /// The messageId to give a message that has none.
    pub fallback_message_id: &'a str,
    /// The envelope's `sentAt`.
    pub batch_sent_at: Option<&'a str>,
    /// The envelope's `context`.
    pub batch_context: Option<&'a Object>,
    /// The envelope's `integrations`.
    pub batch_integrations: Option<&'a Object>,
}

/// Decodes and checks one message.
pub fn message(raw: &RawValue, facts: &DecodeFacts<'_>) -> Result<Event, Failure> {
    let bytes = raw.get().len();
    if bytes > limits::MAX_EVENT_BYTES {
        return Err((
            Reason::EventTooLarge,
            format!(
                "event is {bytes} bytes; the limit is {}",
                limits::MAX_EVENT_BYTES
            ),
        ));
    }
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| (Reason::NotAnObject, format!("event is not valid JSON: {e}")))?;
    check_shape(&value, 1)?;
    let Value::Object(mut obj) = value else {
        return Err((Reason::NotAnObject, "event is not a JSON object".into()));
    };

    let kind = match facts.single {
        Some(kind) => kind,
        None => {
            let t = take_str(&mut obj, "type", usize::MAX)?
                .ok_or((Reason::InvalidType, "`type` is missing".to_owned()))?;
            MessageType::parse(&t).ok_or_else(|| {
                (
                    Reason::InvalidType,
                    format!(
                        "`type` {t:?} is not one of track, page, screen, identify, group, alias"
                    ),
                )
            })?
        }
    };

    let user_id = take_id(&mut obj, "userId")?;
    let anonymous_id = take_id(&mut obj, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err((
            Reason::MissingIdentity,
            "`userId` or `anonymousId` is required".into(),
        ));
    }
    let message_id =
        take_id(&mut obj, "messageId")?.unwrap_or_else(|| facts.fallback_message_id.to_owned());
    let event = take_str(&mut obj, "event", limits::MAX_EVENT_NAME_CHARS)?;
    let name = take_str(&mut obj, "name", limits::MAX_EVENT_NAME_CHARS)?;
    let category = take_str(&mut obj, "category", limits::MAX_EVENT_NAME_CHARS)?;
    let group_id = take_id(&mut obj, "groupId")?;
    let previous_id = take_id(&mut obj, "previousId")?;
    match kind {
        MessageType::Track if event.as_deref().is_none_or(str::is_empty) => {
            return Err((
                Reason::MissingField,
                "a track call needs a non-empty `event`".into(),
            ))
        }
        MessageType::Group if group_id.is_none() => {
            return Err((Reason::MissingField, "a group call needs `groupId`".into()))
        }
        MessageType::Alias if previous_id.is_none() || user_id.is_none() => {
            return Err((
                Reason::MissingField,
                "an alias call needs `previousId` and `userId`".into(),
            ))
        }
        _ => {}
    }

    let properties = take_object(&mut obj, "properties")?.unwrap_or_default();
    let traits = take_object(&mut obj, "traits")?.unwrap_or_default();
    for (field, map) in [("properties", &properties), ("traits", &traits)] {
        if map.len() > limits::MAX_PROPERTIES {
            return Err((
                Reason::TooManyProperties,
                format!(
                    "`{field}` has {} keys; the limit is {}",
                    map.len(),
                    limits::MAX_PROPERTIES
                ),
            ));
        }
    }
    let mut context = take_object(&mut obj, "context")?.unwrap_or_default();
    merge_under(&mut context, facts.batch_context);
    let mut integrations = take_object(&mut obj, "integrations")?.unwrap_or_default();
    merge_under(&mut integrations, facts.batch_integrations);

    let timestamp = take_time(&mut obj, "timestamp")?;
    let original = take_time(&mut obj, "originalTimestamp")?;
    let sent_at = match take_time(&mut obj, "sentAt")? {
        Some(t) => Some(t),
        None => facts
            .batch_sent_at
            .map(|s| parse_time("sentAt", s))
            .transpose()?,
    };
    let original_timestamp = timestamp.or(original);
    let timestamp = corrected_timestamp(facts.received_at, original_timestamp, sent_at);

    Ok(Event {
        message_id,
        kind,
        event,
        name,
        category,
        user_id,
        anonymous_id,
        group_id,
        previous_id,
        properties,
        traits,
        context,
        integrations,
        timestamp,
        original_timestamp,
        sent_at,
        received_at: facts.received_at,
    })
}

/// Segment's clock-skew correction: `receivedAt − (sentAt − timestamp)`; with no `sentAt` the
/// client's timestamp is kept, and with no timestamp the event happened when it arrived.
/// A correction that would leave RFC 3339's years 0000–9999 (a client clock off by
/// millennia: `sentAt` 9999, `timestamp` 0000) cannot be stored or even computed, so the
/// event counts as arriving when it did; `originalTimestamp` and `sentAt` keep what was sent.
pub fn corrected_timestamp(
    received_at: OffsetDateTime,
    timestamp: Option<OffsetDateTime>,
    sent_at: Option<OffsetDateTime>,
) -> OffsetDateTime {
    match (timestamp, sent_at) {
        (Some(ts), Some(sent)) => received_at
            .checked_sub(sent - ts)
            .filter(|t| (0..=9999).contains(&t.year()))
            .unwrap_or(received_at),
        (Some(ts), None) => ts,
        (None, _) => received_at,
    }
}

/// Checks depth and string lengths everywhere in one walk.
fn check_shape(value: &Value, depth: usize) -> Result<(), Failure> {
    match value {
        Value::Object(map) => {
            if depth > limits::MAX_JSON_DEPTH {
                return Err(too_deep());
            }
            for (k, v) in map {
                check_len(k)?;
                check_shape(v, depth + 1)?;
            }
        }
        Value::Array(items) => {
            if depth > limits::MAX_JSON_DEPTH {
                return Err(too_deep());
            }
            for v in items {
                check_shape(v, depth + 1)?;
            }
        }
        Value::String(s) => check_len(s)?,
        _ => {}
    }
    Ok(())
}

fn too_deep() -> Failure {
    (
        Reason::TooDeep,
        format!("event nests deeper than {} levels", limits::MAX_JSON_DEPTH),
    )
}

fn check_len(s: &str) -> Result<(), Failure> {
    // Byte length bounds char count from above, so most strings skip the count.
    if s.len() > limits::MAX_STRING_CHARS && s.chars().count() > limits::MAX_STRING_CHARS {
        return Err((
            Reason::StringTooLong,
            format!(
                "a string is longer than {} characters",
                limits::MAX_STRING_CHARS
            ),
        ));
    }
    Ok(())
}

fn take_str(obj: &mut Object, key: &str, max_chars: usize) -> Result<Option<String>, Failure> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > max_chars && s.chars().count() > max_chars {
                return Err((
                    Reason::StringTooLong,
                    format!("`{key}` is longer than {max_chars} characters"),
                ));
            }
            Ok(Some(s))
        }
        Some(other) => Err(wrong_type(key, "a string", &other)),
    }
}

/// Ids may be strings or numbers (Segment accepts numeric user ids); numbers become strings.
fn take_id(obj: &mut Object, key: &str) -> Result<Option<String>, Failure> {
    match obj.get(key) {
        Some(Value::Number(n)) => {
            let s = n.to_string();
            obj.remove(key);
            Ok(Some(s))
        }
        _ => Ok(take_str(obj, key, limits::MAX_ID_CHARS)?.filter(|s| !s.is_empty())),
    }
}

fn take_object(obj: &mut Object, key: &str) -> Result<Option<Object>, Failure> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(wrong_type(key, "an object", &other)),
    }
}

fn take_time(obj: &mut Object, key: &str) -> Result<Option<OffsetDateTime>, Failure> {
    match take_str(obj, key, limits::MAX_TIMESTAMP_CHARS)? {
        None => Ok(None),
        Some(s) => parse_time(key, &s).map(Some),
    }
}

fn parse_time(key: &str, s: &str) -> Result<OffsetDateTime, Failure> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        (
            Reason::InvalidTimestamp,
            format!("`{key}` {s:?} is not an RFC 3339 time"),
        )
    })
}

fn wrong_type(key: &str, want: &str, got: &Value) -> Failure {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    (
        Reason::WrongFieldType,
        format!("`{key}` must be {want}, not {got}"),
    )
}

/// Fills keys missing from `own` with the batch-level values (the message's own win).
fn merge_under(own: &mut Object, batch: Option<&Object>) {
    if let Some(batch) = batch {
        for (k, v) in batch {
            own.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}
