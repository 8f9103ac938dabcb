//! Admin: the ingest configuration (sources, GPC policy), the tracking plan and the frequency
//! policy.
//!
//! Invariant: nothing is saved unless it compiles into a working pipeline (or, for the
//! frequency policy, `spur_core::frequency` accepts it with the platform's zones); a refused
//! document gets a 400 whose `reason` names the problem (`invalid_config`, `invalid_schema`,
//! `invalid_source`, `invalid_frequency_policy`) and whose `detail` says where.

use spur_core::frequency::FrequencyPolicy;
use spur_core::{Config, Source};
use worker::{Env, Request, Response};

use crate::clock::IntlZones;
use crate::http::body;
use crate::http::error::ApiError;
use crate::storage::settings;

/// `GET /v1/config`.
pub async fn get_config(env: &Env) -> Result<Response, ApiError> {
    Ok(Response::from_json(&settings::config(env).await?)?)
}

/// `PUT /v1/config`.
pub async fn put_config(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let config: Config = serde_json::from_str(&text).map_err(|e| {
        ApiError::Config(spur_core::ConfigError::Invalid {
            what: "config",
            detail: e.to_string(),
        })
    })?;
    settings::save_config(env, &config).await?;
    Ok(Response::from_json(&config)?)
}

/// `PUT /v1/sources/{writeKey}` with a source `{name, allowedOrigins}`.
pub async fn put_source(mut req: Request, env: &Env, key: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let source: Source = serde_json::from_str(&text).map_err(|e| {
        ApiError::Config(spur_core::ConfigError::Invalid {
            what: "source",
            detail: e.to_string(),
        })
    })?;
    let mut config = settings::config(env).await?;
    config.sources.insert(key.to_owned(), source.clone());
    settings::save_config(env, &config).await?;
    Ok(Response::from_json(&source)?)
}

/// `DELETE /v1/sources/{writeKey}`.
pub async fn delete_source(env: &Env, key: &str) -> Result<Response, ApiError> {
    let mut config = settings::config(env).await?;
    if config.sources.remove(key).is_none() {
        return Err(ApiError::NotFound);
    }
    settings::save_config(env, &config).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /v1/tracking-plan`: the saved plan, else the configuration's, else the bundled one.
pub async fn get_plan(env: &Env) -> Result<Response, ApiError> {
    let docs = settings::documents(env).await?;
    let text = match docs.plan {
        Some(p) => p,
        None => {
            let config: Config = serde_json::from_str(&docs.config)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            match config.tracking_plan {
                Some(p) => {
                    serde_json::to_string(&p).map_err(|e| ApiError::Internal(e.to_string()))?
                }
                None => settings::BUNDLED_PLAN.to_owned(),
            }
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Response::from_json(&value)?)
}

/// `PUT /v1/tracking-plan`.
pub async fn put_plan(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    settings::save_plan(env, &text).await?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Response::from_json(&value)?)
}

/// `GET /v1/frequency`: the saved policy (`{}` when none: nothing is limited).
pub async fn get_frequency(env: &Env) -> Result<Response, ApiError> {
    Ok(Response::from_json(&*settings::frequency(env).await?)?)
}

/// `PUT /v1/frequency` with a policy (`{}` removes every limit).
pub async fn put_frequency(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let policy = FrequencyPolicy::from_json(&text, &IntlZones).map_err(ApiError::Frequency)?;
    settings::save_frequency(env, &policy).await?;
    Ok(Response::from_json(&policy)?)
}

/// `DELETE /v1/frequency`: no cap, no quiet hours.
pub async fn delete_frequency(env: &Env) -> Result<Response, ApiError> {
    settings::save_frequency(env, &FrequencyPolicy::default()).await?;
    Ok(Response::empty()?.with_status(204))
}
