//! What the edge knows about an HTTP request and the core cannot observe itself.
//!
//! Invariant: these are plain values copied from the request (headers as sent, Cloudflare's
//! `request.cf` as deserialized); interpreting them is the core's job, so every edge (or
//! test) hands over the same raw facts and gets the same result.

use serde::{Deserialize, Serialize};

/// Headers and connection facts of one ingest request. Every field is optional; absent
/// facts simply enrich less.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The client address (`CF-Connecting-IP`). Only its truncated form is ever stored.
    pub ip: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// The `Sec-CH-UA` header (brand list).
    pub sec_ch_ua: Option<&'a str>,
    /// The `Sec-CH-UA-Mobile` header (`?0` / `?1`).
    pub sec_ch_ua_mobile: Option<&'a str>,
    /// The `Sec-CH-UA-Platform` header (`"macOS"`).
    pub sec_ch_ua_platform: Option<&'a str>,
    /// The `Sec-GPC` header; `1` means the user opted out of sale/sharing.
    pub sec_gpc: Option<&'a str>,
    /// The `Origin` header; browsers send it on every POST, servers usually do not.
    pub origin: Option<&'a str>,
    /// The `Authorization` header (`Basic base64(writeKey:)`).
    pub authorization: Option<&'a str>,
    /// The `Content-Encoding` header.
    pub content_encoding: Option<&'a str>,
    /// Cloudflare's `request.cf`, when running on Workers.
    pub cf: Option<&'a CfFacts>,
}

impl RequestFacts<'_> {
    /// Whether the browser sent the Global Privacy Control signal (`Sec-GPC: 1`).
    pub fn gpc(&self) -> bool {
        self.sec_gpc.is_some_and(|v| v.trim() == "1")
    }

    /// Whether a browser sent this request directly. Browsers send `Origin` on every POST
    /// (fetch, XHR and sendBeacon alike); server SDKs do not. Facts about the connection
    /// (bot score, User-Agent header) describe the end user only in this case.
    pub fn from_browser(&self) -> bool {
        self.origin.is_some()
    }
}

/// The parts of Cloudflare's `request.cf` that enrichment reads. Deserializes from the whole
/// `request.cf` object (unknown fields are ignored, since Cloudflare adds them over time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfFacts {
    /// ISO 3166-1 alpha-2 country code (`US`), or `T1` for Tor.
    #[serde(default)]
    pub country: Option<String>,
    /// Region name (`Texas`).
    #[serde(default)]
    pub region: Option<String>,
    /// ISO 3166-2 region code (`TX`).
    #[serde(default)]
    pub region_code: Option<String>,
    /// City name.
    #[serde(default)]
    pub city: Option<String>,
    /// IANA time zone (`America/Chicago`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Autonomous system number of the client's network.
    #[serde(default)]
    pub asn: Option<u32>,
    /// The Cloudflare data center that took the request (`DFW`).
    #[serde(default)]
    pub colo: Option<String>,
    /// Postal code. Read but not stored: with city and a /24 it narrows to a household.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Latitude, as Cloudflare sends it (a string). Read but not stored, like `postal_code`.
    #[serde(default)]
    pub latitude: Option<String>,
    /// Longitude, as Cloudflare sends it (a string). Read but not stored.
    #[serde(default)]
    pub longitude: Option<String>,
    /// Bot Management facts, on plans that have it.
    #[serde(default)]
    pub bot_management: Option<BotManagement>,
}

/// The request facts a bad row keeps, so a replay enriches its message as the original
/// request would have. Privacy holds here too: the IP is kept truncated, and `cf` drops
/// postal code and coordinates, which enrichment never stores either.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeptFacts {
    /// The client address, truncated.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Sec-CH-UA` header.
    pub sec_ch_ua: Option<String>,
    /// The `Sec-CH-UA-Mobile` header.
    pub sec_ch_ua_mobile: Option<String>,
    /// The `Sec-CH-UA-Platform` header.
    pub sec_ch_ua_platform: Option<String>,
    /// The `Sec-GPC` header.
    pub sec_gpc: Option<String>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// `request.cf`, without postal code and coordinates.
    pub cf: Option<CfFacts>,
    /// The batch's `sentAt` (messages may carry only the batch's).
    pub sent_at: Option<String>,
}

