//! The wire side of the orderbook API: the `POST /api/v1/orders` body as the real API reads
//! it, the UID it answers with, the stored order `GET /api/v1/orders/{uid}` returns, and the
//! `{"errorType","description"}` error body.
//!
//! Order data, signing schemes, signature decoding, EIP-712 hashing and the 56-byte UID all
//! come from the `cowprotocol` crate. Its own `OrderCreation` is a client type (it requires
//! `from`, the full app-data document and its hash), while the server accepts more shapes, so
//! the body is read into a local wire struct and then into `cowprotocol::OrderData`.
//!
//! Signatures are decoded (their shape must fit the scheme) but never verified: engines under
//! test sign with EIP-1271 contracts the mock cannot call, and the mock trusts them. For
//! `eip712`/`ethsign` without `from` the owner is the recovered signer, as on the real API.
//!
//! The UID is the POST path's costliest step: `OrderData::uid` re-hashes the type string,
//! the domain and the three marker strings for every order. [`UidHasher`] computes the same EIP-712 digest with those parts
//! taken from the `cowprotocol` crate's constants and the domain separator hashed once; a test
//! holds it equal to `OrderData::uid` for every kind and balance.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::SystemTime;

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cowprotocol::{
    eip712_message_hash, BuyTokenDestination, DomainSeparator, Order, OrderClass, OrderData,
    OrderKind, OrderStatus, OrderUid, OrderUidParts, SellTokenSource, Signature, SignatureError,
    SigningScheme, GPV2_ORDER_TYPE_HASH,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::truth::OrderKey;

/// errorType of a body that is not a valid order JSON. The real API has no dedicated
/// errorType for this (its framework rejects the body); the mock keeps the same error shape.
pub const INVALID_JSON: &str = "InvalidJson";

/// An error answer in the orderbook's shape: `{"errorType": …, "description": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// HTTP status of the answer.
    #[serde(skip)]
    pub status: StatusCode,
    /// Machine-readable errorType.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// Human-readable description.
    pub description: String,
}

impl ApiError {
    /// A 400 answer.
    pub fn bad_request(error_type: &str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error_type, description)
    }

    /// An answer with any status.
    pub fn new(status: StatusCode, error_type: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            error_type: error_type.to_owned(),
            description: description.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// The `POST /api/v1/orders` body as it appears on the wire. Strings are read where they lie
/// in the body when they can be (no copy per field and request).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderCreationWire<'a> {
    sell_token: Address,
    buy_token: Address,
    #[serde(default)]
    receiver: Option<Address>,
    #[serde(deserialize_with = "u256_string")]
    sell_amount: U256,
    #[serde(deserialize_with = "u256_string")]
    buy_amount: U256,
    valid_to: u32,
    #[serde(borrow)]
    app_data: Cow<'a, str>,
    #[serde(default)]
    app_data_hash: Option<B256>,
    #[serde(deserialize_with = "u256_string")]
    fee_amount: U256,
    kind: OrderKind,
    partially_fillable: bool,
    #[serde(default)]
    sell_token_balance: SellTokenSource,
    #[serde(default)]
    buy_token_balance: BuyTokenDestination,
    signing_scheme: SigningScheme,
    signature: Bytes,
    #[serde(default)]
    from: Option<Address>,
    #[serde(default)]
    quote_id: Option<i64>,
}

/// Amounts are strings: decimal, or `0x`-prefixed hex. Parsed from the string as the
/// deserializer lends it (no owned copy).
fn u256_string<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
    struct Amount;
    impl serde::de::Visitor<'_> for Amount {
        type Value = U256;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<U256, E> {
            U256::from_str(s).map_err(|e| E::custom(format!("invalid amount {s:?}: {e}")))
        }
    }
    d.deserialize_str(Amount)
}

/// A parsed order ready to be stored.
#[derive(Clone, Debug)]
pub struct ParsedOrder {
    /// The 12 signed fields.
    pub data: OrderData,
    /// The owner (`from`, or the recovered ECDSA signer).
    pub owner: Address,
    /// The decoded signature.
    pub signature: Signature,
    /// The full app-data document, when the body carried one.
    pub full_app_data: Option<String>,
    /// The quote id, when given.
    pub quote_id: Option<i64>,
    /// The 56-byte UID under the settlement domain.
    pub uid: OrderUid,
}

