//! The orderbook's settings as people write them: the scenario's `orderbook:`
//! section and the file `mock-orderbook --config` reads are this one type.
//!
//! In: YAML, TOML or JSON through serde. Out: an [`OrderbookSpec`], its
//! [`problems`](OrderbookSpec::problems) keyed by field path, and the latency and rate
//! limit the mock runs from. Why one type: the scenario and the binary's
//! config file then share one syntax, one set of defaults and one set of
//! checks; the runner only adds the line and column of a problem's path.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::latency::{Delay, Latency, Spikes};

/// The orderbook `errorType`s the mock can inject. Each is a real value of the CoW orderbook
/// API that engines react to differently (retry, back off, drop).
pub const KNOWN_ERROR_TYPES: &[&str] = &[
    "InsufficientFee",
    "InvalidSignature",
    "DuplicatedOrder",
    "TooManyLimitOrders",
    "QuoteNotFound",
    "InvalidAppData",
    "ExcessiveValidTo",
    "InsufficientBalance",
    "InsufficientAllowance",
    "InvalidQuote",
    "UnsupportedToken",
    "SellAmountOverflow",
    "TransferSimulationFailed",
    "WrongOwner",
    "InvalidEip1271Signature",
];

/// Transport faults the error mix can also inject: `Http429` (429 with `Retry-After: 1`),
/// `Http500`, `Http503`, `ConnectionReset` (the connection is dropped before any response
/// byte) and `SlowResponse` (the answer, a 504, is held for `orderbook.slow_response`, longer
/// than a client's timeout). They are keys of `orderbook.errors` like the errorTypes.
pub const TRANSPORT_FAULTS: &[&str] = &[
    "Http429",
    "Http500",
    "Http503",
    "ConnectionReset",
    "SlowResponse",
];

/// True when `name` can be a key of `orderbook.errors`: an errorType or a transport fault.
pub fn is_known_fault(name: &str) -> bool {
    KNOWN_ERROR_TYPES.contains(&name) || TRANSPORT_FAULTS.contains(&name)
}

/// Sepolia: the chain the local fixture replays and the default of the binary.
pub const DEFAULT_CHAIN_ID: u64 = 11_155_111;

/// Blocks an event may wait for its first accepted order before it counts as lost: the
/// default of the scenario's `orderbook.order_deadline_blocks` and of the binary alike.
pub const DEFAULT_ORDER_DEADLINE_BLOCKS: u32 = 3;

/// How long a `SlowResponse` holds its answer unless told otherwise: longer than the usual
/// HTTP client timeouts (10–30 s).
pub const DEFAULT_SLOW_RESPONSE: Duration = Duration::from_secs(60);

/// The longest hold of a `SlowResponse`, so a forgotten setting cannot hang a run.
pub const MAX_SLOW_RESPONSE: Duration = Duration::from_secs(600);

/// A token bucket: each `/api/…` route (`POST /api/v1/orders`, `GET /api/v1/orders/{uid}`,
/// `GET /api/v1/app_data/{hash}`) has its own, holding up to `burst` requests and refilled
/// at `per_second`. A request finding it empty gets 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per route.
    pub per_second: NonZeroU32,
    /// Requests a route accepts at once after being idle.
    pub burst: NonZeroU32,
}

/// The most blocks an event may wait for its order: beyond it a typo (an extra
/// zero) would make every loss invisible for the whole run.
pub const MAX_ORDER_DEADLINE_BLOCKS: u32 = 1_000;

/// Tolerance when checking that the error fractions sum to at most 1 (float
/// rounding of values such as 0.1 + 0.2).
const SUM_TOLERANCE: f64 = 1e-9;

