//! The provider's side of the on-chain storage market: quotes, deal checks, proofs, earnings.
//!
//! A provider with a [`Market`] stores data only for a funded deal naming it: the buyer asks for
//! a quote (a `QuoteRequest` frame, answered with terms signed by the provider's chain key),
//! opens the deal on chain, then uploads with the deal id. The provider checks the deal before
//! accepting a byte (it exists, names this provider, is active, has this size) and, before the
//! object becomes visible, that the received bytes hash to the deal's root (`chain::proof`).
//!
//! The `Prover` task then proves every stored deal once per period, always from the bytes on
//! disk, and reports each outcome as an [`Event::Proof`]. It touches the disk only once a
//! period's window is open on chain: then one read of the object (`Store::audit`) both checks
//! every chunk against the manifest (a flipped byte is reported as [`Event::Corrupt`] and never
//! served again) and builds the proof (which the chain then rejects).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use alloy::primitives::Address;
use alloy::primitives::{B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use chain::contracts::{Contracts, Deployment, StorageMarket, signer_provider};
use tokio::sync::broadcast;

use crate::ContentId;
use crate::node::Event;
use crate::store::{State, Store};
use crate::wire::QuoteTerms;

/// A provider's price list.
#[derive(Debug, Clone)]
pub struct Terms {
    /// Seconds per proof period. Default: 3600.
    pub period_duration: u32,
    /// Periods per deal. Default: 24.
    pub num_periods: u32,
    /// Price per period in token base units, whatever the size. Default: 10^16 (0.01 token).
    pub price_per_period: u128,
    /// How long a quote stays valid. Default: one hour.
    pub quote_ttl: Duration,
}

impl Default for Terms {
    fn default() -> Self {
        Self {
            period_duration: 3600,
            num_periods: 24,
            price_per_period: 10u128.pow(16),
            quote_ttl: Duration::from_secs(3600),
        }
    }
}

/// Why a market operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// A chain call failed.
    #[error("chain call {phase} failed: {detail}")]
    Chain {
        /// What was being done.
        phase: &'static str,
        /// The cause.
        detail: String,
    },
    /// The deal does not allow this upload.
    #[error("deal {deal}: {reason}")]
    Deal {
        /// The deal id.
        deal: u64,
        /// What is wrong.
        reason: String,
    },
    /// Signing a quote failed.
    #[error("signing a quote: {0}")]
    Sign(String),
    /// A withdrawal was asked for with no earnings on chain.
    #[error(
        "provider {provider} has no earnings to withdraw yet; earnings accrue when a proof is \
         accepted for a period of a funded deal"
    )]
    NothingToWithdraw {
        /// The provider's chain address.
        provider: Address,
    },
    /// A buyer asked for a refund that is not owed.
    #[error(
        "no refund is owed to {buyer}: refunds come from deals ended early (the periods not yet \
         started) and from periods a provider missed"
    )]
    NoRefund {
        /// The buyer's chain address.
        buyer: Address,
    },
    /// The stake asked for is below the Registry's minimum.
    #[error(
        "a stake of {} CAIRN is below the Registry's minimum of {} CAIRN; register with a \
         larger stake",
        format_tokens(*stake),
        format_tokens(*minimum)
    )]
    StakeTooLow {
        /// Token base units asked for.
        stake: U256,
        /// The Registry's `minStake`, in token base units.
        minimum: U256,
    },
    /// The provider's address cannot pay for its registration.
    #[error(
        "the provider address {provider} holds {} CAIRN and {} ETH; registering needs {} CAIRN \
         for the stake and some ETH for gas: send them to {provider}",
        format_tokens(*tokens),
        format_tokens(*gas),
        format_tokens(*stake)
    )]
    Unfunded {
        /// The provider's chain address (its key signs quotes and proofs and pays for gas).
        provider: Address,
        /// Its token balance, in base units.
        tokens: U256,
        /// The stake asked for, in token base units.
        stake: U256,
        /// Its ether balance, in wei.
        gas: U256,
    },
    /// The chain has no such deal: the store holds data for a deal of another chain or another
    /// deployment (say, a devnet that was started afresh).
    #[error(
        "deal {deal} is not on this chain: the store holds its data from another chain or \
         deployment (a devnet started afresh?); it is not proven here"
    )]
    UnknownDeal {
        /// The deal id.
        deal: u64,
    },
    /// The node stopped before it could be announced.
    #[error("the node stopped before it was announced in the Registry")]
    NodeStopped,
    /// Reading one of the files the market is set up from (deployment, key) failed.
    #[error("reading {path}: {source}")]
    Data {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn chain_err(phase: &'static str) -> impl FnOnce(alloy::contract::Error) -> MarketError {
    move |e| MarketError::Chain {
        phase,
        detail: e.to_string(),
    }
}

fn receipt_err(
    phase: &'static str,
) -> impl FnOnce(alloy::providers::PendingTransactionError) -> MarketError {
    move |e| MarketError::Chain {
        phase,
        detail: e.to_string(),
    }
}

/// Sends `$call`, waits for its receipt and requires success: the receipt, or a
/// [`MarketError`] naming `$phase` (the send, the receipt, or a revert).
macro_rules! transact {
    ($phase:expr, $call:expr) => {{
        let receipt = $call
            .send()
            .await
            .map_err(chain_err($phase))?
            .get_receipt()
            .await
            .map_err(receipt_err($phase))?;
        if !receipt.status() {
            return Err(MarketError::Chain {
                phase: $phase,
                detail: "the transaction reverted".into(),
            });
        }
        receipt
    }};
}

/// A provider's handle on the market (cheap to clone).
#[derive(Clone)]
pub struct Market {
    inner: Arc<Inner>,
    /// Where earnings are paid, if not to the provider's own address.
    payout: Option<Address>,
}

struct Inner {
    contracts: Contracts,
    key: PrivateKeySigner,
    deployment: Deployment,
    terms: Terms,
    /// Held while one of the account's transactions is sent and mined: the prover, the
    /// announcer, a withdrawal and the node's own purchases ([`Market::buyer`]) run in tasks of
    /// their own, and each transaction's nonce is the account's pending count, so two sent at
    /// once would get the same one.
    sending: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Market {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Market")
            .field("provider", &self.inner.key.address())
            .field("market", &self.inner.deployment.market)
            .field("payout", &self.payout)
            .finish_non_exhaustive()
    }
}

/// A completed earnings withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// Token base units paid.
    pub amount: U256,
    /// Where they were paid (the provider's payout address in the `Registry`).
    pub payout: Address,
    /// The `withdrawEarnings` transaction.
    pub transaction: B256,
}