impl ParsedOrder {
    /// The fields that tie this order to its on-chain event.
    pub fn key(&self) -> OrderKey {
        OrderKey {
            owner: self.owner,
            sell_token: self.data.sell_token,
            buy_token: self.data.buy_token,
            receiver: self.data.receiver.unwrap_or(Address::ZERO),
            sell_amount: self.data.sell_amount,
            buy_amount: self.data.buy_amount,
            app_data: self.data.app_data,
        }
    }

    /// The order as `GET /api/v1/orders/{uid}` returns it, freshly created.
    pub fn to_order(&self, full_app_data: Option<String>) -> Order {
        self.to_order_created_at(full_app_data, SystemTime::now())
    }

    /// The order as `GET /api/v1/orders/{uid}` returns it, created at `created`.
    pub fn to_order_created_at(&self, full_app_data: Option<String>, created: SystemTime) -> Order {
        let status = match self.signature.scheme() {
            SigningScheme::PreSign => OrderStatus::PresignaturePending,
            _ => OrderStatus::Open,
        };
        let class = if self.data.fee_amount.is_zero() {
            OrderClass::Limit
        } else {
            OrderClass::Market
        };
        Order {
            data: self.data,
            uid: self.uid,
            owner: self.owner,
            signing_scheme: self.signature.scheme(),
            signature: Bytes::from(self.signature.to_bytes()).to_string(),
            creation_date: humantime::format_rfc3339_millis(created).to_string(),
            status,
            class,
            executed_buy_amount: U256::ZERO,
            executed_sell_amount: U256::ZERO,
            executed_fee: None,
            executed_fee_token: None,
            invalidated: false,
            is_liquidity_order: false,
            full_app_data,
            quote: None,
            interactions: None,
            ethflow_data: None,
            onchain_order_data: None,
            onchain_user: None,
            settlement_contract: None,
        }
    }
}

/// The EIP-712 order UID under one domain, with everything that does not depend on the order
/// hashed once: the same value as `OrderData::uid`, at five Keccak permutations instead of a
/// dozen.
#[derive(Clone, Debug)]
pub struct UidHasher {
    separator: B256,
}

impl UidHasher {
    /// A hasher for `domain` (its separator is hashed here, once).
    pub fn new(domain: &DomainSeparator) -> Self {
        Self {
            separator: domain.separator(),
        }
    }

    /// `keccak256(typeHash ‖ the 12 encoded fields)`: the marker strings are the crate's
    /// precomputed `keccak256("sell")`, `keccak256("erc20")`, … constants.
    fn hash_struct(data: &OrderData) -> B256 {
        let mut words = [[0u8; 32]; 13];
        let address = |word: &mut [u8; 32], a: Address| word[12..].copy_from_slice(a.as_slice());
        words[0] = GPV2_ORDER_TYPE_HASH.0;
        address(&mut words[1], data.sell_token);
        address(&mut words[2], data.buy_token);
        address(&mut words[3], data.receiver.unwrap_or(Address::ZERO));
        words[4] = data.sell_amount.to_be_bytes();
        words[5] = data.buy_amount.to_be_bytes();
        words[6][28..].copy_from_slice(&data.valid_to.to_be_bytes());
        words[7] = data.app_data.0;
        words[8] = data.fee_amount.to_be_bytes();
        words[9] = match data.kind {
            OrderKind::Sell => OrderKind::SELL.0,
            OrderKind::Buy => OrderKind::BUY.0,
        };
        words[10][31] = u8::from(data.partially_fillable);
        words[11] = match data.sell_token_balance {
            SellTokenSource::Erc20 => SellTokenSource::ERC20.0,
            SellTokenSource::External => SellTokenSource::EXTERNAL.0,
            SellTokenSource::Internal => SellTokenSource::INTERNAL.0,
        };
        words[12] = match data.buy_token_balance {
            BuyTokenDestination::Erc20 => BuyTokenDestination::ERC20.0,
            BuyTokenDestination::Internal => BuyTokenDestination::INTERNAL.0,
        };
        keccak256(words.as_flattened())
    }

