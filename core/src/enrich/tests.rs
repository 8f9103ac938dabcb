use super::*;
use crate::event::MessageType;
use crate::request::{BotManagement, CfFacts};
use serde_json::json;
use time::macros::datetime;

const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn event(context: Value) -> Event {
    let Value::Object(context) = context else {
        panic!("context must be an object")
    };
    Event {
        message_id: "m".into(),
        kind: MessageType::Track,
        event: Some("Clicked".into()),
        name: None,
        category: None,
        user_id: None,
        anonymous_id: Some("a".into()),
        group_id: None,
        previous_id: None,
        properties: Object::new(),
        traits: Object::new(),
        context,
        integrations: Object::new(),
        timestamp: datetime!(2024-05-01 12:00 UTC),
        original_timestamp: None,
        sent_at: None,
        received_at: datetime!(2024-05-01 12:00 UTC),
    }
}

fn austin() -> CfFacts {
    CfFacts {
        country: Some("US".into()),
        region: Some("Texas".into()),
        region_code: Some("TX".into()),
        city: Some("Austin".into()),
        timezone: Some("America/Chicago".into()),
        asn: Some(7922),
        colo: Some("DFW".into()),
        postal_code: Some("78701".into()),
        latitude: Some("30.27130".into()),
        longitude: Some("-97.74260".into()),
        bot_management: None,
    }
}

fn browser_facts(cf: &CfFacts) -> RequestFacts<'_> {
    RequestFacts {
        ip: Some("203.0.113.77"),
        user_agent: Some(CHROME_MAC),
        origin: Some("https://shop.example"),
        cf: Some(cf),
        ..Default::default()
    }
}

fn enrich(facts: RequestFacts<'_>, anonymize: bool, context: Value) -> Object {
    let mut e = event(context);
    Enricher::new(facts, "website", WriteKeySource::Body, anonymize).apply(&mut e);
    e.context
}

#[test]
fn browser_event_gets_truncated_ip_geo_ua_and_page_facts() {
    let cf = austin();
    let ctx = enrich(
        browser_facts(&cf),
        false,
        json!({
            "userAgent": CHROME_MAC,
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "page": {"referrer": "https://www.google.com/", "url": "https://shop.example/?utm_source=google&utm_campaign=spring", "search": "?utm_source=google&utm_campaign=spring"},
            "spur": {"bot": false, "source": "forged"},
            "geo": {"country": "forged"}
        }),
    );
    assert_eq!(ctx["ip"], json!("203.0.113.0"));
    assert_eq!(
        ctx["geo"],
        json!({"country": "US", "region": "Texas", "regionCode": "TX", "city": "Austin", "timezone": "America/Chicago", "asn": 7922, "colo": "DFW"})
    );
    assert_eq!(
        ctx["library"],
        json!({"name": "analytics.js", "version": "next-1.70.0"})
    );
    assert_eq!(
        ctx["campaign"],
        json!({"source": "google", "name": "spring"})
    );
    assert_eq!(
        ctx["spur"],
        json!({
            "source": "website",
            "writeKeySource": "body",
            "ua": {"browser": {"name": "Chrome", "version": "124.0.0.0"}, "os": {"name": "macOS", "version": "10.15.7"}, "device": {"type": "desktop"}},
            "bot": false,
            "referrerDomain": "google.com"
        })
    );
    // Nothing anywhere in the context holds the full address or the precise location.
    let text = serde_json::to_string(&ctx).unwrap();
    assert!(!text.contains("203.0.113.77"));
    assert!(!text.contains("78701") && !text.contains("30.27"));
}

#[test]
fn a_client_given_ip_is_truncated_too_and_geo_is_not_guessed() {
    let cf = austin();
    let facts = RequestFacts {
        origin: None,
        user_agent: Some("analytics-node-next/latest"),
        ..browser_facts(&cf)
    };
    let ctx = enrich(
        facts,
        false,
        json!({"ip": "198.51.100.23", "library": {"name": "@segment/analytics-node"}}),
    );
    assert_eq!(ctx["ip"], json!("198.51.100.0"));
    assert!(
        ctx.get("geo").is_none(),
        "cf geo is the relay's, not the user's"
    );
    // A server request without a userAgent of its own gets no UA facts and is no bot.
    assert!(ctx.get("userAgent").is_none());
    assert!(ctx["spur"].get("ua").is_none());
    assert_eq!(ctx["spur"]["bot"], json!(false));

    let v6 = enrich(
        facts,
        false,
        json!({"ip": "2001:db8:85a3:8d3:1319:8a2e:370:7348"}),
    );
    assert_eq!(v6["ip"], json!("2001:db8:85a3::"));
    let junk = enrich(facts, false, json!({"ip": "not-an-ip"}));
    assert_eq!(
        junk["ip"],
        json!("203.0.113.0"),
        "junk falls back to the request address"
    );
    let no_ip = enrich(RequestFacts { ip: None, ..facts }, false, json!({"ip": 12}));
    assert!(no_ip.get("ip").is_none());
}

#[test]
fn beacons_without_a_user_agent_get_the_header_one() {
    let cf = austin();
    let ctx = enrich(browser_facts(&cf), false, json!({}));
    assert_eq!(ctx["userAgent"], json!(CHROME_MAC));
    assert_eq!(ctx["spur"]["ua"]["browser"]["name"], json!("Chrome"));
}

