//! Click autocapture: which clicks become events, and with what properties.
//!
//! Invariant: only what the page itself shows or authored is read (tag, id, classes, visible
//! text, `href`, `data-spur-*`); nothing a user typed into an input is ever read. The DOM is
//! read by `describe` in `tracker/js/host.js` (reading it through web-sys costs far more wasm);
//! the limits it applies come from `limits.rs`.

use crate::host;
use crate::json::split_once;
use crate::limits::{MAX_SELECTOR_CLASSES, MAX_TEXT_CHARS};

/// What to capture from the click being dispatched: `(event name, properties JSON)`; `None`
/// for clicks that are not on an interactive element, or whose kind the config turned off
/// (`clicks` for `Element Clicked`, `tags` for `data-spur-event`).
pub fn describe(clicks: bool, tags: bool) -> Option<(String, String)> {
    parse(&host::describe(
        clicks,
        tags,
        MAX_TEXT_CHARS,
        MAX_SELECTOR_CLASSES,
    ))
}

/// `{properties}\nname`: JSON never holds a raw newline, an event name might.
fn parse(described: &str) -> Option<(String, String)> {
    let (props, name) = split_once(described, b'\n')?;
    Some((name.to_owned(), props.to_owned()))
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen(module = "/js/host.js")]
    extern "C" {
        /// `describe` for a given event rather than the one being dispatched.
        #[wasm_bindgen(js_name = describe)]
        fn describe_event(
            clicks: bool,
            tags: bool,
            max_text: usize,
            max_classes: u32,
            event: &JsValue,
        ) -> String;
    }

    fn describe(event: &JsValue, clicks: bool, tags: bool) -> Option<(String, String)> {
        parse(&describe_event(
            clicks,
            tags,
            MAX_TEXT_CHARS,
            MAX_SELECTOR_CLASSES,
            event,
        ))
    }

    /// A click event whose target is the innermost first element of `html`.
    fn click_on(html: &str) -> JsValue {
        let doc = web_sys::window().and_then(|w| w.document()).unwrap();
        let host = doc.create_element("div").unwrap();
        host.set_inner_html(html);
        let mut el = host.first_element_child().unwrap();
        while let Some(child) = el.first_element_child() {
            el = child;
        }
        let ev = js_sys::Object::new();
        js_sys::Reflect::set(&ev, &"target".into(), &el).unwrap();
        ev.into()
    }

    fn prop(json: &str, k: &str) -> Option<String> {
        let o = js_sys::JSON::parse(json).unwrap();
        js_sys::Reflect::get(&o, &JsValue::from_str(k))
            .unwrap()
            .as_string()
    }

    #[wasm_bindgen_test]
    fn button_properties_and_selector() {
        let html = r#"<button id="buy" class="btn primary">  Buy
            <b>now</b> </button>"#;
        let (name, p) = describe(&click_on(html), true, true).unwrap();
        assert_eq!(name, "Element Clicked");
        assert_eq!(prop(&p, "tag").as_deref(), Some("button"));
        assert_eq!(prop(&p, "id").as_deref(), Some("buy"));
        assert_eq!(prop(&p, "classes").as_deref(), Some("btn primary"));
        assert_eq!(prop(&p, "text").as_deref(), Some("Buy now"));
        assert_eq!(prop(&p, "selector").as_deref(), Some("button#buy"));
    }

    #[wasm_bindgen_test]
    fn links_keep_href_selectors_take_three_classes_and_plain_clicks_are_ignored() {
        let (_, p) = describe(
            &click_on(r#"<a href="/x" class="a b c d">x</a>"#),
            true,
            true,
        )
        .unwrap();
        assert_eq!(prop(&p, "selector").as_deref(), Some("a.a.b.c"));
        assert_eq!(prop(&p, "href").as_deref(), Some("/x"));
        assert!(describe(&click_on("<p><span>plain</span></p>"), true, true).is_none());
    }

    #[wasm_bindgen_test]
    fn text_is_collapsed_and_capped_in_characters() {
        let long = "é ".repeat(MAX_TEXT_CHARS);
        let (_, p) = describe(&click_on(&format!("<button>{long}</button>")), true, true).unwrap();
        assert_eq!(prop(&p, "text").unwrap().chars().count(), MAX_TEXT_CHARS);
    }

    #[wasm_bindgen_test]
    fn submit_input_label_is_kept_and_typed_values_never_read() {
        let (_, p) = describe(
            &click_on(r#"<input type="submit" value="Send">"#),
            true,
            true,
        )
        .unwrap();
        assert_eq!(prop(&p, "text").as_deref(), Some("Send"));

        let ev = click_on(r#"<input type="text" role="button" value="prefilled">"#);
        let input: web_sys::HtmlInputElement = js_sys::Reflect::get(&ev, &"target".into())
            .unwrap()
            .dyn_into()
            .unwrap();
        input.set_value("typed by the user");
        let (_, p) = describe(&ev, true, true).unwrap();
        assert!(!p.contains("typed") && !p.contains("prefilled"), "{p}");
    }

    #[wasm_bindgen_test]
    fn data_spur_attributes_make_a_tagged_event() {
        let ev = click_on(
            r#"<button data-spur-event="Signup" data-spur-plan="pro" data-other="no"><i>x</i></button>"#,
        );
        let (name, p) = describe(&ev, false, true).unwrap();
        assert_eq!(name, "Signup");
        assert_eq!(p, r#"{"plan":"pro"}"#);
        assert!(describe(&ev, true, false).is_none(), "tags off");
        assert!(
            describe(&click_on("<button>b</button>"), false, true).is_none(),
            "clicks off"
        );
    }
}
