//! `context.campaign` from the page URL's UTM parameters.
//!
//! Invariant: only the five `utm_*` parameters are read, form-decoded by the browser
//! (`decodeURIComponent`; a broken escape leaves the value as sent), and mapped to Segment's
//! names (`utm_campaign` → `name`).

use crate::host;
use crate::json::{split, split_once, Obj};

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
    for pair in split(search.strip_prefix("?").unwrap_or(search), b'&') {
        let (k, v) = split_once(pair, b'=').unwrap_or((pair, ""));
        if let Some((_, name)) = UTM.iter().find(|(utm, _)| *utm == k) {
            obj.str(name, &host::decode(v));
        }
    }
    (!obj.is_empty()).then(|| obj.finish())
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
    fn decodes_values_and_keeps_empty_ones() {
        assert_eq!(
            campaign("?utm_source=a%2Fb+c&utm_medium").as_deref(),
            Some(r#"{"source":"a/b c","medium":""}"#)
        );
    }
}
