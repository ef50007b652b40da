//! Verified blocks, transactions, receipts and logs against a real anvil devnet: one block holds
//! a legacy, an EIP-2930, an EIP-1559 and an EIP-7702 transaction (two of them token transfers
//! emitting `Transfer` logs) and a contract creation; the provider's answers equal anvil's own on every
//! field it returns, and each tampering of a body, a receipt, a log, a claimed sender or another
//! claimed field (gas used, log index, block of a transaction), on each transaction or receipt
//! it applies to, is rejected.

use alloy_primitives::{Address, B256, U256};
use chain::Devnet;
use light_client_rpc::{BlockRef, Error, MAX_LOG_RANGE, Provider, Rpc};
use serde_json::{Value, json};

use crate::{Setup, client, setup};
use testkit::rpc_proxy::Tamper;

fn transfer(to: Address, amount: u64) -> String {
    format!(
        "0xa9059cbb{}{}{}",
        "00".repeat(12),
        hex::encode(to),
        hex::encode(B256::from(U256::from(amount)))
    )
}

/// Mines one block with five transactions of four types; returns its number and hashes.
async fn mine_block(setup: &Setup, rpc: &Rpc) -> (u64, Vec<B256>) {
    let accounts: Vec<Address> =
        serde_json::from_value(rpc.call("eth_accounts", json!([])).await.unwrap()).unwrap();
    let admin = setup.deployment.admin;
    let token = setup.deployment.token;
    rpc.call("evm_setAutomine", json!([false])).await.unwrap();
    let txs = [
        // Legacy token transfer.
        json!({"from": admin, "to": token, "data": transfer(accounts[3], 5),
               "gas": "0x30d40", "gasPrice": "0x77359400"}),
        // EIP-2930 value transfer with an access list.
        json!({"from": accounts[1], "to": admin, "value": "0x1", "gas": "0x7530",
               "gasPrice": "0x77359400",
               "accessList": [{"address": token, "storageKeys": [B256::ZERO]}]}),
        // EIP-1559 token transfer.
        json!({"from": accounts[2], "to": token, "data": transfer(accounts[4], 7),
               "gas": "0x30d40", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00"}),
        // EIP-1559 contract creation (init code: STOP).
        json!({"from": accounts[5], "data": "0x00", "gas": "0x186a0",
               "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1"}),
    ];
    let mut hashes = Vec::new();
    for tx in txs {
        let hash = rpc.call("eth_sendTransaction", json!([tx])).await.unwrap();
        hashes.push(serde_json::from_value(hash).unwrap());
    }
    let raw = set_code_transaction(setup, rpc, accounts[7]).await;
    let hash = rpc
        .call("eth_sendRawTransaction", json!([raw]))
        .await
        .unwrap();
    hashes.push(serde_json::from_value(hash).unwrap());
    rpc.call("evm_mine", json!([])).await.unwrap();
    rpc.call("evm_setAutomine", json!([true])).await.unwrap();
    let number = rpc.call("eth_blockNumber", json!([])).await.unwrap();
    let number = u64::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16);
    (number.unwrap(), hashes)
}

/// An EIP-7702 transaction from anvil account 6 carrying account 7's authorization to run the
/// token's code, signed here (anvil's `eth_sendTransaction` does not sign authorizations).
async fn set_code_transaction(setup: &Setup, rpc: &Rpc, to: Address) -> String {
    use alloy_consensus::{SignableTransaction, TxEip7702, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_eips::eip7702::Authorization;
    use alloy_signer::SignerSync;

    let sender = Devnet::key(6);
    let nonce = rpc
        .call(
            "eth_getTransactionCount",
            json!([sender.address(), "pending"]),
        )
        .await
        .unwrap();
    let nonce = u64::from_str_radix(nonce.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let authority = Devnet::key(7);
    let authorization = Authorization {
        chain_id: U256::from(setup.chain_id),
        address: setup.deployment.token,
        nonce: 0,
    };
    let signature = authority
        .sign_hash_sync(&authorization.signature_hash())
        .unwrap();
    let tx = TxEip7702 {
        chain_id: setup.chain_id,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to,
        authorization_list: vec![authorization.into_signed(signature)],
        ..Default::default()
    };
    let signature = sender.sign_hash_sync(&tx.signature_hash()).unwrap();
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    format!("0x{}", hex::encode(envelope.encoded_2718()))
}

/// Every field the provider returns equals anvil's (anvil may return more).
fn same_as_node(ours: &Value, node: &Value, what: &str) {
    match (ours, node) {
        (Value::Object(ours), Value::Object(node)) => {
            for (key, value) in ours {
                let theirs = node.get(key).unwrap_or(&Value::Null);
                same_as_node(value, theirs, &format!("{what}.{key}"));
            }
        }
        (Value::Array(ours), Value::Array(node)) => {
            assert_eq!(ours.len(), node.len(), "{what}: lengths");
            for (i, (a, b)) in ours.iter().zip(node).enumerate() {
                same_as_node(a, b, &format!("{what}[{i}]"));
            }
        }
        _ => assert_eq!(ours, node, "{what}"),
    }
}

#[tokio::test]
async fn blocks_transactions_receipts_and_logs_verify_and_tampering_is_rejected() {
    let mut setup = setup().await;
    let direct = Rpc::new(setup._devnet.rpc_url()).unwrap();
    let (number, hashes) = mine_block(&setup, &direct).await;
    // Anchor on the block after it, so the transactions' block is an ancestor.
    direct.call("evm_mine", json!([])).await.unwrap();
    setup.anchor = crate::latest_hash(&direct).await;
    let provider = Provider::new(client(&setup).await.unwrap());
    let tag = format!("0x{number:x}");

    // Untampered: the provider's verified answers equal the node's.
    let block = provider
        .request("eth_getBlockByNumber", &json!([tag, true]))
        .await
        .unwrap();
    let node_block = direct
        .call("eth_getBlockByNumber", json!([tag, true]))
        .await
        .unwrap();
    same_as_node(&block, &node_block, "block");
    // Withdrawals are served, checked against withdrawalsRoot (anvil's are empty).
    assert!(block["withdrawals"].is_array(), "{block}");
    assert_eq!(block["withdrawals"], node_block["withdrawals"]);
    let types: Vec<&str> = block["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| tx["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["0x0", "0x1", "0x2", "0x2", "0x4"]);
    let by_hash = provider
        .request("eth_getBlockByHash", &json!([block["hash"], false]))
        .await
        .unwrap();
    assert_eq!(by_hash["transactions"], json!(hashes));

    for hash in &hashes {
        let tx = provider
            .request("eth_getTransactionByHash", &json!([hash]))
            .await
            .unwrap();
        let node = direct
            .call("eth_getTransactionByHash", json!([hash]))
            .await
            .unwrap();
        same_as_node(&tx, &node, "transaction");
        let receipt = provider
            .request("eth_getTransactionReceipt", &json!([hash]))
            .await
            .unwrap();
        let node = direct
            .call("eth_getTransactionReceipt", json!([hash]))
            .await
            .unwrap();
        same_as_node(&receipt, &node, "receipt");
        assert_eq!(receipt["status"], "0x1");
    }
    let created = provider
        .request("eth_getTransactionReceipt", &json!([hashes[3]]))
        .await
        .unwrap();
    assert!(created["contractAddress"].is_string(), "{created}");
    let receipts = provider
        .request("eth_getBlockReceipts", &json!([tag]))
        .await
        .unwrap();
    let node_receipts = direct
        .call("eth_getBlockReceipts", json!([tag]))
        .await
        .unwrap();
    same_as_node(&receipts, &node_receipts, "receipts");

    // Logs: the token's Transfer events from block 0 to the anchor, as the node has them.
    let transfer_topic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
    let filter = json!({"fromBlock": "0x0", "toBlock": "latest",
                        "address": setup.deployment.token, "topics": [transfer_topic]});
    let logs = provider
        .request("eth_getLogs", &json!([filter]))
        .await
        .unwrap();
    let node_logs = direct.call("eth_getLogs", json!([filter])).await.unwrap();
    same_as_node(&logs, &node_logs, "logs");
    let in_block: Vec<&Value> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["blockNumber"] == json!(tag))
        .collect();
    assert_eq!(in_block.len(), 2, "{logs}");
    assert!(logs.as_array().unwrap().len() > 2);
    let one_block = provider
        .request("eth_getLogs", &json!([{"blockHash": block["hash"]}]))
        .await
        .unwrap();
    assert_eq!(one_block.as_array().unwrap().len(), 2);
    // Out of the verified range: after the anchor, or too many blocks.
    let after = provider
        .request(
            "eth_getBlockByNumber",
            &json!([format!("0x{:x}", number + 5), false]),
        )
        .await
        .unwrap_err();
    assert!(
        after.message.contains("out of the verified range"),
        "{}",
        after.message
    );
    let long = provider
        .request(
            "eth_getLogs",
            &json!([{"fromBlock": "0x0", "toBlock": format!("0x{:x}", MAX_LOG_RANGE)}]),
        )
        .await
        .unwrap_err();
    assert!(long.message.contains("at most"), "{}", long.message);
    let invalid = provider
        .request(
            "eth_getLogs",
            &json!([{"topics": [null, null, null, null, null]}]),
        )
        .await
        .unwrap_err();
    assert_eq!(invalid.code, -32602, "{}", invalid.message);

    // Tampering: every mode, on every transaction or receipt it applies to.
    let client = provider.client();
    // A verified block that does not hold the transactions: the one before theirs.
    setup.proxy.other_block(node_block["parentHash"].clone());
    let block_hash: B256 = serde_json::from_value(block["hash"].clone()).unwrap();
    let mut rejected = 0;
    let mut applied_modes = 0;
    for tamper in [
        Tamper::TxValue,
        Tamper::TxInput,
        Tamper::TxFrom,
        Tamper::TxNonce,
        Tamper::ReceiptStatus,
        Tamper::ReceiptGas,
        Tamper::ReceiptFrom,
        Tamper::ReceiptGasUsed,
        Tamper::LogIndex,
        Tamper::LogData,
        Tamper::LogTopic,
        Tamper::DropLog,
        Tamper::AddLog,
        Tamper::TxBlockHash,
        Tamper::HeaderStateRoot,
        Tamper::AddWithdrawal,
    ] {
        for (target, hash) in hashes.iter().enumerate() {
            setup.proxy.set(tamper);
            setup.proxy.target(target);
            let mut applied = false;
            for call in 0..4 {
                let before = setup.proxy.tampered();
                let result = match call {
                    0 => client.transaction_receipt(*hash).await.map(|_| ()),
                    1 => client.transaction_by_hash(*hash).await.map(|_| ()),
                    2 => client
                        .logs(&json!({"fromBlock": tag, "toBlock": "latest"}))
                        .await
                        .map(|_| ()),
                    _ => client
                        .block_receipts(BlockRef::Hash(block_hash))
                        .await
                        .map(|_| ()),
                };
                if setup.proxy.tampered() == before {
                    // This call read nothing the mode alters for this target (no input, no logs).
                    continue;
                }
                applied = true;
                match result {
                    Err(
                        Error::Verification(_) | Error::NotInBlock { .. } | Error::OutOfRange(_),
                    ) => {
                        rejected += 1;
                    }
                    Ok(()) => panic!("{tamper:?} on #{target}, call {call}: accepted"),
                    Err(other) => panic!("{tamper:?} on #{target}, call {call}: {other}"),
                }
            }
            applied_modes += usize::from(applied);
            setup.proxy.set(Tamper::None);
        }
    }
    // Value, sender, nonce, status, cumulative gas, receipt sender, gas used, block hash, header
    // and withdrawal tampers apply to all 5 transactions, input to the 3 with input, the 5 log
    // tampers to the 2 transfers: 63 pairs, each read by several calls, and every call that read
    // a tampered answer rejected it.
    assert_eq!(applied_modes, 10 * 5 + 3 + 5 * 2);
    assert!(rejected > applied_modes, "{rejected} rejections");
    // Untampered again: everything verifies.
    client.transaction_receipt(hashes[0]).await.unwrap();
}
