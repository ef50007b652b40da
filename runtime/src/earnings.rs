//! A selling node's earnings, verified before they are shown.
//!
//! The chain endpoint is not trusted for them. The runtime anchors on one block header (it
//! checks that the header hashes to the block's hash), then re-executes
//! `StorageMarket.earnings(provider)` locally with revm over account and storage proofs checked
//! against that header's state root (`light_client_rpc::ExecutionClient`). An endpoint that
//! alters the value, a proof node or the contract's code is caught, and nothing is shown.
//!
//! Where the header's hash comes from sets how far this goes ([`Anchor`]):
//! - with a beacon chain to follow ([`crate::Config::beacon`]), it is the execution block of the
//!   head the light client verified ([`crate::beacon`]; [`EarningsAnchor::Beacon`]): an endpoint
//!   that serves another chain, or a state and header of its own making, is caught;
//! - without one (a devnet has no beacon chain), it is the endpoint's latest block, taken at its
//!   word ([`EarningsAnchor::Endpoint`]): the earnings are proven consistent with the block the
//!   endpoint names, no more.

use alloy_sol_types::SolCall;
use chain::contracts::StorageMarket;
use light_client::evm::{CallOutcome, CallRequest};
use light_client_rpc::{ExecutionClient, Rpc};
use node::market::Address;
use protocol::api::{BoughtDeal, EarningsAnchor, EarningsProof};

use crate::beacon::VerifiedHead;

/// The block header the earnings are proven against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The endpoint's latest block, taken at its word.
    Endpoint,
    /// The execution block of a head the light client verified.
    Beacon(VerifiedHead),
}

/// Reads `provider`'s unwithdrawn earnings in `deployment`'s market on the chain at `rpc_url`,
/// verified against `anchor`'s block (see the module's doc for what each anchor means): the
/// total in token base units (a decimal string) and what it was proven against.
pub async fn verify_earnings(
    rpc_url: &str,
    deployment: &chain::contracts::Deployment,
    provider: Address,
    anchor: Anchor,
) -> Result<(String, EarningsProof), crate::Error> {
    let earnings = async {
        let (client, proven) = anchored(rpc_url, deployment.chain_id, anchor).await?;
        let total = call(
            &client,
            deployment.market,
            "earnings",
            StorageMarket::earningsCall::new((provider,)),
        )
        .await?;
        Ok((total.to_string(), proof_of(&client, proven)))
    };
    earnings.await.map_err(crate::Error::Unverified)
}

/// A period's window is over this long before a buyer reports it missed: a proof sent at its
/// end may still be on its way.
pub(crate) const MISSED_GRACE_SECS: u64 = 60;

/// What [`read_market`] proved of one account, all at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarketReading {
    /// Its unwithdrawn earnings as a provider (token base units, decimal).
    pub(crate) earnings: String,
    /// What the market owes it as a buyer (token base units, decimal).
    pub(crate) refunds: String,
    /// The deals it bought, as the chain resolved them.
    pub(crate) bought: Vec<BoughtDeal>,
    /// Bought deals whose current period's window ended (by [`MISSED_GRACE_SECS`]) without a
    /// proof: to report missed.
    pub(crate) overdue: Vec<u64>,
    /// The block it was proven against.
    pub(crate) proof: EarningsProof,
}

