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

/// Starts the mock with the scenario's latency, error mix and order deadline.
pub async fn start(plan: &Plan) -> Result<MockServer, MockError> {
    let spec = &plan.scenario.orderbook;
    let config = mock_orderbook::Config {
        chain_id: plan.scenario.chain.id,
        seed: plan.scenario.seed,
        latency: spec.latency.0,
        errors: spec.errors.clone(),
        order_deadline_blocks: u64::from(spec.order_deadline_blocks),
    };
    config
        .validate()
        .map_err(|e| MockError::Config(e.to_string()))?;
    mock_orderbook::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(MockError::Bind)
}
