use serde_json::json;

use super::token::{self, TokenError};
use super::*;

fn templates<'a>(subject: &'a str, html: Option<&'a str>, text: Option<&'a str>) -> Templates<'a> {
    Templates {
        to: DEFAULT_TO,
        subject,
        html,
        text,
        from: None,
    }
}

fn ctx() -> Value {
    json!({
        "event": {"event": "Added to Cart", "properties": {"product": "Tea <b>&</b> \"cups\"", "price": 12.5}},
        "traits": {"email": "ada@example.com", "name": "Ada <script>alert(1)</script>"},
        "vars": {"coupon": "SAVE10"},
        "user": "u1",
    })
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let t = Templates {
        text: Some("Hi {{ traits.name }}, {{ event.properties.product }}"),
        ..templates(
            "Your {{ event.properties.product }}",
            Some("<p>Hi {{ traits.name }}, {{ event.properties.product }} for {{ event.properties.price }} ({{ vars.coupon }})</p>"),
            None,
        )
    };
    let r = t.render(&ctx()).unwrap();
    assert_eq!(r.to, "ada@example.com");
    assert_eq!(
        r.html.as_deref(),
        Some("<p>Hi Ada &lt;script&gt;alert(1)&lt;&#x2f;script&gt;, Tea &lt;b&gt;&amp;&lt;&#x2f;b&gt; &quot;cups&quot; for 12.5 (SAVE10)</p>")
    );
    assert_eq!(
        r.text.as_deref(),
        Some("Hi Ada <script>alert(1)</script>, Tea <b>&</b> \"cups\"")
    );
    assert_eq!(r.subject, "Your Tea <b>&</b> \"cups\"");
    assert_eq!(r.from, None);
}

#[test]
fn the_default_filter_fills_missing_values() {
    let t = templates(
        "Hi {{ traits.name | default('there') }}{{ traits.nick | default }}",
        None,
        Some("{{ traits.city | default('?') }} {{ traits.zip | default('-') }}"),
    );
    let c = json!({"traits": {"email": "a@example.com", "city": "Oslo", "zip": null, "name": ""}});
    let r = t.render(&c).unwrap();
    assert_eq!(r.subject, "Hi there");
    assert_eq!(r.text.as_deref(), Some("Oslo -"));
}

#[test]
fn a_subject_cannot_inject_headers() {
    let c = json!({"traits": {"email": "a@example.com", "x": "hi\r\nBcc: evil@example.com"}});
    let r = templates("{{ traits.x }}", None, Some("t"))
        .render(&c)
        .unwrap();
    assert_eq!(r.subject, "hi  Bcc: evil@example.com");
}

#[test]
fn the_recipient_must_be_one_address() {
    let t = templates("s", None, Some("t"));
    let no_email = json!({"traits": {}});
    assert_eq!(t.render(&no_email).unwrap_err(), EmailError::NoRecipient);
    for bad in [
        "not an address",
        "a@b",
        "a@example.com, b@example.com",
        "a@example.com\r\nBcc: x@y.z",
        "<a@example.com>",
    ] {
        let c = json!({"traits": {"email": bad}});
        let e = t.render(&c).unwrap_err();
        assert_eq!(e.code(), "invalid_email_address", "{bad}");
    }
    let c = json!({"traits": {"email": "  Ada@Example.com "}});
    assert_eq!(t.render(&c).unwrap().to, "Ada@Example.com");
    assert_eq!(suppression_key(" Ada@Example.com "), "ada@example.com");
}

#[test]
fn templates_are_checked_on_save() {
    assert!(templates("Hi {{ traits.name }}", Some("<p>x</p>"), None)
        .check()
        .is_ok());
    let e = templates("Hi {{ traits.name", Some("x"), None)
        .check()
        .unwrap_err();
    assert_eq!(e.code(), "invalid_template");
    assert!(matches!(
        e,
        EmailError::InvalidTemplate {
            field: "subject",
            ..
        }
    ));
    let e = templates("s", Some("{% if x %}never closed"), None)
        .check()
        .unwrap_err();
    assert!(matches!(
        e,
        EmailError::InvalidTemplate { field: "html", .. }
    ));
    let e = templates("s", None, None).check().unwrap_err();
    assert!(matches!(
        e,
        EmailError::InvalidTemplate { field: "html", .. }
    ));
    let e = templates("  ", None, Some("t")).check().unwrap_err();
    assert!(matches!(
        e,
        EmailError::InvalidTemplate {
            field: "subject",
            ..
        }
    ));
    let e = Templates {
        from: Some("not an address"),
        ..templates("s", None, Some("t"))
    }
    .check()
    .unwrap_err();
    assert_eq!(e.code(), "invalid_email_address");
    assert!(Templates {
        from: Some("Shop <shop@example.com>"),
        ..templates("s", None, Some("t"))
    }
    .check()
    .is_ok());
}

#[test]
fn a_runaway_template_runs_out_of_fuel() {
    let t = templates(
        "s",
        None,
        Some("{% for i in vars.n %}{% for j in vars.n %}{% for k in vars.n %}x{% endfor %}{% endfor %}{% endfor %}"),
    );
    let n: Vec<u32> = (0..1_000).collect();
    let c = json!({"traits": {"email": "a@example.com"}, "vars": {"n": n}});
    assert_eq!(t.render(&c).unwrap_err().code(), "template_render_failed");
}

