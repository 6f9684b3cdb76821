//! The HTTP surface: one [`Router`] built from one cloneable [`MockState`].
//!
//! Routes: `POST /api/v1/orders`, `GET /api/v1/orders/{uid}`, `GET /api/v1/app_data/{hash}`
//! (the subset of the CoW orderbook API engines use), plus `/healthz`, `/_stats` and
//! `/metrics` for the harness. Every request is observed the same way ([`observed`]): its
//! arrival is stamped, a token is taken from the route's rate-limit bucket, the drawn latency
//! is added on `/api/…` routes (not on the harness's own routes, so scraping does not disturb
//! the measurement) and the request is counted by route and status.
//!
//! The POST path is kept lean because the mock must never be a load test's bottleneck:
//! `POST /api/v1/orders` is observed inline rather than
//! through axum's `from_fn` middleware (which clones the route's boxed service and boxes a
//! future per request); the UID hasher is built once ([`crate::api::UidHasher`]); an accepted
//! order is stored as parsed and turned into the API's `Order` only when
//! `GET /api/v1/orders/{uid}` asks for it; the middleware borrows the route instead of copying
//! it. On a socket, [`Dispatch`] also skips the router for that one route, and the stored
//! orders sit in a table whose doubling moves 16 bytes per order ([`Orders`]).

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cowprotocol::{parse_order_uid, settlement_domain, DomainSeparator, OrderUid, GPV2_SETTLEMENT};
use tower::ServiceExt;

use crate::api::{self, ApiError, ParsedOrder, UidHasher};
use crate::config::{Config, ConfigError};
use crate::faults::{ErrorMix, Fault};
use crate::latency::{Endpoint, LatencySampler};
use crate::ratelimit::RouteLimits;
use crate::truth::{Observation, PostOutcome, Truth};

/// Route label of requests that matched no route.
const UNMATCHED_ROUTE: &str = "unmatched";
/// The orderbook routes the mock serves; each has its own rate-limit bucket.
const ORDERS_ROUTE: &str = "/api/v1/orders";
const ORDER_ROUTE: &str = "/api/v1/orders/{uid}";
const APP_DATA_ROUTE: &str = "/api/v1/app_data/{hash}";
const API_ROUTES: &[&str] = &[ORDERS_ROUTE, ORDER_ROUTE, APP_DATA_ROUTE];
/// Orders the store has room for before its first resize (a load test's first blocks).
const INITIAL_ORDERS: usize = 16 * 1024;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct MockState {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    domain: DomainSeparator,
    mix: ErrorMix,
    /// An `orderbook_outage` in force: its own mix, drawn before the configured one.
    outage: RwLock<Option<ErrorMix>>,
    latency: LatencySampler,
    limits: Option<RouteLimits>,
    uids: UidHasher,
    orders: Mutex<Orders>,
    truth: Truth,
}

/// The accepted orders by UID. Each slot holds the UID's hash and the boxed order (16 bytes):
/// a doubling of the table, under the lock both workers need, moves 16 bytes per order and
/// hashes nothing again, so a doubling never shows as a dip in the POST rate (orders inline,
/// or 64-byte slots keyed by the UID, would copy everything each time).
struct Orders {
    table: hashbrown::HashTable<(u64, Box<Stored>)>,
    hasher: foldhash::fast::RandomState,
}

impl Orders {
    /// An empty store with room for `capacity` orders.
    fn with_capacity(capacity: usize) -> Self {
        Self {
            table: hashbrown::HashTable::with_capacity(capacity),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Stores `order` unless its UID is already stored; `false` when it was (and `order` goes).
    fn insert_new(&mut self, order: Box<Stored>) -> bool {
        let uid = order.order.uid;
        let hash = self.hasher.hash_one(uid);
        let entry = self.table.entry(
            hash,
            |(h, stored)| *h == hash && stored.order.uid == uid,
            |(h, _)| *h,
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, order));
                true
            }
        }
    }

    /// The order stored under `uid`.
    fn get(&self, uid: &OrderUid) -> Option<&Stored> {
        let hash = self.hasher.hash_one(uid);
        self.table
            .find(hash, |(h, stored)| *h == hash && stored.order.uid == *uid)
            .map(|(_, stored)| &**stored)
    }
}

/// An accepted order as the POST left it; `GET /api/v1/orders/{uid}` builds the API's `Order`
/// from it.
struct Stored {
    order: ParsedOrder,
    created: SystemTime,
    full_app_data: Option<Arc<str>>,
}

