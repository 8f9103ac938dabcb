use super::*;

const UA: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

fn sub(endpoint: &str) -> Subscription {
    Subscription {
        endpoint: endpoint.into(),
        keys: SubscriptionKeys {
            p256dh: UA.into(),
            auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
        },
    }
}

#[test]
fn subscriptions_are_checked() {
    assert!(sub("https://fcm.googleapis.com/fcm/send/abc")
        .check()
        .is_ok());
    assert!(sub("http://127.0.0.1:9999/push/1").check().is_ok());
    assert!(sub("http://localhost/push").check().is_ok());
    for bad in [
        "http://push.example.com/x",
        "ftp://127.0.0.1/x",
        "not a url",
    ] {
        assert_eq!(
            sub(bad).check().unwrap_err().code(),
            "invalid_push_subscription",
            "{bad}"
        );
    }
    let mut s = sub("https://p.example/x");
    s.keys.auth = "AAAA".into();
    assert!(s.check().is_err());
    let mut s = sub("https://p.example/x");
    s.keys.p256dh = "BBBB".into();
    assert!(s.check().is_err());
    let long = format!("https://p.example/{}", "x".repeat(MAX_PUSH_ENDPOINT_CHARS));
    assert!(sub(&long).check().is_err());
}

#[test]
fn the_request_carries_rfc8030_headers_and_a_vapid_token_for_the_origin() {
    let vapid = VapidKey::from_base64url("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY").unwrap();
    let entropy = Entropy {
        ephemeral: [5u8; 32],
        salt: [6u8; 16],
    };
    let options = Options {
        ttl: 60,
        urgency: Urgency::High,
        topic: Some("cart".into()),
    };
    let req = request(
        &sub("https://push.example.net:8443/send/abc?x=1"),
        br#"{"title":"t"}"#,
        &options,
        &vapid,
        "mailto:ops@example.com",
        1_000,
        &entropy,
    )
    .unwrap();
    let h = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("Content-Encoding").as_deref(), Some("aes128gcm"));
    assert_eq!(h("TTL").as_deref(), Some("60"));
    assert_eq!(h("Urgency").as_deref(), Some("high"));
    assert_eq!(h("Topic").as_deref(), Some("cart"));
    let auth = h("Authorization").unwrap();
    let jwt = auth
        .strip_prefix("vapid t=")
        .and_then(|r| r.split(", k=").next())
        .unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["aud"], "https://push.example.net:8443");
    assert_eq!(claims["exp"], 1_000 + VAPID_TOKEN_LIFETIME_SECS);
    assert_eq!(req.body.len(), ece::OVERHEAD_BYTES + 13);
    // An invalid topic is left out rather than sent.
    let no_topic = Options {
        topic: Some("not a topic!".into()),
        ..options
    };
    let req = request(
        &sub("https://p.example/x"),
        b"{}",
        &no_topic,
        &vapid,
        "mailto:a@b",
        0,
        &entropy,
    )
    .unwrap();
    assert!(req.headers.iter().all(|(n, _)| *n != "Topic"));
}

#[test]
fn answers_are_classified() {
    for (status, answer) in [
        (200, Answer::Delivered),
        (201, Answer::Delivered),
        (202, Answer::Delivered),
        (404, Answer::Gone),
        (410, Answer::Gone),
        (429, Answer::Retry),
        (500, Answer::Retry),
        (503, Answer::Retry),
        (400, Answer::Rejected),
        (401, Answer::Rejected),
        (403, Answer::Rejected),
        (413, Answer::Rejected),
    ] {
        assert_eq!(Answer::from_status(status), answer, "{status}");
    }
}

#[test]
fn topics_and_ttls_are_bounded() {
    assert!(topic_ok("cart_1-A"));
    assert!(topic_ok(&"a".repeat(MAX_PUSH_TOPIC_CHARS)));
    assert!(!topic_ok(&"a".repeat(MAX_PUSH_TOPIC_CHARS + 1)));
    assert!(!topic_ok(""));
    assert!(!topic_ok("a b"));
    assert!(ttl_ok(MAX_PUSH_TTL_SECS));
    assert!(!ttl_ok(MAX_PUSH_TTL_SECS + 1));
}