/// One thing wrong with a spec: where (field names from the section's root,
/// e.g. `["errors", "InsufficientFee"]`) and what, as a sentence that starts
/// with that path under `orderbook.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field names from the section's root.
    pub path: Vec<String>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl OrderbookSpec {
    /// Everything wrong with this spec, at once (empty: valid).
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut fail = |path: &[&str], message: String| {
            problems.push(Problem {
                path: path.iter().map(|s| (*s).to_owned()).collect(),
                message,
            })
        };
        let mut all_fractions = true;
        for (error_type, &fraction) in &self.errors {
            if !is_known_fault(error_type) {
                fail(
                    &["errors", error_type],
                    format!(
                        "orderbook.errors: unknown errorType {error_type:?}; known ones: {}; transport faults: {}",
                        KNOWN_ERROR_TYPES.join(", "),
                        TRANSPORT_FAULTS.join(", ")
                    ),
                );
            }
            if !(0.0..=1.0).contains(&fraction) {
                all_fractions = false;
                fail(
                    &["errors", error_type],
                    format!("orderbook.errors.{error_type}: must be a fraction between 0 and 1, got {fraction}"),
                );
            }
        }
        let sum: f64 = self.errors.values().sum();
        if all_fractions && sum > 1.0 + SUM_TOLERANCE {
            fail(
                &["errors"],
                format!("orderbook.errors: the fractions add up to {sum}; at most 1 of the posts can fail"),
            );
        }
        if self.order_deadline_blocks < 1 {
            fail(
                &["order_deadline_blocks"],
                "orderbook.order_deadline_blocks: must be at least 1 (an order cannot land in its event's own block)".to_owned(),
            );
        }
        if self.order_deadline_blocks > MAX_ORDER_DEADLINE_BLOCKS {
            fail(
                &["order_deadline_blocks"],
                format!(
                    "orderbook.order_deadline_blocks: must be at most {MAX_ORDER_DEADLINE_BLOCKS}, got {}",
                    self.order_deadline_blocks
                ),
            );
        }
        if let Err(e) = self.latency.runtime().validate() {
            fail(&["latency"], format!("orderbook.latency: {e}"));
        }
        let hold = self.slow_response.0;
        if hold.is_zero() || hold > MAX_SLOW_RESPONSE {
            fail(
                &["slow_response"],
                format!(
                    "orderbook.slow_response: must be above 0s and at most {}, got {}",
                    humantime::format_duration(MAX_SLOW_RESPONSE),
                    humantime::format_duration(hold)
                ),
            );
        }
        if let Some(limit) = &self.rate_limit {
            if limit.per_second < 1 {
                fail(
                    &["rate_limit", "per_second"],
                    "orderbook.rate_limit.per_second: must be at least 1; leave rate_limit out for no limit".to_owned(),
                );
            }
            if limit.burst == Some(0) {
                fail(
                    &["rate_limit", "burst"],
                    "orderbook.rate_limit.burst: must be at least 1 (or leave it out to use per_second)".to_owned(),
                );
            }
        }
        problems
    }
}

impl RateLimitSpec {
    /// The bucket the server runs; `None` when a count is 0 (a [`Problem`]).
    pub fn runtime(&self) -> Option<RateLimit> {
        Some(RateLimit {
            per_second: NonZeroU32::new(self.per_second)?,
            burst: NonZeroU32::new(self.burst.unwrap_or(self.per_second))?,
        })
    }
}

/// The mock orderbook's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderbookSpec {
    /// Delay added to every `/api/…` answer: a duration (`10ms`), a distribution
    /// (`{distribution: lognormal, p50: 20ms, p99: 200ms}`) or one per endpoint with spikes.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Fraction of order posts answered with each CoW errorType (sum ≤ 1).
    #[serde(default)]
    pub errors: BTreeMap<String, f64>,
    /// How long a `SlowResponse` fault (from `errors`) holds its answer, a 504.
    #[serde(default = "default_slow_response")]
    pub slow_response: Dur,
    /// A token bucket per API route; requests finding it empty get 429. None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// An event with no order this many blocks after its own counts as lost (1 to 1000).
    #[serde(default = "default_order_deadline_blocks")]
    pub order_deadline_blocks: u32,
}