    /// The 56-byte UID of `data` signed by `owner`.
    pub fn uid(&self, data: &OrderData, owner: Address) -> OrderUid {
        let digest = eip712_message_hash(self.separator, Self::hash_struct(data));
        OrderUid::from_parts(digest, owner, data.valid_to)
    }
}

/// Reads a `POST /api/v1/orders` body and computes its UID under `domain`.
pub fn parse_order(body: &[u8], domain: &DomainSeparator) -> Result<ParsedOrder, ApiError> {
    parse_order_hashed(body, domain, &UidHasher::new(domain))
}

/// [`parse_order`] with the domain's [`UidHasher`] built once by the caller.
pub fn parse_order_hashed(
    body: &[u8],
    domain: &DomainSeparator,
    hasher: &UidHasher,
) -> Result<ParsedOrder, ApiError> {
    let wire: OrderCreationWire = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(INVALID_JSON, format!("invalid order body: {e}")))?;
    let (app_data, full_app_data) = app_data(&wire.app_data, wire.app_data_hash)?;
    let signature =
        Signature::from_bytes(wire.signing_scheme, &wire.signature).map_err(signature_error)?;
    let data = OrderData {
        sell_token: wire.sell_token,
        buy_token: wire.buy_token,
        receiver: wire.receiver,
        sell_amount: wire.sell_amount,
        buy_amount: wire.buy_amount,
        valid_to: wire.valid_to,
        app_data,
        fee_amount: wire.fee_amount,
        kind: wire.kind,
        partially_fillable: wire.partially_fillable,
        sell_token_balance: wire.sell_token_balance,
        buy_token_balance: wire.buy_token_balance,
    };
    let owner = owner(&data, &signature, wire.from, domain)?;
    Ok(ParsedOrder {
        uid: hasher.uid(&data, owner),
        data,
        owner,
        signature,
        full_app_data,
        quote_id: wire.quote_id,
    })
}

/// `appData` is either the 32-byte hash or the full document; `appDataHash`, when present,
/// must be keccak256 of that document.
fn app_data(app_data: &str, claimed: Option<B256>) -> Result<(B256, Option<String>), ApiError> {
    let as_hash = looks_like_hash(app_data)
        .then(|| B256::from_str(app_data).ok())
        .flatten();
    match (as_hash, claimed) {
        (Some(hash), None) => return Ok((hash, None)),
        (Some(hash), Some(claimed)) if hash == claimed => return Ok((hash, None)),
        _ => {}
    }
    if serde_json::from_str::<serde_json::Value>(app_data).is_err() {
        return Err(ApiError::bad_request(
            "InvalidAppData",
            "appData is neither a 32-byte hash nor a JSON document",
        ));
    }
    let hash = keccak256(app_data.as_bytes());
    if let Some(claimed) = claimed {
        if claimed != hash {
            return Err(ApiError::bad_request(
                "AppDataHashMismatch",
                format!("appDataHash {claimed} is not keccak256 of appData ({hash})"),
            ));
        }
    }
    Ok((hash, Some(app_data.to_owned())))
}

fn looks_like_hash(s: &str) -> bool {
    s.len() == 66 && s.starts_with("0x")
}

fn signature_error(e: SignatureError) -> ApiError {
    match e {
        SignatureError::Eip1271TooLong { .. } => {
            ApiError::bad_request("InvalidEip1271Signature", e.to_string())
        }
        other => ApiError::bad_request("InvalidSignature", other.to_string()),
    }
}

