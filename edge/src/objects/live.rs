//! The live event stream, pushed: one Durable Object (named [`LIVE_NAME`]) holds every
//! dashboard's WebSocket through the hibernation API and forwards to them what the events
//! consumer has just stored.
//!
//! Invariant: a socket receives events only after it sent the admin token as its first message
//! (`{"token": "…"}`; browsers cannot set headers on a WebSocket), compared in constant time; a
//! wrong token closes it with 4401, a socket that stays silent past [`LIVE_AUTH_WINDOW_MS`] is
//! closed with 4408 (at the next push or the next connection, whichever comes first, so silent
//! sockets cannot hold the slots of a quiet site), and at most [`MAX_LIVE_SOCKETS`] are held
//! (the next is answered 429). Publishing is best-effort for the consumer: a failed push loses nothing, the
//! events are stored, and the dashboard reads them on reconnect.

use serde::{Deserialize, Serialize};
use spur_core::query::limits::{LIVE_AUTH_WINDOW_MS, MAX_LIVE_SOCKETS};
use spur_core::query::{newest_for_push, RecentEvent};
use spur_core::Event;
use wasm_bindgen::JsValue;
use worker::{
    console_error, durable_object, DurableObject, Env, Method, Request, RequestInit, Response,
    Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use crate::clock::now_ms;
use crate::http::admin::token_matches;
use crate::http::error::ApiError;

/// The Durable Object binding (wrangler.toml `[[durable_objects.bindings]]`).
pub const LIVE_STREAM: &str = "LIVE_STREAM";
/// The one instance's name.
pub const LIVE_NAME: &str = "live";

/// Close code for a wrong token (4000–4999 are the application's, RFC 6455 §7.4.2).
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code for a socket that never sent its token.
const CLOSE_AUTH_TIMEOUT: u16 = 4408;

/// What each socket carries across hibernation.
#[derive(Debug, Serialize, Deserialize)]
struct Attachment {
    authed: bool,
    opened_ms: i64,
}

#[derive(Deserialize)]
struct Hello {
    token: String,
}

/// Hands a WebSocket upgrade (`GET /v1/live`) to the object.
pub async fn connect(req: Request, env: &Env) -> std::result::Result<Response, ApiError> {
    let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::UpgradeRequired);
    }
    let stub = env
        .durable_object(LIVE_STREAM)?
        .id_from_name(LIVE_NAME)?
        .get_stub()?;
    Ok(stub.fetch_with_request(req).await?)
}

/// Pushes the newest of `events` (just stored) to every connected dashboard.
pub async fn publish(env: &Env, events: &[&Event]) {
    if events.is_empty() {
        return;
    }
    let newest = newest_for_push(events.iter().copied());
    if let Err(e) = send(env, &newest).await {
        console_error!("live stream push failed (the events are stored): {e:?}");
    }
}

async fn send(env: &Env, events: &[RecentEvent]) -> std::result::Result<(), ApiError> {
    let body = serde_json::to_string(events).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init("https://live-stream/publish", &init)?;
    let stub = env
        .durable_object(LIVE_STREAM)?
        .id_from_name(LIVE_NAME)?
        .get_stub()?;
    stub.fetch_with_request(req).await?;
    Ok(())
}

/// The object holding the dashboards' sockets.
#[durable_object]
pub struct LiveStream {
    state: State,
    env: Env,
}

impl std::fmt::Debug for LiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStream").finish_non_exhaustive()
    }
}

impl DurableObject for LiveStream {
    fn new(state: State, env: Env) -> Self {
        LiveStream { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let result = match (req.method(), req.path().as_str()) {
            // Only this Worker reaches `/publish` (`connect` forwards nothing but `/v1/live`),
            // and it sends a JSON array of `RecentEvent`s.
            (Method::Post, "/publish") => match req.text().await {
                Ok(events) => {
                    self.push(&events);
                    Response::empty().map_err(ApiError::from)
                }
                Err(e) => Err(ApiError::Invalid(e.to_string())),
            },
            (Method::Get, "/v1/live") => self.accept(),
            _ => Err(ApiError::NotFound),
        };
        result.or_else(ApiError::into_response)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Ok(Some(mut att)) = ws.deserialize_attachment::<Attachment>() else {
            return ws.close(Some(CLOSE_UNAUTHORIZED), Some("unauthorized"));
        };
        if att.authed {
            // Nothing is read from an authenticated socket; a ping gets a pong.
            return ws.send_with_str(r#"{"pong":true}"#);
        }
        let token = match message {
            WebSocketIncomingMessage::String(text) => serde_json::from_str::<Hello>(&text).ok(),
            WebSocketIncomingMessage::Binary(_) => None,
        };
        match token.map(|h| token_matches(&self.env, &h.token)) {
            Some(Ok(true)) => {
                att.authed = true;
                ws.serialize_attachment(&att)?;
                ws.send_with_str(r#"{"ready":true}"#)
            }
            _ => ws.close(Some(CLOSE_UNAUTHORIZED), Some("unauthorized")),
        }
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Complete the closing handshake (a code the peer may not echo is replaced by 1000).
        let code = u16::try_from(code)
            .ok()
            .filter(|c| *c == 1000 || (3000..5000).contains(c))
            .unwrap_or(1000);
        // The socket may already be closed by the runtime: nothing to do then.
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        console_error!("live stream socket error: {error}");
        Ok(())
    }
}

impl LiveStream {
    fn accept(&self) -> std::result::Result<Response, ApiError> {
        let now = now_ms();
        let held = self
            .state
            .get_websockets()
            .iter()
            .filter(|ws| keep(ws, now).is_some())
            .count();
        if held >= MAX_LIVE_SOCKETS {
            return Err(ApiError::TooManyConnections);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&Attachment {
            authed: false,
            opened_ms: now,
        })?;
        Ok(Response::from_websocket(pair.client)?)
    }

    fn push(&self, events: &str) {
        let text = format!(r#"{{"events":{events}}}"#);
        let now = now_ms();
        for ws in self.state.get_websockets() {
            if keep(&ws, now) == Some(true) {
                // One dashboard gone away must not stop the others.
                let _ = ws.send_with_str(&text);
            }
        }
    }
}

/// Whether a held socket stays: `Some(authed)` if it is authenticated or still inside its
/// window to send the token; otherwise it is closed with 4408 and `None` (a socket the runtime
/// already closed just fails the close, which changes nothing).
fn keep(ws: &WebSocket, now: i64) -> Option<bool> {
    match ws.deserialize_attachment::<Attachment>() {
        Ok(Some(a)) if a.authed => Some(true),
        Ok(Some(a)) if now - a.opened_ms < LIVE_AUTH_WINDOW_MS => Some(false),
        _ => {
            let _ = ws.close(Some(CLOSE_AUTH_TIMEOUT), Some("no token sent"));
            None
        }
    }
}
