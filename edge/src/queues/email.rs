//! Email delivery for the actions consumer: the suppression check, the signed one-click
//! unsubscribe link, and the send through the provider's HTTP API or the `send_email`
//! binding. The campaign events a closed email outcome leaves are recorded by
//! [`crate::queues::campaign`], like push's.
//!
//! Invariant: an email action is sent only when its address is not suppressed, carries
//! `List-Unsubscribe` + `List-Unsubscribe-Post` (RFC 8058) with a token for its person and
//! address, and sends the `Idempotency-Key` of its action id; a hard bounce puts the address
//! on the suppression list before the outcome is stored. What an answer means is decided in
//! `spur_core::email`.

use spur_core::email::{token, Answer, ProviderRequest};
use spur_core::limits::MAX_EMAIL_PROVIDER_ANSWER_BYTES;
use spur_core::rules::actions::{Attempt, FiringRecord};
use wasm_bindgen::{JsCast, JsValue};
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::queues::actions::Gate;
use crate::storage::email as suppressions;
use spur_core::frequency::Channel;

/// The provider's HTTP API endpoint (var or secret); the JSON body is
/// `spur_core::email::ProviderRequest`.
pub const EMAIL_PROVIDER_URL: &str = "EMAIL_PROVIDER_URL";
/// Sent as `Authorization: Bearer <key>` to the provider (secret).
pub const EMAIL_PROVIDER_KEY: &str = "EMAIL_PROVIDER_KEY";
/// The default sender (`addr` or `Name <addr>`) for actions that name none.
pub const EMAIL_FROM: &str = "EMAIL_FROM";
/// Signs unsubscribe tokens (secret, HMAC-SHA256).
pub const EMAIL_UNSUBSCRIBE_SECRET: &str = "EMAIL_UNSUBSCRIBE_SECRET";
/// The Worker's public origin (`https://spur.example.com`), for the unsubscribe link.
pub const PUBLIC_URL: &str = "PUBLIC_URL";
/// `http` (the provider API) or `send_email` (the binding); by default the provider when
/// `EMAIL_PROVIDER_URL` is set, else the binding when the deployment has one.
pub const EMAIL_TRANSPORT: &str = "EMAIL_TRANSPORT";
/// The Cloudflare `send_email` binding's name (`[[send_email]] name = "SEND_EMAIL"`).
pub const SEND_EMAIL_BINDING: &str = "SEND_EMAIL";

fn setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The unsubscribe secret, if configured.
pub fn unsubscribe_secret(env: &Env) -> Option<String> {
    setting(env, EMAIL_UNSUBSCRIBE_SECRET)
}

fn has_binding(env: &Env) -> bool {
    js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(SEND_EMAIL_BINDING))
        .is_ok_and(|v| !v.is_undefined() && !v.is_null())
}

enum Transport {
    Http { url: String, key: Option<String> },
    Binding,
}

fn transport(env: &Env) -> Option<Transport> {
    let http = || {
        setting(env, EMAIL_PROVIDER_URL).map(|url| Transport::Http {
            url,
            key: setting(env, EMAIL_PROVIDER_KEY),
        })
    };
    match setting(env, EMAIL_TRANSPORT).as_deref() {
        Some("send_email") => has_binding(env).then_some(Transport::Binding),
        Some("http") => http(),
        _ => http().or_else(|| has_binding(env).then_some(Transport::Binding)),
    }
}