/// `from` when given (trusted, not checked against the signature); otherwise the ECDSA
/// signer. On-chain schemes (`eip1271`, `presign`) need `from`.
fn owner(
    data: &OrderData,
    signature: &Signature,
    from: Option<Address>,
    domain: &DomainSeparator,
) -> Result<Address, ApiError> {
    if let Some(from) = from {
        return Ok(from);
    }
    match data.recover_signer(domain, signature) {
        Ok(Some(recovered)) => Ok(recovered.signer),
        Ok(None) => Err(ApiError::bad_request(
            "MissingFrom",
            "From address must be specified for on-chain signature",
        )),
        Err(e) => Err(ApiError::bad_request("InvalidSignature", e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowprotocol::{settlement_domain, EMPTY_APP_DATA_HASH, GPV2_SETTLEMENT};
    use serde_json::json;

    fn domain() -> DomainSeparator {
        settlement_domain(11_155_111, GPV2_SETTLEMENT)
    }

    fn body() -> serde_json::Value {
        json!({
            "sellToken": "0x0101010101010101010101010101010101010101",
            "buyToken": "0x0202020202020202020202020202020202020202",
            "receiver": "0x0303030303030303030303030303030303030303",
            "sellAmount": "1000",
            "buyAmount": "0x10",
            "validTo": 1_700_000_000u32,
            "appData": EMPTY_APP_DATA_HASH.to_string(),
            "feeAmount": "0",
            "kind": "sell",
            "partiallyFillable": false,
            "signingScheme": "eip1271",
            "signature": "0xc0ffee",
            "from": "0x7099797051812dc3a010c7d01b50e0d17dc79c80",
        })
    }

    fn with(mut v: serde_json::Value, field: &str, value: serde_json::Value) -> serde_json::Value {
        v[field] = value;
        v
    }

    fn without(mut v: serde_json::Value, field: &str) -> serde_json::Value {
        if let Some(map) = v.as_object_mut() {
            map.remove(field);
        }
        v
    }

    fn parse(v: &serde_json::Value) -> Result<ParsedOrder, ApiError> {
        parse_order(v.to_string().as_bytes(), &domain())
    }

    #[test]
    fn the_uid_hasher_agrees_with_the_crate_for_every_kind_and_balance() {
        let domains = [domain(), settlement_domain(1, GPV2_SETTLEMENT)];
        let owner = Address::repeat_byte(0x70);
        let base = parse(&body()).expect("valid body").data;
        let mut checked = 0;
        for domain in &domains {
            let hasher = UidHasher::new(domain);
            for kind in [OrderKind::Sell, OrderKind::Buy] {
                for sell in [
                    SellTokenSource::Erc20,
                    SellTokenSource::External,
                    SellTokenSource::Internal,
                ] {
                    for buy in [BuyTokenDestination::Erc20, BuyTokenDestination::Internal] {
                        for (receiver, partial, amount) in [
                            (None, false, U256::from(1u64)),
                            (Some(Address::repeat_byte(3)), true, U256::MAX),
                        ] {
                            let data = OrderData {
                                kind,
                                sell_token_balance: sell,
                                buy_token_balance: buy,
                                receiver,
                                partially_fillable: partial,
                                sell_amount: amount,
                                fee_amount: amount >> 3,
                                valid_to: u32::MAX - checked,
                                ..base
                            };
                            assert_eq!(
                                hasher.uid(&data, owner),
                                data.uid(domain, owner),
                                "{data:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 48);
    }

    #[test]
    fn parses_the_wire_encodings() {
        let order = parse(&body()).expect("valid body");
        assert_eq!(order.data.sell_amount, U256::from(1000));
        assert_eq!(order.data.buy_amount, U256::from(16));
        assert_eq!(order.data.app_data, EMPTY_APP_DATA_HASH);
        assert_eq!(order.data.sell_token_balance, SellTokenSource::Erc20);
        assert_eq!(order.data.buy_token_balance, BuyTokenDestination::Erc20);
        assert_eq!(order.signature.scheme(), SigningScheme::Eip1271);
        assert_eq!(order.full_app_data, None);
        assert_eq!(order.uid.as_slice()[32..52], order.owner.as_slice()[..]);
        assert_eq!(order.uid.as_slice()[52..], 1_700_000_000u32.to_be_bytes());
    }

    #[test]
    fn rejections_table() {
        let doc = r#"{"appCode":"x"}"#;
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (without(body(), "sellToken"), INVALID_JSON),
            (with(body(), "sellAmount", json!(1000)), INVALID_JSON),
            (with(body(), "sellAmount", json!("12abc")), INVALID_JSON),
            (with(body(), "sellToken", json!("0x1234")), INVALID_JSON),
            (with(body(), "validTo", json!(-1)), INVALID_JSON),
            (with(body(), "kind", json!("sideways")), INVALID_JSON),
            (with(body(), "signingScheme", json!("rsa")), INVALID_JSON),
            (with(body(), "signature", json!("0xzz")), INVALID_JSON),
            (with(body(), "appData", json!("not json")), "InvalidAppData"),
            (
                with(
                    with(body(), "appData", json!(doc)),
                    "appDataHash",
                    json!(EMPTY_APP_DATA_HASH),
                ),
                "AppDataHashMismatch",
            ),
            (without(body(), "from"), "MissingFrom"),
            (
                without(
                    with(
                        with(body(), "signingScheme", json!("presign")),
                        "signature",
                        json!("0x"),
                    ),
                    "from",
                ),
                "MissingFrom",
            ),
            (
                with(body(), "signingScheme", json!("eip712")),
                "InvalidSignature",
            ),
            (
                with(
                    with(body(), "signingScheme", json!("presign")),
                    "signature",
                    json!("0x01"),
                ),
                "InvalidSignature",
            ),
        ];
        for (v, expected) in cases {
            let err = parse(&v).expect_err(&v.to_string());
            assert_eq!(err.error_type, expected, "{v}: {}", err.description);
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
        let garbage = parse_order(b"{not json", &domain()).expect_err("garbage");
        assert_eq!(garbage.error_type, INVALID_JSON);
    }

    #[test]
    fn app_data_as_document_with_or_without_hash() {
        let doc = r#"{"appCode":"cowload","metadata":{}}"#;
        let hash = keccak256(doc.as_bytes());
        for v in [
            with(body(), "appData", json!(doc)),
            with(
                with(body(), "appData", json!(doc)),
                "appDataHash",
                json!(hash),
            ),
        ] {
            let order = parse(&v).expect("document form");
            assert_eq!(order.data.app_data, hash);
            assert_eq!(order.full_app_data.as_deref(), Some(doc));
        }
        let both = with(body(), "appDataHash", json!(EMPTY_APP_DATA_HASH));
        assert_eq!(
            parse(&both).expect("hash twice").data.app_data,
            EMPTY_APP_DATA_HASH
        );
    }

    #[test]
    fn absent_and_null_receiver_mean_zero_in_the_key() {
        for v in [
            without(body(), "receiver"),
            with(body(), "receiver", json!(null)),
        ] {
            let order = parse(&v).expect("receiver optional");
            assert_eq!(order.data.receiver, None);
            assert_eq!(order.key().receiver, Address::ZERO);
        }
    }

    #[test]
    fn ecdsa_owner_is_recovered_when_from_is_absent() {
        use alloy::signers::local::PrivateKeySigner;
        let signer = PrivateKeySigner::random();
        let unsigned = parse(&body()).expect("valid").data;
        let signature = unsigned
            .sign(cowprotocol::EcdsaSigningScheme::Eip712, &domain(), &signer)
            .expect("sign");
        let v = without(
            with(
                with(body(), "signingScheme", json!("eip712")),
                "signature",
                json!(Bytes::from(signature.to_bytes())),
            ),
            "from",
        );
        let order = parse(&v).expect("signed");
        assert_eq!(order.owner, signer.address());
        assert_eq!(order.uid, unsigned.uid(&domain(), signer.address()));
    }

    #[test]
    fn error_body_has_the_real_shape() {
        let e = ApiError::bad_request("DuplicatedOrder", "order already exists");
        let v = serde_json::to_value(&e).expect("serialise");
        assert_eq!(
            v,
            json!({"errorType": "DuplicatedOrder", "description": "order already exists"})
        );
    }
}
