//! Autocapture: clicks on interactive elements and `data-spur-event` tags.
//!
//! Invariant: only what the page shows is captured (tag, id, classes, visible text, href);
//! nothing typed into an input is ever read.

use gloo_events::{EventListener, EventListenerOptions};
use js_sys::Object;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use crate::{set, Config};

/// Elements whose clicks are captured.
const INTERACTIVE: &str =
    "a,button,input[type=submit],input[type=button],[role=button],[data-spur-event]";
/// Longest element text kept, in characters.
const MAX_TEXT_CHARS: usize = 255;

/// The installed listeners; dropping it removes them.
pub struct Capture {
    _click: Option<EventListener>,
}

impl Capture {
    /// Installs the listeners the config asks for.
    pub fn install(config: &Config) -> Capture {
        let click = config.autocapture_clicks.then(|| {
            web_sys::window().and_then(|w| w.document()).map(|doc| {
                EventListener::new_with_options(
                    &doc,
                    "click",
                    EventListenerOptions::run_in_capture_phase(),
                    on_click,
                )
            })
        });
        Capture {
            _click: click.flatten(),
        }
    }
}

fn on_click(event: &web_sys::Event) {
    let Some(el) = event
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .and_then(|t| t.closest(INTERACTIVE).ok().flatten())
    else {
        return;
    };
    if let Some(name) = el.get_attribute("data-spur-event") {
        crate::track(name, tagged_properties(&el).into());
        return;
    }
    crate::track("Element Clicked".into(), element_properties(&el).into());
}

/// `data-spur-*` attributes (other than `data-spur-event`) become properties.
fn tagged_properties(el: &Element) -> Object {
    let props = Object::new();
    let attrs = el.attributes();
    for i in 0..attrs.length() {
        let Some(attr) = attrs.item(i) else { continue };
        if let Some(key) = attr.name().strip_prefix("data-spur-") {
            if key != "event" {
                set(&props, key, &JsValue::from_str(&attr.value()));
            }
        }
    }
    props
}

fn element_properties(el: &Element) -> Object {
    let props = Object::new();
    let tag = el.tag_name().to_ascii_lowercase();
    set(&props, "tag", &JsValue::from_str(&tag));
    let id = el.id();
    if !id.is_empty() {
        set(&props, "id", &JsValue::from_str(&id));
    }
    let classes = el.class_name();
    if !classes.is_empty() {
        set(&props, "classes", &JsValue::from_str(&classes));
    }
    if tag != "input" {
        let text = el.text_content().unwrap_or_default();
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
        if !text.is_empty() {
            set(&props, "text", &JsValue::from_str(&text));
        }
    } else if is_button_input(el) {
        // A submit/button input's label is page-authored (users cannot type into it); any
        // other input's value may be user data and is never read.
        if let Some(v) = el.get_attribute("value") {
            set(&props, "text", &JsValue::from_str(&v));
        }
    }
    if let Some(href) = el.get_attribute("href") {
        set(&props, "href", &JsValue::from_str(&href));
    }
    set(
        &props,
        "selector",
        &JsValue::from_str(&selector(el, &tag, &id)),
    );
    props
}

fn is_button_input(el: &Element) -> bool {
    el.get_attribute("type").is_some_and(|t| {
        matches!(
            t.to_ascii_lowercase().as_str(),
            "submit" | "button" | "reset"
        )
    })
}

/// A short CSS selector: `tag#id`, else `tag.class1.class2`.
fn selector(el: &Element, tag: &str, id: &str) -> String {
    if !id.is_empty() {
        return format!("{tag}#{id}");
    }
    let list = el.class_list();
    let mut s = tag.to_owned();
    for i in 0..list.length().min(3) {
        if let Some(c) = list.item(i) {
            s.push('.');
            s.push_str(&c);
        }
    }
    s
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn element(html: &str) -> Element {
        let doc = web_sys::window().and_then(|w| w.document()).unwrap();
        let host = doc.create_element("div").unwrap();
        host.set_inner_html(html);
        host.first_element_child().unwrap()
    }

    fn prop(o: &Object, k: &str) -> Option<String> {
        js_sys::Reflect::get(o, &JsValue::from_str(k))
            .unwrap()
            .as_string()
    }

    #[wasm_bindgen_test]
    fn button_properties_and_selector() {
        let el = element(
            r#"<button id="buy" class="btn primary">  Buy
            now </button>"#,
        );
        let p = element_properties(&el);
        assert_eq!(prop(&p, "tag").as_deref(), Some("button"));
        assert_eq!(prop(&p, "id").as_deref(), Some("buy"));
        assert_eq!(prop(&p, "classes").as_deref(), Some("btn primary"));
        assert_eq!(prop(&p, "text").as_deref(), Some("Buy now"));
        assert_eq!(prop(&p, "selector").as_deref(), Some("button#buy"));
    }

    #[wasm_bindgen_test]
    fn selector_without_id_uses_up_to_three_classes() {
        let el = element(r#"<a href="/x" class="a b c d">x</a>"#);
        let p = element_properties(&el);
        assert_eq!(prop(&p, "selector").as_deref(), Some("a.a.b.c"));
        assert_eq!(prop(&p, "href").as_deref(), Some("/x"));
    }

    #[wasm_bindgen_test]
    fn text_is_capped() {
        let long = "x".repeat(MAX_TEXT_CHARS + 10);
        let el = element(&format!("<button>{long}</button>"));
        let p = element_properties(&el);
        assert_eq!(
            prop(&p, "text").map(|t| t.chars().count()),
            Some(MAX_TEXT_CHARS)
        );
    }

    #[wasm_bindgen_test]
    fn submit_input_label_is_kept() {
        let el = element(r#"<input type="submit" value="Send">"#);
        assert_eq!(
            prop(&element_properties(&el), "text").as_deref(),
            Some("Send")
        );
    }

    #[wasm_bindgen_test]
    fn typed_input_values_are_never_read() {
        let el = element(r#"<input type="text" role="button" value="prefilled">"#);
        let input: web_sys::HtmlInputElement = el.clone().dyn_into().unwrap();
        input.set_value("typed by the user");
        let p = element_properties(&el);
        assert_eq!(prop(&p, "text"), None);
        assert_eq!(prop(&p, "tag").as_deref(), Some("input"));
    }

    #[wasm_bindgen_test]
    fn data_spur_attributes_become_properties() {
        let el = element(
            r#"<button data-spur-event="Signup" data-spur-plan="pro" data-other="no">x</button>"#,
        );
        let p = tagged_properties(&el);
        assert_eq!(prop(&p, "plan").as_deref(), Some("pro"));
        assert_eq!(prop(&p, "event"), None);
        assert_eq!(prop(&p, "other"), None);
    }
}