/// The `E` event `receipt` carries, or an error naming `phase` and the event.
fn event<E: alloy::sol_types::SolEvent>(
    receipt: &alloy::rpc::types::TransactionReceipt,
    phase: &'static str,
) -> Result<alloy::primitives::Log<E>, MarketError> {
    receipt.decoded_log::<E>().ok_or_else(|| {
        let name = E::SIGNATURE.split('(').next().unwrap_or(E::SIGNATURE);
        MarketError::Chain {
            phase,
            detail: format!("no {name} event in the receipt"),
        }
    })
}

/// Addresses a provider lists in the `Registry` (`Registry.MAX_MULTIADDRS`).
pub const MAX_REGISTRY_ADDRS: usize = 8;
/// Longest address the `Registry` takes, in bytes (`Registry.MAX_MULTIADDR_LENGTH`).
pub const MAX_REGISTRY_ADDR_LEN: usize = 256;

/// What [`Market::announce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Registered now, with its stake; earnings are paid to `payout`.
    Registered {
        /// The entry's payout address.
        payout: Address,
    },
    /// Already registered; its peer id, addresses, capacity or payout were updated.
    Updated {
        /// The entry's payout address.
        payout: Address,
    },
    /// Already registered with this entry.
    Unchanged {
        /// The entry's payout address.
        payout: Address,
    },
    /// Not registered, and no stake was given to register with.
    Unregistered,
}

impl Registration {
    /// Where the provider's earnings are paid, once it is registered.
    pub fn payout(&self) -> Option<Address> {
        match self {
            Self::Registered { payout } | Self::Updated { payout } | Self::Unchanged { payout } => {
                Some(*payout)
            }
            Self::Unregistered => None,
        }
    }
}

/// An active provider as the `Registry` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedProvider {
    /// Its chain address.
    pub address: Address,
    /// Its libp2p peer id.
    pub peer: libp2p::PeerId,
    /// The addresses it announced (the undecodable ones left out).
    pub addrs: Vec<libp2p::Multiaddr>,
    /// Bytes it offers.
    pub storage_bytes: u64,
}

/// A deal the buyer ended early.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndedDeal {
    /// The deal.
    pub deal: u64,
    /// Its new end: periods from here on were refunded. The period under way stays with the
    /// deal: paid if the provider proves it, refunded (and the provider slashed) if it misses.
    pub end_period: u32,
    /// Token base units added to the buyer's refund balance.
    #[serde(serialize_with = "ser_u256")]
    pub refund: U256,
    /// The `endDeal` transaction.
    pub transaction: B256,
}

/// A refund paid to the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPaid {
    /// Token base units paid.
    pub amount: U256,
    /// The `withdrawRefund` transaction.
    pub transaction: B256,
}

fn ser_u256<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What the provider checked about a deal before accepting its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedDeal {
    /// The deal id.
    pub deal: u64,
    /// The piece's committed root.
    pub root: B256,
}

