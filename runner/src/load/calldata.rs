//! Building one block's transactions: `ComposableCoW.create(params, true)` for
//! TWAPs and `CoWSwapEthFlow.createOrder` for EthFlow, pre-signed (raw
//! transactions are linear in Anvil, `eth_sendTransaction` is not) with explicit
//! nonces. Everything is derived from the seed and a running event index, so the
//! same scenario and seed give byte-identical calldata.

use std::collections::HashMap;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{SolCall, SolValue};
use cowload_spec::{EventKind, PerKind};
use cowprotocol::composable::{ComposableCoW, ConditionalOrderParams, TwapStaticInput};
use cowprotocol::contracts::{CoWSwapEthFlow, EthFlowOrderData};
use cowprotocol::{settlement_domain, BuyTokenDestination, OrderData, OrderKind, SellTokenSource};
use mock_orderbook::{ExactOrder, OrderKey, TwapSchedule};

use super::accounts::{Account, Accounts};
use crate::chain::Contracts;

/// Gas limit of every load transaction (both use ~56k; the rest is headroom).
pub const TX_GAS_LIMIT: u64 = 80_000;
/// Fee cap of every load transaction; Anvil runs with base fee 0.
const MAX_FEE_PER_GAS: u128 = 1_000_000_000;
/// Smallest sell amount; the event index is added so every order is unique.
const BASE_SELL_AMOUNT: u64 = 1_000_000_000_000_000;

/// One signed transaction and the order an engine should turn its event into.
#[derive(Debug, Clone)]
pub struct SignedLoadTx {
    pub kind: EventKind,
    pub hash: B256,
    pub raw: Bytes,
    pub sender: Address,
    pub nonce: u64,
    pub order: OrderKey,
    /// The exact order the event requires (a TWAP's: per part, but for `validTo`).
    pub exact: Option<ExactOrder>,
    /// The TWAP's parts (t0, n, t as in its static input), for a TWAP.
    pub twap: Option<TwapSchedule>,
}

/// What the builder needs to know about the scenario.
#[derive(Debug, Clone)]
pub struct Shape {
    pub seed: u64,
    pub chain_id: u64,
    pub contracts: Contracts,
    pub twap_parts: u64,
    pub twap_part_seconds: u64,
    pub ethflow_valid_seconds: u64,
}

/// Builds blocks of load transactions; keeps the running event index.
pub struct Builder {
    shape: Shape,
    buy_token: Address,
    next_event: u64,
}

impl Builder {
    pub fn new(shape: Shape) -> Self {
        let buy_token = seeded_address(shape.seed, b"buy-token", 0);
        Self {
            shape,
            buy_token,
            next_event: 0,
        }
    }

    /// The transactions of one block to be mined at `block_timestamp`,
    /// round-robin over the accounts, advancing their nonces. Nonces are
    /// assigned in order first; signing, the costly part, is then spread over
    /// the machine's cores.
    pub fn block(
        &mut self,
        block_timestamp: u64,
        per_block: &PerKind<u32>,
        accounts: &mut Accounts,
    ) -> Vec<SignedLoadTx> {
        let mut unsigned = Vec::with_capacity(per_block.total() as usize);
        for (kind, &count) in per_block.iter() {
            let senders = &mut accounts[kind];
            for _ in 0..count {
                let index = self.take_event();
                let at = (index % senders.len() as u64) as usize;
                let sender = &mut senders[at];
                unsigned.push(self.event(kind, index, block_timestamp, sender));
            }
        }
        sign_all(unsigned, accounts)
    }

    /// The transaction that emits event number `index` of `kind`.
    fn event(
        &self,
        kind: EventKind,
        index: u64,
        block_timestamp: u64,
        sender: &mut Account,
    ) -> Unsigned {
        match kind {
            EventKind::Twap => self.twap(index, block_timestamp, sender),
            EventKind::EthFlow => self.ethflow(index, block_timestamp, sender),
        }
    }

