//! Structure-aware ingest: Segment batches generated with `arbitrary` (random sizes, field
//! types, ids, timestamps, nesting), serialized to JSON and run through the whole pipeline.
//!
//! Invariant checked: as for raw bytes (conservation, round trip, determinism), and in
//! addition the body always parses, so the request never fails as a whole unless it is over
//! the size limit, and the number of messages received is exactly the number generated.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Number, Value};
use spur_core::RequestError;

use crate::ingest::{run, Gzip, Shape};

/// Strings the pipeline treats specially, mixed with arbitrary ones.
const WORDS: &[&str] = &[
    "",
    "track",
    "page",
    "identify",
    "group",
    "alias",
    "screen",
    "Order Completed",
    "Signed Up",
    "Clicked",
    "e",
    "__proto__",
    "constructor",
    "ip",
    "198.51.100.23",
    "2001:db8::1",
    "email",
    "a@example.com",
    "total",
    "order_id",
    "currency",
    "EUR",
    "<script>alert(1)</script>",
    "'; DROP TABLE events; --",
    "\u{0}",
    "\u{2028}",
    "é",
    "🦀",
];

/// Timestamps: valid, at the edges of what RFC 3339 and `time` can hold, and invalid.
const TIMES: &[&str] = &[
    "2024-05-01T12:00:00.000Z",
    "2024-05-01T12:00:05Z",
    "2024-05-01T14:00:00+02:00",
    "2024-05-01T12:00:00.123456789-23:59",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "1970-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-05-01 12:00:00",
    "yesterday",
    "",
];

#[derive(Debug, Arbitrary)]
enum Text {
    Word(u8),
    Any(String),
    Long(u8, u16),
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::Word(i) => WORDS[usize::from(*i) % WORDS.len()].to_owned(),
            Text::Any(s) => s.clone(),
            // At the name, id and string limits (256, 8,192 characters) and past the event's.
            // Long strings make an input slow, so most stay around the 256 limits.
            Text::Long(c, n) => {
                const LONG: [usize; 4] = [8_192, 8_193, 20_000, 33_000];
                let len = match *n {
                    n @ 0..=64_000 => usize::from(n % 300),
                    n => LONG[usize::from(n) % LONG.len()],
                };
                std::iter::repeat_n(char::from(b'a' + c % 26), len).collect()
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(Text),
    Array(Vec<Json>),
    Object(Vec<(Text, Json)>),
    /// A wide object of generated keys (around the 256-key limit, and far past it).
    Wide(u16),
    /// A deep nest (around the depth limit of 16).
    Deep(u8),
}

impl Json {
    fn render(&self, depth: usize) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Uint(u) => Value::from(*u),
            Json::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Text(t) => Value::String(t.render()),
            Json::Array(items) if depth < 24 => {
                Value::Array(items.iter().map(|v| v.render(depth + 1)).collect())
            }
            Json::Object(members) if depth < 24 => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.render(), v.render(depth + 1)))
                    .collect(),
            ),
            Json::Array(_) | Json::Object(_) => Value::Null,
            Json::Wide(n) => Value::Object(
                (0..[1, 16, 255, 256, 257, 300][usize::from(*n) % 6])
                    .map(|i| (format!("k{i}"), Value::from(i)))
                    .collect(),
            ),
            Json::Deep(n) => {
                let mut v = Value::from(1);
                for _ in 0..usize::from(*n) % 40 {
                    v = Value::Array(vec![v]);
                }
                v
            }
        }
    }
}

/// A value for a field that should be a string: usually one, sometimes the wrong type.
#[derive(Debug, Arbitrary)]
enum Field {
    Text(Text),
    Time(u8),
    Other(Json),
}

