//! The Segment `context` object and page properties, read from the document.

use js_sys::{JsString, Object};
use wasm_bindgen::JsValue;

use crate::set;

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

/// `context.page`-shaped facts: url, path, title, referrer, search.
pub fn page_properties() -> Object {
    let o = Object::new();
    let Some(window) = web_sys::window() else {
        return o;
    };
    let loc = window.location();
    set(&o, "url", &s(&loc.href().unwrap_or_default()));
    set(&o, "path", &s(&loc.pathname().unwrap_or_default()));
    set(&o, "search", &s(&loc.search().unwrap_or_default()));
    if let Some(doc) = window.document() {
        set(&o, "title", &s(&doc.title()));
        set(&o, "referrer", &s(&doc.referrer()));
    }
    o
}

/// The context sent with every message.
pub fn context() -> Object {
    let ctx = Object::new();
    let lib = Object::new();
    set(&lib, "name", &s(crate::LIBRARY_NAME));
    set(&lib, "version", &s(crate::LIBRARY_VERSION));
    set(&ctx, "library", &lib);
    set(&ctx, "page", &page_properties());
    if let Some(window) = web_sys::window() {
        let nav = window.navigator();
        set(
            &ctx,
            "userAgent",
            &JsString::from(nav.user_agent().unwrap_or_default()),
        );
        if let Some(lang) = nav.language() {
            set(&ctx, "locale", &s(&lang));
        }
    }
    ctx
}
