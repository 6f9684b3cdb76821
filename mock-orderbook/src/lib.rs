//! A mock CoW Protocol orderbook API with seeded faults and engine-agnostic truth.
//!
//! An engine under load is only as honestly tested as the API it talks to. This mock speaks
//! the subset of the orderbook API engines use (`POST /api/v1/orders`,
//! `GET /api/v1/orders/{uid}`, `GET /api/v1/app_data/{hash}`) with the real UIDs and error
//! bodies, injects the error mix a scenario asks for from a seeded stream, and — because the
//! runner registers every event it put on chain — measures which events became orders, how
//! fast, and which were lost, without knowing anything about the engine.
//!
//! The runner starts it in-process with [`start`] and keeps the [`MockServer`] guard; the
//! `mock-orderbook` binary serves the same way standalone. Both answer as [`app`]'s router
//! does (`serve.rs` hands `POST /api/v1/orders` to its handler directly, the rest to the
//! router).
//!
//! Signatures are decoded but never verified (engines sign with EIP-1271 contracts the mock
//! cannot call); see the crate README for what else is simplified.

mod api;
mod config;
mod faults;
mod latency;
mod prom;
mod ratelimit;
mod serve;
mod server;
mod truth;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::{parse_order, ApiError, ParsedOrder, INVALID_JSON};
pub use config::{Config, ConfigError};
pub use cowload_spec::latency::{Delay, Latency, LatencyError, Spikes, MAX_DELAY};
pub use cowload_spec::names;
pub use cowload_spec::orderbook::{
    is_known_fault, DelaySpec, Dur, LatencySpec, OrderbookSpec, Problem, RateLimit, RateLimitSpec,
    SpikesSpec, DEFAULT_CHAIN_ID, DEFAULT_ORDER_DEADLINE_BLOCKS, DEFAULT_SLOW_RESPONSE,
    KNOWN_ERROR_TYPES, MAX_ORDER_DEADLINE_BLOCKS, MAX_SLOW_RESPONSE, TRANSPORT_FAULTS,
};
pub use cowload_spec::{EventKind, PerKind};
pub use faults::Fault;
pub use latency::{Endpoint, LatencySampler};
pub use server::{app, MockState};
pub use truth::{
    order_line_schema, EventStats, ExactHistogram, ExactOrder, ExactSamples, ExpectedOrder,
    FirstAccepted, LossReason, OrderKey, OrderLine, OrderOutcome, PartOutcome, PartWindow,
    PostOutcome, RequestCount, RequestLine, Route, SpanTruth, Stats, Summary, Truth, TwapSchedule,
    UNMATCHED,
};

/// How long [`MockServer::shutdown`] waits for open connections before aborting the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Validates `config`, binds `bind` (use `127.0.0.1:0` for a random port) and serves the mock
/// on a background task until the returned guard is shut down or dropped.
///
/// An invalid config is an [`std::io::ErrorKind::InvalidInput`] error wrapping the
/// [`ConfigError`].
pub async fn start(config: Config, bind: SocketAddr) -> std::io::Result<MockServer> {
    let state = MockState::new(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let truth = state.truth();
    let control = MockControl {
        state: state.clone(),
    };
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(MockServer {
        addr,
        truth,
        control,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A running mock. Dropping it stops the server task at once; [`MockServer::shutdown`] stops
/// it gracefully.
pub struct MockServer {
    addr: SocketAddr,
    truth: Truth,
    control: MockControl,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// The bound address (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL engines should use, e.g. `http://127.0.0.1:43123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The truth handle: register events, move the head, read stats.
    pub fn truth(&self) -> Truth {
        self.truth.clone()
    }

    /// The switches a run's fault timeline flips while the mock serves.
    pub fn control(&self) -> MockControl {
        self.control.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (up to a few seconds),
    /// then ends the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                tracing::warn!("mock orderbook did not stop within {SHUTDOWN_GRACE:?}; aborting");
                task.abort();
            }
        }
    }
}

/// What a run may change on a serving mock: an orderbook outage.
#[derive(Clone)]
pub struct MockControl {
    state: MockState,
}

impl MockControl {
    /// An `orderbook_outage` begins: a `fraction` of order POSTs (seeded draws) are answered
    /// with `answer`, an errorType or a transport fault as `orderbook.errors` names them, and
    /// no deadline passes until [`MockControl::end_outage`].
    pub fn start_outage(&self, answer: &str, fraction: f64, seed: u64) -> Result<(), ConfigError> {
        let mix = faults::ErrorMix::new(
            &std::collections::BTreeMap::from([(answer.to_owned(), fraction)]),
            seed,
        )?;
        self.state.set_outage(Some(mix));
        self.state.truth().hold_deadlines();
        Ok(())
    }

    /// The outage ends after chain block `last`: POSTs are answered as configured again, and
    /// every event and TWAP part still awaiting its order gets its full deadline from `last`.
    pub fn end_outage(&self, last: u64) {
        self.state.set_outage(None);
        self.state.truth().release_deadlines(last);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
