//! Stage 3, mock: the in-process mock orderbook, configured from the plan's
//! `orderbook:` section, on a random loopback port.
//!
//! In: the plan. Out: the running [`MockServer`] (its URL for the engine, its
//! truth handle for the load to register events with; dropping it stops it).

use std::net::{Ipv4Addr, SocketAddr};

pub use mock_orderbook::MockServer;

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

/// The mock's config for `plan`: the scenario's `orderbook:` section is the
/// mock's own settings type, on the scenario's chain and seed. The scenario
/// checks already refused anything the mock would refuse; this is the backstop.
pub fn config(plan: &Plan) -> Result<mock_orderbook::Config, MockError> {
    let config = mock_orderbook::Config::new(
        plan.scenario.chain.id,
        plan.scenario.seed,
        plan.scenario.orderbook.clone(),
    );
    config
        .validate()
        .map_err(|e| MockError::Config(e.to_string()))?;
    Ok(config)
}