#[test]
fn bots_by_ua_and_by_cloudflare_score() {
    let mut cf = austin();
    let ctx = enrich(
        browser_facts(&cf),
        false,
        json!({"userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"}),
    );
    assert_eq!(ctx["spur"]["bot"], json!(true));

    cf.bot_management = Some(BotManagement {
        score: Some(5),
        verified_bot: Some(false),
    });
    let ctx = enrich(browser_facts(&cf), false, json!({"userAgent": CHROME_MAC}));
    assert_eq!(ctx["spur"]["bot"], json!(true));
    assert_eq!(ctx["spur"]["botScore"], json!(5));

    cf.bot_management = Some(BotManagement {
        score: Some(BOT_SCORE_THRESHOLD),
        verified_bot: None,
    });
    let ctx = enrich(browser_facts(&cf), false, json!({"userAgent": CHROME_MAC}));
    assert_eq!(
        ctx["spur"]["bot"],
        json!(false),
        "the threshold itself is human"
    );

    cf.bot_management = Some(BotManagement {
        score: Some(80),
        verified_bot: Some(true),
    });
    let ctx = enrich(browser_facts(&cf), false, json!({}));
    assert_eq!(ctx["spur"]["bot"], json!(true), "verified bots are bots");

    // A relay (no Origin) has a low score of its own; it says nothing about the user.
    cf.bot_management = Some(BotManagement {
        score: Some(1),
        verified_bot: None,
    });
    let relay = RequestFacts {
        origin: None,
        ..browser_facts(&cf)
    };
    let ctx = enrich(relay, false, json!({"userAgent": CHROME_MAC}));
    assert_eq!(ctx["spur"]["bot"], json!(false));
    assert!(ctx["spur"].get("botScore").is_none());
}

#[test]
fn client_hints_come_from_user_agent_data_or_headers() {
    let cf = austin();
    let win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    let facts = RequestFacts {
        user_agent: Some(win),
        sec_ch_ua: Some(r#""Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99""#),
        sec_ch_ua_platform: Some(r#""Windows""#),
        sec_ch_ua_mobile: Some("?0"),
        ..browser_facts(&cf)
    };
    let ctx = enrich(facts, false, json!({"userAgent": win}));
    assert_eq!(
        ctx["spur"]["ua"]["browser"],
        json!({"name": "Edge", "version": "124"})
    );

    let data = json!({"brands": [{"brand": "Google Chrome", "version": "124"}], "mobile": false, "platform": "Windows", "platformVersion": "15.0.0"});
    let ctx = enrich(
        facts,
        false,
        json!({"userAgent": win, "userAgentData": data}),
    );
    assert_eq!(
        ctx["spur"]["ua"]["os"],
        json!({"name": "Windows", "version": "11"})
    );
}

#[test]
fn campaign_sent_by_the_client_wins_and_empty_ones_are_filled() {
    let cf = austin();
    let page = json!({"url": "https://shop.example/?utm_source=url", "search": ""});
    let ctx = enrich(
        browser_facts(&cf),
        false,
        json!({"campaign": {"source": "client"}, "page": page}),
    );
    assert_eq!(ctx["campaign"], json!({"source": "client"}));
    let ctx = enrich(
        browser_facts(&cf),
        false,
        json!({"campaign": {}, "page": page}),
    );
    assert_eq!(
        ctx["campaign"],
        json!({"source": "url"}),
        "RudderStack sends campaign: {{}}"
    );
    let ctx = enrich(
        browser_facts(&cf),
        false,
        json!({"page": {"url": "https://shop.example/"}}),
    );
    assert!(ctx.get("campaign").is_none());
}

#[test]
fn gpc_anonymize_keeps_the_event_but_not_the_network_or_browser_identity() {
    let cf = austin();
    let facts = RequestFacts {
        sec_gpc: Some("1"),
        ..browser_facts(&cf)
    };
    let ctx = enrich(facts, true, json!({"userAgent": CHROME_MAC}));
    assert!(ctx.get("ip").is_none());
    assert!(ctx.get("userAgent").is_none());
    assert_eq!(ctx["geo"], json!({"country": "US"}));
    assert_eq!(ctx["spur"]["gpc"], json!(true));
    assert_eq!(
        ctx["spur"]["ua"]["browser"]["name"],
        json!("Chrome"),
        "the family is not identifying"
    );
    let text = serde_json::to_string(&ctx).unwrap();
    assert!(!text.contains("203.0.113"));

    let ctx = enrich(facts, true, json!({"ip": "198.51.100.23"}));
    assert!(ctx.get("ip").is_none() && ctx.get("geo").is_none());
    assert!(!serde_json::to_string(&ctx).unwrap().contains("198.51.100"));

    // Under `ignore` the signal is still recorded.
    let ctx = enrich(facts, false, json!({}));
    assert_eq!(ctx["spur"]["gpc"], json!(true));
    assert_eq!(ctx["ip"], json!("203.0.113.0"));
}

#[test]
fn the_ua_parse_is_reused_within_a_request() {
    let cf = austin();
    let mut enricher = Enricher::new(browser_facts(&cf), "website", WriteKeySource::Basic, false);
    let mut a = event(json!({"userAgent": CHROME_MAC}));
    let mut b = event(json!({"userAgent": CHROME_MAC}));
    let mut c = event(json!({"userAgent": "curl/8.5.0"}));
    enricher.apply(&mut a);
    enricher.apply(&mut b);
    enricher.apply(&mut c);
    assert_eq!(a.context["spur"], b.context["spur"]);
    assert_eq!(a.context["spur"]["writeKeySource"], json!("basic"));
    assert_eq!(c.context["spur"]["bot"], json!(true));
}
