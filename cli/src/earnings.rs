//! `cairn earnings`: a storage provider's on-chain earnings, and their withdrawal to its payout
//! address. Prints one JSON object on stdout. The earnings shown are verified, not read: see
//! `runtime::earnings`.

use std::path::PathBuf;

use alloy_primitives::utils::format_ether;
use anyhow::Context as _;
use node::market::{Market, Terms};
use runtime::beacon::verified_head;
use runtime::earnings::Anchor;
use serde_json::json;

/// Arguments of `cairn earnings`.
#[derive(Debug, clap::Args)]
pub(crate) struct EarningsArgs {
    /// The contracts' deployment file (from `cairn devnet --deployment-file`).
    #[arg(long)]
    deployment_file: PathBuf,
    /// File holding a hex chain private key: the provider's own (the one `cairn node` proves
    /// with), or with `--provider` any funded key, which then only pays the withdrawal's gas.
    #[arg(long)]
    chain_key_file: PathBuf,
    /// The provider whose earnings to show or withdraw [default: the key's address]. Withdraw
    /// with a key other than the one a running `cairn node` uses, so the two never race for a
    /// nonce; the earnings still go to the provider's payout address.
    #[arg(long)]
    provider: Option<alloy_primitives::Address>,
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "CAIRN_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Pay all earnings to the provider's payout address in the Registry (sends a transaction
    /// signed by the key, which pays its gas).
    #[arg(long)]
    withdraw: bool,
    #[command(flatten)]
    beacon: crate::BeaconArgs,
    /// With `--beacon`: file keeping the latest verified checkpoint; when it exists, the sync
    /// starts from it instead of `--beacon-checkpoint`.
    #[arg(long, requires = "beacon")]
    beacon_state: Option<PathBuf>,
}

pub(crate) async fn run(args: EarningsArgs) -> anyhow::Result<()> {
    let market = Market::from_files(
        &args.rpc_url,
        &args.deployment_file,
        &args.chain_key_file,
        Terms::default(),
    )?;
    let provider = args.provider.unwrap_or_else(|| market.address());
    let report = if args.withdraw {
        let done = market
            .withdraw_earnings_of(provider)
            .await
            .context("withdrawing earnings")?;
        json!({
            "provider": provider,
            "payout": done.payout,
            "withdrawn": done.amount.to_string(),
            "withdrawn_tokens": format_ether(done.amount),
            "transaction": done.transaction,
        })
    } else {
        let anchor = match args.beacon.config()? {
            Some(beacon) => Anchor::Beacon(verified_head(&beacon, args.beacon_state).await?),
            None => Anchor::Endpoint,
        };
        let (earnings, proof) = runtime::earnings::verify_earnings(
            &args.rpc_url,
            market.deployment(),
            provider,
            anchor,
        )
        .await?;
        let tokens: alloy_primitives::U256 = earnings
            .parse()
            .context("the verified earnings are not a number")?;
        let payout = market.payout_of(provider).await?;
        json!({
            "provider": provider,
            "payout": payout,
            "earnings": earnings,
            "earnings_tokens": format_ether(tokens),
            "verified": proof,
        })
    };
    crate::print_line(&report.to_string());
    Ok(())
}
