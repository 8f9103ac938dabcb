use super::*;
use serde_json::json;

fn check(
    ua: &str,
    browser: Option<(&str, &str)>,
    os: Option<(&str, Option<&str>)>,
    device: DeviceType,
) {
    let a = parse(ua, None);
    assert_eq!(
        a.browser
            .as_ref()
            .map(|b| (b.name.as_str(), b.version.as_deref().unwrap_or(""))),
        browser,
        "browser of {ua}"
    );
    assert_eq!(
        a.os.as_ref()
            .map(|o| (o.name.as_str(), o.version.as_deref())),
        os,
        "os of {ua}"
    );
    assert_eq!(a.device.kind, device, "device of {ua}");
}

#[test]
fn desktop_browsers() {
    check(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        Some(("Chrome", "124.0.0.0")),
        Some(("macOS", Some("10.15.7"))),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        Some(("Edge", "124.0.2478.51")),
        Some(("Windows", Some("10"))),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        Some(("Firefox", "125.0")),
        Some(("Windows", Some("10"))),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
        Some(("Safari", "17.4.1")),
        Some(("macOS", Some("10.15.7"))),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
        Some(("Opera", "110.0.0.0")),
        Some(("Linux", None)),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        Some(("Chrome", "124.0.0.0")),
        Some(("ChromeOS", None)),
        DeviceType::Desktop,
    );
    check(
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        Some(("Internet Explorer", "11.0")),
        Some(("Windows", Some("7"))),
        DeviceType::Desktop,
    );
}

#[test]
fn phones_and_tablets() {
    check(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        Some(("Safari", "17.4.1")),
        Some(("iOS", Some("17.4.1"))),
        DeviceType::Mobile,
    );
    check(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        Some(("Chrome", "124.0.6367.88")),
        Some(("iOS", Some("16.6"))),
        DeviceType::Tablet,
    );
    check(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        Some(("Chrome", "124.0.0.0")),
        Some(("Android", Some("10"))),
        DeviceType::Mobile,
    );
    check(
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36",
        Some(("Samsung Internet", "24.0")),
        Some(("Android", Some("13"))),
        DeviceType::Tablet,
    );
    check(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36",
        Some(("Chrome WebView", "124.0.6367.82")),
        Some(("Android", Some("14"))),
        DeviceType::Mobile,
    );
    check(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        Some(("iOS WebView", "")),
        Some(("iOS", Some("17.4"))),
        DeviceType::Mobile,
    );
    check(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
        Some(("Firefox", "125.0")),
        Some(("iOS", Some("17.4"))),
        DeviceType::Mobile,
    );
    // A CUBOT phone is a phone, not a bot.
    check(
        "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        Some(("Chrome", "120.0.0.0")),
        Some(("Android", Some("9"))),
        DeviceType::Mobile,
    );
}

#[test]
fn bots_and_scripts() {
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
    ] {
        assert!(is_bot(ua), "{ua}");
        assert_eq!(parse(ua, None).device.kind, DeviceType::Bot, "{ua}");
    }
    for ua in [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        "analytics-node-next/latest",
        "",
    ] {
        assert!(!is_bot(ua), "{ua}");
    }
}