fn default_slow_response() -> Dur {
    Dur(DEFAULT_SLOW_RESPONSE)
}
fn default_order_deadline_blocks() -> u32 {
    DEFAULT_ORDER_DEADLINE_BLOCKS
}

impl Default for OrderbookSpec {
    fn default() -> Self {
        Self {
            latency: LatencySpec::default(),
            errors: BTreeMap::new(),
            slow_response: default_slow_response(),
            rate_limit: None,
            order_deadline_blocks: default_order_deadline_blocks(),
        }
    }
}

/// A token bucket per API route (`POST /api/v1/orders`, `GET /api/v1/orders/{uid}`,
/// `GET /api/v1/app_data/{hash}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Sustained requests per second each route accepts (at least 1).
    pub per_second: u32,
    /// Requests a route accepts at once after being idle (at least 1). Default: `per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

/// The latency the mock adds: one delay for every endpoint, or one per endpoint plus spikes.
///
/// Written as a duration (`10ms`), a distribution map with a `distribution` key, or a map
/// with `post_orders`, `get` and `spikes` keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencySpec {
    /// The same delay on every endpoint.
    All(DelaySpec),
    /// A delay per endpoint (left out: none) and optional spikes.
    PerEndpoint {
        /// `POST /api/v1/orders`.
        post_orders: DelaySpec,
        /// `GET /api/v1/orders/{uid}` and `GET /api/v1/app_data/{hash}`.
        get: DelaySpec,
        /// Extra delay for a window every period, on every endpoint.
        spikes: Option<SpikesSpec>,
    },
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec::All(DelaySpec::default())
    }
}

impl LatencySpec {
    /// The latency the server draws from for this spec.
    pub fn runtime(&self) -> Latency {
        match self {
            LatencySpec::All(delay) => Latency::same(delay.runtime()),
            LatencySpec::PerEndpoint {
                post_orders,
                get,
                spikes,
            } => Latency {
                post_orders: post_orders.runtime(),
                get: get.runtime(),
                spikes: spikes.map(|s| Spikes {
                    every: s.every.0,
                    duration: s.duration.0,
                    extra: s.extra.0,
                }),
            },
        }
    }
}

/// One delay: fixed or drawn (seeded) from a distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelaySpec {
    /// `10ms` or `{distribution: fixed, value: 10ms}`.
    Fixed(Dur),
    /// `{distribution: uniform, min: 5ms, max: 50ms}`.
    Uniform {
        /// Shortest delay.
        min: Dur,
        /// Longest delay.
        max: Dur,
    },
    /// `{distribution: normal, mean: 20ms, std_dev: 5ms}`; negative draws become 0.
    Normal {
        /// Mean.
        mean: Dur,
        /// Standard deviation.
        std_dev: Dur,
    },
    /// `{distribution: lognormal, p50: 20ms, p99: 200ms}`: median and 0.99 quantile.
    LogNormal {
        /// Median.
        p50: Dur,
        /// 0.99 quantile.
        p99: Dur,
    },
}

impl Default for DelaySpec {
    fn default() -> Self {
        DelaySpec::Fixed(Dur(Duration::ZERO))
    }
}

impl DelaySpec {
    /// The delay the server draws for this spec.
    pub fn runtime(&self) -> Delay {
        match *self {
            DelaySpec::Fixed(d) => Delay::Fixed(d.0),
            DelaySpec::Uniform { min, max } => Delay::Uniform {
                min: min.0,
                max: max.0,
            },
            DelaySpec::Normal { mean, std_dev } => Delay::Normal {
                mean: mean.0,
                std_dev: std_dev.0,
            },
            DelaySpec::LogNormal { p50, p99 } => Delay::LogNormal {
                p50: p50.0,
                p99: p99.0,
            },
        }
    }
}