impl Market {
    /// A market handle signing as `key` on `deployment` through `rpc_url`.
    pub fn new(
        rpc_url: &str,
        deployment: Deployment,
        key: PrivateKeySigner,
        terms: Terms,
    ) -> Result<Self, MarketError> {
        let provider = signer_provider(rpc_url, key.clone()).map_err(|e| MarketError::Chain {
            phase: "connect",
            detail: e.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                contracts: Contracts::new(&deployment, provider),
                key,
                deployment,
                terms,
                sending: Arc::default(),
            }),
            payout: None,
        })
    }

    /// Has [`Market::announce`] name `payout` as the address the provider's earnings are paid
    /// to: at registration, and by updating an entry that names another. Without it a new entry
    /// names the provider's own address and an existing entry keeps its payout.
    #[must_use]
    pub fn with_payout(mut self, payout: Address) -> Self {
        self.payout = Some(payout);
        self
    }

    /// A market handle from the CLI's inputs: a deployment file written by `cairn devnet
    /// --deployment-file` (or [`Deployment::write`]) and a file holding a hex private key.
    pub fn from_files(
        rpc_url: &str,
        deployment: &std::path::Path,
        key_file: &std::path::Path,
        terms: Terms,
    ) -> Result<Self, MarketError> {
        let (deployment, key) = read_files(deployment, key_file)?;
        Self::new(rpc_url, deployment, key, terms)
    }

    /// The provider's chain address.
    pub fn address(&self) -> Address {
        self.inner.key.address()
    }

    /// A buyer on the same deployment signing as the provider's own account: a node that
    /// sells storage buys it from others with the same key, its transactions sent one at a
    /// time with the provider's.
    pub fn buyer(&self) -> Buyer {
        Buyer {
            contracts: self.inner.contracts.clone(),
            deployment: self.inner.deployment.clone(),
            key: self.inner.key.clone(),
            sending: Arc::clone(&self.inner.sending),
        }
    }

    /// The deployment this handle works on (chain id, contract addresses).
    pub fn deployment(&self) -> &Deployment {
        &self.inner.deployment
    }

    /// Signs a quote for `buyer` to store `size` bytes committed to by `root`. It expires
    /// [`Terms::quote_ttl`] after the later of this machine's clock and the chain's (the
    /// latest block's time, when the chain answers): `openDeal` checks the expiry against the
    /// chain's clock, which may run ahead of this machine's.
    pub async fn quote(
        &self,
        buyer: Address,
        root: B256,
        size: u64,
    ) -> Result<QuoteTerms, MarketError> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = match self.chain_time().await {
            Ok(chain) => wall.max(chain),
            Err(err) => {
                tracing::debug!(%err, "quoting on this machine's clock alone");
                wall
            }
        };
        self.sign_quote(buyer, root, size, now)
    }

    fn sign_quote(
        &self,
        buyer: Address,
        root: B256,
        size: u64,
        now: u64,
    ) -> Result<QuoteTerms, MarketError> {
        let t = &self.inner.terms;
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| MarketError::Sign(e.to_string()))?;
        let quote = StorageMarket::Quote {
            provider: self.address(),
            buyer,
            root,
            size,
            periodDuration: t.period_duration,
            numPeriods: t.num_periods,
            pricePerPeriod: t.price_per_period,
            expiry: now + t.quote_ttl.as_secs(),
            salt: U256::from_be_bytes(salt),
        };
        let signature = quote
            .sign(
                &self.inner.key,
                self.inner.deployment.chain_id,
                self.inner.deployment.market,
            )
            .map_err(|e| MarketError::Sign(e.to_string()))?;
        let signature: [u8; 65] = signature
            .as_ref()
            .try_into()
            .map_err(|_| MarketError::Sign("signature is not 65 bytes".into()))?;
        Ok(QuoteTerms {
            provider: self.address().into_array(),
            period_duration: quote.periodDuration,
            num_periods: quote.numPeriods,
            price_per_period: quote.pricePerPeriod,
            expiry: quote.expiry,
            salt,
            signature,
        })
    }

    /// Checks that `deal` exists, names this provider, is active and is for `size` bytes.
    pub async fn check_deal(&self, deal: u64, size: u64) -> Result<CheckedDeal, MarketError> {
        let refuse = |reason: String| MarketError::Deal { deal, reason };
        if deal == 0 {
            return Err(refuse(
                "this provider stores data only for a funded on-chain deal naming it; get its quote and open a deal first".into(),
            ));
        }
        let d = self
            .inner
            .contracts
            .market
            .getDeal(U256::from(deal))
            .call()
            .await
            .map_err(
                |e| match e.as_decoded_error::<StorageMarket::UnknownDeal>() {
                    Some(_) => refuse("no such deal on chain".into()),
                    None => chain_err("getDeal")(e),
                },
            )?;
        if d.provider != self.address() {
            return Err(refuse(format!(
                "it names provider {}, not this one ({})",
                d.provider,
                self.address()
            )));
        }
        if d.nextPeriod >= d.endPeriod {
            return Err(refuse("it is over".into()));
        }
        if d.size != size {
            return Err(refuse(format!(
                "it is for {} bytes but the upload has {size}",
                d.size
            )));
        }
        Ok(CheckedDeal { deal, root: d.root })
    }

    /// Announces this provider in the `Registry`: its peer id, the addresses buyers dial
    /// (`addrs`, full multiaddrs ending in `/p2p/<peer id>`: those on every interface, such as
    /// `0.0.0.0`, are left out, and at most [`MAX_REGISTRY_ADDRS`] are kept) and its capacity.
    /// An unregistered provider registers when given a `stake` (approving and locking that many
    /// token base units); a registered one updates its entry when the peer id or addresses
    /// changed (new random ports after a restart).
    pub async fn announce(
        &self,
        peer_id: &[u8],
        addrs: &[libp2p::Multiaddr],
        storage_bytes: u64,
        stake: Option<U256>,
    ) -> Result<Registration, MarketError> {
        let c = &self.inner.contracts;
        let me = self.address();
        let multiaddrs: Vec<Bytes> = addrs
            .iter()
            .filter(|a| crate::node::is_dialable(a))
            .map(|a| Bytes::from(a.to_vec()))
            .filter(|a| a.len() <= MAX_REGISTRY_ADDR_LEN)
            .take(MAX_REGISTRY_ADDRS)
            .collect();
        let current = c
            .registry
            .getProvider(me)
            .call()
            .await
            .map_err(chain_err("getProvider"))?;
        if current.registered {
            let payout = self.payout.unwrap_or(current.info.payout);
            if current.info.peerId.as_ref() == peer_id
                && current.info.multiaddrs == multiaddrs
                && current.info.storageBytes == storage_bytes
                && current.info.payout == payout
            {
                return Ok(Registration::Unchanged { payout });
            }
            let info = chain::contracts::Registry::ProviderInfo {
                peerId: Bytes::copy_from_slice(peer_id),
                storageBytes: storage_bytes,
                multiaddrs,
                payout,
                ..current.info
            };
            let _sending = self.inner.sending.lock().await;
            transact!("updateProvider", c.registry.updateProvider(info));
            return Ok(Registration::Updated { payout });
        }
        let Some(stake) = stake else {
            return Ok(Registration::Unregistered);
        };
        self.check_funds(stake).await?;
        let _sending = self.inner.sending.lock().await;
        transact!(
            "approve the stake",
            c.token.approve(self.inner.deployment.registry, stake)
        );
        let payout = self.payout.unwrap_or(me);
        let info = chain::contracts::Registry::ProviderInfo {
            peerId: Bytes::copy_from_slice(peer_id),
            payout,
            storageBytes: storage_bytes,
            computeUnits: 0,
            storagePricePerGiBDay: 0,
            computePricePerUnitHour: 0,
            multiaddrs,
        };
        transact!("registerProvider", c.registry.registerProvider(info, stake));
        Ok(Registration::Registered { payout })
    }

    /// Refuses, before anything is sent, a registration that cannot succeed: a stake below the
    /// Registry's minimum, or a provider address without the tokens to stake or the ether to pay
    /// for the two transactions. A new provider key starts with neither, and this says what to
    /// send where.
    async fn check_funds(&self, stake: U256) -> Result<(), MarketError> {
        use alloy::providers::Provider as _;
        let c = &self.inner.contracts;
        let me = self.address();
        let minimum = c
            .registry
            .minStake()
            .call()
            .await
            .map_err(chain_err("minStake"))?;
        if stake < minimum {
            return Err(MarketError::StakeTooLow { stake, minimum });
        }
        let tokens = c
            .token
            .balanceOf(me)
            .call()
            .await
            .map_err(chain_err("balanceOf"))?;
        let gas = c
            .token
            .provider()
            .get_balance(me)
            .await
            .map_err(|e| MarketError::Chain {
                phase: "read the provider's ether balance",
                detail: e.to_string(),
            })?;
        if tokens < stake || gas.is_zero() {
            return Err(MarketError::Unfunded {
                provider: me,
                tokens,
                stake,
                gas,
            });
        }
        Ok(())
    }

    /// [`Market::announce`] for a running node: its peer id, its listen addresses now and its
    /// store's quota (0 for a node without a store). Called at start, and again when the quota
    /// or the addresses change.
    pub async fn announce_node(
        &self,
        node: &crate::Handle,
        stake: Option<U256>,
    ) -> Result<Registration, MarketError> {
        let addrs = node
            .listen_addrs()
            .await
            .map_err(|_| MarketError::NodeStopped)?;
        let quota = node.store().map_or(0, crate::store::Store::quota);
        self.announce(&node.peer_id().to_bytes(), &addrs, quota, stake)
            .await
    }

    /// Where `provider`'s earnings are paid: its payout address in the `Registry`.
    pub async fn payout_of(&self, provider: Address) -> Result<Address, MarketError> {
        self.inner
            .contracts
            .registry
            .payoutOf(provider)
            .call()
            .await
            .map_err(chain_err("payoutOf"))
    }

    /// `provider`'s unwithdrawn earnings, in token base units.
    pub async fn earnings_of(&self, provider: Address) -> Result<U256, MarketError> {
        self.inner
            .contracts
            .market
            .earnings(provider)
            .call()
            .await
            .map_err(chain_err("earnings"))
    }

    /// Pays all of `provider`'s earnings to its payout address (`withdrawEarnings`, which anyone
    /// may call: this handle's key pays the gas, so a provider's running node and a withdrawal
    /// signed by another key never race for a nonce). Refused before anything is sent when
    /// there is nothing to withdraw.
    pub async fn withdraw_earnings_of(&self, provider: Address) -> Result<Withdrawal, MarketError> {
        let amount = self.earnings_of(provider).await?;
        if amount.is_zero() {
            return Err(MarketError::NothingToWithdraw { provider });
        }
        let payout = self.payout_of(provider).await?;
        let _sending = self.inner.sending.lock().await;
        let receipt = transact!(
            "withdrawEarnings",
            self.inner.contracts.market.withdrawEarnings(provider)
        );
        // What the transaction paid: the earnings may have grown between the read and the
        // transaction (a proof accepted in between), so read the amount from its event.
        let paid = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| {
                log.log_decode::<chain::contracts::StorageMarket::EarningsWithdrawn>()
                    .ok()
            })
            .map_or(amount, |event| event.inner.data.amount);
        Ok(Withdrawal {
            amount: paid,
            payout,
            transaction: receipt.transaction_hash,
        })
    }

    /// This provider's unwithdrawn earnings, in token base units.
    pub async fn earnings(&self) -> Result<U256, MarketError> {
        self.earnings_of(self.address()).await
    }

    /// The chain's time: the latest block's timestamp, the `block.timestamp` a proof is checked
    /// against.
    async fn chain_time(&self) -> Result<u64, MarketError> {
        use alloy::providers::Provider as _;
        let block = self
            .inner
            .contracts
            .market
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| MarketError::Chain {
                phase: "latest block",
                detail: e.to_string(),
            })?
            .ok_or_else(|| MarketError::Chain {
                phase: "latest block",
                detail: "the node has no latest block".into(),
            })?;
        Ok(block.header.timestamp)
    }

    /// The period of `deal` whose proof window is open at chain time `now`, with its challenged
    /// leaves; `Ok(None)` when nothing is due (not started, over, between windows, or this
    /// period's proof was already rejected: `rejected` maps deal to period). Nothing is read
    /// from disk until a period is due, and the data is read after the window opened, so the
    /// proof always reflects the bytes held during the period it proves.
    async fn due(
        &self,
        deal: u64,
        now: u64,
        rejected: &HashMap<u64, u32>,
    ) -> Result<Standing, MarketError> {
        let market = &self.inner.contracts.market;
        let id = U256::from(deal);
        let d = market.getDeal(id).call().await.map_err(|e| {
            match e.as_decoded_error::<StorageMarket::UnknownDeal>() {
                Some(_) => MarketError::UnknownDeal { deal },
                None => chain_err("getDeal")(e),
            }
        })?;
        let duration = u64::from(d.periodDuration);
        // Its last window has closed: no proof can be made any more.
        let ended_at = u64::from(d.endPeriod)
            .saturating_mul(duration)
            .saturating_add(d.start);
        if now >= ended_at {
            return Ok(Standing::Over { ended_at });
        }
        if d.nextPeriod >= d.endPeriod || rejected.get(&deal) == Some(&d.nextPeriod) {
            return Ok(Standing::Waiting);
        }
        let opens = u64::from(d.nextPeriod)
            .saturating_mul(duration)
            .saturating_add(d.start);
        if now < opens || now >= opens.saturating_add(duration) {
            return Ok(Standing::Waiting);
        }
        let challenge = market
            .challenges(id)
            .call()
            .await
            .map_err(chain_err("challenges"))?;
        let mut indices = [0u64; chain::proof::CHALLENGES];
        for (slot, index) in indices.iter_mut().zip(&challenge.indices) {
            *slot = index.to::<u64>();
        }
        Ok(Standing::Due(Due {
            deal,
            size: d.size,
            root: d.root,
            period: challenge.period,
            indices,
        }))
    }

    /// Submits `proof` for the period `due` names. `Ok(None)`: the window closed meanwhile.
    ///
    /// The proof is simulated first; one the contract rejects is still submitted once (with a
    /// fixed gas limit) so the failure is recorded on chain as a reverted transaction, and that
    /// period goes into `rejected` so it is not submitted again.
    async fn submit(
        &self,
        due: &Due,
        proof: Vec<u8>,
        rejected: &mut HashMap<u64, u32>,
    ) -> Result<Option<Proven>, MarketError> {
        let market = &self.inner.contracts.market;
        let call = market.prove(U256::from(due.deal), Bytes::from(proof));
        let valid = match call.call().await {
            Ok(_) => true,
            Err(e)
                if e.as_decoded_error::<StorageMarket::PeriodNotStarted>()
                    .is_some()
                    || e.as_decoded_error::<StorageMarket::PeriodExpired>()
                        .is_some() =>
            {
                return Ok(None);
            }
            Err(e)
                if e.as_decoded_error::<StorageMarket::InvalidProof>()
                    .is_some()
                    || e.as_decoded_error::<StorageMarket::InvalidProofLength>()
                        .is_some() =>
            {
                tracing::error!(
                    deal = due.deal,
                    period = due.period,
                    "the chain rejects our proof: the stored data does not match the deal's root"
                );
                false
            }
            Err(e) => return Err(chain_err("prove (simulated)")(e)),
        };
        let call = if valid { call } else { call.gas(PROVE_GAS) };
        let _sending = self.inner.sending.lock().await;
        let pending = call.send().await.map_err(chain_err("prove"))?;
        let tx = *pending.tx_hash();
        let receipt = pending
            .get_receipt()
            .await
            .map_err(receipt_err("prove receipt"))?;
        let accepted = receipt.status();
        if !accepted {
            rejected.insert(due.deal, due.period);
        }
        Ok(Some(Proven {
            deal: due.deal,
            period: due.period,
            accepted,
            tx: tx.0,
        }))
    }
}

