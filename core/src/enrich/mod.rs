//! Enrichment: what the server knows about an event that its sender could not say.
//!
//! Invariant: no full IP address survives enrichment — `context.ip` is always replaced by the
//! truncated client-given address (a server SDK reporting its end user's IP), else the
//! truncated request address, else removed — and the server-owned keys `context.ip`,
//! `context.geo` and `context.spur` never keep what a client sent in them.
//!
//! What an enriched event's `context` holds:
//! - `ip`: truncated (see [`ip`]); absent under GPC `anonymize`.
//! - `geo`: `{country, region, regionCode, city, timezone, asn, colo}` from `request.cf`, only
//!   when `ip` came from the request (a client-given `ip` means the request came from a relay
//!   whose location is not the user's); only `country` under GPC `anonymize`.
//! - `userAgent`: as sent; filled from the `User-Agent` header for browser requests that left
//!   it out; removed under GPC `anonymize`.
//! - `campaign`: as sent; when missing or empty, read from `page.search` / `page.url` UTM
//!   parameters (see [`web`]).
//! - `library`, `page`, `locale` and the rest: kept as sent.
//! - `spur`: Spur's own facts — `source` (the write key's configured name; never the key),
//!   `writeKeySource` (`basic`, `body` or `replay`), `ua` (`{browser, os, device}`, see [`ua`]), `bot`,
//!   `botScore` (Cloudflare's, when it describes the sender), `referrerDomain`, `gpc` (when
//!   `Sec-GPC: 1` was sent), and in `flag` mode `violations` / `violationCount` (see
//!   [`crate::plan`]).

pub mod ip;
pub mod ua;
pub mod web;

use serde::Serialize;
use serde_json::Value;

use crate::event::{Event, Object};
use crate::request::RequestFacts;

/// Cloudflare bot scores below this are "likely automated" (Cloudflare's own boundary).
pub const BOT_SCORE_THRESHOLD: u8 = 30;

/// Where the request's write key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteKeySource {
    /// The HTTP Basic username.
    Basic,
    /// `writeKey` in the body.
    Body,
    /// A bad row re-run through the pipeline ([`crate::ingest::replay`]).
    Replay,
}

impl WriteKeySource {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            WriteKeySource::Basic => "basic",
            WriteKeySource::Body => "body",
            WriteKeySource::Replay => "replay",
        }
    }
}

/// Per-request enrichment state: what every event of one request shares is worked out once.
#[derive(Debug)]
pub struct Enricher<'a> {
    facts: RequestFacts<'a>,
    source: &'a str,
    key_source: WriteKeySource,
    anonymize: bool,
    request_ip: Option<String>,
    geo: Option<Object>,
    header_hints: ua::Hints,
    /// Batches almost always repeat one user agent; the last parse is reused.
    last: Option<(String, Option<ua::Hints>, ua::Agent)>,
}