/// Extra delay for `duration` at the start of every `every`, counted from the mock's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpikesSpec {
    /// Period between the starts of two spikes.
    pub every: Dur,
    /// Length of each spike (at most `every`).
    pub duration: Dur,
    /// Delay added to every request arriving during a spike.
    pub extra: Dur,
}

/// Every key a latency map may hold: a distribution's keys, then the
/// per-endpoint ones. One list, so the two views below cannot drift apart.
const LATENCY_KEYS: &[&str] = &[
    "distribution",
    "value",
    "min",
    "max",
    "mean",
    "std_dev",
    "p50",
    "p99",
    "post_orders",
    "get",
    "spikes",
];
/// The keys of a distribution map, in the order they are serialised.
const DELAY_KEYS: &[&str] = LATENCY_KEYS.split_at(8).0;
/// The keys of a per-endpoint latency map.
const ENDPOINT_KEYS: &[&str] = LATENCY_KEYS.split_at(8).1;
/// The `distribution` values.
const DISTRIBUTIONS: &[&str] = &["fixed", "uniform", "normal", "lognormal"];

impl DelaySpec {
    /// The `distribution` value and the fields of the map form.
    fn fields(&self) -> (&'static str, Vec<(&'static str, Dur)>) {
        match *self {
            DelaySpec::Fixed(value) => ("fixed", vec![("value", value)]),
            DelaySpec::Uniform { min, max } => ("uniform", vec![("min", min), ("max", max)]),
            DelaySpec::Normal { mean, std_dev } => {
                ("normal", vec![("mean", mean), ("std_dev", std_dev)])
            }
            DelaySpec::LogNormal { p50, p99 } => ("lognormal", vec![("p50", p50), ("p99", p99)]),
        }
    }
}

impl Serialize for DelaySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if let DelaySpec::Fixed(value) = self {
            return value.serialize(s);
        }
        let (distribution, fields) = self.fields();
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("distribution", distribution)?;
        for (key, value) in fields {
            map.serialize_entry(key, &value)?;
        }
        map.end()
    }
}

impl Serialize for LatencySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            LatencySpec::All(delay) => delay.serialize(s),
            LatencySpec::PerEndpoint {
                post_orders,
                get,
                spikes,
            } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("post_orders", post_orders)?;
                map.serialize_entry("get", get)?;
                if let Some(spikes) = spikes {
                    map.serialize_entry("spikes", spikes)?;
                }
                map.end()
            }
        }
    }
}

/// The distribution fields read from one map, before they are checked for the distribution.
#[derive(Default)]
struct DelayFields {
    distribution: Option<String>,
    durations: BTreeMap<&'static str, Dur>,
}

impl DelayFields {
    /// Reads the value of `key` (one of [`DELAY_KEYS`]).
    fn read<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let duplicate = || serde::de::Error::duplicate_field(key);
        if key == "distribution" {
            if self.distribution.is_some() {
                return Err(duplicate());
            }
            self.distribution = Some(map.next_value()?);
        } else if self.durations.insert(key, map.next_value()?).is_some() {
            return Err(duplicate());
        }
        Ok(())
    }

    /// The delay the fields describe, or a message naming what is missing or extra.
    fn build<E: serde::de::Error>(mut self) -> Result<DelaySpec, E> {
        let Some(distribution) = self.distribution.take() else {
            return Err(E::custom(
                "a latency map needs `distribution: fixed|uniform|normal|lognormal` (or write a duration such as 10ms)",
            ));
        };
        let wanted: &[&str] = match distribution.as_str() {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "normal" => &["mean", "std_dev"],
            "lognormal" => &["p50", "p99"],
            other => return Err(E::unknown_variant(other, DISTRIBUTIONS)),
        };
        if let Some(extra) = self.durations.keys().find(|k| !wanted.contains(k)) {
            return Err(E::custom(format!(
                "`{extra}` does not belong to a {distribution} latency; it takes {}",
                wanted.join(" and ")
            )));
        }
        let take = |key: &'static str| {
            self.durations.get(key).copied().ok_or_else(|| {
                E::custom(format!(
                    "a {distribution} latency needs {} (missing `{key}`)",
                    wanted.join(" and ")
                ))
            })
        };
        Ok(match distribution.as_str() {
            "fixed" => DelaySpec::Fixed(take("value")?),
            "uniform" => DelaySpec::Uniform {
                min: take("min")?,
                max: take("max")?,
            },
            "normal" => DelaySpec::Normal {
                mean: take("mean")?,
                std_dev: take("std_dev")?,
            },
            _ => DelaySpec::LogNormal {
                p50: take("p50")?,
                p99: take("p99")?,
            },
        })
    }
}

