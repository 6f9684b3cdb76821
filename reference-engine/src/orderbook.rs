//! The orderbook side: post orders and resolve appData documents, and classify the answers the
//! way shepherd does, with the rejections that can clear on their own (a balance topped up, a
//! quote that comes back) retried as well.
//!
//! In: an [`OrderCreation`] or an appData hash. Out: an [`Answer`] that tells the caller whether
//! the order is done (accepted, duplicate, rejected) or must be tried again next block.
//! [`classify`] is pure so the policy is tested without a server.

use std::time::Duration;

use alloy::primitives::B256;
use cowprotocol::{ApiError, OrderCreation, OrderbookApiErrorType};
use serde::Deserialize;
use thiserror::Error;

/// Per-request timeout: a stuck orderbook must not stall the block loop forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of one order submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: the orderbook took the order.
    Accepted,
    /// `DuplicatedOrder`: the orderbook already has it; treated as submitted.
    Duplicate,
    /// Try again next block: 429, 5xx, an unparseable body or no answer at all (the orderbook
    /// is down or busy), or an `errorType` that can clear on its own ([`RECOVERABLE`]).
    Retry(String),
    /// Any other `errorType`: the order is dropped.
    Rejected(String),
}

impl Answer {
    /// The `outcome` label of `shepherd_cow_api_submit_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Retry(_) => "retry",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// Why an appData document could not be resolved.
#[derive(Debug, Error)]
pub enum AppDataError {
    /// The orderbook does not know the hash (404).
    #[error("orderbook has no appData document for {0}")]
    NotFound(B256),
    /// Any other status, an unreadable body, or no answer.
    #[error("fetching appData {hash}: {reason}")]
    Unavailable {
        /// The hash asked for.
        hash: B256,
        /// What went wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppDataBody {
    full_app_data: String,
}

/// `errorType`s that say "not now" rather than "never": the fee, the owner's balance or
/// allowance, the quote or the owner's number of open orders can change by the next block.
pub const RECOVERABLE: [OrderbookApiErrorType; 5] = [
    OrderbookApiErrorType::InsufficientFee,
    OrderbookApiErrorType::TooManyLimitOrders,
    OrderbookApiErrorType::QuoteNotFound,
    OrderbookApiErrorType::InsufficientBalance,
    OrderbookApiErrorType::InsufficientAllowance,
];

/// An orderbook API client for one chain.
#[derive(Clone, Debug)]
pub struct Orderbook {
    http: reqwest::Client,
    base: String,
    /// Retry what [`classify`] calls retryable (off: drop it, as an engine that takes an
    /// outage or a recoverable rejection for a verdict does).
    retry_recoverable: bool,
}

impl Orderbook {
    /// A client for the API at `base` (no trailing slash).
    pub fn new(base: &str, retry_recoverable: bool) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // The orderbook is the local mock: never route it through a proxy.
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            base: base.to_owned(),
            retry_recoverable,
        })
    }

    /// `POST /api/v1/orders`.
    pub async fn post_order(&self, order: &OrderCreation) -> Answer {
        let url = format!("{}/api/v1/orders", self.base);
        let answer = match self.http.post(&url).json(order).send().await {
            Err(err) => Answer::Retry(format!("no answer from the orderbook: {err}")),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(body) => classify(status, &body),
                    Err(err) => Answer::Retry(format!("reading the orderbook's answer: {err}")),
                }
            }
        };
        match answer {
            Answer::Retry(reason) if !self.retry_recoverable => {
                Answer::Rejected(format!("{reason} (retry_recoverable off)"))
            }
            answer => answer,
        }
    }

    /// `GET /api/v1/app_data/{hash}`: the full document.
    pub async fn app_data(&self, hash: B256) -> Result<String, AppDataError> {
        let url = format!("{}/api/v1/app_data/{hash:#x}", self.base);
        let unavailable = |reason: String| AppDataError::Unavailable { hash, reason };
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(AppDataError::NotFound(hash));
        }
        if !status.is_success() {
            return Err(unavailable(format!("status {status}")));
        }
        let body: AppDataBody = response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(body.full_app_data)
    }
}

/// shepherd's reading of an orderbook answer to `POST /api/v1/orders`, with every
/// [`RECOVERABLE`] `errorType` retried.
pub fn classify(status: u16, body: &str) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Accepted;
    }
    if status == 429 || status >= 500 {
        return Answer::Retry(format!("status {status}"));
    }
    let Ok(error) = serde_json::from_str::<ApiError>(body) else {
        return Answer::Retry(format!("status {status} with an unparseable body"));
    };
    match error.error_kind() {
        OrderbookApiErrorType::DuplicatedOrder | OrderbookApiErrorType::DuplicateOrder => {
            Answer::Duplicate
        }
        kind if RECOVERABLE.contains(&kind) => Answer::Retry(error.error_type),
        _ => Answer::Rejected(error.error_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error_type: &str) -> String {
        format!(r#"{{"errorType":"{error_type}","description":"test"}}"#)
    }

    #[test]
    fn answers_are_classified_like_shepherd() {
        let uid = format!("\"0x{}\"", "ab".repeat(56));
        // (status, body, expected answer)
        let cases = [
            (201, uid.clone(), Answer::Accepted),
            (200, uid, Answer::Accepted),
            (400, body("DuplicatedOrder"), Answer::Duplicate),
            (400, body("DuplicateOrder"), Answer::Duplicate),
            (
                400,
                body("InsufficientFee"),
                Answer::Retry("InsufficientFee".into()),
            ),
            (
                400,
                body("TooManyLimitOrders"),
                Answer::Retry("TooManyLimitOrders".into()),
            ),
            (
                400,
                body("QuoteNotFound"),
                Answer::Retry("QuoteNotFound".into()),
            ),
            (
                400,
                body("InsufficientBalance"),
                Answer::Retry("InsufficientBalance".into()),
            ),
            (
                400,
                body("InvalidSignature"),
                Answer::Rejected("InvalidSignature".into()),
            ),
            (403, body("Forbidden"), Answer::Rejected("Forbidden".into())),
            (
                400,
                body("SomethingNew"),
                Answer::Rejected("SomethingNew".into()),
            ),
            (
                400,
                "not json".into(),
                Answer::Retry("status 400 with an unparseable body".into()),
            ),
            (
                400,
                r#"{"description":"no type"}"#.into(),
                Answer::Retry("status 400 with an unparseable body".into()),
            ),
            (
                429,
                body("TooManyRequests"),
                Answer::Retry("status 429".into()),
            ),
            (
                500,
                body("InvalidSignature"),
                Answer::Retry("status 500".into()),
            ),
            (503, String::new(), Answer::Retry("status 503".into())),
        ];
        for (status, text, expected) in cases {
            assert_eq!(classify(status, &text), expected, "{status} {text}");
        }
    }

    #[test]
    fn outcome_labels_match_the_registered_set() {
        let answers = [
            Answer::Accepted,
            Answer::Duplicate,
            Answer::Retry(String::new()),
            Answer::Rejected(String::new()),
        ];
        let labels: Vec<_> = answers.iter().map(Answer::outcome).collect();
        assert_eq!(labels, crate::telemetry::SUBMIT_OUTCOMES);
    }
}
