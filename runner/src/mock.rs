//! Stage 3, mock: the in-process mock orderbook, configured from the plan's
//! `orderbook:` section, on a random loopback port.
//!
//! In: the plan. Out: the running [`MockServer`] (its URL for the engine, its
//! truth handle for the load to register events with; dropping it stops it).

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

pub use mock_orderbook::MockServer;
use mock_orderbook::RateLimit;

use crate::scenario::Plan;

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("invalid orderbook section: {0}")]
    Config(String),
    #[error("cannot start the mock orderbook on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
}

/// Starts the mock with the scenario's latency, error mix, rate limit and order deadline.
pub async fn start(plan: &Plan) -> Result<MockServer, MockError> {
    let config = config(plan)?;
    mock_orderbook::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(MockError::Bind)
}

/// The mock's config for `plan`, checked by the mock itself (the scenario checks already
/// refused anything it would refuse; this is the backstop).
pub fn config(plan: &Plan) -> Result<mock_orderbook::Config, MockError> {
    let spec = &plan.scenario.orderbook;
    let rate_limit = match spec.rate_limit {
        None => None,
        Some(limit) => Some(rate_limit(limit.per_second, limit.burst)?),
    };
    let config = mock_orderbook::Config {
        chain_id: plan.scenario.chain.id,
        seed: plan.scenario.seed,
        latency: spec.latency.to_mock(),
        errors: spec.errors.clone(),
        slow_response: spec.slow_response.0,
        rate_limit,
        order_deadline_blocks: u64::from(spec.order_deadline_blocks),
    };
    config
        .validate()
        .map_err(|e| MockError::Config(e.to_string()))?;
    Ok(config)
}

/// The bucket of `orderbook.rate_limit`; `burst` defaults to `per_second`.
fn rate_limit(per_second: u32, burst: Option<u32>) -> Result<RateLimit, MockError> {
    let nonzero = |field: &str, n: u32| {
        NonZeroU32::new(n)
            .ok_or_else(|| MockError::Config(format!("rate_limit.{field} must be at least 1")))
    };
    Ok(RateLimit {
        per_second: nonzero("per_second", per_second)?,
        burst: nonzero("burst", burst.unwrap_or(per_second))?,
    })
}