/// Reads a latency or delay: a duration string, or a map whose keys decide the form.
struct LatencyVisitor {
    /// Whether the per-endpoint form is allowed (not inside `post_orders`/`get`).
    per_endpoint: bool,
}

impl<'de> serde::de::Visitor<'de> for LatencyVisitor {
    type Value = LatencySpec;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as 10ms, or a map such as {distribution: lognormal, p50: 20ms, p99: 200ms}")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<LatencySpec, E> {
        let dur = Dur::deserialize(serde::de::value::StrDeserializer::<E>::new(text))?;
        Ok(LatencySpec::All(DelaySpec::Fixed(dur)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<LatencySpec, A::Error> {
        use serde::de::Error;
        let mut delay = DelayFields::default();
        let mut post_orders = None;
        let mut get = None;
        let mut spikes = None;
        let expected: &[&str] = if self.per_endpoint {
            LATENCY_KEYS
        } else {
            DELAY_KEYS
        };
        let (mut saw_endpoint, mut saw_delay) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            let endpoint_key = ENDPOINT_KEYS.contains(&key.as_str());
            if endpoint_key && !self.per_endpoint {
                return Err(A::Error::custom(format!(
                    "`{key}` goes directly under `latency`, not inside an endpoint's latency"
                )));
            }
            saw_endpoint |= endpoint_key;
            saw_delay |= !endpoint_key;
            if saw_endpoint && saw_delay {
                return Err(A::Error::custom(
                    "a latency map is either a distribution (distribution, …) or per endpoint (post_orders, get, spikes), not both",
                ));
            }
            match key.as_str() {
                "post_orders" => post_orders = Some(map.next_value::<DelaySpec>()?),
                "get" => get = Some(map.next_value::<DelaySpec>()?),
                "spikes" => spikes = Some(map.next_value::<SpikesSpec>()?),
                other => match DELAY_KEYS.iter().find(|k| **k == other) {
                    Some(known) => delay.read(known, &mut map)?,
                    None => return Err(A::Error::unknown_field(other, expected)),
                },
            }
        }
        if saw_endpoint {
            return Ok(LatencySpec::PerEndpoint {
                post_orders: post_orders.unwrap_or_default(),
                get: get.unwrap_or_default(),
                spikes,
            });
        }
        delay.build().map(LatencySpec::All)
    }
}

impl<'de> Deserialize<'de> for LatencySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LatencyVisitor { per_endpoint: true })
    }
}

impl<'de> Deserialize<'de> for DelaySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(LatencyVisitor {
            per_endpoint: false,
        })? {
            LatencySpec::All(delay) => Ok(delay),
            LatencySpec::PerEndpoint { .. } => Err(serde::de::Error::custom(
                "an endpoint's latency cannot itself be per endpoint",
            )),
        }
    }
}