impl MockState {
    /// Validates `config` and builds a fresh state (no orders, no events).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut outcomes: Vec<String> = config.orderbook.errors.keys().cloned().collect();
        if config.orderbook.rate_limit.is_some() {
            outcomes.push(PostOutcome::RateLimited.label().to_owned());
        }
        let domain = settlement_domain(config.chain_id, GPV2_SETTLEMENT);
        Ok(Self {
            shared: Arc::new(Shared {
                uids: UidHasher::new(&domain),
                domain,
                mix: ErrorMix::new(&config.orderbook.errors, config.seed)?,
                outage: RwLock::new(None),
                latency: LatencySampler::new(&config.orderbook.latency.runtime(), config.seed),
                limits: config
                    .orderbook
                    .rate_limit
                    .and_then(|limit| limit.runtime())
                    .map(|limit| RouteLimits::new(limit, API_ROUTES)),
                orders: Mutex::new(Orders::with_capacity(INITIAL_ORDERS)),
                truth: Truth::new(u64::from(config.orderbook.order_deadline_blocks), &outcomes),
                config,
            }),
        })
    }

    /// The truth handle shared with the handlers.
    pub fn truth(&self) -> Truth {
        self.shared.truth.clone()
    }

    /// Starts (`Some`) or ends (`None`) an outage: while it holds, its mix answers order POSTs
    /// first.
    pub(crate) fn set_outage(&self, outage: Option<ErrorMix>) {
        *self
            .shared
            .outage
            .write()
            .unwrap_or_else(|p| p.into_inner()) = outage;
    }

    /// The config the state was built from.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The settlement EIP-712 domain UIDs are computed under.
    pub fn domain(&self) -> &DomainSeparator {
        &self.shared.domain
    }
}

/// Set on a `POST /api/v1/orders` its route's bucket refused: the handler still reads the
/// order (so the truth counts the attempt against its event) and answers 429 with
/// `Retry-After` in these seconds.
#[derive(Clone, Copy, Debug)]
struct RateLimited(u64);

/// Builds the router. Tests drive it with `tower::ServiceExt::oneshot`; [`crate::start`]
/// serves it on a socket.
pub fn app(state: MockState) -> Router {
    Router::new()
        .route(ORDER_ROUTE, get(get_order))
        .route(APP_DATA_ROUTE, get(get_app_data))
        .route("/healthz", get(healthz))
        .route("/_stats", get(stats))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Added after the layer, so observed inline rather than by it (see the module doc).
        .route(
            ORDERS_ROUTE,
            post(post_orders).fallback(orders_method_not_allowed),
        )
        .with_state(state)
}

/// What the socket serves ([`crate::serve`]): `POST /api/v1/orders` goes straight to its
/// handler, every other request (other methods on that path included) through [`app`]'s
/// router, so the answers are the router's. The router's per-request work (path matching, a
/// clone of the route's boxed service, the `MatchedPath` extension, a boxed handler future)
/// is skipped for the one request a load test sends by the thousand.
#[derive(Clone)]
pub(crate) struct Dispatch {
    state: MockState,
    router: Router,
}

impl Dispatch {
    /// The dispatcher of `state`, with its router.
    pub(crate) fn new(state: MockState) -> Self {
        Self {
            router: app(state.clone()),
            state,
        }
    }

    /// The answer to `req`. Owns what it needs, so it can outlive `self`.
    pub(crate) fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        let route = if req.method() == Method::POST && req.uri().path() == ORDERS_ROUTE {
            Ok(self.state.clone())
        } else {
            Err(self.router.clone())
        };
        async move {
            match route {
                Ok(state) => post_orders(State(state), req).await,
                Err(router) => match router.oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
            }
        }
    }
}

async fn observe(State(state): State<MockState>, req: Request, next: Next) -> Response {
    // A cheap clone (the path is shared), so the route outlives the request it came with.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    observed(&state, route, req, |req, _| next.run(req)).await
}

/// Stamps the arrival, applies the route's rate limit and latency, runs `handler` with the
/// request and its arrival, and counts the answer by route and status.
async fn observed<F, Fut>(state: &MockState, route: &str, mut req: Request, handler: F) -> Response
where
    F: FnOnce(Request, Instant) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let arrival = Instant::now();
    req.extensions_mut().insert(Arrival(arrival));
    let response = match delay_or_limit(&state.shared, route, &mut req, arrival) {
        Gate::Refuse(response) => response,
        Gate::Pass(delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            handler(req, arrival).await
        }
    };
    state
        .shared
        .truth
        .observe_request(route, response.status().as_u16(), arrival.elapsed());
    response
}

/// `POST /api/v1/orders`. The order's arrival and the head are read before any injected
/// latency: the mock's own delay never makes an order late.
async fn post_orders(State(state): State<MockState>, req: Request) -> Response {
    let head = state.shared.truth.head();
    let state = &state;
    observed(state, ORDERS_ROUTE, req, |req, arrival| async move {
        let limited = req.extensions().get::<RateLimited>().copied();
        let body = Bytes::from_request(req, state).await;
        post_order(state, (arrival, head), limited, body).await
    })
    .await
}

