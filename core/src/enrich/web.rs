//! Facts read from the page: referrer domain and UTM campaign.
//!
//! Invariant: these read only what the client sent in `context.page` and never fail; a URL
//! that does not parse gives nothing. Campaign keys follow analytics.js: `utm_source` →
//! `source`, `utm_medium` → `medium`, `utm_campaign` → `name`, `utm_term` → `term`,
//! `utm_content` → `content`, and any other `utm_x` → `x`.

use serde_json::Value;
use url::Url;

use crate::event::Object;
use crate::limits::MAX_CAMPAIGN_KEYS;

/// The host of a referrer URL, lower-cased, without a leading `www.`.
pub fn referrer_domain(referrer: &str) -> Option<String> {
    let url = Url::parse(referrer.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    Some(host.strip_prefix("www.").map(str::to_owned).unwrap_or(host))
}

/// Campaign fields from a query string (`?utm_source=x&…`, with or without the `?`), or from
/// the query of a full URL.
pub fn campaign_from_query(query_or_url: &str) -> Object {
    let text = query_or_url.trim();
    let query = match Url::parse(text) {
        Ok(url) => url.query().unwrap_or_default().to_owned(),
        Err(_) => text.trim_start_matches('?').to_owned(),
    };
    let mut campaign = Object::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(field) = key.strip_prefix("utm_").filter(|f| !f.is_empty()) else {
            continue;
        };
        let field = if field == "campaign" { "name" } else { field };
        if campaign.len() >= MAX_CAMPAIGN_KEYS && !campaign.contains_key(field) {
            break;
        }
        campaign.insert(field.to_owned(), Value::String(value.into_owned()));
    }
    campaign
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn referrer_domains() {
        assert_eq!(
            referrer_domain("https://www.Google.com/search?q=x").as_deref(),
            Some("google.com")
        );
        assert_eq!(
            referrer_domain("http://news.ycombinator.com/item?id=1").as_deref(),
            Some("news.ycombinator.com")
        );
        assert_eq!(
            referrer_domain("https://bücher.example/").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(referrer_domain(""), None);
        assert_eq!(referrer_domain("$direct"), None);
        assert_eq!(
            referrer_domain("android-app://com.google.android.gm/"),
            None
        );
    }

    #[test]
    fn campaign_from_search_and_url() {
        let c = campaign_from_query(
            "?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_term=shoes&utm_content=hero+banner&ref=x",
        );
        assert_eq!(
            Value::Object(c),
            json!({"source": "newsletter", "medium": "email", "name": "spring sale", "term": "shoes", "content": "hero banner"})
        );
        let c = campaign_from_query("https://shop.example/p?utm_source=ads&utm_id=42#top");
        assert_eq!(Value::Object(c), json!({"source": "ads", "id": "42"}));
        assert!(campaign_from_query("https://shop.example/").is_empty());
        assert!(campaign_from_query("").is_empty());
        assert!(campaign_from_query("?utm_=x&foo=bar").is_empty());
    }

    #[test]
    fn campaign_keys_are_bounded() {
        let query = |n: usize| {
            (0..n)
                .map(|i| format!("utm_k{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        let at = campaign_from_query(&query(MAX_CAMPAIGN_KEYS));
        assert_eq!(at.len(), MAX_CAMPAIGN_KEYS);
        let over = campaign_from_query(&query(MAX_CAMPAIGN_KEYS + 1));
        assert_eq!(over.len(), MAX_CAMPAIGN_KEYS);
        assert!(
            !over.contains_key(&format!("k{MAX_CAMPAIGN_KEYS}")),
            "the extra key is dropped"
        );
    }
}