/// A period whose proof window is open.
struct Due {
    deal: u64,
    /// What the deal commits to: the piece's size and Merkle root.
    size: u64,
    root: B256,
    period: u32,
    indices: [u64; chain::proof::CHALLENGES],
}

/// Objects the prover leaves alone (their deal is not on this chain, or is another piece), by
/// object and deal, with when that was found: looked at again after [`RECHECK_UNPROVEN`], in
/// case the chain gained the deal since (a buyer storing the same object again).
type Unproven = HashMap<(ContentId, u64), std::time::Instant>;

/// How long the prover leaves an object of [`Unproven`] alone before it looks again.
const RECHECK_UNPROVEN: Duration = Duration::from_secs(600);

/// Says (once per [`RECHECK_UNPROVEN`]) that the object `id`, stored for deal `deal`, is not what this chain's deal
/// `deal` commits to (`what` differs), and has the prover leave that pair alone from now on.
fn not_this_deal(id: ContentId, deal: u64, what: &str, unknown: &mut Unproven) {
    tracing::warn!(
        object = %id,
        deal,
        "the object stored for deal {deal} is not what this chain's deal {deal} commits to \
         ({what} differs): its data is from another chain or deployment (a devnet started \
         afresh?); it is not proven here"
    );
    unknown.insert((id, deal), std::time::Instant::now());
}