/// A `{distribution: <name>, <a>: duration, <b>: duration}` schema.
fn distribution_schema(
    generator: &mut schemars::SchemaGenerator,
    name: &str,
    fields: &[(&str, &str)],
    description: &str,
) -> schemars::Schema {
    let duration = generator.subschema_for::<Dur>();
    let mut properties = serde_json::Map::new();
    properties.insert(
        "distribution".to_owned(),
        serde_json::json!({ "const": name }),
    );
    let mut required = vec!["distribution".to_owned()];
    for (field, what) in fields {
        let mut schema = duration.clone();
        schema.insert("description".to_owned(), serde_json::json!(what));
        properties.insert((*field).to_owned(), schema.to_value());
        required.push((*field).to_owned());
    }
    schemars::json_schema!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

impl JsonSchema for DelaySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Delay".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fixed_text = generator.subschema_for::<Dur>();
        let fixed = distribution_schema(
            generator,
            "fixed",
            &[("value", "The delay.")],
            "Always the same delay.",
        );
        let uniform = distribution_schema(
            generator,
            "uniform",
            &[("min", "Shortest delay."), ("max", "Longest delay.")],
            "Uniform between min and max.",
        );
        let normal = distribution_schema(
            generator,
            "normal",
            &[("mean", "Mean delay."), ("std_dev", "Standard deviation.")],
            "Normal; negative draws become 0.",
        );
        let lognormal = distribution_schema(
            generator,
            "lognormal",
            &[
                ("p50", "Median delay (above 0)."),
                ("p99", "0.99 quantile (at least p50)."),
            ],
            "Log-normal with this median and 0.99 quantile: a long tail.",
        );
        schemars::json_schema!({
            "description": "A delay: a duration such as 10ms, or a seeded distribution map with a `distribution` key. Draws are capped at 60s.",
            "oneOf": [fixed_text, fixed, uniform, normal, lognormal]
        })
    }
}

