//! The ClickHouse events store (`EVENTS_STORE = "clickhouse"`): inserts over the HTTP
//! interface (`JSONEachRow`) and runs core's ClickHouse statements.
//!
//! Invariant: the SQL run here is core's (every value through its literal encoder) or an
//! `INSERT … FORMAT JSONEachRow` whose rows are serialised by serde; a non-2xx answer is an
//! error, so the queue consumer retries the message (and dead-letters it after the queue's
//! `max_retries`), exactly as a failed D1 write does. Credentials travel in headers, never in
//! the URL (which servers log).

use serde::de::DeserializeOwned;
use spur_core::query::clickhouse::{decode_rows, user_row, AliasRootRow, EventRow, StoredUser};
use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::http::error::ApiError;

/// The var choosing where events are stored and queried: `d1` (default) or `clickhouse`.
pub const EVENTS_STORE_VAR: &str = "EVENTS_STORE";
/// Secret: the server's HTTP interface, e.g. `https://ch.example:8443`.
pub const URL_SECRET: &str = "CLICKHOUSE_URL";
/// Secret: the user (default `default`).
pub const USER_SECRET: &str = "CLICKHOUSE_USER";
/// Secret: the password (default empty).
pub const PASSWORD_SECRET: &str = "CLICKHOUSE_PASSWORD";

/// Output settings every query runs with: 64-bit integers as JSON numbers (D1's rows have
/// them as numbers too, and core reads them with `de_int`).
const QUERY_SETTINGS: &str = "output_format_json_quote_64bit_integers=0";

/// A configured ClickHouse server.
pub struct ClickHouse {
    url: String,
    user: String,
    password: String,
}

/// Whether this deployment keeps events in ClickHouse; an unknown value is a configuration
/// error (never a silent fallback to D1).
pub fn selected(env: &Env) -> Result<bool, ApiError> {
    match env
        .var(EVENTS_STORE_VAR)
        .ok()
        .map(|v| v.to_string())
        .as_deref()
    {
        None | Some("" | "d1") => Ok(false),
        Some("clickhouse") => Ok(true),
        Some(other) => Err(ApiError::Internal(format!(
            "{EVENTS_STORE_VAR} must be \"d1\" or \"clickhouse\", not {other:?}"
        ))),
    }
}

/// The ClickHouse store when this deployment selected it.
pub fn store(env: &Env) -> Result<Option<ClickHouse>, ApiError> {
    if selected(env)? {
        ClickHouse::open(env).map(Some)
    } else {
        Ok(None)
    }
}

fn secret_or_var(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

impl ClickHouse {
    /// Reads the connection from the secrets.
    pub fn open(env: &Env) -> Result<Self, ApiError> {
        let url = secret_or_var(env, URL_SECRET)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::Internal(format!("{URL_SECRET} is not set")))?;
        Ok(ClickHouse {
            url: url.trim_end_matches('/').to_owned(),
            user: secret_or_var(env, USER_SECRET).unwrap_or_else(|| "default".into()),
            password: secret_or_var(env, PASSWORD_SECRET).unwrap_or_default(),
        })
    }

    async fn post(&self, query_string: &str, body: String) -> Result<String, ApiError> {
        let headers = Headers::new();
        headers.set("X-ClickHouse-User", &self.user)?;
        headers.set("X-ClickHouse-Key", &self.password)?;
        headers.set("Content-Type", "text/plain; charset=utf-8")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init(&format!("{}/?{query_string}", self.url), &init)?;
        let mut res = Fetch::Request(req).send().await?;
        let text = res.text().await?;
        if (200..300).contains(&res.status_code()) {
            Ok(text)
        } else {
            Err(ApiError::Internal(format!(
                "clickhouse answered {}: {}",
                res.status_code(),
                text.chars().take(500).collect::<String>()
            )))
        }
    }

    /// Inserts event rows ([`spur_core::query::clickhouse::event_row`]) in one request.
    /// Idempotent: a retried message inserts identical rows, which `FINAL` collapses; the
    /// consumer passes only the copies the message-id ledger recorded
    /// ([`crate::storage::message_ids`]). The alias links they carry reach ClickHouse through
    /// [`ClickHouse::insert_alias_roots`] (D1 flattens chains first), before the events.
    pub async fn insert_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a EventRow>,
    ) -> Result<(), ApiError> {
        let mut body = String::new();
        for r in rows {
            body += &json(r)?;
            body.push('\n');
        }
        if body.is_empty() {
            return Ok(());
        }
        self.post("query=INSERT%20INTO%20events%20FORMAT%20JSONEachRow", body)
            .await?;
        Ok(())
    }

    /// Mirrors D1's alias rows into `alias_roots`. Idempotent and order-free: queries take the
    /// highest revision per id.
    pub async fn insert_alias_roots(&self, rows: &[AliasRootRow]) -> Result<(), ApiError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = String::new();
        for r in rows {
            body += &json(r)?;
            body.push('\n');
        }
        self.post(
            "query=INSERT%20INTO%20alias_roots%20FORMAT%20JSONEachRow",
            body,
        )
        .await?;
        Ok(())
    }

    /// Mirrors D1's profile rows into `users`. Idempotent and order-free: queries take the
    /// highest revision per user, and a row is a pure function of D1's row.
    pub async fn insert_users(&self, rows: &[StoredUser]) -> Result<(), ApiError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = String::new();
        for r in rows {
            body += &json(&user_row(r))?;
            body.push('\n');
        }
        self.post("query=INSERT%20INTO%20users%20FORMAT%20JSONEachRow", body)
            .await?;
        Ok(())
    }

    /// Runs one of core's ClickHouse statements and decodes its rows.
    pub async fn query<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, ApiError> {
        let text = self
            .post(QUERY_SETTINGS, format!("{sql} FORMAT JSONEachRow"))
            .await?;
        decode_rows(&text).map_err(|e| ApiError::Internal(format!("clickhouse rows: {e}")))
    }
}

fn json(v: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}