/// Gas for a proof the contract will reject (so it is mined and its revert is on chain).
const PROVE_GAS: u64 = 1_000_000;

/// One submitted proof.
struct Proven {
    deal: u64,
    period: u32,
    accepted: bool,
    tx: [u8; 32],
}

/// The on-chain quote a provider's `terms` stand for, for `buyer` and the piece (`root`, `size`).
pub fn quote_from(
    terms: &QuoteTerms,
    buyer: Address,
    root: B256,
    size: u64,
) -> StorageMarket::Quote {
    StorageMarket::Quote {
        provider: Address::from(terms.provider),
        buyer,
        root,
        size,
        periodDuration: terms.period_duration,
        numPeriods: terms.num_periods,
        pricePerPeriod: terms.price_per_period,
        expiry: terms.expiry,
        salt: U256::from_be_bytes(terms.salt),
    }
}

/// Proves every stored deal once per period (spawned by the node when it has a [`Market`]).
pub(crate) struct Prover {
    pub(crate) market: Market,
    pub(crate) store: Store,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) every: Duration,
    /// How long after its deals have all ended an object is released.
    pub(crate) release_after: Duration,
    /// The node's loop, to stop announcing a released object.
    pub(crate) commands: tokio::sync::mpsc::WeakSender<crate::node::Command>,
}

/// Where a stored deal stands at the chain's time.
enum Standing {
    /// A period's window is open and not proven yet.
    Due(Due),
    /// Nothing to do now (between windows, proven, or its proof rejected).
    Waiting,
    /// Its last window closed at `ended_at` (chain time).
    Over { ended_at: u64 },
}