impl KeptFacts {
    /// What to keep of a request's facts (and its batch `sentAt`).
    pub fn keep(facts: &RequestFacts<'_>, sent_at: Option<&str>) -> Self {
        let own = |v: Option<&str>| v.map(str::to_owned);
        KeptFacts {
            ip: facts.ip.and_then(crate::enrich::ip::truncate_ip),
            user_agent: own(facts.user_agent),
            sec_ch_ua: own(facts.sec_ch_ua),
            sec_ch_ua_mobile: own(facts.sec_ch_ua_mobile),
            sec_ch_ua_platform: own(facts.sec_ch_ua_platform),
            sec_gpc: own(facts.sec_gpc),
            origin: own(facts.origin),
            cf: facts.cf.map(|cf| CfFacts {
                postal_code: None,
                latitude: None,
                longitude: None,
                ..cf.clone()
            }),
            sent_at: own(sent_at),
        }
    }

    /// The facts to replay with (no `Authorization`: the bad row's write key is used; no
    /// `Content-Encoding`: the stored payload is plain JSON).
    pub fn as_request(&self) -> RequestFacts<'_> {
        RequestFacts {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            sec_ch_ua: self.sec_ch_ua.as_deref(),
            sec_ch_ua_mobile: self.sec_ch_ua_mobile.as_deref(),
            sec_ch_ua_platform: self.sec_ch_ua_platform.as_deref(),
            sec_gpc: self.sec_gpc.as_deref(),
            origin: self.origin.as_deref(),
            authorization: None,
            content_encoding: None,
            cf: self.cf.as_ref(),
        }
    }
}

/// `request.cf.botManagement`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotManagement {
    /// 1 (surely automated) to 99 (surely human); 0 when not computed.
    #[serde(default)]
    pub score: Option<u8>,
    /// A known good bot (search engines, monitors).
    #[serde(default)]
    pub verified_bot: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_facts_hold_no_raw_ip_nor_precise_location_and_round_trip() {
        let cf = CfFacts {
            country: Some("DE".into()),
            city: Some("Berlin".into()),
            postal_code: Some("10115".into()),
            latitude: Some("52.5".into()),
            longitude: Some("13.4".into()),
            ..CfFacts::default()
        };
        let facts = RequestFacts {
            ip: Some("203.0.113.45"),
            user_agent: Some("UA"),
            sec_gpc: Some("1"),
            origin: Some("https://shop.example"),
            authorization: Some("Basic eDo="),
            cf: Some(&cf),
            ..RequestFacts::default()
        };
        let kept = KeptFacts::keep(&facts, Some("2026-11-28T10:00:00Z"));
        let json = serde_json::to_string(&kept).unwrap();
        assert!(
            !json.contains("203.0.113.45") && !json.contains("10115") && !json.contains("52.5")
        );
        let back: KeptFacts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, kept);
        let again = back.as_request();
        assert_eq!(again.ip, Some("203.0.113.0"));
        assert_eq!(again.user_agent, Some("UA"));
        assert!(again.gpc());
        assert_eq!(again.authorization, None);
        assert_eq!(again.cf.and_then(|c| c.city.as_deref()), Some("Berlin"));
    }

    #[test]
    fn cf_deserializes_from_a_real_request_cf() {
        // Shape of a workerd request.cf (fields Spur does not read included).
        let cf: CfFacts = serde_json::from_str(
            r#"{
              "asn": 13335, "asOrganization": "Cloudflare", "colo": "DFW", "country": "US",
              "city": "Austin", "continent": "NA", "latitude": "30.27130", "longitude": "-97.74260",
              "postalCode": "78701", "metroCode": "635", "region": "Texas", "regionCode": "TX",
              "timezone": "America/Chicago", "httpProtocol": "HTTP/2", "tlsVersion": "TLSv1.3",
              "botManagement": { "score": 12, "verifiedBot": false, "staticResource": false, "ja3Hash": "x" }
            }"#,
        )
        .unwrap();
        assert_eq!(cf.country.as_deref(), Some("US"));
        assert_eq!(cf.asn, Some(13335));
        assert_eq!(cf.latitude.as_deref(), Some("30.27130"));
        assert_eq!(
            cf.bot_management,
            Some(BotManagement {
                score: Some(12),
                verified_bot: Some(false)
            })
        );
        let empty: CfFacts = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, CfFacts::default());
    }

    #[test]
    fn gpc_and_browser() {
        let mut f = RequestFacts::default();
        assert!(!f.gpc());
        assert!(!f.from_browser());
        f.sec_gpc = Some(" 1 ");
        f.origin = Some("https://shop.example");
        assert!(f.gpc());
        assert!(f.from_browser());
        f.sec_gpc = Some("0");
        assert!(!f.gpc());
    }
}
