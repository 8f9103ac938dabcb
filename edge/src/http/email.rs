//! RFC 8058 one-click unsubscribe: `POST /v1/email/unsubscribe?t=TOKEN` with the body
//! `List-Unsubscribe=One-Click` (what mail clients send), and `GET` (a person following the
//! link: a small page whose form makes that same POST).
//!
//! Invariant: only a token signed with `EMAIL_UNSUBSCRIBE_SECRET` and not expired puts its
//! address on the suppression list; any other token is a 400 with the token's reason code,
//! never a 5xx; the GET changes nothing (link scanners must not unsubscribe anyone).

use spur_core::email::token::{self, Claims};
use worker::{Env, Method, Request, Response};

use crate::clock::now;
use crate::http::body;
use crate::http::error::ApiError;
use crate::queues::email::unsubscribe_secret;
use crate::storage::email as suppressions;

/// The route.
pub const UNSUBSCRIBE_PATH: &str = "/v1/email/unsubscribe";
/// Largest POST body read (the RFC 8058 body is 26 bytes).
const MAX_UNSUBSCRIBE_BODY_BYTES: usize = 1_024;

/// Whether this module answers `path`.
pub fn owns(path: &str) -> bool {
    path == UNSUBSCRIBE_PATH
}

/// Handles the unsubscribe route.
pub async fn handle(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let method = req.method();
    if method != Method::Get && method != Method::Post {
        return Err(ApiError::MethodNotAllowed);
    }
    let Some(secret) = unsubscribe_secret(env) else {
        return Err(ApiError::NotFound);
    };
    let url = req.url()?;
    let t = url
        .query_pairs()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let claims = token::verify(secret.as_bytes(), &t, now().unix_timestamp())
        .map_err(ApiError::Unsubscribe)?;
    if method == Method::Get {
        return page(&confirm_page(&t, &claims));
    }
    let raw = body::read_bounded(&mut req, MAX_UNSUBSCRIBE_BODY_BYTES).await?;
    let one_click = String::from_utf8_lossy(&raw)
        .split('&')
        .any(|pair| pair.trim() == "List-Unsubscribe=One-Click");
    if !one_click {
        return Err(ApiError::Invalid(
            "the body must be List-Unsubscribe=One-Click (RFC 8058)".into(),
        ));
    }
    suppressions::suppress(
        env,
        &claims.address,
        "unsubscribed",
        Some(&claims.person),
        "one_click",
    )
    .await?;
    page(&format!(
        "<h1>Unsubscribed</h1><p>{} will get no more emails from us.</p>",
        escape(&claims.address)
    ))
}

fn confirm_page(t: &str, claims: &Claims) -> String {
    format!(
        "<h1>Unsubscribe</h1><p>Stop emails to {}?</p>\
         <form method=\"post\" action=\"{UNSUBSCRIBE_PATH}?t={}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
        escape(&claims.address),
        escape(t)
    )
}

fn page(body: &str) -> Result<Response, ApiError> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Unsubscribe</title>\
         </head><body>{body}</body></html>"
    );
    let mut resp = Response::from_html(html)?;
    resp.headers_mut().set("Cache-Control", "no-store")?;
    Ok(resp)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
