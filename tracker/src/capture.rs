//! Click autocapture: what a click on an interactive element says about that element.
//!
//! Invariant: only what the page itself shows or authored is read (tag, id, classes, visible
//! text, `href`, `data-spur-*`); nothing a user typed into an input is ever read.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use crate::json::Obj;
use crate::limits::{MAX_SELECTOR_CLASSES, MAX_TEXT_CHARS};

/// Elements whose clicks are captured.
const INTERACTIVE: &str =
    "a,button,input[type=submit],input[type=button],input[type=reset],[role=button],[data-spur-event]";
/// The attribute that names a tagged event.
const TAG_ATTR: &str = "data-spur-event";
/// Prefix of the attributes that become a tagged event's properties.
const TAG_PROP_PREFIX: &str = "data-spur-";
/// The event name of an untagged click.
pub const CLICK_EVENT: &str = "Element Clicked";

/// What to capture from a click: `(event name, properties JSON)`, or `None` for clicks that
/// are not on an interactive element or that the config turned off.
pub fn describe(event: &JsValue, clicks: bool, tags: bool) -> Option<(String, String)> {
    let target = js_sys::Reflect::get(event, &JsValue::from_str("target")).ok()?;
    let el = target.dyn_ref::<Element>()?.closest(INTERACTIVE).ok()??;
    match el.get_attribute(TAG_ATTR) {
        Some(name) if tags => Some((name, tagged_properties(&el))),
        Some(_) => None,
        None if clicks => Some((CLICK_EVENT.into(), element_properties(&el))),
        None => None,
    }
}

/// `data-spur-*` attributes (other than `data-spur-event`) as string properties.
fn tagged_properties(el: &Element) -> String {
    let mut props = Obj::new();
    for name in el.get_attribute_names().iter().filter_map(|n| n.as_string()) {
        if let Some(key) = name.strip_prefix(TAG_PROP_PREFIX).filter(|k| *k != "event") {
            props.str(key, &el.get_attribute(&name).unwrap_or_default());
        }
    }
    props.finish()
}

/// Tag, id, classes, text, href and a short selector.
fn element_properties(el: &Element) -> String {
    let tag = el.tag_name().to_ascii_lowercase();
    let id = el.get_attribute("id").unwrap_or_default();
    let classes = el.get_attribute("class").unwrap_or_default();
    let text = if tag == "input" {
        // A submit/button input's label is the page's `value` attribute, which users cannot
        // type into; any other input (say, a text field with role=button) gives no text at all.
        let kind = el.get_attribute("type").unwrap_or_default();
        match kind.to_ascii_lowercase().as_str() {
            "submit" | "button" | "reset" => el.get_attribute("value").unwrap_or_default(),
            _ => String::new(),
        }
    } else {
        visible_text(&el.text_content().unwrap_or_default())
    };
    let mut props = Obj::new();
    props
        .str("tag", &tag)
        .str_opt("id", &id)
        .str_opt("classes", classes.trim())
        .str_opt("text", &text)
        .str_opt("href", &el.get_attribute("href").unwrap_or_default())
        .str("selector", &selector(&tag, &id, &classes));
    props.finish()
}

/// Whitespace collapsed, capped at `MAX_TEXT_CHARS` characters.
fn visible_text(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for word in raw.split_whitespace() {
        for c in (!out.is_empty()).then_some(' ').into_iter().chain(word.chars()) {
            if chars == MAX_TEXT_CHARS {
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// `tag#id`, else `tag.class1.class2.class3`.
fn selector(tag: &str, id: &str, classes: &str) -> String {
    let mut s = String::from(tag);
    if !id.is_empty() {
        s.push('#');
        s.push_str(id);
        return s;
    }
    for class in classes
        .split_ascii_whitespace()
        .take(MAX_SELECTOR_CLASSES as usize)
    {
        s.push('.');
        s.push_str(class);
    }
    s
}

#[cfg(test)]
mod native_tests {
    use super::*;

    #[test]
    fn text_is_collapsed_and_capped() {
        assert_eq!(visible_text("  Buy \n\t now  "), "Buy now");
        let long = "x".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(visible_text(&long).chars().count(), MAX_TEXT_CHARS);
        assert_eq!(visible_text(&["é"; 300].join(" ")).chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn selectors_prefer_the_id_then_up_to_three_classes() {
        assert_eq!(selector("button", "buy", "btn primary"), "button#buy");
        assert_eq!(selector("a", "", " a  b c d"), "a.a.b.c");
        assert_eq!(selector("a", "", ""), "a");
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// A click event whose target is the first element child of `html`'s innermost element.
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

    fn json(v: &str) -> JsValue {
        js_sys::JSON::parse(v).unwrap()
    }

    fn prop(o: &JsValue, k: &str) -> Option<String> {
        js_sys::Reflect::get(o, &JsValue::from_str(k))
            .unwrap()
            .as_string()
    }

    #[wasm_bindgen_test]
    fn button_properties_and_selector() {
        let (name, p) = describe(
            &click_on(
                r#"<button id="buy" class="btn primary">  Buy
            <b>now</b> </button>"#,
            ),
            true,
            true,
        )
        .unwrap();
        assert_eq!(name, CLICK_EVENT);
        let p = json(&p);
        assert_eq!(prop(&p, "tag").as_deref(), Some("button"));
        assert_eq!(prop(&p, "id").as_deref(), Some("buy"));
        assert_eq!(prop(&p, "classes").as_deref(), Some("btn primary"));
        assert_eq!(prop(&p, "text").as_deref(), Some("Buy now"));
        assert_eq!(prop(&p, "selector").as_deref(), Some("button#buy"));
    }

    #[wasm_bindgen_test]
    fn links_keep_href_and_non_interactive_clicks_are_ignored() {
        let (_, p) = describe(&click_on(r#"<a href="/x" class="a b c d">x</a>"#), true, true).unwrap();
        let p = json(&p);
        assert_eq!(prop(&p, "selector").as_deref(), Some("a.a.b.c"));
        assert_eq!(prop(&p, "href").as_deref(), Some("/x"));
        assert!(describe(&click_on("<p><span>plain</span></p>"), true, true).is_none());
    }

    #[wasm_bindgen_test]
    fn submit_input_label_is_kept_and_typed_values_never_read() {
        let (_, p) = describe(&click_on(r#"<input type="submit" value="Send">"#), true, true).unwrap();
        assert_eq!(prop(&json(&p), "text").as_deref(), Some("Send"));

        let ev = click_on(r#"<input type="text" role="button" value="prefilled">"#);
        let input: web_sys::HtmlInputElement =
            js_sys::Reflect::get(&ev, &"target".into()).unwrap().dyn_into().unwrap();
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
        assert!(describe(&click_on("<button>b</button>"), false, true).is_none(), "clicks off");
    }
}