/// Any other method on `/api/v1/orders`: 405 naming the one allowed, observed like every
/// request.
async fn orders_method_not_allowed(State(state): State<MockState>, req: Request) -> Response {
    observed(&state, ORDERS_ROUTE, req, |_, _| async {
        (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response()
    })
    .await
}

/// What the middleware does with a request before its handler.
enum Gate {
    /// Answer at once (a rate-limited GET).
    Refuse(Response),
    /// Wait this long, then run the handler.
    Pass(Duration),
}

/// Takes a token from the route's bucket and draws the latency. Rate-limited requests get no
/// latency (the limiter answers before the backend would); a rate-limited POST is marked and
/// still handed to its handler so the truth sees the attempt.
fn delay_or_limit(shared: &Shared, route: &str, req: &mut Request, arrival: Instant) -> Gate {
    if !route.starts_with("/api/") {
        return Gate::Pass(Duration::ZERO);
    }
    let endpoint = if req.method() == Method::POST {
        Endpoint::PostOrders
    } else {
        Endpoint::Get
    };
    let limited = shared.limits.as_ref().and_then(|l| l.check(route));
    match (limited, route) {
        (None, _) => Gate::Pass(shared.latency.draw(endpoint, arrival)),
        (Some(retry_after), ORDERS_ROUTE) => {
            req.extensions_mut().insert(RateLimited(retry_after));
            Gate::Pass(Duration::ZERO)
        }
        (Some(retry_after), _) => Gate::Refuse(too_many_requests(
            retry_after,
            "rate limit of this route exceeded",
        )),
    }
}

/// A 429 in the orderbook's error shape with `Retry-After` in whole seconds.
fn too_many_requests(retry_after: u64, why: &str) -> Response {
    let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", why);
    ([(header::RETRY_AFTER, retry_after.to_string())], e).into_response()
}

/// The POST's work once observed: parse, answer (stored, duplicate, rate-limited or an
/// injected fault), and tell the truth. `(received_at, head)`: when the request came and the
/// head then.
async fn post_order(
    state: &MockState,
    (received_at, head): (Instant, u64),
    limited: Option<RateLimited>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let shared = &state.shared;
    let injected = shared.draw_injection();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            shared.truth.observe_invalid();
            return ApiError::new(rejection.status(), api::INVALID_JSON, rejection.body_text())
                .into_response();
        }
    };
    let order = match api::parse_order_hashed(&body, &shared.domain, &shared.uids) {
        Ok(order) => order,
        Err(e) => {
            shared.truth.observe_invalid();
            return e.into_response();
        }
    };
    let (key, uid, valid_to) = (order.key(), order.uid, u64::from(order.data.valid_to));
    let (outcome, response) = match (limited, injected) {
        (Some(RateLimited(retry_after)), _) => (
            PostOutcome::RateLimited,
            too_many_requests(retry_after, "rate limit of this route exceeded"),
        ),
        (None, Some((fault, why))) => {
            let response = injected_response(&fault, why);
            (PostOutcome::Injected(fault), response)
        }
        (None, None) => store(shared, order),
    };
    let slow = matches!(&outcome, PostOutcome::Injected(Fault::SlowResponse));
    shared.truth.observe(Observation {
        key,
        uid,
        valid_to,
        outcome,
        received_at,
        head,
    });
    if slow {
        tokio::time::sleep(shared.config.orderbook.slow_response.0).await;
    }
    response
}

impl Shared {
    /// The fault to answer a POST with, and why: an outage in force draws first; the
    /// configured error mix draws for the POSTs it lets through.
    fn draw_injection(&self) -> Option<(Fault, &'static str)> {
        let outage = self.outage.read().unwrap_or_else(|p| p.into_inner());
        if let Some(fault) = outage.as_ref().and_then(ErrorMix::draw) {
            return Some((fault.clone(), "injected by an orderbook_outage fault"));
        }
        drop(outage);
        self.mix
            .draw()
            .map(|fault| (fault.clone(), "injected by the mock orderbook's error mix"))
    }
}

/// The answer to a POST an error mix picked: a transport fault, or a 400 with the errorType.
fn injected_response(fault: &Fault, why: &str) -> Response {
    match fault {
        Fault::Http429 => too_many_requests(1, why),
        Fault::Http500 => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            why,
        )
        .into_response(),
        Fault::Http503 => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", why)
            .into_response(),
        Fault::ConnectionReset => connection_reset(),
        // Held by the caller for `Config::slow_response` before it is sent.
        Fault::SlowResponse => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout", why).into_response()
        }
        Fault::Rejected(error_type) => {
            ApiError::bad_request(error_type.as_str(), why).into_response()
        }
    }
}

/// A response whose body fails before its first byte: hyper then drops the connection
/// without sending the status line, which the client sees as a reset connection.
fn connection_reset() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    Response::new(axum::body::Body::from_stream(failing))
}

/// Stores a new order (201 with its UID) or refuses a known UID (400 `DuplicatedOrder`).
fn store(shared: &Shared, order: ParsedOrder) -> (PostOutcome, Response) {
    if let Some(doc) = &order.full_app_data {
        shared.truth.register_app_data(doc.clone());
    }
    let uid = order.uid;
    let full_app_data = shared.truth.app_data_shared(&order.data.app_data);
    let stored = Box::new(Stored {
        order,
        created: SystemTime::now(),
        full_app_data,
    });
    let mut orders = shared.orders.lock().unwrap_or_else(|p| p.into_inner());
    let new = orders.insert_new(stored);
    drop(orders);
    if !new {
        let e = ApiError::bad_request("DuplicatedOrder", format!("order {uid} already exists"));
        return (PostOutcome::Duplicate, e.into_response());
    }
    (PostOutcome::Accepted, created(&uid))
}