impl Field {
    fn render(&self) -> Value {
        match self {
            Field::Text(t) => Value::String(t.render()),
            Field::Time(i) => Value::String(TIMES[usize::from(*i) % TIMES.len()].to_owned()),
            Field::Other(j) => j.render(1),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Message {
    kind: Option<Field>,
    event: Option<Field>,
    name: Option<Field>,
    user_id: Option<Field>,
    anonymous_id: Option<Field>,
    message_id: Option<Field>,
    group_id: Option<Field>,
    previous_id: Option<Field>,
    properties: Option<Json>,
    traits: Option<Json>,
    context: Option<Json>,
    integrations: Option<Json>,
    timestamp: Option<Field>,
    original_timestamp: Option<Field>,
    sent_at: Option<Field>,
    extra: Vec<(Text, Json)>,
    /// Replaces the whole message with a non-object.
    not_an_object: Option<Json>,
}

impl Message {
    fn render(&self) -> Value {
        if let Some(j) = &self.not_an_object {
            if !matches!(j, Json::Object(_) | Json::Wide(_)) {
                return j.render(1);
            }
        }
        let mut m = Map::new();
        for (k, v) in &self.extra {
            m.insert(k.render(), v.render(1));
        }
        let fields: [(&str, &Option<Field>); 11] = [
            ("type", &self.kind),
            ("event", &self.event),
            ("name", &self.name),
            ("userId", &self.user_id),
            ("anonymousId", &self.anonymous_id),
            ("messageId", &self.message_id),
            ("groupId", &self.group_id),
            ("previousId", &self.previous_id),
            ("timestamp", &self.timestamp),
            ("originalTimestamp", &self.original_timestamp),
            ("sentAt", &self.sent_at),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                m.insert(k.into(), v.render());
            }
        }
        let objects: [(&str, &Option<Json>); 4] = [
            ("properties", &self.properties),
            ("traits", &self.traits),
            ("context", &self.context),
            ("integrations", &self.integrations),
        ];
        for (k, v) in objects {
            if let Some(v) = v {
                m.insert(k.into(), v.render(1));
            }
        }
        Value::Object(m)
    }
}

#[derive(Debug, Arbitrary)]
struct Batch {
    selector: (u8, u8),
    messages: Vec<Message>,
    /// Copies of the last message appended.
    repeat_last: u8,
    write_key: Option<Field>,
    sent_at: Option<Field>,
    context: Option<Json>,
    integrations: Option<Json>,
}

/// `ingest_batch`: a generated batch, serialized, through the whole pipeline.
pub fn ingest_batch(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(batch) = Batch::arbitrary(&mut u) else {
        return;
    };
    let mut shape = Shape::from_bytes(batch.selector.0, batch.selector.1);
    // The body is known to be JSON: labelling raw JSON as gzip tests nothing new here.
    if shape.gzip == Gzip::Raw {
        shape.gzip = Gzip::Valid;
    }
    let mut messages: Vec<Value> = batch.messages.iter().map(Message::render).collect();
    if let Some(last) = messages.last().cloned() {
        // A few copies. (Batches past the 1,000-event cap cost ~10 ms an input and libFuzzer
        // keeps breeding them once found; core/tests/limits.rs tests that cap at N and N+1.)
        let extra = usize::from(batch.repeat_last % 8);
        messages.extend(std::iter::repeat_n(last, extra));
    }
    let count = messages.len();
    let body = if shape.single.is_some() {
        let mut m = messages.into_iter().next().unwrap_or(Value::Null);
        if let (Value::Object(obj), Some(k)) = (&mut m, &batch.write_key) {
            obj.insert("writeKey".into(), k.render());
        }
        m
    } else {
        let mut env = Map::new();
        env.insert("batch".into(), Value::Array(messages));
        for (k, v) in [("writeKey", &batch.write_key), ("sentAt", &batch.sent_at)] {
            if let Some(v) = v {
                env.insert(k.into(), v.render());
            }
        }
        for (k, v) in [
            ("context", &batch.context),
            ("integrations", &batch.integrations),
        ] {
            if let Some(v) = v {
                env.insert(k.into(), v.render(1));
            }
        }
        Value::Object(env)
    };
    let text = body.to_string();
    match run(text.as_bytes(), shape) {
        Ok(out) => {
            let expected = if shape.single.is_some() { 1 } else { count };
            assert_eq!(out.received(), expected, "messages lost or invented");
        }
        Err(RequestError::Malformed(detail)) => {
            // Only the envelope's own fields can make a generated body malformed.
            assert!(
                shape.single.is_none(),
                "a JSON single-message body was refused as malformed: {detail}"
            );
        }
        Err(_) => {}
    }
}