impl<'a> Enricher<'a> {
    /// Prepares enrichment for one request. `anonymize` is true when the browser sent
    /// `Sec-GPC: 1` and the policy is to anonymize.
    pub fn new(
        facts: RequestFacts<'a>,
        source: &'a str,
        key_source: WriteKeySource,
        anonymize: bool,
    ) -> Self {
        let request_ip = facts.ip.and_then(ip::truncate_ip);
        let geo = facts.cf.map(|cf| {
            let mut geo = Object::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    geo.insert(k.to_owned(), v);
                }
            };
            put("country", cf.country.clone().map(Value::String));
            if !anonymize {
                put("region", cf.region.clone().map(Value::String));
                put("regionCode", cf.region_code.clone().map(Value::String));
                put("city", cf.city.clone().map(Value::String));
                put("timezone", cf.timezone.clone().map(Value::String));
                put("asn", cf.asn.map(Value::from));
                put("colo", cf.colo.clone().map(Value::String));
            }
            geo
        });
        let header_hints = ua::Hints::from_headers(
            facts.sec_ch_ua,
            facts.sec_ch_ua_mobile,
            facts.sec_ch_ua_platform,
        );
        Enricher {
            facts,
            source,
            key_source,
            anonymize,
            request_ip,
            geo,
            header_hints,
            last: None,
        }
    }

    /// Enriches one event in place.
    pub fn apply(&mut self, event: &mut Event) {
        let ctx = &mut event.context;
        let mut spur = Object::new();
        spur.insert("source".into(), Value::String(self.source.to_owned()));
        spur.insert(
            "writeKeySource".into(),
            Value::String(self.key_source.as_str().to_owned()),
        );

        // IP and geo.
        let client_ip = match ctx.remove("ip") {
            Some(Value::String(s)) => ip::truncate_ip(&s),
            _ => None,
        };
        let from_request = client_ip.is_none();
        let ip = client_ip.or_else(|| self.request_ip.clone());
        ctx.remove("geo");
        if !self.anonymize {
            if let Some(ip) = ip {
                ctx.insert("ip".into(), Value::String(ip));
            }
        }
        if let (true, Some(geo)) = (from_request, &self.geo) {
            if !geo.is_empty() {
                ctx.insert("geo".into(), Value::Object(geo.clone()));
            }
        }

        // User agent, bot.
        let from_browser = self.facts.from_browser();
        let event_ua = ctx
            .get("userAgent")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if event_ua.is_none() && from_browser {
            if let Some(header) = self.facts.user_agent {
                ctx.insert("userAgent".into(), Value::String(header.to_owned()));
            }
        }
        // The connection's facts describe the user only when the browser itself sent the
        // request; a server relaying a user's events has its own UA and bot score.
        let direct = from_browser
            && event_ua
                .as_deref()
                .is_none_or(|u| Some(u) == self.facts.user_agent);
        let ua_text = event_ua.or_else(|| {
            self.facts
                .user_agent
                .filter(|_| from_browser)
                .map(str::to_owned)
        });
        let mut bot = false;
        if let Some(text) = ua_text {
            let hints = match ctx.get("userAgentData") {
                Some(data @ Value::Object(_)) => Some(ua::Hints::from_user_agent_data(data)),
                _ if direct => Some(self.header_hints.clone()),
                _ => None,
            };
            let agent = self.parse_cached(text, hints);
            bot = agent.device.kind == ua::DeviceType::Bot;
            spur.insert(
                "ua".into(),
                serde_json::to_value(&agent).unwrap_or_default(),
            );
        }
        if direct {
            if let Some(bm) = self.facts.cf.and_then(|cf| cf.bot_management) {
                let score = bm.score.filter(|s| *s > 0);
                if let Some(score) = score {
                    spur.insert("botScore".into(), Value::from(score));
                }
                bot |=
                    bm.verified_bot == Some(true) || score.is_some_and(|s| s < BOT_SCORE_THRESHOLD);
            }
        }
        spur.insert("bot".into(), Value::Bool(bot));

        // Page facts.
        let page = ctx.get("page").and_then(Value::as_object);
        if let Some(domain) = page
            .and_then(|p| p.get("referrer"))
            .and_then(Value::as_str)
            .and_then(web::referrer_domain)
        {
            spur.insert("referrerDomain".into(), Value::String(domain));
        }
        let has_campaign = ctx
            .get("campaign")
            .and_then(Value::as_object)
            .is_some_and(|c| !c.is_empty());
        if !has_campaign {
            let campaign = page
                .and_then(|p| {
                    let search = p
                        .get("search")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty());
                    search.or_else(|| p.get("url").and_then(Value::as_str))
                })
                .map(web::campaign_from_query)
                .unwrap_or_default();
            if !campaign.is_empty() {
                ctx.insert("campaign".into(), Value::Object(campaign));
            }
        }

        if self.facts.gpc() {
            spur.insert("gpc".into(), Value::Bool(true));
        }
        if self.anonymize {
            ctx.remove("userAgent");
        }
        ctx.insert("spur".into(), Value::Object(spur));
    }

    fn parse_cached(&mut self, text: String, hints: Option<ua::Hints>) -> ua::Agent {
        if let Some((t, h, agent)) = &self.last {
            if *t == text && *h == hints {
                return agent.clone();
            }
        }
        let agent = ua::parse(&text, hints.as_ref());
        self.last = Some((text, hints, agent.clone()));
        agent
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