    fn take_event(&mut self) -> u64 {
        let index = self.next_event;
        self.next_event += 1;
        index
    }

    fn twap(&self, index: u64, block_timestamp: u64, owner: &mut Account) -> Unsigned {
        let data = TwapStaticInput {
            sellToken: self.shape.contracts.weth,
            buyToken: self.buy_token,
            receiver: seeded_address(self.shape.seed, b"twap-receiver", index),
            partSellAmount: U256::from(BASE_SELL_AMOUNT + index),
            minPartLimit: U256::from(1 + index),
            // Strictly before the block it is mined in: tradeable from that block on.
            t0: U256::from(block_timestamp - 1),
            n: U256::from(self.shape.twap_parts),
            t: U256::from(self.shape.twap_part_seconds),
            span: U256::ZERO,
            appData: cowprotocol::EMPTY_APP_DATA_HASH,
        };
        let exact = self.twap_exact(&data, owner.address);
        let order = OrderKey {
            owner: owner.address,
            sell_token: data.sellToken,
            buy_token: data.buyToken,
            receiver: data.receiver,
            sell_amount: data.partSellAmount,
            buy_amount: data.minPartLimit,
            app_data: data.appData,
        };
        let call = ComposableCoW::createCall {
            params: ConditionalOrderParams {
                handler: self.shape.contracts.twap_handler,
                salt: seeded_word(self.shape.seed, b"twap-salt", index),
                staticInput: data.abi_encode().into(),
            },
            dispatch: true,
        };
        let to = self.shape.contracts.composable_cow;
        let mut unsigned = self.unsigned(
            EventKind::Twap,
            owner,
            to,
            U256::ZERO,
            call.abi_encode(),
            order,
        );
        unsigned.exact = Some(exact);
        unsigned.twap = Some(TwapSchedule {
            t0: block_timestamp - 1,
            n: self.shape.twap_parts,
            t: self.shape.twap_part_seconds,
        });
        unsigned
    }

    fn ethflow(&self, index: u64, block_timestamp: u64, sender: &mut Account) -> Unsigned {
        let valid_to = block_timestamp + self.shape.ethflow_valid_seconds;
        let order_data = EthFlowOrderData {
            buyToken: self.buy_token,
            receiver: seeded_address(self.shape.seed, b"ethflow-receiver", index),
            sellAmount: U256::from(BASE_SELL_AMOUNT + index),
            buyAmount: U256::from(1 + index),
            appData: cowprotocol::EMPTY_APP_DATA_HASH,
            feeAmount: U256::ZERO,
            validTo: u32::try_from(valid_to).unwrap_or(u32::MAX),
            partiallyFillable: false,
            quoteId: index as i64,
        };
        let order = OrderKey {
            owner: self.shape.contracts.eth_flow,
            sell_token: self.shape.contracts.weth,
            buy_token: order_data.buyToken,
            receiver: order_data.receiver,
            sell_amount: order_data.sellAmount,
            buy_amount: order_data.buyAmount,
            app_data: order_data.appData,
        };
        let value = order_data.sellAmount + order_data.feeAmount;
        let exact = self.ethflow_exact(&order_data);
        let call = CoWSwapEthFlow::createOrderCall { order: order_data };
        let to = self.shape.contracts.eth_flow;
        let mut unsigned = self.unsigned(
            EventKind::EthFlow,
            sender,
            to,
            value,
            call.abi_encode(),
            order,
        );
        unsigned.exact = Some(exact);
        unsigned
    }