#[test]
fn headers_hints_refine_the_frozen_ua() {
    let hints = Hints::from_headers(
        Some(r#""Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99""#),
        Some("?0"),
        Some(r#""Windows""#),
    );
    assert_eq!(hints.brands.len(), 3);
    let a = parse(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        Some(&hints),
    );
    assert_eq!(
        a.browser,
        Some(Named {
            name: "Edge".into(),
            version: Some("124".into())
        })
    );
    assert_eq!(a.os.as_ref().map(|o| o.name.as_str()), Some("Windows"));
    assert_eq!(a.device.kind, DeviceType::Desktop);
}

#[test]
fn grease_brands_with_separators_are_skipped() {
    let hints = Hints::from_headers(
        Some(r#""Not;A=Brand";v="8", "Chromium";v="126", "Google Chrome";v="126""#),
        None,
        None,
    );
    assert_eq!(hints.brands[0].0, "Not;A=Brand");
    let a = parse("", Some(&hints));
    assert_eq!(
        a.browser,
        Some(Named {
            name: "Chrome".into(),
            version: Some("126".into())
        })
    );
    // Only Chromium and GREASE: Chromium it is.
    let hints = Hints::from_headers(
        Some(r#""Chromium";v="126", "Not)A;Brand";v="24""#),
        None,
        None,
    );
    assert_eq!(
        parse("", Some(&hints)).browser.map(|b| b.name),
        Some("Chromium".into())
    );
}

#[test]
fn user_agent_data_gives_real_os_versions() {
    let data = json!({
        "brands": [{"brand": "Google Chrome", "version": "124"}, {"brand": "Not:A-Brand", "version": "8"}, {"brand": "Chromium", "version": "124"}],
        "mobile": false,
        "platform": "Windows",
        "platformVersion": "15.0.0"
    });
    let hints = Hints::from_user_agent_data(&data);
    let a = parse(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        Some(&hints),
    );
    // The UA's longer version is kept when the majors agree; Windows 11 comes from the hint.
    assert_eq!(
        a.browser,
        Some(Named {
            name: "Chrome".into(),
            version: Some("124.0.0.0".into())
        })
    );
    assert_eq!(
        a.os,
        Some(Named {
            name: "Windows".into(),
            version: Some("11".into())
        })
    );

    let mac =
        json!({"brands": [], "mobile": false, "platform": "macOS", "platformVersion": "14.4.1"});
    let a = parse(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        Some(&Hints::from_user_agent_data(&mac)),
    );
    assert_eq!(
        a.os,
        Some(Named {
            name: "macOS".into(),
            version: Some("14.4.1".into())
        })
    );

    let phone = json!({"brands": [{"brand": "Google Chrome", "version": "124"}], "mobile": true, "platform": "Android"});
    assert_eq!(
        parse("", Some(&Hints::from_user_agent_data(&phone)))
            .device
            .kind,
        DeviceType::Mobile
    );
}

#[test]
fn serializes_compactly() {
    let a = parse(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        None,
    );
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        json!({"browser": {"name": "Firefox", "version": "125.0"}, "os": {"name": "Windows", "version": "10"}, "device": {"type": "desktop"}})
    );
    assert_eq!(
        serde_json::to_value(parse("", None)).unwrap(),
        json!({"device": {"type": "unknown"}})
    );
}

#[test]
fn long_user_agents_are_cut_before_parsing() {
    let long = format!("{}Firefox/125.0", "x".repeat(limits::MAX_USER_AGENT_CHARS));
    assert_eq!(
        parse(&long, None).browser,
        None,
        "the token past the cut is not seen"
    );
    let at = format!(
        "{}Firefox/1",
        "x".repeat(limits::MAX_USER_AGENT_CHARS - "Firefox/1".len())
    );
    assert_eq!(
        parse(&at, None).browser.map(|b| b.name),
        Some("Firefox".into())
    );
}

#[test]
fn brand_lists_are_bounded() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!(r#""B{i}";v="{i}""#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let at = Hints::from_headers(Some(&list(limits::MAX_CLIENT_HINT_BRANDS)), None, None);
    assert_eq!(at.brands.len(), limits::MAX_CLIENT_HINT_BRANDS);
    let over = Hints::from_headers(Some(&list(limits::MAX_CLIENT_HINT_BRANDS + 1)), None, None);
    assert_eq!(over.brands.len(), limits::MAX_CLIENT_HINT_BRANDS);
    let data = |n: usize| json!({"brands": (0..n).map(|i| json!({"brand": format!("B{i}"), "version": "1"})).collect::<Vec<_>>()});
    assert_eq!(
        Hints::from_user_agent_data(&data(limits::MAX_CLIENT_HINT_BRANDS))
            .brands
            .len(),
        limits::MAX_CLIENT_HINT_BRANDS
    );
    assert_eq!(
        Hints::from_user_agent_data(&data(limits::MAX_CLIENT_HINT_BRANDS + 1))
            .brands
            .len(),
        limits::MAX_CLIENT_HINT_BRANDS
    );
}
