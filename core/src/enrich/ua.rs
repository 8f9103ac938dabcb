//! User agents to browser, OS and device type, by token scanning plus client hints.
//!
//! Invariant: parsing does bounded work (no regex, no backtracking, at most
//! [`limits::MAX_USER_AGENT_CHARS`] characters looked at), needs no start-up tables, and never
//! fails: what it cannot tell is left out.
//!
//! Why not a UA crate (measured 2026-11-28, wasm32 release, opt-level z, LTO, gzip -9):
//! woothee costs +339 KB gzip on its own (the `regex` crate) or +23 KB next to boon, which
//! already links `regex`; but it compiles its regexes on first use, 12–34 ms for the first
//! parse in wasm (Node 20) — more than a Workers free-plan request's whole CPU budget — where
//! this module costs +16 KB gzip and <1 ms for its first parse; both take ~7 µs per parse
//! after that. uap-based parsers cost ~0.8 s of set-up per isolate. Chrome's reduced UA also
//! freezes OS versions (`Windows NT 10.0`, `Mac OS X 10_15_7`), so the precise facts come
//! from client hints (`Sec-CH-UA*` headers or analytics.js's
//! `context.userAgentData`), which this module prefers when present.

use serde::Serialize;
use serde_json::Value;

use crate::limits;

/// What a user agent says about the browser, OS and device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The browser family and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<Named>,
    /// The operating system and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Named>,
    /// The kind of device.
    pub device: Device,
}

/// A product name and, when known, its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The family name (`Chrome`, `macOS`).
    pub name: String,
    /// The version as reported (`124.0.0.0`, `10.15.7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The kind of device, serialized as `{"type": "..."}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The device type.
    #[serde(rename = "type")]
    pub kind: DeviceType,
}

/// Device types, as Segment's `context.device.type` spells similar facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    /// A desktop or laptop browser.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A TV or set-top box.
    Tv,
    /// A crawler, monitor or script.
    Bot,
    /// Not enough to tell.
    #[default]
    Unknown,
}

/// Client hints: the `Sec-CH-UA`, `Sec-CH-UA-Mobile` and `Sec-CH-UA-Platform` headers as
/// sent (structured-header syntax), or the same facts from `context.userAgentData`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Brands with versions, GREASE entries included (they are skipped when read).
    pub brands: Vec<(String, String)>,
    /// `?1` / `mobile: true`.
    pub mobile: Option<bool>,
    /// `"macOS"`, `"Windows"`, `"Android"`, ….
    pub platform: Option<String>,
    /// High-entropy `platformVersion`, when the page asked for it.
    pub platform_version: Option<String>,
}

impl Hints {
    /// Reads the three low-entropy `Sec-CH-UA*` headers.
    pub fn from_headers(ua: Option<&str>, mobile: Option<&str>, platform: Option<&str>) -> Self {
        Hints {
            brands: ua.map(parse_brand_list).unwrap_or_default(),
            mobile: mobile.map(|m| m.trim() == "?1"),
            platform: platform
                .map(|p| p.trim().trim_matches('"').to_owned())
                .filter(|p| !p.is_empty()),
            platform_version: None,
        }
    }