impl JsonSchema for LatencySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Latency".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let delay = generator.subschema_for::<DelaySpec>();
        let spikes = generator.subschema_for::<SpikesSpec>();
        schemars::json_schema!({
            "description": "Latency added to /api answers: one delay for every endpoint, or a map with post_orders, get and spikes.",
            "anyOf": [
                delay,
                {
                    "type": "object",
                    "description": "A delay per endpoint (left out: 0s) and optional spikes.",
                    "properties": {
                        "post_orders": delay,
                        "get": delay,
                        "spikes": spikes
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Dur {
        Dur(Duration::from_millis(n))
    }

    fn yaml(text: &str) -> Result<OrderbookSpec, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn latency_forms_parse() {
        let per_endpoint = LatencySpec::PerEndpoint {
            post_orders: DelaySpec::LogNormal {
                p50: ms(20),
                p99: ms(200),
            },
            get: DelaySpec::Fixed(ms(2)),
            spikes: Some(SpikesSpec {
                every: ms(60_000),
                duration: ms(5_000),
                extra: ms(1_000),
            }),
        };
        let cases: &[(&str, LatencySpec)] = &[
            ("latency: 10ms", LatencySpec::All(DelaySpec::Fixed(ms(10)))),
            (
                "latency: {distribution: fixed, value: 1s}",
                LatencySpec::All(DelaySpec::Fixed(ms(1_000))),
            ),
            (
                "latency: {distribution: uniform, min: 5ms, max: 50ms}",
                LatencySpec::All(DelaySpec::Uniform { min: ms(5), max: ms(50) }),
            ),
            (
                "latency: {std_dev: 5ms, distribution: normal, mean: 20ms}",
                LatencySpec::All(DelaySpec::Normal { mean: ms(20), std_dev: ms(5) }),
            ),
            (
                "latency:\n  distribution: lognormal\n  p50: 20ms\n  p99: 200ms",
                LatencySpec::All(DelaySpec::LogNormal { p50: ms(20), p99: ms(200) }),
            ),
            (
                "latency:\n  post_orders: {distribution: lognormal, p50: 20ms, p99: 200ms}\n  get: 2ms\n  spikes: {every: 60s, duration: 5s, extra: 1s}",
                per_endpoint,
            ),
            (
                "latency: {get: 3ms}",
                LatencySpec::PerEndpoint {
                    post_orders: DelaySpec::Fixed(ms(0)),
                    get: DelaySpec::Fixed(ms(3)),
                    spikes: None,
                },
            ),
        ];
        for (text, want) in cases {
            let spec = yaml(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.latency, *want, "{text}");
            // The serialised form reads back the same (the scenario hash relies on it).
            let json = serde_json::to_string(&spec).expect("serialises");
            let back: OrderbookSpec = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, spec, "{json}");
        }
        let toml: OrderbookSpec = toml::from_str(
            "latency = { distribution = \"lognormal\", p50 = \"20ms\", p99 = \"200ms\" }\nrate_limit = { per_second = 100, burst = 20 }\n",
        )
        .expect("TOML inline table");
        assert_eq!(
            toml.latency,
            LatencySpec::All(DelaySpec::LogNormal {
                p50: ms(20),
                p99: ms(200)
            })
        );
        assert_eq!(
            toml.rate_limit,
            Some(RateLimitSpec {
                per_second: 100,
                burst: Some(20)
            })
        );
    }

    #[test]
    fn a_fixed_latency_serialises_as_before() {
        let spec = yaml("latency: 10ms").expect("valid");
        let json = serde_json::to_value(&spec).expect("serialises");
        assert_eq!(json["latency"], "10ms");
        assert!(json.get("rate_limit").is_none());
    }

    #[test]
    fn bad_latencies_say_what_to_write() {
        let cases = [
            (
                "latency: {distribution: pareto, p50: 1ms}",
                "unknown variant `pareto`",
            ),
            (
                "latency: {distribution: uniform, min: 5ms}",
                "missing `max`",
            ),
            (
                "latency: {distribution: normal, mean: 5ms, std_dev: 1ms, p99: 2ms}",
                "`p99` does not belong",
            ),
            ("latency: {p50: 20ms, p99: 200ms}", "needs `distribution"),
            (
                "latency: {distribution: fixed, value: 1ms, get: 2ms}",
                "not both",
            ),
            (
                "latency: {post_orders: {get: 1ms}}",
                "directly under `latency`",
            ),
            ("latency: {post: 1ms}", "unknown field `post`"),
            (
                "latency: {distribution: fixed, value: soon}",
                "bad duration",
            ),
            (
                "latency: {get: 1ms, spikes: {every: 1s}}",
                "missing field `duration`",
            ),
            ("latency: 10", "a duration such as 10ms"),
            (
                "rate_limit: {per_second: 1, bucket: 2}",
                "unknown field `bucket`",
            ),
        ];
        for (text, want) in cases {
            let err = yaml(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn specs_convert_to_the_mock_config() {
        let spec =
            yaml("latency: {post_orders: 5ms, spikes: {every: 10s, duration: 1s, extra: 100ms}}")
                .expect("valid");
        let latency = spec.latency.runtime();
        assert_eq!(latency.post_orders, Delay::Fixed(Duration::from_millis(5)));
        assert_eq!(latency.get, Delay::Fixed(Duration::ZERO));
        assert_eq!(
            latency.spikes.map(|s| (s.every, s.duration, s.extra)),
            Some((
                Duration::from_secs(10),
                Duration::from_secs(1),
                Duration::from_millis(100)
            ))
        );
        assert_eq!(spec.slow_response.0, DEFAULT_SLOW_RESPONSE);
    }
}

/// A duration written as text with a unit: `1s`, `500ms`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Dur)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "bad duration {text:?}: {e} (write e.g. 1s, 500ms, 2m)"
                ))
            })
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with a unit, e.g. 1s, 500ms, 2m",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|m|min|h)(\\s*[0-9]+\\s*(ns|us|µs|ms|s|m|h))*\\s*$"
        })
    }
}