/// 201 with the UID as a JSON string: the bytes `Json(uid.to_string())` writes (a test holds
/// them equal), hex-encoded into one buffer instead of formatted and then JSON-escaped.
fn created(uid: &OrderUid) -> Response {
    let mut body = [0u8; UID_JSON_LEN];
    body[..3].copy_from_slice(b"\"0x");
    body[UID_JSON_LEN - 1] = b'"';
    alloy::hex::encode_to_slice(uid, &mut body[3..UID_JSON_LEN - 1])
        .expect("56 bytes fill 112 hex digits");
    (
        StatusCode::CREATED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(APPLICATION_JSON),
        )],
        Bytes::copy_from_slice(&body),
    )
        .into_response()
}

/// The `Content-Type` axum's `Json` answers with.
const APPLICATION_JSON: &str = "application/json";

/// `"0x` + 112 hex digits + `"`.
const UID_JSON_LEN: usize = 3 + 2 * 56 + 1;

/// When a request arrived, before any injected latency (set by [`observed`]).
#[derive(Clone, Copy, Debug)]
struct Arrival(Instant);

/// `GET /api/v1/orders/{uid}`: the stored order, or `OrderNotFound`. A UID some event is
/// owed joins that order's trace, found or not.
async fn get_order(
    State(state): State<MockState>,
    Path(uid): Path<String>,
    arrival: Option<axum::Extension<Arrival>>,
) -> Response {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "OrderNotFound",
            "Order was not found",
        )
        .into_response()
    };
    let Ok(uid) = parse_order_uid(&uid) else {
        return not_found();
    };
    let orders = state
        .shared
        .orders
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let order = orders.get(&uid).map(|stored| {
        stored.order.to_order_created_at(
            stored.full_app_data.as_deref().map(str::to_owned),
            stored.created,
        )
    });
    drop(orders);
    let at = arrival.map_or_else(Instant::now, |a| a.0 .0);
    state.shared.truth.observe_get(&uid, order.is_some(), at);
    match order {
        Some(order) => Json(order).into_response(),
        None => not_found(),
    }
}

