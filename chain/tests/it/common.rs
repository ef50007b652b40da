//! Shared fixtures: a devnet with Cairn deployed, signing handles per account, revert decoding.

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolError;
use chain::Devnet;
use chain::contracts::{self, Contracts, DeployOptions, Deployment, Registry, TOKEN};

pub(crate) struct Env {
    pub(crate) devnet: Devnet,
    pub(crate) deployment: Deployment,
}

pub(crate) async fn env() -> Env {
    let devnet = Devnet::start().await.expect("devnet starts");
    let deployment = devnet
        .deploy(&DeployOptions::default())
        .await
        .expect("contracts deploy");
    Env { devnet, deployment }
}

impl Env {
    pub(crate) fn key(&self, index: usize) -> PrivateKeySigner {
        Devnet::key(index)
    }

    pub(crate) fn provider(&self, index: usize) -> DynProvider {
        contracts::signer_provider(self.devnet.rpc_url(), self.key(index)).unwrap()
    }

    /// Contract handles signing as anvil account `index`.
    pub(crate) fn as_account(&self, index: usize) -> Contracts {
        Contracts::new(&self.deployment, self.provider(index))
    }

    /// Registers account `index` as a provider with `stake` tokens (approving them first).
    pub(crate) async fn register_provider(&self, index: usize, stake: u64) -> Contracts {
        let c = self.as_account(index);
        let stake = tokens(stake);
        c.token
            .approve(self.deployment.registry, stake)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let receipt = c
            .registry
            .registerProvider(provider_info(index), stake)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        c
    }
}

pub(crate) fn tokens(n: u64) -> U256 {
    TOKEN * U256::from(n)
}

pub(crate) fn provider_info(index: usize) -> Registry::ProviderInfo {
    Registry::ProviderInfo {
        peerId: Bytes::from(format!("12D3KooWCairnTestPeer{index:02}").into_bytes()),
        payout: Address::repeat_byte(0xA0 + index as u8),
        storageBytes: 1 << 40,
        computeUnits: 16,
        storagePricePerGiBDay: 1_000_000_000_000_000,
        computePricePerUnitHour: 2_000_000_000_000_000,
        multiaddrs: vec![Bytes::from_static(b"/ip4/127.0.0.1/tcp/4001")],
    }
}

/// The custom error `E` a failed call reverted with; panics with the actual error otherwise.
pub(crate) fn revert<E: SolError, T: std::fmt::Debug>(
    result: Result<T, alloy::contract::Error>,
) -> E {
    match result {
        Ok(value) => panic!(
            "expected a revert with {}, got success: {value:?}",
            E::SIGNATURE
        ),
        Err(err) => err
            .as_decoded_error::<E>()
            .unwrap_or_else(|| panic!("expected a revert with {}, got: {err}", E::SIGNATURE)),
    }
}

/// Sends `$call` and returns its receipt (asserting success), or the call error.
#[macro_export]
macro_rules! tx {
    ($call:expr) => {{
        match $call.send().await {
            Ok(pending) => {
                let receipt = pending.get_receipt().await.unwrap();
                assert!(receipt.status(), "transaction reverted");
                Ok::<_, alloy::contract::Error>(receipt)
            }
            Err(err) => Err(err),
        }
    }};
}