    /// Reads analytics.js's `context.userAgentData` (`{brands:[{brand,version}], mobile,
    /// platform, platformVersion?, fullVersionList?}`).
    pub fn from_user_agent_data(data: &Value) -> Self {
        let list = data.get("fullVersionList").or_else(|| data.get("brands"));
        let brands = list
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .take(limits::MAX_CLIENT_HINT_BRANDS)
                    .filter_map(|b| {
                        Some((
                            b.get("brand")?.as_str()?.to_owned(),
                            b.get("version")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let text = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Hints {
            brands,
            mobile: data.get("mobile").and_then(Value::as_bool),
            platform: text("platform"),
            platform_version: text("platformVersion"),
        }
    }

    fn is_empty(&self) -> bool {
        self.brands.is_empty() && self.mobile.is_none() && self.platform.is_none()
    }
}

/// Parses a user agent, refined by client hints where they are present.
pub fn parse(user_agent: &str, hints: Option<&Hints>) -> Agent {
    let ua = bounded(user_agent);
    let mut agent = Agent {
        browser: browser(ua),
        os: os(ua),
        device: Device { kind: device(ua) },
    };
    if is_bot(ua) {
        agent.device.kind = DeviceType::Bot;
    }
    if let Some(h) = hints.filter(|h| !h.is_empty()) {
        apply_hints(&mut agent, h);
    }
    agent
}

/// Whether a user agent is a crawler, monitor, preview fetcher, headless browser or HTTP
/// library rather than a person's browser.
pub fn is_bot(user_agent: &str) -> bool {
    let ua = bounded(user_agent).to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "crawl",
        "spider",
        "slurp",
        "headless",
        "lighthouse",
        "pagespeed",
        "pingdom",
        "uptime",
        "monitor",
        "preview",
        "facebookexternalhit",
        "embedly",
        "whatsapp",
        "curl/",
        "wget/",
        "python-requests",
        "python-urllib",
        "aiohttp",
        "httpx",
        "go-http-client",
        "okhttp",
        "java/",
        "apache-httpclient",
        "node-fetch",
        "axios/",
        "undici",
        "postmanruntime",
        "insomnia",
        "phantomjs",
        "selenium",
        "puppeteer",
        "playwright",
        "scrapy",
        "libwww",
        "feedfetcher",
        "mediapartners",
        "google-inspectiontool",
        "ia_archiver",
        "bingpreview",
    ];
    if MARKERS.iter().any(|m| ua.contains(m)) {
        return true;
    }
    // "bot" anywhere (Googlebot, bingbot, Slackbot-…, AhrefsBot) except the CUBOT phone brand.
    ua.match_indices("bot")
        .any(|(i, _)| !ua.get(..i).is_some_and(|head| head.ends_with("cu")))
}

fn bounded(ua: &str) -> &str {
    match ua.char_indices().nth(limits::MAX_USER_AGENT_CHARS) {
        Some((cut, _)) => ua.get(..cut).unwrap_or(ua),
        None => ua,
    }
}

/// The version-ish run after `token` (digits, dots, underscores), with `_` read as `.`.
fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let rest = ua.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    let v = rest.get(..end.min(32))?.trim_end_matches(['.', '_']);
    (!v.is_empty()).then(|| v.replace('_', "."))
}

fn named(name: &str, version: Option<String>) -> Option<Named> {
    Some(Named {
        name: name.to_owned(),
        version,
    })
}

fn browser(ua: &str) -> Option<Named> {
    // Order matters: most browsers also carry "Chrome/" and "Safari/" tokens.
    const TOKENS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("Edge/", "Edge"),
        ("OPR/", "Opera"),
        ("OPT/", "Opera"),
        ("OPiOS/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("YaBrowser/", "Yandex Browser"),
        ("UCBrowser/", "UC Browser"),
        ("Vivaldi/", "Vivaldi"),
        ("DuckDuckGo/", "DuckDuckGo"),
        ("FBAV/", "Facebook"),
        ("Instagram ", "Instagram"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("CriOS/", "Chrome"),
        ("FxiOS/", "Firefox"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
    ];
    for (token, name) in TOKENS {
        if ua.contains(token) {
            return named(name, version_after(ua, token));
        }
    }
    if ua.contains("Chrome/") {
        let name = if ua.contains("; wv)") {
            "Chrome WebView"
        } else {
            "Chrome"
        };
        return named(name, version_after(ua, "Chrome/"));
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        return named("Safari", version_after(ua, "Version/"));
    }
    if ua.contains("AppleWebKit/") && ua.contains("Mobile/") && !ua.contains("Safari/") {
        return named("iOS WebView", None);
    }
    if ua.contains("MSIE ") {
        return named("Internet Explorer", version_after(ua, "MSIE "));
    }
    if ua.contains("Trident/") {
        return named("Internet Explorer", version_after(ua, "rv:"));
    }
    None
}

fn os(ua: &str) -> Option<Named> {
    if ua.contains("Windows Phone") {
        return named("Windows Phone", version_after(ua, "Windows Phone "));
    }
    if ua.contains("Windows") {
        let version = version_after(ua, "Windows NT ").map(|nt| {
            match nt.as_str() {
                // "10.0" is also what Windows 11 sends; only client hints tell them apart.
                "10.0" => "10",
                "6.3" => "8.1",
                "6.2" => "8",
                "6.1" => "7",
                "6.0" => "Vista",
                "5.1" | "5.2" => "XP",
                other => other,
            }
            .to_owned()
        });
        return named("Windows", version);
    }
    if ua.contains("Android") {
        return named("Android", version_after(ua, "Android "));
    }
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        let v = version_after(ua, "iPhone OS ").or_else(|| version_after(ua, "CPU OS "));
        return named("iOS", v);
    }
    if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        return named("macOS", version_after(ua, "Mac OS X "));
    }
    if ua.contains("CrOS") {
        return named("ChromeOS", None);
    }
    if ua.contains("Linux") || ua.contains("X11") {
        return named("Linux", None);
    }
    None
}

fn device(ua: &str) -> DeviceType {
    const TV: &[&str] = &[
        "SMART-TV", "SmartTV", "Smart TV", "AppleTV", "CrKey", "Roku", "BRAVIA", "Web0S", "Tizen",
    ];
    if TV.iter().any(|t| ua.contains(t)) {
        DeviceType::Tv
    } else if ua.contains("iPad")
        || ua.contains("Tablet")
        || (ua.contains("Android") && !ua.contains("Mobi"))
    {
        DeviceType::Tablet
    } else if ua.contains("Mobi")
        || ua.contains("iPhone")
        || ua.contains("iPod")
        || ua.contains("Windows Phone")
    {
        DeviceType::Mobile
    } else if ["Windows", "Macintosh", "Mac OS X", "CrOS", "Linux", "X11"]
        .iter()
        .any(|t| ua.contains(t))
    {
        DeviceType::Desktop
    } else {
        DeviceType::Unknown
    }
}

fn apply_hints(agent: &mut Agent, hints: &Hints) {
    if let Some((brand, version)) = preferred_brand(&hints.brands) {
        let name = match brand {
            "Google Chrome" => "Chrome",
            "Microsoft Edge" => "Edge",
            "Opera" | "Opera GX" => "Opera",
            "Brave" => "Brave",
            "Chromium" => "Chromium",
            other => other,
        };
        // Hints give only the major version unless the page asked for fullVersionList; keep
        // the UA's longer version when the majors agree.
        let keep = agent.browser.as_ref().is_some_and(|b| {
            b.name == name
                && b.version
                    .as_deref()
                    .is_some_and(|v| v.split('.').next() == Some(version))
        });
        if !keep {
            agent.browser = named(name, Some(version.to_owned()).filter(|v| !v.is_empty()));
        }
    }
    if let Some(platform) = hints.platform.as_deref() {
        let name = match platform {
            "Chrome OS" | "Chromium OS" => "ChromeOS",
            other => other,
        };
        let version = hints.platform_version.as_deref().map(|v| match name {
            // Windows' platformVersion is the UniversalApiContract: 13+ is Windows 11.
            "Windows" => match v.split('.').next().and_then(|m| m.parse::<u32>().ok()) {
                Some(m) if m >= 13 => "11".to_owned(),
                Some(m) if m >= 1 => "10".to_owned(),
                _ => v.to_owned(),
            },
            _ => v.to_owned(),
        });
        match agent.os.as_mut() {
            Some(os) if os.name == name => {
                if version.is_some() {
                    os.version = version;
                }
            }
            _ => agent.os = named(name, version),
        }
    }
    if agent.device.kind != DeviceType::Bot && agent.device.kind != DeviceType::Tv {
        match hints.mobile {
            Some(true) => agent.device.kind = DeviceType::Mobile,
            Some(false) if agent.device.kind == DeviceType::Mobile => {
                agent.device.kind = DeviceType::Desktop
            }
            _ => {}
        }
    }
    if hints.brands.iter().any(|(b, _)| b.contains("Headless")) {
        agent.device.kind = DeviceType::Bot;
    }
}

/// The brand that names the browser: not a GREASE entry ("Not A(Brand"), and not "Chromium"
/// when a more specific brand (Chrome, Edge, Opera, …) is present.
fn preferred_brand(brands: &[(String, String)]) -> Option<(&str, &str)> {
    let real = |b: &&(String, String)| {
        !(b.0.contains("Not") && b.0.to_ascii_lowercase().contains("brand"))
    };
    let mut fallback = None;
    for b in brands.iter().filter(real) {
        if b.0 == "Chromium" {
            fallback = Some((b.0.as_str(), b.1.as_str()));
        } else {
            return Some((b.0.as_str(), b.1.as_str()));
        }
    }
    fallback
}

/// Parses an sf-list like `"Chromium";v="124", "Not-A.Brand";v="99"`, respecting quotes (GREASE
/// brands may contain `;`, `,` or `=`). At most [`limits::MAX_CLIENT_HINT_BRANDS`] are read.
fn parse_brand_list(header: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in bounded(header).chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            ',' if !in_quotes => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .iter()
        .take(limits::MAX_CLIENT_HINT_BRANDS)
        .filter_map(|item| brand_item(item))
        .collect()
}

fn brand_item(item: &str) -> Option<(String, String)> {
    let item = item.trim();
    let rest = item.strip_prefix('"')?;
    let close = rest.find('"')?;
    let brand = rest.get(..close)?.to_owned();
    let params = rest.get(close + 1..)?;
    let version = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("v="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    Some((brand, version))
}

#[cfg(test)]
#[path = "ua_tests.rs"]
mod tests;
