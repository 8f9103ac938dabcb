//! Request decoding and the whole ingest pipeline on raw bytes.
//!
//! Invariant checked: any body and any header combination either fails the request with a
//! `RequestError` or yields an outcome where every message of the body is accepted or
//! rejected exactly once, in order; accepted events read back as themselves after the JSON
//! round trip the queue and D1 put them through; the same request judged twice gives the same
//! outcome.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use spur_core::decode::{self, DecodeFacts};
use spur_core::{
    decode_body, ingest, CfFacts, Event, Ingest, MessageType, Outcome, Pipeline, RequestError,
    RequestFacts,
};
use time::macros::datetime;
use time::OffsetDateTime;

/// The server time every fuzzed request is received at.
pub(crate) const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:05 UTC);

/// The repository's tracking plan (flag mode, formats, patterns).
const REPO_PLAN: &str = include_str!("../../tracking-plan.json");

/// A stricter plan: block mode, unknown events blocked, identify and group traits checked.
const BLOCKING_PLAN: &str = r#"{
  "mode": "block",
  "unknownEvents": "block",
  "events": {
    "Order Completed": { "properties": { "type": "object", "required": ["order_id", "total"],
      "properties": { "order_id": { "type": "string", "minLength": 1 },
                      "total": { "type": "number", "minimum": 0 },
                      "items": { "type": "array", "maxItems": 50,
                                 "items": { "type": "object", "properties": { "price": { "type": "number" } } } },
                      "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } } } },
    "Signed Up": { "mode": "flag", "properties": { "type": "object",
      "properties": { "email": { "type": "string", "format": "email" },
                      "plan": { "enum": ["free", "pro", "team"] } } } },
    "Clicked": {},
    "e": { "mode": "allow", "properties": { "type": "object", "required": ["never"] } }
  },
  "identify": { "traits": { "type": "object", "properties": { "email": { "type": "string", "format": "email" },
                                                               "age": { "type": "integer", "minimum": 0 } } } },
  "group": { "mode": "flag", "traits": { "type": "object", "required": ["name"] } }
}"#;

/// The pipelines a fuzz input picks from (by its first byte): every GPC policy, with the
/// repository's plan, a blocking plan, or none.
pub(crate) fn pipelines() -> &'static [Pipeline; 4] {
    static PIPELINES: OnceLock<[Pipeline; 4]> = OnceLock::new();
    PIPELINES.get_or_init(|| {
        let config = |gpc: &str, plan: Option<&str>| {
            let plan = plan.map_or(String::new(), |p| format!(r#","trackingPlan":{p}"#));
            Pipeline::from_json(&format!(
                r#"{{"sources":{{"wk":{{"name":"site","allowedOrigins":["https://shop.example","https://*.shop.example"]}},
                     "wk_any":{{"name":"any","allowedOrigins":["*"]}},
                     "wk_srv":{{"name":"server","allowedOrigins":[]}}}},
                    "gpc":"{gpc}"{plan}}}"#
            ))
            .expect("the fuzz pipelines are valid")
        };
        [
            config("anonymize", Some(REPO_PLAN)),
            config("drop", Some(BLOCKING_PLAN)),
            config("ignore", None),
            config("anonymize", Some(BLOCKING_PLAN)),
        ]
    })
}

fn cf() -> &'static CfFacts {
    static CF: OnceLock<CfFacts> = OnceLock::new();
    CF.get_or_init(|| {
        serde_json::from_str(
            r#"{"country":"DE","region":"Berlin","regionCode":"BE","city":"Berlin",
                "timezone":"Europe/Berlin","asn":3320,"colo":"TXL","postalCode":"10115",
                "latitude":"52.5","longitude":"13.4"}"#,
        )
        .expect("valid cf facts")
    })
}