/// Sends email action `target` of `rec` (one attempt), once the frequency `gate` admits it.
pub async fn send(env: &Env, rec: &FiringRecord, target: &str, gate: &Gate<'_>) -> Attempt {
    let Some(spec) = rec.emails.iter().find(|e| e.id == target) else {
        return Attempt::EmailUnsendable("no_email_spec: the firing has no rendered email".into());
    };
    let Some(rendered) = &spec.email else {
        return Attempt::EmailUnsendable(
            spec.error
                .clone()
                .unwrap_or_else(|| "template_render_failed".into()),
        );
    };
    match suppressions::suppressed(env, &rendered.to).await {
        Ok(Some(reason)) => return Attempt::EmailSuppressed(reason),
        Ok(None) => {}
        Err(e) => return Attempt::RequestFailed(format!("suppression check: {e:?}")),
    }
    let (Some(secret), Some(public), Some(transport)) = (
        unsubscribe_secret(env),
        setting(env, PUBLIC_URL),
        transport(env),
    ) else {
        return Attempt::EmailUnsendable(
            "email_not_configured: set EMAIL_UNSUBSCRIBE_SECRET, PUBLIC_URL and EMAIL_PROVIDER_URL (or a send_email binding)".into(),
        );
    };
    let from = setting(env, EMAIL_FROM);
    let Some(from) = rendered.from.clone().or(from) else {
        return Attempt::EmailUnsendable(
            "email_not_configured: no sender (set EMAIL_FROM or the action's from)".into(),
        );
    };
    if let Some(refused) = gate.check(&spec.id, Channel::Email).await {
        return refused;
    }
    // Signed as of the firing (not the attempt), so every retry sends the same bytes.
    let t = token::sign(
        secret.as_bytes(),
        &rec.user,
        &rendered.to,
        rec.at_ms / 1_000,
    );
    let link = format!(
        "{}/v1/email/unsubscribe?t={t}",
        public.trim_end_matches('/')
    );
    let request = ProviderRequest::new(rendered, &from, &link, &spec.id);
    let (answer, detail) = match transport {
        Transport::Http { url, key } => post(&url, key.as_deref(), &request, &spec.id).await,
        Transport::Binding => binding(env, &request).await,
    };
    if answer == Answer::HardBounce {
        if let Err(e) =
            suppressions::suppress(env, &rendered.to, "hard_bounce", Some(&rec.user), &spec.id)
                .await
        {
            // Not suppressed yet: try the whole attempt again rather than lose the bounce.
            return Attempt::RequestFailed(format!("suppressing a hard bounce: {e:?}"));
        }
    }
    Attempt::Emailed(answer, detail)
}

async fn post(
    url: &str,
    key: Option<&str>,
    request: &ProviderRequest,
    id: &str,
) -> (Answer, String) {
    let Ok(body) = serde_json::to_string(request) else {
        return (Answer::Rejected, "unserialisable email".into());
    };
    let result = async {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("User-Agent", "Spur-Email/1")?;
        headers.set("Idempotency-Key", id)?;
        if let Some(k) = key {
            headers.set("Authorization", &format!("Bearer {k}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init(url, &init)?;
        let mut resp = Fetch::Request(req).send().await?;
        let status = resp.status_code();
        let text = resp.text().await.unwrap_or_default();
        Ok::<_, worker::Error>((status, text))
    }
    .await;
    match result {
        Ok((status, text)) => {
            let cut: String = text
                .char_indices()
                .take_while(|(i, _)| *i < MAX_EMAIL_PROVIDER_ANSWER_BYTES)
                .map(|(_, c)| c)
                .collect();
            let answer = Answer::classify(status, &cut);
            let snippet: String = cut.chars().take(200).collect();
            (answer, format!("HTTP {status} {snippet}").trim().to_owned())
        }
        Err(e) => (Answer::Retry, format!("request failed: {e}")),
    }
}

/// Sends through the `send_email` binding's message-builder form (`{from, to, subject, html,
/// text, headers}`); a thrown error is retried (the platform does not say which are final).
async fn binding(env: &Env, request: &ProviderRequest) -> (Answer, String) {
    let result = async {
        let mail: worker::SendEmail = env.get_binding(SEND_EMAIL_BINDING)?;
        let builder: worker::SendEmailBuilder = js_sys::Object::new().unchecked_into();
        builder.set_from(&request.from);
        builder.set_to(&request.to);
        builder.set_subject(&request.subject);
        if let Some(h) = &request.html {
            builder.set_html(h);
        }
        if let Some(t) = &request.text {
            builder.set_text(t);
        }
        let headers = js_sys::Object::new();
        for (k, v) in &request.headers {
            js_sys::Reflect::set(&headers, &JsValue::from_str(k), &JsValue::from_str(v))
                .map_err(worker::Error::from)?;
        }
        js_sys::Reflect::set(&builder, &JsValue::from_str("headers"), &headers)
            .map_err(worker::Error::from)?;
        let sent = mail
            .send_with_builder(&builder)
            .await
            .map_err(|e| worker::Error::JsError(format!("{:?}", JsValue::from(e))))?;
        Ok::<_, worker::Error>(sent.message_id())
    }
    .await;
    match result {
        Ok(id) => (Answer::Sent, format!("send_email messageId {id}")),
        Err(e) => (Answer::Retry, format!("send_email failed: {e}")),
    }
}