/// Reads `account`'s earnings, its refunds and the deals in `bought`, each re-executed over
/// state proven against `anchor`'s block, one anchor for all.
pub(crate) async fn read_market(
    rpc_url: &str,
    deployment: &chain::contracts::Deployment,
    account: Address,
    bought: &[u64],
    anchor: Anchor,
) -> Result<MarketReading, String> {
    let (client, proven) = anchored(rpc_url, deployment.chain_id, anchor).await?;
    let market = deployment.market;
    let earnings = call(
        &client,
        market,
        "earnings",
        StorageMarket::earningsCall::new((account,)),
    )
    .await?;
    let refunds = call(
        &client,
        market,
        "refunds",
        StorageMarket::refundsCall::new((account,)),
    )
    .await?;
    let now = client.block().header.timestamp;
    let mut deals = Vec::with_capacity(bought.len());
    let mut overdue = Vec::new();
    for &deal in bought {
        let d = call(
            &client,
            market,
            "getDeal",
            StorageMarket::getDealCall::new((alloy_primitives::U256::from(deal),)),
        )
        .await?;
        let window_end = d.start + (u64::from(d.nextPeriod) + 1) * u64::from(d.periodDuration);
        if d.nextPeriod < d.endPeriod && now >= window_end + MISSED_GRACE_SECS {
            overdue.push(deal);
        }
        let period = u64::from(d.periodDuration);
        let ends_at = d.start + u64::from(d.endPeriod) * period;
        deals.push(BoughtDeal {
            deal,
            proven: d.nextPeriod.saturating_sub(d.missed),
            missed: d.missed,
            periods: d.endPeriod,
            ending: now + crate::upkeep::renewal_lead(period) >= ends_at,
            ends_at,
        });
    }
    Ok(MarketReading {
        earnings: earnings.to_string(),
        refunds: refunds.to_string(),
        bought: deals,
        overdue,
        proof: proof_of(&client, proven),
    })
}

/// A client whose reads are proven against `anchor`'s block (see the module's doc), and how
/// that block is trusted.
async fn anchored(
    rpc_url: &str,
    chain_id: u64,
    anchor: Anchor,
) -> Result<(ExecutionClient, EarningsAnchor), String> {
    let rpc = Rpc::new(rpc_url).map_err(|err| err.to_string())?;
    let (hash, proven) = match anchor {
        Anchor::Endpoint => (latest_hash(&rpc).await?, EarningsAnchor::Endpoint),
        Anchor::Beacon(head) => (head.block_hash, EarningsAnchor::Beacon { slot: head.slot }),
    };
    let client =
        ExecutionClient::anchor(rpc, hash, chain_id)
            .await
            .map_err(|err| match anchor {
                Anchor::Endpoint => format!("anchoring on block {hash}: {err}"),
                Anchor::Beacon(head) => format!(
                    "anchoring on block {} ({hash}), which the beacon chain signed at slot {}: \
                     {err}; is the endpoint synced and on the same network as the beacon chain?",
                    head.block_number, head.slot
                ),
            })?;
    Ok((client, proven))
}

/// The block `client` is anchored on, as a status names it.
fn proof_of(client: &ExecutionClient, anchor: EarningsAnchor) -> EarningsProof {
    let block = client.block();
    EarningsProof {
        block: block.header.number,
        block_hash: block.hash.to_string(),
        anchor,
    }
}

/// `call` to `to`, re-executed over proven state; `what` names it in errors.
async fn call<C: SolCall>(
    client: &ExecutionClient,
    to: Address,
    what: &str,
    call: C,
) -> Result<C::Return, String> {
    let request = CallRequest {
        from: None,
        to: Some(to),
        data: call.abi_encode().into(),
        value: Default::default(),
        gas: None,
    };
    let output = match client
        .call(&request)
        .await
        .map_err(|err| format!("the {what} call did not verify: {err}"))?
    {
        CallOutcome::Success { output, .. } => output,
        other => return Err(format!("the {what} call failed: {other:?}")),
    };
    C::abi_decode_returns(&output)
        .map_err(|err| format!("the {what} call returned {output}: {err}"))
}

/// The hash of the endpoint's latest block.
async fn latest_hash(rpc: &Rpc) -> Result<alloy_primitives::B256, String> {
    let block = rpc
        .call("eth_getBlockByNumber", serde_json::json!(["latest", false]))
        .await
        .map_err(|err| format!("reading the latest block: {err}"))?;
    block
        .get("hash")
        .cloned()
        .and_then(|hash| serde_json::from_value(hash).ok())
        .ok_or_else(|| format!("the endpoint's latest block has no hash: {block}"))
}