impl Prover {
    pub(crate) async fn run(self) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A rejected proof is not resubmitted for the same period.
        let mut rejected: HashMap<u64, u32> = HashMap::new();
        // Deals this chain does not know, and objects that are not the data of the deal they
        // were stored for on this chain: said once, looked at again only after a while.
        let mut unknown = Unproven::new();
        loop {
            tick.tick().await;
            if let Err(e) = self.round(&mut rejected, &mut unknown).await {
                tracing::warn!(error = %e, "proof round skipped");
            }
        }
    }

    /// Proves every stored deal whose period is due: one read of the object both checks every
    /// chunk (reporting corruption) and builds the proof. Then releases the objects whose every
    /// deal ended [`Prover::release_after`] ago.
    async fn round(
        &self,
        rejected: &mut HashMap<u64, u32>,
        unknown: &mut Unproven,
    ) -> Result<(), MarketError> {
        let store = self.store.clone();
        let Ok(Ok(objects)) = tokio::task::spawn_blocking(move || store.list()).await else {
            return Ok(());
        };
        let held: HashMap<ContentId, Vec<u64>> =
            objects.iter().map(|o| (o.id, o.deals.clone())).collect();
        // Per object, its deals seen over and when the last of them ended.
        let mut over: HashMap<ContentId, (Vec<u64>, u64)> = HashMap::new();
        // An object stored under several deals is proven for each.
        let deals: Vec<StoredDeal> = objects
            .into_iter()
            .filter(|o| matches!(o.state, State::Complete | State::Corrupt))
            .flat_map(|o| {
                o.deals.into_iter().map(move |deal| StoredDeal {
                    id: o.id,
                    size: o.size,
                    deal,
                })
            })
            .filter(|o| {
                unknown
                    .get(&(o.id, o.deal))
                    .is_none_or(|since| since.elapsed() >= RECHECK_UNPROVEN)
            })
            .collect();
        if deals.is_empty() {
            return Ok(());
        }
        let now = self.market.chain_time().await?;
        for info in deals {
            let due = match self.market.due(info.deal, now, rejected).await {
                Ok(Standing::Due(due)) => due,
                Ok(Standing::Waiting) => continue,
                Ok(Standing::Over { ended_at }) => {
                    let (ended, last) = over.entry(info.id).or_default();
                    ended.push(info.deal);
                    *last = (*last).max(ended_at);
                    continue;
                }
                Err(e @ MarketError::UnknownDeal { .. }) => {
                    tracing::warn!(object = %info.id, "{e}");
                    unknown.insert((info.id, info.deal), std::time::Instant::now());
                    continue;
                }
                Err(e) => {
                    tracing::warn!(deal = info.deal, error = %e, "proof not submitted");
                    continue;
                }
            };
            // Deal ids are the chain's: an object stored for deal N of another chain or
            // deployment (a devnet started afresh) is not this chain's deal N, and a proof from
            // it would be rejected and the period missed. Its size tells at once; its root
            // (computed in the audit's read) tells for sure when the object is intact.
            if info.size != due.size {
                not_this_deal(info.id, info.deal, "its size", unknown);
                continue;
            }
            let (store, id, indices) = (self.store.clone(), info.id, due.indices);
            let started = std::time::Instant::now();
            let audit =
                match tokio::task::spawn_blocking(move || store.audit(&id, Some(&indices))).await {
                    Ok(Ok(audit)) => audit,
                    Ok(Err(e)) => {
                        tracing::warn!(deal = info.deal, error = %e, "proof not built");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(deal = info.deal, error = %e, "proof task failed");
                        continue;
                    }
                };
            let build = started.elapsed();
            if let Some(chunk) = audit.corrupt
                && audit.newly_corrupt
            {
                let _ = self.events.send(Event::Corrupt { id, chunk });
            }
            // An intact object (every chunk matches its manifest) whose root is not the deal's is
            // another deal's data. A corrupt one is proven all the same: its proof fails on
            // chain, which is how the chain learns the data was lost.
            if audit.corrupt.is_none()
                && audit
                    .commitment
                    .is_some_and(|commitment| commitment.root != due.root)
            {
                not_this_deal(info.id, info.deal, "its Merkle root", unknown);
                continue;
            }
            let Some(proof) = audit.proof else {
                tracing::error!(
                    deal = info.deal,
                    period = due.period,
                    "no proof can be built: the object's file has an unprovable size"
                );
                continue;
            };
            match self.market.submit(&due, proof, rejected).await {
                Ok(Some(p)) => {
                    tracing::info!(
                        deal = p.deal,
                        period = p.period,
                        accepted = p.accepted,
                        tx = %hex::encode(p.tx),
                        build_ms = build.as_millis(),
                        "proof submitted"
                    );
                    let _ = self.events.send(Event::Proof {
                        deal: p.deal,
                        period: p.period,
                        accepted: p.accepted,
                    });
                    if p.accepted
                        && let Ok(earned) = self.market.earnings().await
                    {
                        let _ = self.events.send(Event::Earnings {
                            total: earned.saturating_to::<u128>(),
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(deal = info.deal, error = %e, "proof not submitted"),
            }
        }
        for (id, (ended, last)) in over {
            let all_over = held
                .get(&id)
                .is_some_and(|deals| deals.iter().all(|deal| ended.contains(deal)));
            if all_over && now >= last.saturating_add(self.release_after.as_secs()) {
                self.release(id, ended).await;
            }
        }
        Ok(())
    }

    /// Deletes `id`, whose deals `ended` are all over, unless a deal was added meanwhile.
    async fn release(&self, id: ContentId, ended: Vec<u64>) {
        let store = self.store.clone();
        let deals = ended.clone();
        match tokio::task::spawn_blocking(move || store.release(&id, &deals)).await {
            Ok(Ok(Some(size))) => {
                tracing::info!(object = %id, size, deals = ?ended, "released: its deals have ended");
                let _ = self.events.send(Event::Released {
                    id,
                    size,
                    deals: ended,
                });
                crate::node::Handle::unprovide_weak(&self.commands, id).await;
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(object = %id, error = %e, "cannot release an object"),
            Err(e) => tracing::warn!(object = %id, error = %e, "releasing stopped"),
        }
    }
}

/// One deal an object is stored under, for the prover.
struct StoredDeal {
    id: ContentId,
    size: u64,
    deal: u64,
}

/// File name of a provider's chain key inside a data directory, when Cairn makes one.
pub const CHAIN_KEY_FILE: &str = "chain.key";

/// Makes a new random provider chain key in `path` (hex, mode 0600) unless a file is there
/// already, and answers whether it made one. An existing file is never replaced, valid or not:
/// it may hold the only copy of a funded key. The key is written to a temporary file, synced,
/// then linked into place, so a crash leaves either no key file or a whole one.
pub fn create_key_file(path: &std::path::Path) -> Result<bool, MarketError> {
    use std::io::Write as _;
    let io = |source| MarketError::Data {
        path: path.to_owned(),
        source,
    };
    if path.try_exists().map_err(io)? {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let key = PrivateKeySigner::random();
    let text = format!("0x{}\n", alloy::primitives::hex::encode(key.to_bytes()));
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    // A hard link, unlike a rename, never replaces a key another process made meanwhile.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            #[cfg(unix)]
            std::fs::File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io(err)),
    }
}

/// The key file a provider sells with: `given`, or else its own key, [`CHAIN_KEY_FILE`] in
/// `data_dir`, made on first use ([`create_key_file`]). The deployment file is read first, so
/// one that cannot be used never has a key made for it.
pub fn key_file_or_own(
    given: Option<&std::path::Path>,
    data_dir: &std::path::Path,
    deployment: &std::path::Path,
) -> Result<PathBuf, MarketError> {
    if let Some(given) = given {
        return Ok(given.to_owned());
    }
    read_deployment(deployment)?;
    let own = data_dir.join(CHAIN_KEY_FILE);
    if create_key_file(&own)? {
        tracing::info!(path = %own.display(), "made the provider's chain key");
    }
    Ok(own)
}

fn read_deployment(deployment: &std::path::Path) -> Result<Deployment, MarketError> {
    Deployment::read(deployment).map_err(|e| MarketError::Chain {
        phase: "read the deployment",
        detail: e.to_string(),
    })
}

fn read_files(
    deployment: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<(Deployment, PrivateKeySigner), MarketError> {
    let deployment = read_deployment(deployment)?;
    let text = std::fs::read_to_string(key_file).map_err(|source| MarketError::Data {
        path: key_file.to_owned(),
        source,
    })?;
    let key: PrivateKeySigner = text.trim().parse().map_err(|e| {
        MarketError::Sign(format!(
            "{} does not hold a hex secp256k1 private key ({e}); fix it or move it away \
             (a key file is never replaced)",
            key_file.display()
        ))
    })?;
    Ok((deployment, key))
}

/// The buyer's side of the market: opens (and pays for) deals from providers' signed quotes.
#[derive(Clone)]
pub struct Buyer {
    contracts: Contracts,
    deployment: Deployment,
    key: PrivateKeySigner,
    /// Held while one of the account's transactions is sent and mined (shared with the
    /// provider's [`Market`] when the buyer is [`Market::buyer`]).
    sending: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Buyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buyer")
            .field("address", &self.key.address())
            .finish_non_exhaustive()
    }
}

impl Buyer {
    /// A buyer signing as the key in `key_file` on the deployment in `deployment`.
    pub fn from_files(
        rpc_url: &str,
        deployment: &std::path::Path,
        key_file: &std::path::Path,
    ) -> Result<Self, MarketError> {
        let (deployment, key) = read_files(deployment, key_file)?;
        let provider = signer_provider(rpc_url, key.clone()).map_err(|e| MarketError::Chain {
            phase: "connect",
            detail: e.to_string(),
        })?;
        Ok(Self {
            contracts: Contracts::new(&deployment, provider),
            deployment,
            key,
            sending: Arc::default(),
        })
    }

    /// The buyer's chain address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Approves the whole price and opens the deal `terms` offer for `commitment`; returns its id.
    pub async fn open_deal(
        &self,
        terms: &QuoteTerms,
        commitment: &chain::proof::Commitment,
    ) -> Result<u64, MarketError> {
        let quote = quote_from(terms, self.address(), commitment.root, commitment.size);
        let total = U256::from(terms.price_per_period) * U256::from(terms.num_periods);
        let _sending = self.sending.lock().await;
        transact!(
            "approve the price",
            self.contracts.token.approve(self.deployment.market, total)
        );
        let receipt = transact!(
            "openDeal",
            self.contracts
                .market
                .openDeal(quote, Bytes::copy_from_slice(&terms.signature))
        );
        let opened = event::<StorageMarket::DealOpened>(&receipt, "openDeal")?;
        Ok(opened.dealId.to::<u64>())
    }

    /// When `deal` stops being paid (Unix seconds): its start plus its periods, up to the one it
    /// ends before (earlier when it was ended early).
    pub async fn paid_until(&self, deal: u64) -> Result<u64, MarketError> {
        let d = self.deal(deal).await?;
        Ok(d.start + u64::from(d.endPeriod) * u64::from(d.periodDuration))
    }

    /// The proof commitment `deal` was opened for: its piece's Merkle root and size.
    pub async fn commitment(&self, deal: u64) -> Result<chain::proof::Commitment, MarketError> {
        let d = self.deal(deal).await?;
        Ok(chain::proof::Commitment {
            size: d.size,
            root: d.root,
        })
    }

    /// `deal` as the market holds it.
    async fn deal(&self, deal: u64) -> Result<StorageMarket::Deal, MarketError> {
        self.contracts
            .market
            .getDeal(U256::from(deal))
            .call()
            .await
            .map_err(chain_err("getDeal"))
    }

    /// Every active provider in the `Registry`, with the addresses it announced: found from
    /// the `ProviderRegistered` events since `from_block`, then read from the registry's
    /// current state (entries whose peer id does not decode are left out and logged).
    pub async fn listed_providers(
        &self,
        from_block: u64,
    ) -> Result<Vec<ListedProvider>, MarketError> {
        let registry = &self.contracts.registry;
        let events = registry
            .ProviderRegistered_filter()
            .from_block(from_block)
            .query()
            .await
            .map_err(chain_err("ProviderRegistered logs"))?;
        let mut seen = std::collections::BTreeSet::new();
        let mut listed = Vec::new();
        for (event, _) in events {
            if !seen.insert(event.provider) {
                continue;
            }
            let active = registry
                .isActiveProvider(event.provider)
                .call()
                .await
                .map_err(chain_err("isActiveProvider"))?;
            if !active {
                continue;
            }
            let entry = registry
                .getProvider(event.provider)
                .call()
                .await
                .map_err(chain_err("getProvider"))?;
            let peer = match libp2p::PeerId::from_bytes(&entry.info.peerId) {
                Ok(peer) => peer,
                Err(e) => {
                    tracing::warn!(provider = %event.provider, error = %e, "registry entry with an undecodable peer id; skipped");
                    continue;
                }
            };
            let addrs = entry
                .info
                .multiaddrs
                .iter()
                .filter_map(|a| libp2p::Multiaddr::try_from(a.to_vec()).ok())
                .collect();
            listed.push(ListedProvider {
                address: event.provider,
                peer,
                addrs,
                storage_bytes: entry.info.storageBytes,
            });
        }
        Ok(listed)
    }

    /// Ends `deal` early (`endDeal`, for a deal whose upload failed): the periods not yet
    /// started go to this buyer's refund balance, paid out by [`Buyer::withdraw_refund`].
    pub async fn end_deal(&self, deal: u64) -> Result<EndedDeal, MarketError> {
        let call = self.contracts.market.endDeal(U256::from(deal));
        // Simulate first, so a refusal (not the buyer, deal over) is a decoded contract error.
        call.call().await.map_err(chain_err("endDeal"))?;
        let _sending = self.sending.lock().await;
        let receipt = transact!("endDeal", call);
        let ended = event::<StorageMarket::DealEnded>(&receipt, "endDeal")?;
        Ok(EndedDeal {
            deal,
            end_period: ended.endPeriod,
            refund: ended.refund,
            transaction: receipt.transaction_hash,
        })
    }

    /// Resolves `deal`'s current period as missed (`reportMissed`, open to anyone once the
    /// period's window is over without a proof): its share goes to the buyer's refund balance,
    /// and the provider is slashed. Returns the transaction.
    pub async fn report_missed(&self, deal: u64) -> Result<B256, MarketError> {
        let call = self.contracts.market.reportMissed(U256::from(deal));
        // Simulate first, so a refusal (proven meanwhile, window not over) is a decoded error.
        call.call().await.map_err(chain_err("reportMissed"))?;
        let _sending = self.sending.lock().await;
        let receipt = transact!("reportMissed", call);
        Ok(receipt.transaction_hash)
    }

    /// Token base units the market owes this buyer (`refunds`).
    pub async fn refunds(&self) -> Result<U256, MarketError> {
        self.contracts
            .market
            .refunds(self.address())
            .call()
            .await
            .map_err(chain_err("refunds"))
    }

    /// Pays this buyer's whole refund balance to its address (`withdrawRefund`). Refused before
    /// anything is sent when nothing is owed.
    pub async fn withdraw_refund(&self) -> Result<RefundPaid, MarketError> {
        if self.refunds().await?.is_zero() {
            return Err(MarketError::NoRefund {
                buyer: self.address(),
            });
        }
        let _sending = self.sending.lock().await;
        let receipt = transact!("withdrawRefund", self.contracts.market.withdrawRefund());
        let paid = event::<StorageMarket::RefundWithdrawn>(&receipt, "withdrawRefund")?;
        Ok(RefundPaid {
            amount: paid.amount,
            transaction: receipt.transaction_hash,
        })
    }
}

/// `whole` tokens in base units (18 decimals).
pub fn token_units(whole: u64) -> U256 {
    chain::contracts::TOKEN * U256::from(whole)
}

/// `base_units` of an 18-decimal amount (CAIRN or ETH) in whole units, every decimal kept,
/// without trailing zeros: `200`, `0.5` (see `protocol::units::format_units`).
pub fn format_tokens(base_units: U256) -> String {
    let text = base_units.to_string();
    protocol::units::format_units(&text, protocol::units::TOKEN_DECIMALS).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(CHAIN_KEY_FILE);
        assert!(create_key_file(&path).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let key: PrivateKeySigner = text.trim().parse().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!create_key_file(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Nothing but the key is left in the directory.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        // Two keys made in two places differ.
        let other = dir.path().join("other.key");
        assert!(create_key_file(&other).unwrap());
        let second: PrivateKeySigner = std::fs::read_to_string(&other)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_ne!(key.address(), second.address());

        // A file that holds no key is left as it is.
        std::fs::write(&path, "not a key").unwrap();
        assert!(!create_key_file(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[test]
    fn amounts_show_in_whole_units() {
        assert_eq!(format_tokens(token_units(200)), "200");
        assert_eq!(format_tokens(U256::ZERO), "0");
        assert_eq!(
            format_tokens(chain::contracts::TOKEN / U256::from(2)),
            "0.5"
        );
        assert_eq!(format_tokens(U256::from(1)), "0.000000000000000001");
    }
}