    /// The one order a `createOrder` event allows: the contract emits the
    /// user's order as a sell of WETH, owned by the EthFlow contract, valid
    /// until `u32::MAX` (the user's own expiry is enforced on chain), with ERC-20
    /// balances (`EthFlowOrder.toCoWSwapOrder`).
    fn ethflow_exact(&self, user: &EthFlowOrderData) -> ExactOrder {
        let contracts = &self.shape.contracts;
        self.exact(
            OrderData {
                sell_token: contracts.weth,
                buy_token: user.buyToken,
                receiver: (user.receiver != Address::ZERO).then_some(user.receiver),
                sell_amount: user.sellAmount,
                buy_amount: user.buyAmount,
                valid_to: u32::MAX,
                app_data: user.appData,
                fee_amount: user.feeAmount,
                kind: OrderKind::Sell,
                partially_fillable: user.partiallyFillable,
                sell_token_balance: SellTokenSource::Erc20,
                buy_token_balance: BuyTokenDestination::Erc20,
            },
            contracts.eth_flow,
        )
    }

    /// Every part's order of a TWAP but for `validTo` (the mock fills in each
    /// part's): the TWAP handler's `getTradeableOrder` sells `partSellAmount`
    /// for at least `minPartLimit`, fee 0, fill-or-kill, ERC-20 balances, owned
    /// by the TWAP's owner. The e2e tests hold it to what the contract returns:
    /// the reference engine posts exactly what `getTradeableOrderWithSignature`
    /// gives it, and a part that differs would be `mismatched`.
    fn twap_exact(&self, data: &TwapStaticInput, owner: Address) -> ExactOrder {
        self.exact(
            OrderData {
                sell_token: data.sellToken,
                buy_token: data.buyToken,
                receiver: (data.receiver != Address::ZERO).then_some(data.receiver),
                sell_amount: data.partSellAmount,
                buy_amount: data.minPartLimit,
                valid_to: 0,
                app_data: data.appData,
                fee_amount: U256::ZERO,
                kind: OrderKind::Sell,
                partially_fillable: false,
                sell_token_balance: SellTokenSource::Erc20,
                buy_token_balance: BuyTokenDestination::Erc20,
            },
            owner,
        )
    }

    fn exact(&self, order: OrderData, owner: Address) -> ExactOrder {
        ExactOrder {
            order,
            owner,
            domain: settlement_domain(self.shape.chain_id, self.shape.contracts.settlement),
        }
    }

    fn unsigned(
        &self,
        kind: EventKind,
        account: &mut Account,
        to: Address,
        value: U256,
        input: Vec<u8>,
        order: OrderKey,
    ) -> Unsigned {
        let nonce = account.nonce;
        account.nonce += 1;
        let tx = TxEip1559 {
            chain_id: self.shape.chain_id,
            nonce,
            gas_limit: TX_GAS_LIMIT,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input: input.into(),
        };
        Unsigned {
            kind,
            sender: account.address,
            tx,
            order,
            exact: None,
            twap: None,
        }
    }
}

/// A load transaction with its nonce fixed, waiting for its signature.
struct Unsigned {
    kind: EventKind,
    sender: Address,
    tx: TxEip1559,
    order: OrderKey,
    exact: Option<ExactOrder>,
    twap: Option<TwapSchedule>,
}