/// The request around a body, chosen by the bits of two selector bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub pipeline: usize,
    pub single: Option<MessageType>,
    pub header_key: bool,
    pub origin: Option<&'static str>,
    pub gpc: bool,
    pub gzip: Gzip,
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gzip {
    /// Sent as is.
    No,
    /// Compressed here, sent with `Content-Encoding: gzip` (exercises a valid gzip path).
    Valid,
    /// Sent as is but labelled gzip (exercises the decoder on arbitrary bytes).
    Raw,
}

impl Shape {
    pub(crate) fn from_bytes(b: u8, c: u8) -> Shape {
        const TYPES: [MessageType; 6] = [
            MessageType::Track,
            MessageType::Page,
            MessageType::Screen,
            MessageType::Identify,
            MessageType::Group,
            MessageType::Alias,
        ];
        const ORIGINS: [Option<&str>; 4] = [
            None,
            Some("https://shop.example"),
            Some("https://a.shop.example"),
            Some("https://evil.example"),
        ];
        Shape {
            pipeline: usize::from(b & 3),
            single: (b & 4 != 0).then(|| TYPES[usize::from(b >> 5) % TYPES.len()]),
            header_key: b & 8 != 0,
            origin: ORIGINS[usize::from((b >> 4) & 3)],
            gpc: c & 1 != 0,
            gzip: match (c >> 1) & 3 {
                0 | 1 => Gzip::No,
                2 => Gzip::Valid,
                _ => Gzip::Raw,
            },
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// Runs one request through `ingest` and checks its outcome; returns it for further checks.
pub(crate) fn run(body: &[u8], shape: Shape) -> Result<Outcome, RequestError> {
    let pipeline = &pipelines()[shape.pipeline];
    let compressed;
    let (sent, encoding) = match shape.gzip {
        Gzip::No => (body, None),
        Gzip::Valid => {
            compressed = gzip(body);
            (compressed.as_slice(), Some("gzip"))
        }
        Gzip::Raw => (body, Some("gzip")),
    };
    let facts = RequestFacts {
        ip: Some("203.0.113.77"),
        user_agent: Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
        sec_ch_ua: Some(r#""Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99""#),
        sec_ch_ua_mobile: Some("?0"),
        sec_ch_ua_platform: Some("\"macOS\""),
        sec_gpc: shape.gpc.then_some("1"),
        origin: shape.origin,
        // `wk_any:` in base64.
        authorization: shape.header_key.then_some("Basic d2tfYW55Og=="),
        content_encoding: encoding,
        cf: Some(cf()),
    };
    let req = Ingest {
        now: NOW,
        request_id: "req",
        single: shape.single,
        request: facts,
    };
    let first = ingest(sent, &req, pipeline);
    let second = ingest(sent, &req, pipeline);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.accepted, b.accepted, "same request, different outcome");
            assert_eq!(a.rejected, b.rejected, "same request, different outcome");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "same request, different error"),
        _ => panic!("same request, different outcome: {first:?} / {second:?}"),
    }
    if let Ok(out) = &first {
        let received = expected_messages(sent, encoding, shape.single)
            .expect("ingest accepted a body the decoder refuses");
        check_outcome(out, received);
    }
    first
}

/// How many messages the body holds, by decoding it independently of `ingest`.
fn expected_messages(
    body: &[u8],
    encoding: Option<&str>,
    single: Option<MessageType>,
) -> Option<usize> {
    let json = decode_body(body, encoding).ok()?;
    let env = decode::envelope(&json, single).ok()?;
    Some(env.messages.len())
}

/// Conservation and the stored form of every accepted event.
pub(crate) fn check_outcome(out: &Outcome, received: usize) {
    assert_eq!(
        out.received(),
        received,
        "accepted + rejected != received ({} + {} != {received})",
        out.accepted.len(),
        out.rejected.len()
    );
    let mut seen = BTreeSet::new();
    for r in &out.rejected {
        assert!(
            r.index < received,
            "rejected index {} out of range",
            r.index
        );
        assert!(seen.insert(r.index), "index {} rejected twice", r.index);
        if !r.reason.keeps_payload() {
            assert!(
                r.raw.is_empty(),
                "a {} bad row kept its payload",
                r.reason.code()
            );
        }
        assert!(!r.reason.code().is_empty());
    }
    assert!(
        out.rejected.windows(2).all(|w| w[0].index < w[1].index),
        "rejections out of order"
    );
    for e in &out.accepted {
        check_stored(e);
    }
}

/// What the queue and D1 do with an accepted event: serialize it and read it back.
fn check_stored(e: &Event) {
    let text = match serde_json::to_string(e) {
        Ok(text) => text,
        Err(err) => panic!("an accepted event cannot be serialized ({err}): {e:?}"),
    };
    let back: Event = match serde_json::from_str(&text) {
        Ok(back) => back,
        Err(err) => panic!("an accepted event does not read back ({err}): {text}"),
    };
    assert_eq!(
        &back, e,
        "an accepted event changed in the round trip: {text}"
    );
    if let Some(serde_json::Value::String(ip)) = e.context.get("ip") {
        assert!(
            ip.ends_with(".0") || ip.ends_with("::"),
            "context.ip {ip:?} is not truncated"
        );
    }
}

/// `decode`: body decoding (none/identity/gzip/unknown encodings), the envelope and every
/// message on its own, outside the pipeline.
pub fn decode(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    const ENCODINGS: [Option<&str>; 6] = [
        None,
        Some("gzip"),
        Some(" X-GZIP "),
        Some("identity"),
        Some("br"),
        Some(""),
    ];
    let encoding = ENCODINGS[usize::from(sel & 7) % ENCODINGS.len()];
    let single = (sel & 8 != 0).then_some(MessageType::Track);
    // Arbitrary bytes labelled with the encoding.
    if let Ok(json) = decode_body(body, encoding) {
        assert!(json.len() <= spur_core::limits::MAX_DECOMPRESSED_BYTES);
        if let Some(enc) = encoding.filter(|e| e.trim().eq_ignore_ascii_case("gzip")) {
            assert!(
                json.len()
                    <= body
                        .len()
                        .saturating_mul(spur_core::limits::MAX_COMPRESSION_RATIO),
                "{enc}: inflated past the ratio cap"
            );
        }
        messages(&json, single);
    }
    // The same bytes, compressed: gzip must give them back exactly (when within the caps).
    if sel & 0x10 != 0 {
        let compressed = gzip(body);
        match decode_body(&compressed, Some("gzip")) {
            Ok(json) => assert_eq!(json.as_ref(), body, "gzip did not round-trip"),
            Err(
                RequestError::CompressionRatio
                | RequestError::DecompressedTooLarge
                | RequestError::BodyTooLarge(_),
            ) => {}
            Err(e) => panic!("a valid gzip body was refused: {e:?}"),
        }
    }
}

fn messages(json: &[u8], single: Option<MessageType>) {
    let Ok(env) = decode::envelope(json, single) else {
        return;
    };
    for (i, raw) in env.messages.iter().enumerate() {
        let fallback = format!("req-{i}");
        let facts = DecodeFacts {
            received_at: NOW,
            single,
            fallback_message_id: &fallback,
            batch_sent_at: env.sent_at.as_deref(),
            batch_context: env.context.as_ref(),
            batch_integrations: env.integrations.as_ref(),
        };
        if let Ok(e) = decode::message(raw, &facts) {
            assert!(
                e.user_id.is_some() || e.anonymous_id.is_some(),
                "a decoded message has no identity"
            );
        }
    }
}

/// `ingest_raw`: the whole pipeline on raw bytes. The first two bytes pick the request around the
/// body (pipeline and plan, endpoint, write key in a header or the body, `Origin`, `Sec-GPC`,
/// gzip); the rest is the body.
pub fn ingest_raw(data: &[u8]) {
    let [a, b, body @ ..] = data else {
        return;
    };
    let _ = run(body, Shape::from_bytes(*a, *b));
}
