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

use alloy_sol_types::SolCall as _;
use chain::contracts::StorageMarket;
use light_client::evm::{CallOutcome, CallRequest};
use light_client_rpc::{ExecutionClient, Rpc};
use node::market::Address;
use protocol::api::{EarningsAnchor, EarningsProof};

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
    verify(rpc_url, deployment, provider, anchor)
        .await
        .map_err(crate::Error::Unverified)
}

/// [`verify_earnings`], its failure said as text.
async fn verify(
    rpc_url: &str,
    deployment: &chain::contracts::Deployment,
    provider: Address,
    anchor: Anchor,
) -> Result<(String, EarningsProof), String> {
    let rpc = Rpc::new(rpc_url).map_err(|err| err.to_string())?;
    let (hash, proven) = match anchor {
        Anchor::Endpoint => (latest_hash(&rpc).await?, EarningsAnchor::Endpoint),
        Anchor::Beacon(head) => (head.block_hash, EarningsAnchor::Beacon { slot: head.slot }),
    };
    let client = ExecutionClient::anchor(rpc, hash, deployment.chain_id)
        .await
        .map_err(|err| match anchor {
            Anchor::Endpoint => format!("anchoring on block {hash}: {err}"),
            Anchor::Beacon(head) => format!(
                "anchoring on block {} ({hash}), which the beacon chain signed at slot {}: \
                 {err}; is the endpoint synced and on the same network as the beacon chain?",
                head.block_number, head.slot
            ),
        })?;
    let request = CallRequest {
        from: None,
        to: Some(deployment.market),
        data: StorageMarket::earningsCall::new((provider,))
            .abi_encode()
            .into(),
        value: Default::default(),
        gas: None,
    };
    let output = match client
        .call(&request)
        .await
        .map_err(|err| format!("the earnings call did not verify: {err}"))?
    {
        CallOutcome::Success { output, .. } => output,
        other => return Err(format!("the earnings call failed: {other:?}")),
    };
    let total = StorageMarket::earningsCall::abi_decode_returns(&output)
        .map_err(|err| format!("the earnings call returned {output}: {err}"))?;
    let block = client.block();
    let proof = EarningsProof {
        block: block.header.number,
        block_hash: block.hash.to_string(),
        anchor: proven,
    };
    Ok((total.to_string(), proof))
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