#[test]
fn rule_context_overlays_identify_traits_on_context_traits() {
    let e: Event = serde_json::from_value(json!({
        "type": "identify", "userId": "u1", "messageId": "m1",
        "timestamp": "2026-11-30T00:00:00Z", "receivedAt": "2026-11-30T00:00:00Z",
        "traits": {"name": "Ada"},
        "context": {"traits": {"email": "ada@example.com", "name": "Old"}}
    }))
    .unwrap();
    let c = rule_context(Some(&e), "u1", "r1", None);
    assert_eq!(
        c["traits"],
        json!({"email": "ada@example.com", "name": "Ada"})
    );
    assert_eq!(c["rule"]["id"], "r1");
    assert_eq!(c["event"]["userId"], "u1");
}

#[test]
fn provider_answers_are_classified() {
    assert_eq!(Answer::classify(202, ""), Answer::Sent);
    for s in [408, 429, 500, 503] {
        assert_eq!(Answer::classify(s, "hard_bounce"), Answer::Retry, "{s}");
    }
    assert_eq!(
        Answer::classify(422, r#"{"error":"invalid_address"}"#),
        Answer::HardBounce
    );
    assert_eq!(
        Answer::classify(400, "550 5.1.1 User Unknown"),
        Answer::HardBounce
    );
    assert_eq!(
        Answer::classify(401, r#"{"error":"bad api key"}"#),
        Answer::Rejected
    );
    assert_eq!(Answer::classify(302, ""), Answer::Rejected);
}

#[test]
fn the_provider_request_carries_one_click_unsubscribe() {
    let r = Rendered {
        to: "a@example.com".into(),
        subject: "s".into(),
        html: Some("<p>h</p>".into()),
        text: None,
        from: None,
    };
    let p = ProviderRequest::new(
        &r,
        "Spur <no-reply@example.com>",
        "https://x.example/u?t=T",
        "f:0",
    );
    assert_eq!(p.from, "Spur <no-reply@example.com>");
    assert_eq!(p.headers["List-Unsubscribe"], "<https://x.example/u?t=T>");
    assert_eq!(
        p.headers["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
}

#[test]
fn campaign_events_name_their_sender() {
    let e = campaign_event(
        SENT_EVENT,
        "j1:0:n1:u1",
        &Sender {
            channel: CHANNEL,
            owner: "journey:j1",
            node: Some("n1"),
        },
        "u1",
        1_000,
        "delivered",
        None,
    );
    assert_eq!(e.message_id, "j1:0:n1:u1:$message_sent");
    assert_eq!(e.properties["journeyId"], "j1");
    assert_eq!(e.properties["journeyNode"], "n1");
    assert_eq!(e.properties["channel"], "email");
    let e = campaign_event(
        FAILED_EVENT,
        "f:0",
        &Sender {
            channel: CHANNEL,
            owner: "r1",
            node: None,
        },
        "u1",
        1_000,
        "skipped",
        Some("unsubscribed"),
    );
    assert_eq!(e.properties["ruleId"], "r1");
    assert_eq!(e.properties["reason"], "unsubscribed");
}

#[test]
fn tokens_verify_and_refuse_tampering_and_expiry() {
    let secret = b"s3cret";
    let now = 1_800_000_000;
    let t = token::sign(secret, "u1", "ada@example.com", now);
    let c = token::verify(secret, &t, now + 10).unwrap();
    assert_eq!(c.person, "u1");
    assert_eq!(c.address, "ada@example.com");
    assert_eq!(
        token::verify(b"other", &t, now).unwrap_err(),
        TokenError::BadSignature
    );
    assert_eq!(
        token::verify(secret, &t, c.expires + 1).unwrap_err(),
        TokenError::Expired
    );
    // Another person's address under the same MAC.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    parts[2] = B64.encode("eve@example.com");
    let swapped = parts.join(".");
    assert_eq!(
        token::verify(secret, &swapped, now).unwrap_err(),
        TokenError::BadSignature
    );
    // A later expiry under the same MAC.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    parts[3] = (c.expires + 1_000).to_string();
    assert_eq!(
        token::verify(secret, &parts.join("."), now).unwrap_err(),
        TokenError::BadSignature
    );
    // Every single-character change is refused, never accepted or panicking.
    for i in 0..t.len() {
        let mut b = t.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let Ok(s) = String::from_utf8(b) else {
            continue;
        };
        if s != t {
            assert!(token::verify(secret, &s, now).is_err(), "{s}");
        }
    }
    for bad in [
        "",
        "v1",
        "v2.a.b.1.c",
        "v1....",
        "v1.a.b.c.d.e",
        &"x".repeat(5_000),
    ] {
        assert_eq!(
            token::verify(secret, bad, now).unwrap_err(),
            TokenError::Malformed,
            "{bad}"
        );
    }
}

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

#[test]
fn a_delivery_is_its_own_event_with_the_sent_events_properties() {
    let sender = Sender {
        channel: CHANNEL,
        owner: "r1",
        node: None,
    };
    let sent = campaign_event(SENT_EVENT, "f:0", &sender, "u1", 1_000, "delivered", None);
    let delivered = campaign_event(
        DELIVERED_EVENT,
        "f:0",
        &sender,
        "u1",
        1_000,
        "delivered",
        None,
    );
    assert_eq!(delivered.message_id, "f:0:$message_delivered");
    assert_ne!(delivered.message_id, sent.message_id);
    assert_eq!(delivered.event.as_deref(), Some("$message_delivered"));
    assert_eq!(delivered.properties, sent.properties);
    // A retried delivery builds the same messageId, so the store keeps one.
    let again = campaign_event(
        DELIVERED_EVENT,
        "f:0",
        &sender,
        "u1",
        9_000,
        "delivered",
        None,
    );
    assert_eq!(again.message_id, delivered.message_id);
}