/// Signs every transaction with its sender's key, on all cores, keeping order.
fn sign_all(unsigned: Vec<Unsigned>, accounts: &Accounts) -> Vec<SignedLoadTx> {
    let keys: HashMap<Address, &Account> = accounts
        .values()
        .flatten()
        .map(|a| (a.address, a))
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = unsigned.len().div_ceil(workers).max(1);
    let mut parts: Vec<Vec<Unsigned>> = Vec::new();
    let mut rest = unsigned;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let keys = &keys;
                scope.spawn(move || {
                    part.into_iter()
                        .map(|u| {
                            let account = keys[&u.sender];
                            sign(u, account)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread panicked"))
            .collect()
    })
}

fn sign(unsigned: Unsigned, account: &Account) -> SignedLoadTx {
    let nonce = unsigned.tx.nonce;
    let signature = account
        .signer
        .sign_hash_sync(&unsigned.tx.signature_hash())
        .expect("signing with a local key cannot fail");
    let envelope = TxEnvelope::from(unsigned.tx.into_signed(signature));
    SignedLoadTx {
        kind: unsigned.kind,
        hash: *envelope.tx_hash(),
        raw: envelope.encoded_2718().into(),
        sender: unsigned.sender,
        nonce,
        order: unsigned.order,
        exact: unsigned.exact,
        twap: unsigned.twap,
    }
}

fn seeded_word(seed: u64, tag: &[u8], index: u64) -> B256 {
    let mut material = b"cowload/".to_vec();
    material.extend_from_slice(tag);
    material.extend_from_slice(&seed.to_be_bytes());
    material.extend_from_slice(&index.to_be_bytes());
    keccak256(material)
}

fn seeded_address(seed: u64, tag: &[u8], index: u64) -> Address {
    Address::from_word(seeded_word(seed, tag, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::accounts::derive;

    fn shape(seed: u64) -> Shape {
        Shape {
            seed,
            chain_id: 11_155_111,
            contracts: Contracts {
                composable_cow: cowprotocol::COMPOSABLE_COW,
                twap_handler: cowprotocol::TWAP_HANDLER,
                fallback_handler: cowprotocol::EXTENSIBLE_FALLBACK_HANDLER,
                eth_flow: Address::repeat_byte(0xba),
                weth: Address::repeat_byte(0xff),
                settlement: Address::repeat_byte(0x90),
            },
            twap_parts: 10,
            twap_part_seconds: 60,
            ethflow_valid_seconds: 3600,
        }
    }

    fn build(seed: u64) -> Vec<SignedLoadTx> {
        let mut accounts = PerKind::from_fn(|kind| derive(kind, seed, 2));
        let mut builder = Builder::new(shape(seed));
        let per_block = PerKind::from([3, 3]);
        let mut all = builder.block(1_800_000_100, &per_block, &mut accounts);
        all.extend(builder.block(1_800_000_101, &per_block, &mut accounts));
        all
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a: Vec<Bytes> = build(1).into_iter().map(|t| t.raw).collect();
        let b: Vec<Bytes> = build(1).into_iter().map(|t| t.raw).collect();
        let c: Vec<Bytes> = build(2).into_iter().map(|t| t.raw).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn nonces_are_explicit_and_consecutive_per_sender() {
        let txs = build(1);
        assert_eq!(txs.len(), 12);
        for sender in txs.iter().map(|t| t.sender) {
            let nonces: Vec<u64> = txs
                .iter()
                .filter(|t| t.sender == sender)
                .map(|t| t.nonce)
                .collect();
            assert_eq!(nonces, (0..nonces.len() as u64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn every_order_is_unique_and_calldata_is_well_formed() {
        let txs = build(1);
        let mut keys: Vec<_> = txs.iter().map(|t| t.order.clone()).collect();
        let before = keys.len();
        keys.sort_by_key(|k| (k.sell_amount, k.receiver));
        keys.dedup();
        assert_eq!(keys.len(), before);
        for tx in &txs {
            let envelope = <TxEnvelope as alloy::eips::eip2718::Decodable2718>::decode_2718(
                &mut tx.raw.as_ref(),
            )
            .unwrap();
            let input = alloy::consensus::Transaction::input(&envelope);
            match tx.kind {
                EventKind::Twap => {
                    let call = ComposableCoW::createCall::abi_decode(input).unwrap();
                    assert!(call.dispatch);
                    let data = TwapStaticInput::abi_decode(&call.params.staticInput).unwrap();
                    assert!(data.t0 < U256::from(1_800_000_100u64 + 1));
                }
                EventKind::EthFlow => {
                    let call = CoWSwapEthFlow::createOrderCall::abi_decode(input).unwrap();
                    let value = alloy::consensus::Transaction::value(&envelope);
                    assert_eq!(value, call.order.sellAmount + call.order.feeAmount);
                }
            }
        }
    }
}
