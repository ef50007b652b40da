//! Execution-only verification against a real anvil devnet with Cairn's contracts, through a
//! proxy on 127.0.0.1 that tampers with the node's answers (balances, storage values, proof
//! nodes, code, headers, access lists): every tampered answer is rejected, untampered ones pass,
//! a verified `balanceOf` matches what the node itself computes, and alloy reads the same verified
//! data through `VerifiedTransport`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

#[path = "it/blocks.rs"]
mod blocks;

use alloy_primitives::{Address, B256, Bytes, U256};
use chain::Devnet;
use chain::contracts::{DeployOptions, Deployment};
use light_client::evm::{CallOutcome, CallRequest};
use light_client_rpc::{Error, ExecutionClient, Provider, Rpc};
use serde_json::json;
use testkit::rpc_proxy::{Proxy, Tamper};

/// 1,000,000 CAIRN (18 decimals): what the devnet gives each of anvil's first accounts.
fn million_tokens() -> U256 {
    U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

fn balance_of(token: Address, owner: Address) -> CallRequest {
    let mut data = hex::decode("70a08231").unwrap();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(owner.as_slice());
    CallRequest {
        from: None,
        to: Some(token),
        data: Bytes::from(data),
        ..CallRequest::default()
    }
}

async fn latest_hash(rpc: &Rpc) -> B256 {
    let block = rpc
        .call("eth_getBlockByNumber", json!(["latest", false]))
        .await
        .unwrap();
    serde_json::from_value(block["hash"].clone()).unwrap()
}

struct Setup {
    _devnet: Devnet,
    deployment: Deployment,
    proxy: Proxy,
    anchor: B256,
    chain_id: u64,
}

async fn setup() -> Setup {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet.deploy(&DeployOptions::default()).await.unwrap();
    let proxy = Proxy::start(devnet.rpc_url()).await;
    let direct = Rpc::new(devnet.rpc_url()).unwrap();
    let anchor = latest_hash(&direct).await;
    Setup {
        chain_id: devnet.chain_id(),
        _devnet: devnet,
        deployment,
        proxy,
        anchor,
    }
}

async fn client(setup: &Setup) -> Result<ExecutionClient, Error> {
    ExecutionClient::anchor(
        Rpc::new(&setup.proxy.url()).unwrap(),
        setup.anchor,
        setup.chain_id,
    )
    .await
}

fn output(outcome: CallOutcome) -> Bytes {
    match outcome {
        CallOutcome::Success { output, .. } => output,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn verified_reads_and_calls_pass_untampered_and_reject_every_tampering() {
    let setup = setup().await;
    let token = setup.deployment.token;
    let admin = setup.deployment.admin;

    // Untampered: the verified balanceOf is the devnet's 1,000,000 tokens, as the node says.
    let client = client(&setup).await.unwrap();
    let verified = output(client.call(&balance_of(token, admin)).await.unwrap());
    assert_eq!(U256::from_be_slice(&verified), million_tokens());
    let node_says = Rpc::new(&setup.proxy.url())
        .unwrap()
        .call(
            "eth_call",
            json!([{"to": token, "data": balance_of(token, admin).data}, {"blockHash": setup.anchor}]),
        )
        .await
        .unwrap();
    assert_eq!(node_says, json!(verified));
    let account = client.account(admin, &[]).await.unwrap();
    assert!(account.balance > U256::ZERO);
    let code = client.code(token).await.unwrap();
    assert!(code.len() > 100);
    // Without the access list hint, execution discovers the storage it needs and fetches it.
    setup.proxy.set(Tamper::DropAccessList);
    let again = output(client.call(&balance_of(token, admin)).await.unwrap());
    assert_eq!(again, verified);
    assert!(setup.proxy.tampered() > 0);

    // Each tampering of what verification relies on is caught.
    for tamper in [
        Tamper::ProofBalance,
        Tamper::ProofNonce,
        Tamper::ProofStorageValue,
        Tamper::AccountProofNode,
        Tamper::StorageProofNode,
        Tamper::Code,
        Tamper::HeaderStateRoot,
        Tamper::HeaderTimestamp,
    ] {
        setup.proxy.set(tamper);
        let before = setup.proxy.tampered();
        let result = match tamper {
            Tamper::HeaderStateRoot | Tamper::HeaderTimestamp => client_result(&setup).await,
            Tamper::Code => client.code(token).await.map(|_| ()),
            _ => client.call(&balance_of(token, admin)).await.map(|_| ()),
        };
        assert!(
            setup.proxy.tampered() > before,
            "{tamper:?} changed nothing"
        );
        let err = result.expect_err(&format!("{tamper:?} was accepted"));
        assert!(
            matches!(err, Error::Verification(_) | Error::Call(_)),
            "{tamper:?}: {err}"
        );
    }
    setup.proxy.set(Tamper::None);
    let after = output(client.call(&balance_of(token, admin)).await.unwrap());
    assert_eq!(after, verified);
}

async fn client_result(setup: &Setup) -> Result<(), Error> {
    client(setup).await.map(|_| ())
}

#[tokio::test]
async fn provider_answers_verified_and_refuses_the_rest() {
    let setup = setup().await;
    let provider = Provider::new(client(&setup).await.unwrap());
    let token = setup.deployment.token;
    let admin = setup.deployment.admin;

    let balance = provider
        .request("eth_getBalance", &json!([admin, "latest"]))
        .await
        .unwrap();
    let direct = Rpc::new(&setup.proxy.url())
        .unwrap()
        .call(
            "eth_getBalance",
            json!([admin, {"blockHash": setup.anchor}]),
        )
        .await
        .unwrap();
    assert_eq!(balance, direct);

    let data = format!("0x70a08231{}{}", "00".repeat(12), hex::encode(admin));
    let result = provider
        .request("eth_call", &json!([{"to": token, "data": data}, "latest"]))
        .await
        .unwrap();
    let value: U256 = serde_json::from_value(result).unwrap();
    assert_eq!(value, million_tokens());

    let code = provider
        .request("eth_getCode", &json!([token]))
        .await
        .unwrap();
    assert!(code.as_str().unwrap().len() > 200);

    let refused = provider
        .request("eth_sendRawTransaction", &json!(["0x00"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code, -32601);
    let other_block = provider
        .request("eth_getBalance", &json!([admin, "0x0"]))
        .await
        .unwrap_err();
    assert_eq!(other_block.code, -32602);

    setup.proxy.set(Tamper::ProofBalance);
    let err = provider
        .request("eth_getBalance", &json!([admin]))
        .await
        .unwrap_err();
    assert_eq!(err.code, -32000);
    assert!(err.message.contains("unverifiable"), "{}", err.message);
}

#[tokio::test]
async fn ancestors_are_walked_by_parent_hash() {
    let setup = setup().await;
    let client = client(&setup).await.unwrap();
    let number = client.block().header.number;
    let ancestors = client.ancestors(3).await.unwrap();
    assert_eq!(ancestors.len(), 3.min(number as usize));
    for (i, block) in ancestors.iter().enumerate() {
        assert_eq!(block.header.number, number - 1 - i as u64);
    }
    setup.proxy.set(Tamper::HeaderStateRoot);
    assert!(matches!(
        client.ancestors(1).await,
        Err(Error::Verification(_))
    ));
}

/// alloy's typed provider over `VerifiedTransport`: balances, calls, block number and chain id
/// come out verified; a tampered proof and an unverifiable method are alloy errors.
#[tokio::test]
async fn alloy_reads_verified_data_through_the_transport() {
    use alloy_network::TransactionBuilder as _;
    use alloy_provider::Provider as _;
    use light_client_rpc::VerifiedTransport;

    let setup = setup().await;
    let provider = Provider::new(client(&setup).await.unwrap());
    let anchor_number = provider.client().block().header.number;
    let rpc_client = alloy_rpc_client::RpcClient::new(VerifiedTransport::new(provider), true);
    let alloy = alloy_provider::RootProvider::<alloy_network::Ethereum>::new(rpc_client);
    let admin = setup.deployment.admin;
    let direct = Rpc::new(&setup.proxy.url()).unwrap();
    let expected: U256 = serde_json::from_value(
        direct
            .call(
                "eth_getBalance",
                json!([admin, {"blockHash": setup.anchor}]),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(expected > U256::ZERO);
    assert_eq!(alloy.get_balance(admin).await.unwrap(), expected);
    assert_eq!(alloy.get_chain_id().await.unwrap(), setup.chain_id);
    assert_eq!(alloy.get_block_number().await.unwrap(), anchor_number);
    let call = balance_of(setup.deployment.token, admin);
    let request =
        <alloy_network::Ethereum as alloy_network::Network>::TransactionRequest::default()
            .with_to(setup.deployment.token)
            .with_input(call.data);
    let output = alloy.call(request).await.unwrap();
    assert_eq!(U256::from_be_slice(&output), million_tokens());

    let refused = alloy.send_raw_transaction(&[0u8]).await.unwrap_err();
    assert_eq!(refused.as_error_resp().unwrap().code, -32601, "{refused}");
    setup.proxy.set(Tamper::ProofBalance);
    let tampered = alloy.get_balance(admin).await.unwrap_err();
    let response = tampered.as_error_resp().expect("an error response");
    assert_eq!(response.code, -32000);
    assert!(response.message.contains("unverifiable"), "{tampered}");
}