async fn get_app_data(State(state): State<MockState>, Path(hash): Path<String>) -> Response {
    let doc = hash
        .parse()
        .ok()
        .and_then(|hash| state.shared.truth.app_data(&hash));
    match doc {
        Some(doc) => Json(serde_json::json!({ "fullAppData": doc })).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "AppDataNotFound",
            "no app data document with this hash",
        )
        .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn stats(State(state): State<MockState>) -> Response {
    Json(state.shared.truth.stats()).into_response()
}

async fn metrics(State(state): State<MockState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.shared.truth.render_metrics(),
    )
        .into_response()
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such route").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloy::primitives::{address, b256, Address, B256, U256};
    use alloy::sol_types::{eip712_domain, SolStruct};
    use axum::body::Body;
    use serde_json::{json, Value};

    use crate::truth::{ExpectedOrder, OrderKey, Stats};
    use cowload_spec::EventKind;

    /// The sample order of the cowprotocol crate's ethers-generated UID vectors.
    fn vector_order() -> Value {
        json!({
            "sellToken": "0x0101010101010101010101010101010101010101",
            "buyToken": "0x0202020202020202020202020202020202020202",
            "receiver": "0x0303030303030303030303030303030303030303",
            "sellAmount": "42000000000000000000",
            "buyAmount": "13370000000000000000",
            "validTo": 0xffff_ffffu32,
            "appData": B256::ZERO.to_string(),
            "feeAmount": "1000000000000000000",
            "kind": "sell",
            "partiallyFillable": false,
            "sellTokenBalance": "erc20",
            "buyTokenBalance": "erc20",
            "signingScheme": "eip1271",
            "signature": "0x",
            "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        })
    }

    const VECTOR_OWNER: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

    /// The default config with its orderbook settings changed by `f`.
    fn settings(f: impl FnOnce(&mut cowload_spec::orderbook::OrderbookSpec)) -> Config {
        let mut config = Config::default();
        f(&mut config.orderbook);
        config
    }

    fn state(config: Config) -> MockState {
        MockState::new(config).expect("valid config")
    }

    async fn call(state: &MockState, method: &str, uri: &str, body: Body) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let resp = app(state.clone()).oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, bytes.to_vec())
    }

    async fn post_json(state: &MockState, v: &Value) -> (StatusCode, Value) {
        let (status, body) = call(state, "POST", "/api/v1/orders", Body::from(v.to_string())).await;
        (status, serde_json::from_slice(&body).expect("JSON answer"))
    }

    async fn get_json(state: &MockState, uri: &str) -> (StatusCode, Value) {
        let (status, body) = call(state, "GET", uri, Body::empty()).await;
        (status, serde_json::from_slice(&body).expect("JSON answer"))
    }

    fn assert_error(body: &Value, error_type: &str) {
        assert_eq!(body["errorType"], error_type, "{body}");
        assert!(
            body["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }

    /// Status, `Content-Type` and body of `response`.
    async fn answered(response: Response) -> (StatusCode, Option<HeaderValue>, Vec<u8>) {
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, content_type, bytes.to_vec())
    }

    #[tokio::test]
    async fn the_socket_dispatcher_answers_and_counts_as_the_router() {
        let order = vector_order().to_string();
        let requests: Vec<(&str, &str, String)> = vec![
            ("POST", "/api/v1/orders", order.clone()),
            ("POST", "/api/v1/orders", order),
            ("POST", "/api/v1/orders", "{not json".to_owned()),
            ("GET", "/api/v1/orders", String::new()),
            ("PUT", "/api/v1/orders", String::new()),
            ("POST", "/api/v1/orders/", String::new()),
            ("GET", "/healthz", String::new()),
            ("GET", "/no/such/route", String::new()),
        ];
        let (routed, dispatched) = (state(Config::default()), state(Config::default()));
        let dispatch = Dispatch::new(dispatched.clone());
        for (method, uri, body) in requests {
            let req = |body: String| {
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::from(body))
                    .expect("request")
            };
            let via_router = app(routed.clone()).oneshot(req(body.clone())).await;
            let via_router = answered(via_router.expect("infallible")).await;
            let via_dispatch = answered(dispatch.call(req(body)).await).await;
            assert_eq!(via_dispatch, via_router, "{method} {uri}");
        }
        let (a, b) = (routed.truth().stats(), dispatched.truth().stats());
        assert_eq!(a.requests["/api/v1/orders"]["201"], 1);
        assert_eq!(a.requests["/api/v1/orders"]["405"], 2);
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn the_created_body_is_the_json_of_the_uid() {
        let uid = OrderUid::from_slice(&(0..56u8).collect::<Vec<_>>());
        let expected = answered(Json(uid.to_string()).into_response()).await;
        let (status, content_type, body) = answered(created(&uid)).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!((content_type, body), (expected.1, expected.2));
    }

    #[tokio::test]
    async fn other_methods_on_the_orders_route_are_refused_and_counted() {
        let s = state(Config::default());
        let (status, _) = call(&s, "GET", "/api/v1/orders", Body::empty()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _) = call(&s, "POST", "/api/v1/orders", Body::from("{}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let stats = s.truth().stats();
        assert_eq!(stats.requests["/api/v1/orders"]["405"], 1);
        assert_eq!(stats.requests["/api/v1/orders"]["400"], 1);
    }

    #[tokio::test]
    async fn post_answers_the_known_uid_vector() {
        let s = state(Config::default());
        let (status, body) = post_json(&s, &vector_order()).await;
        assert_eq!(status, StatusCode::CREATED);
        let uid = body.as_str().expect("UID is a JSON string");
        let expected = concat!(
            "0xd69c063b99b74a6690df5541787acc942828219a0ba12fded27eff853da8f6fd",
            "70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "ffffffff"
        );
        assert_eq!(uid, expected);
    }

    mod gpv2 {
        alloy::sol! {
        struct Order {
            address sellToken;
            address buyToken;
            address receiver;
            uint256 sellAmount;
            uint256 buyAmount;
            uint32 validTo;
            bytes32 appData;
            uint256 feeAmount;
            string kind;
            bool partiallyFillable;
            string sellTokenBalance;
            string buyTokenBalance;
        }
        }
    }

    #[tokio::test]
    async fn uid_is_the_eip712_digest_owner_and_valid_to() {
        let chain_id = 31_337u64;
        let s = state(Config {
            chain_id,
            ..Config::default()
        });
        let app_data = b256!("00000000000000000000000000000000000000000000000000000000000000aa");
        let mut order = vector_order();
        order["appData"] = json!(app_data);
        order["validTo"] = json!(1_750_000_000u32);
        order["kind"] = json!("buy");
        order["partiallyFillable"] = json!(true);
        order["feeAmount"] = json!("0");
        let (status, body) = post_json(&s, &order).await;
        assert_eq!(status, StatusCode::CREATED);
        let uid: alloy::primitives::FixedBytes<56> =
            body.as_str().expect("string").parse().expect("56 bytes");

        let domain = eip712_domain! {
            name: "Gnosis Protocol",
            version: "v2",
            chain_id: chain_id,
            verifying_contract: address!("9008D19f58AAbD9eD0D60971565AA8510560ab41"),
        };
        let digest = gpv2::Order {
            sellToken: address!("0101010101010101010101010101010101010101"),
            buyToken: address!("0202020202020202020202020202020202020202"),
            receiver: address!("0303030303030303030303030303030303030303"),
            sellAmount: U256::from(42_000_000_000_000_000_000u128),
            buyAmount: U256::from(13_370_000_000_000_000_000u128),
            validTo: 1_750_000_000,
            appData: app_data,
            feeAmount: U256::ZERO,
            kind: "buy".into(),
            partiallyFillable: true,
            sellTokenBalance: "erc20".into(),
            buyTokenBalance: "erc20".into(),
        }
        .eip712_signing_hash(&domain);
        assert_eq!(uid.len(), 56);
        assert_eq!(&uid[..32], digest.as_slice());
        assert_eq!(&uid[32..52], VECTOR_OWNER.as_slice());
        assert_eq!(&uid[52..], 1_750_000_000u32.to_be_bytes());
    }

    #[tokio::test]
    async fn resubmission_answers_duplicated_order() {
        let s = state(Config::default());
        assert_eq!(post_json(&s, &vector_order()).await.0, StatusCode::CREATED);
        let (status, body) = post_json(&s, &vector_order()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&body, "DuplicatedOrder");
        let stats = s.truth().stats();
        assert_eq!(stats.posts, 2);
        assert_eq!(
            stats.pending_posts, 2,
            "no event registered, no head moved yet"
        );
    }

    #[tokio::test]
    async fn malformed_bodies_answer_400_in_the_error_shape() {
        let s = state(Config::default());
        let mut missing = vector_order();
        missing.as_object_mut().expect("object").remove("buyAmount");
        let bodies: Vec<Body> = vec![
            Body::from("{not json"),
            Body::empty(),
            Body::from("[]"),
            Body::from(missing.to_string()),
            Body::from(vec![0xff, 0xfe, 0x00]),
        ];
        for body in bodies {
            let (status, bytes) = call(&s, "POST", "/api/v1/orders", body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let v: Value = serde_json::from_slice(&bytes).expect("JSON error body");
            assert_error(&v, crate::api::INVALID_JSON);
        }
        let stats = s.truth().stats();
        assert_eq!(stats.orders_received["unmatched"]["invalid"], 5);
    }

    #[tokio::test]
    async fn get_order_returns_the_stored_order_or_order_not_found() {
        let s = state(Config::default());
        let (_, uid) = post_json(&s, &vector_order()).await;
        let uid = uid.as_str().expect("uid");
        let (status, order) = get_json(&s, &format!("/api/v1/orders/{uid}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(order["uid"], uid);
        assert_eq!(order["owner"], "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
        assert_eq!(order["status"], "open");
        assert_eq!(order["sellAmount"], "42000000000000000000");
        assert_eq!(order["signingScheme"], "eip1271");
        let typed: cowprotocol::Order =
            serde_json::from_value(order).expect("cowprotocol::Order parses");
        assert_eq!(typed.owner, VECTOR_OWNER);

        let unknown = format!("0x{}", "ab".repeat(56));
        for uri in [
            format!("/api/v1/orders/{unknown}"),
            "/api/v1/orders/0x1234".to_owned(),
        ] {
            let (status, body) = get_json(&s, &uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_error(&body, "OrderNotFound");
        }
    }

    #[tokio::test]
    async fn app_data_serves_empty_registered_and_posted_documents() {
        let s = state(Config::default());
        let (status, body) = get_json(
            &s,
            &format!("/api/v1/app_data/{}", cowprotocol::EMPTY_APP_DATA_HASH),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"fullAppData": "{}"}));

        let registered = r#"{"appCode":"cowload","version":"1.3.0"}"#.to_owned();
        let hash = s.truth().register_app_data(registered.clone());
        let (status, body) = get_json(&s, &format!("/api/v1/app_data/{hash}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["fullAppData"], registered);

        let posted = r#"{"appCode":"engine","metadata":{}}"#;
        let mut order = vector_order();
        order["appData"] = json!(posted);
        assert_eq!(post_json(&s, &order).await.0, StatusCode::CREATED);
        let hash = alloy::primitives::keccak256(posted.as_bytes());
        let (status, body) = get_json(&s, &format!("/api/v1/app_data/{hash}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["fullAppData"], posted);

        let (status, body) =
            get_json(&s, &format!("/api/v1/app_data/{}", B256::repeat_byte(9))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "AppDataNotFound");
    }

    #[tokio::test]
    async fn injected_errors_use_the_real_shape_and_store_nothing() {
        for error_type in ["InsufficientFee", "DuplicatedOrder"] {
            let s = state(settings(|o| {
                o.errors = [(error_type.to_owned(), 1.0)].into_iter().collect();
            }));
            let (status, body) = post_json(&s, &vector_order()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_error(&body, error_type);
            let parsed = crate::api::parse_order(vector_order().to_string().as_bytes(), s.domain())
                .expect("valid");
            let (status, _) = get_json(&s, &format!("/api/v1/orders/{}", parsed.uid)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{error_type}: not stored");
            s.truth().set_head(1);
            let stats = s.truth().stats();
            assert_eq!(stats.orders_received["unmatched"][error_type], 1);
            assert_eq!(stats.orders_received["unmatched"]["duplicate"], 0);
            assert_eq!(stats.unmatched_orders, 0);
        }
    }

    fn only(fault: &str) -> MockState {
        state(settings(|o| {
            o.errors = [(fault.to_owned(), 1.0)].into_iter().collect();
        }))
    }

    #[tokio::test]
    async fn transport_faults_answer_their_status_and_store_nothing() {
        let cases = [
            ("Http429", StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            (
                "Http500",
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
            ),
            (
                "Http503",
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
            ),
        ];
        for (fault, status, error_type) in cases {
            let s = only(fault);
            let req = Request::builder()
                .method("POST")
                .uri("/api/v1/orders")
                .body(Body::from(vector_order().to_string()))
                .expect("request");
            let resp = app(s.clone()).oneshot(req).await.expect("infallible");
            assert_eq!(resp.status(), status, "{fault}");
            let said = Fault::parse(fault).and_then(|f| f.status());
            assert_eq!(said, Some(status.as_u16()), "Fault::status of {fault}");
            let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
            assert_eq!(retry_after.is_some(), fault == "Http429", "{fault}");
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let body: Value = serde_json::from_slice(&bytes).expect("JSON");
            assert_error(&body, error_type);
            s.truth().set_head(1);
            let stats = s.truth().stats();
            assert_eq!(stats.orders_received["unmatched"][fault], 1, "{fault}");
            assert_eq!(stats.orders_received["unmatched"]["accepted"], 0, "{fault}");
        }
    }

    #[tokio::test]
    async fn connection_reset_fails_the_body() {
        let s = only("ConnectionReset");
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/orders")
            .body(Body::from(vector_order().to_string()))
            .expect("request");
        let resp = app(s.clone()).oneshot(req).await.expect("infallible");
        assert!(axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .is_err());
        s.truth().set_head(1);
        assert_eq!(
            s.truth().stats().orders_received["unmatched"]["ConnectionReset"],
            1
        );
    }

    #[tokio::test]
    async fn slow_response_holds_a_504_and_stores_nothing() {
        let hold = Duration::from_millis(50);
        let s = state(settings(|o| {
            o.errors = [("SlowResponse".to_owned(), 1.0)].into_iter().collect();
            o.slow_response = cowload_spec::orderbook::Dur(hold);
        }));
        let started = Instant::now();
        let (status, body) = post_json(&s, &vector_order()).await;
        // A lower bound only: a tokio sleep never ends early.
        assert!(
            started.elapsed() >= hold,
            "answer held for the configured time"
        );
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_error(&body, "GatewayTimeout");
        s.truth().set_head(1);
        let stats = s.truth().stats();
        assert_eq!(stats.orders_received["unmatched"]["SlowResponse"], 1);
        assert_eq!(stats.orders_received["unmatched"]["accepted"], 0);
    }

    fn rate_limited(per_second: u32, burst: u32) -> MockState {
        state(settings(|o| {
            o.rate_limit = Some(cowload_spec::orderbook::RateLimitSpec {
                per_second,
                burst: Some(burst),
            });
        }))
    }

    async fn post_raw(s: &MockState, order: &Value) -> Response {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/orders")
            .body(Body::from(order.to_string()))
            .expect("request");
        app(s.clone()).oneshot(req).await.expect("infallible")
    }

    #[tokio::test]
    async fn rate_limit_answers_429_with_retry_after_per_route() {
        // One token per second and a burst of 2: the third request in a row finds the
        // bucket empty whatever the machine's speed (a refill takes a full second).
        let s = rate_limited(1, 2);
        let orders: Vec<Value> = (0..3u32)
            .map(|i| {
                let mut order = vector_order();
                order["validTo"] = json!(1_800_000_000 + i);
                order
            })
            .collect();
        let mut statuses = Vec::new();
        for order in &orders {
            statuses.push(post_raw(&s, order).await);
        }
        let limited = statuses.pop().expect("three answers");
        assert!(statuses.iter().all(|r| r.status() == StatusCode::CREATED));
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after = limited
            .headers()
            .get(header::RETRY_AFTER)
            .expect("Retry-After");
        assert_eq!(retry_after.to_str().expect("ascii"), "1");
        let bytes = axum::body::to_bytes(limited.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_error(&body, "TooManyRequests");

        let refused = crate::api::parse_order(orders[2].to_string().as_bytes(), s.domain())
            .expect("valid order");
        let uri = format!("/api/v1/orders/{}", refused.uid);
        let (status, _) = get_json(&s, &uri).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "limited order not stored; GETs have their own bucket"
        );
        let (status, _) = get_json(&s, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = get_json(&s, &uri).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "third GET in a row");
        assert_error(&body, "TooManyRequests");
        for _ in 0..5 {
            assert_eq!(
                call(&s, "GET", "/healthz", Body::empty()).await.0,
                StatusCode::OK
            );
        }

        s.truth().set_head(1);
        let stats = s.truth().stats();
        assert_eq!(stats.orders_received["unmatched"]["rate_limited"], 1);
        assert_eq!(stats.orders_received["unmatched"]["accepted"], 2);
        assert_eq!(stats.requests["/api/v1/orders"]["429"], 1);
        assert_eq!(stats.requests["/api/v1/orders/{uid}"]["429"], 1);
    }

    fn vector_key() -> OrderKey {
        OrderKey {
            owner: VECTOR_OWNER,
            sell_token: Address::repeat_byte(1),
            buy_token: Address::repeat_byte(2),
            receiver: Address::repeat_byte(3),
            sell_amount: U256::from(42_000_000_000_000_000_000u128),
            buy_amount: U256::from(13_370_000_000_000_000_000u128),
            app_data: B256::ZERO,
        }
    }

    #[tokio::test]
    async fn posted_orders_match_registered_events() {
        let s = state(Config::default());
        let truth = s.truth();
        truth.register(vec![ExpectedOrder {
            kind: EventKind::EthFlow,
            block: 7,
            mined_at: Instant::now(),
            key: vector_key(),
            exact: None,
            twap: None,
            tx_hash: B256::repeat_byte(0x77),
            log_index: 0,
        }]);
        truth.set_head(7);
        assert_eq!(post_json(&s, &vector_order()).await.0, StatusCode::CREATED);
        assert_eq!(
            post_json(&s, &vector_order()).await.0,
            StatusCode::BAD_REQUEST
        );
        let mut other = vector_order();
        other["sellAmount"] = json!("1");
        assert_eq!(post_json(&s, &other).await.0, StatusCode::CREATED);
        truth.set_head(8);
        let stats: Stats = truth.stats();
        let e = &stats.events["ethflow"];
        assert_eq!((e.registered, e.matched, e.lost, e.awaiting), (1, 1, 0, 0));
        assert_eq!(e.blocks.max, 0.0);
        assert_eq!(e.posts_per_event.max, 1.0);
        assert_eq!(stats.orders_received["ethflow"]["accepted"], 1);
        assert_eq!(stats.orders_received["ethflow"]["duplicate"], 1);
        assert_eq!(stats.orders_received["unmatched"]["accepted"], 1);
        assert_eq!(stats.unmatched_orders, 1);
    }

    /// A GET of an owed UID joins that order's trace, found or not, in order with
    /// its POSTs.
    #[tokio::test]
    async fn gets_of_an_owed_uid_join_its_trace() {
        let s = state(Config::default());
        let truth = s.truth();
        let body = vector_order().to_string();
        let parsed = api::parse_order(body.as_bytes(), s.domain()).expect("the vector parses");
        truth.register(vec![ExpectedOrder {
            kind: EventKind::EthFlow,
            block: 7,
            mined_at: Instant::now(),
            key: parsed.key(),
            exact: Some(crate::ExactOrder {
                order: parsed.data,
                owner: parsed.owner,
                domain: s.domain().clone(),
            }),
            twap: None,
            tx_hash: B256::repeat_byte(0x77),
            log_index: 0,
        }]);
        truth.set_head(7);
        let get = format!("/api/v1/orders/{}", parsed.uid);
        assert_eq!(get_json(&s, &get).await.0, StatusCode::NOT_FOUND);
        assert_eq!(post_json(&s, &vector_order()).await.0, StatusCode::CREATED);
        assert_eq!(get_json(&s, &get).await.0, StatusCode::OK);
        truth.finish();
        let mut lines = Vec::new();
        truth.each_order_line(|line| lines.push(line));
        let answers: Vec<&str> = lines[0]
            .requests
            .iter()
            .map(|r| r.answer.as_str())
            .collect();
        assert_eq!(answers, ["not_found", "accepted", "found"]);
        assert_eq!(lines[0].outcome, crate::OrderOutcome::Matched);
    }

    #[tokio::test]
    async fn harness_routes_answer() {
        let s = state(settings(|o| {
            o.errors = [("InvalidQuote".to_owned(), 0.5)].into_iter().collect();
        }));
        let (status, body) = call(&s, "GET", "/healthz", Body::empty()).await;
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, b"ok".as_slice())
        );

        post_json(&s, &vector_order()).await;
        let (status, stats) = get_json(&s, "/_stats").await;
        assert_eq!(status, StatusCode::OK);
        let stats: Stats = serde_json::from_value(stats).expect("Stats round-trips");
        assert_eq!(stats.posts, 1);
        assert_eq!(stats.requests["/api/v1/orders"].values().sum::<u64>(), 1);
        assert_eq!(stats.requests["/healthz"]["200"], 1);

        let (status, text) = call(&s, "GET", "/metrics", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(text).expect("utf-8");
        for name in [
            "cowload_orders_received_total",
            "cowload_events_registered_total",
            "cowload_events_matched_total",
            "cowload_events_lost_total",
            "cowload_events_awaiting_order",
            "cowload_event_to_order_seconds_bucket",
            "cowload_event_to_order_blocks_bucket",
            "cowload_order_posts_per_event_bucket",
            "cowload_mock_requests_total",
            "cowload_mock_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
        assert!(text
            .contains("cowload_orders_received_total{kind=\"twap\",outcome=\"InvalidQuote\"} 0"));
        assert!(text.contains("cowload_mock_requests_total{route=\"/healthz\",status=\"200\"} 1"));

        let (status, body) = get_json(&s, "/no/such/route").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "NotFound");
        assert_eq!(s.truth().stats().requests["unmatched"]["404"], 1);
    }

    #[tokio::test]
    async fn same_seed_answers_the_same_sequence() {
        let mut config = settings(|o| {
            o.errors = [
                ("InsufficientFee".to_owned(), 0.3),
                ("QuoteNotFound".to_owned(), 0.3),
            ]
            .into_iter()
            .collect();
        });
        config.seed = 99;
        let mut runs = Vec::new();
        for _ in 0..2 {
            let s = state(config.clone());
            let mut answers = Vec::new();
            for i in 0..50u32 {
                let mut order = vector_order();
                order["validTo"] = json!(1_700_000_000 + i);
                let (_, body) = post_json(&s, &order).await;
                answers.push(body["errorType"].as_str().unwrap_or("accepted").to_owned());
            }
            runs.push(answers);
        }
        assert_eq!(runs[0], runs[1]);
        assert!(runs[0].iter().any(|a| a == "accepted"));
        assert!(runs[0].iter().any(|a| a != "accepted"));
    }
}
