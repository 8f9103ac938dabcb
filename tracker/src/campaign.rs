//! `context.campaign` from the page URL's UTM parameters.
//!
//! Invariant: only the five `utm_*` parameters are read, percent-decoded as UTF-8 (invalid
//! sequences become U+FFFD), and mapped to Segment's names (`utm_campaign` → `name`).

use crate::json::Obj;

/// UTM parameter → Segment `context.campaign` key.
const UTM: [(&str, &str); 5] = [
    ("utm_campaign", "name"),
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_term", "term"),
    ("utm_content", "content"),
];

/// The campaign object for a query string (`?a=b&…`), or `None` when it has no UTM parameter.
pub fn campaign(search: &str) -> Option<String> {
    let mut obj = Obj::new();
    for pair in search.trim_start_matches('?').split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some((_, name)) = UTM.iter().find(|(utm, _)| *utm == k) {
            obj.str(name, &decode(v));
        }
    }
    (!obj.is_empty()).then(|| obj.finish())
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let mut ahead = it.clone();
                match (ahead.next().and_then(hex), ahead.next().and_then(hex)) {
                    (Some(h), Some(l)) => {
                        bytes.push(h << 4 | l);
                        it = ahead;
                    }
                    _ => bytes.push(b'%'),
                }
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_utm_parameters_to_segment_names() {
        assert_eq!(
            campaign("?utm_source=news&x=1&utm_medium=email&utm_campaign=spring%20sale&utm_term=a+b&utm_content=hero")
                .as_deref(),
            Some(r#"{"source":"news","medium":"email","name":"spring sale","term":"a b","content":"hero"}"#)
        );
    }

    #[test]
    fn none_without_utm() {
        assert_eq!(campaign(""), None);
        assert_eq!(campaign("?q=shoes&page=2"), None);
        assert_eq!(campaign("?utm_sourcex=1"), None);
    }

    #[test]
    fn decodes_utf8_and_keeps_broken_escapes() {
        assert_eq!(
            campaign("?utm_source=caf%C3%A9%2Fx%zz%4").as_deref(),
            Some(r#"{"source":"café/x%zz%4"}"#)
        );
        assert_eq!(campaign("?utm_source=%FF").as_deref(), Some("{\"source\":\"\u{fffd}\"}"));
        assert_eq!(campaign("?utm_medium").as_deref(), Some(r#"{"medium":""}"#));
    }
}
