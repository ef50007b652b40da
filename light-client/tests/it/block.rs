//! Block bodies over real mainnet data: the 217 transactions of block 17463226 (lodestar's
//! fixture, full `eth_getBlockByHash` objects) give its `transactionsRoot` with every hash and
//! sender computed locally; the 202 receipts of block 21925176 (helios's fixture) give its
//! `receiptsRoot`, and the deposit-contract log derived locally from them equals helios's
//! `logs.json`. Then single-byte corruptions of encoded transactions, claimed senders and
//! hashes, receipt fields, log data and topics, and dropped or added logs are all rejected.

use alloy_consensus::Transaction as _;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256};
use light_client::ExecutionError;
use light_client::block::{
    LogFilter, Transaction, block_logs, verify_block_json, verify_receipts_json,
    verify_transaction_json, verify_transactions_json, verify_withdrawals_json,
};
use light_client::header::{VerifiedBlock, verify_header_json};
use serde_json::{Value, json};

use crate::fixtures::{fixture, root};

/// Block 17463226 with its 217 full transactions.
fn full_block() -> Value {
    let file: Value =
        serde_json::from_slice(fixture!("lodestar-prover-mainnet/eth_call.json")).unwrap();
    file["execution"]["block"].clone()
}

fn full_block_hash(block: &Value) -> B256 {
    root(block["hash"].as_str().unwrap())
}

/// Block 21925176: header (transaction hashes only) and its receipts.
fn receipts_block() -> (VerifiedBlock, Vec<B256>, Value) {
    let block: Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/block.json")).unwrap();
    let verified = verify_header_json(&block, root(block["hash"].as_str().unwrap())).unwrap();
    let hashes = serde_json::from_value(block["transactions"].clone()).unwrap();
    let receipts =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/receipts.json")).unwrap();
    (verified, hashes, receipts)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn mainnet_block_transactions_verify() {
    let block = full_block();
    let body = verify_block_json(&block, full_block_hash(&block)).unwrap();
    let objects = block["transactions"].as_array().unwrap();
    assert_eq!(body.transactions.len(), 217);
    let mut types = [0usize; 5];
    for (tx, object) in body.transactions.iter().zip(objects) {
        assert_eq!(tx.hash, root(object["hash"].as_str().unwrap()));
        let from: Address = serde_json::from_value(object["from"].clone()).unwrap();
        assert_eq!(tx.from, from);
        assert_eq!(tx.block_number, 17_463_226);
        types[tx.transaction.tx_type() as usize] += 1;
        // The JSON-RPC `gasPrice` of a 1559 transaction is its effective price.
        let price = u128::from_str_radix(
            object["gasPrice"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        assert_eq!(tx.effective_gas_price, price, "tx {}", tx.index);
    }
    assert_eq!(types, [37, 0, 180, 0, 0]);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_transaction_hash_and_sender_are_computed() {
    let object: Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/transaction.json"))
            .unwrap();
    let hashes: Vec<B256> =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/tx_hashes.json")).unwrap();
    let (_, hash, from) = verify_transaction_json(&object, 0).unwrap();
    assert_eq!(hashes, vec![hash]);
    assert_eq!(
        from,
        "0x4281ecf07378ee595c564a59048801330f3084ee"
            .parse::<Address>()
            .unwrap()
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn mainnet_receipts_verify_and_logs_derive_locally() {
    let (block, hashes, receipts) = receipts_block();
    let verified = verify_receipts_json(&block, &receipts).unwrap();
    assert_eq!(verified.len(), 202);
    // receipt.json is receipt 0x27 of the same block.
    let single: Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/receipt.json")).unwrap();
    let expected: alloy_consensus::ReceiptEnvelope = serde_json::from_value(single).unwrap();
    assert_eq!(verified[0x27], expected);

    // block.json lists transaction hashes only (no bodies to check them against the
    // transactions root), so the test takes them as given: positions are computed locally.
    let logs = block_logs(&block, &hashes, &verified).unwrap();
    let filter = LogFilter::from_json(&json!({
        "address": "0x00000000219ab540356cbb839cbe05303d7705fa",
    }))
    .unwrap();
    assert!(filter.may_match(&block.header.logs_bloom));
    let selected: Vec<Value> = filter
        .select(logs.iter().flatten())
        .map(|log| {
            json!({
                "address": log.log.address,
                "topics": log.log.topics(),
                "data": log.log.data.data,
                "blockHash": log.block_hash,
                "blockNumber": format!("0x{:x}", log.block_number),
                "transactionHash": log.transaction_hash,
                "transactionIndex": format!("0x{:x}", log.transaction_index),
                "logIndex": format!("0x{:x}", log.log_index),
                "removed": false,
            })
        })
        .collect();
    let expected: Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/logs.json")).unwrap();
    assert_eq!(Value::Array(selected), expected);
    // Every log position computed locally equals what the node said.
    let mut count = 0;
    for (receipt, local) in receipts.as_array().unwrap().iter().zip(&logs) {
        for (claimed, log) in receipt["logs"].as_array().unwrap().iter().zip(local) {
            let index = u64::from_str_radix(
                claimed["logIndex"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap();
            assert_eq!(index, log.log_index);
            count += 1;
        }
    }
    assert!(count > 400, "{count} logs");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn log_filter_semantics() {
    let (block, hashes, receipts) = receipts_block();
    let verified = verify_receipts_json(&block, &receipts).unwrap();
    let logs = block_logs(&block, &hashes, &verified).unwrap();
    let all: Vec<_> = logs.iter().flatten().collect();
    let count = |filter: Value| {
        let filter = LogFilter::from_json(&filter).unwrap();
        filter.select(all.iter().copied()).count()
    };
    let transfer = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
    let deposit = "0x649bbc62d0e31342afea4e5cd82d4049e7e1ee912fc0889aa790803be39038c5";
    let weth = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2";
    let transfers = all
        .iter()
        .filter(|l| l.log.topics().first() == Some(&root(transfer)))
        .count();
    assert!(transfers > 50);
    assert_eq!(count(json!({})), all.len());
    assert_eq!(count(json!({"topics": [transfer]})), transfers);
    assert_eq!(
        count(json!({"topics": [[transfer, deposit]]})),
        transfers + 1
    );
    assert_eq!(count(json!({"topics": [null, null, null, null]})), {
        all.iter().filter(|l| l.log.topics().len() >= 4).count()
    });
    let weth_transfers = count(json!({"address": [weth], "topics": [transfer]}));
    assert!(weth_transfers > 0 && weth_transfers < transfers);
    // WETH's transfers from the first log's sender (position 1 constrained, 0 free).
    let from = all[1].log.topics()[1];
    let n = count(json!({"address": weth, "topics": [null, from]}));
    assert!(n >= 1);
    assert!(LogFilter::from_json(&json!({"topics": [null, null, null, null, null]})).is_err());
    assert!(LogFilter::from_json(&json!({"address": "0x12"})).is_err());
    // The bloom rules out an emitter that is not in the block.
    let absent =
        LogFilter::from_json(&json!({"address": "0x000000000000000000000000000000000000dead"}))
            .unwrap();
    assert!(!absent.may_match(&block.header.logs_bloom));
}

fn transactions_rejected(block: &Value) -> ExecutionError {
    verify_block_json(block, full_block_hash(block)).expect_err("a corrupted body was accepted")
}

/// A header committing to the genuine first transaction of block 17463226 alone: the same root
/// check as for the whole block, with one sender recovery per corruption instead of 217.
fn one_transaction_block(block: &Value) -> (VerifiedBlock, Value) {
    let genuine = block["transactions"][0].clone();
    let tx: Transaction = serde_json::from_value(genuine.clone()).unwrap();
    let header = alloy_consensus::Header {
        number: 17_463_226,
        transactions_root: alloy_consensus::proofs::calculate_transaction_root(&[tx]),
        ..Default::default()
    };
    let hash = header.hash_slow();
    let mut object = genuine;
    object["blockHash"] = json!(hash);
    (VerifiedBlock { header, hash }, json!([object]))
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_byte_of_an_encoded_transaction_is_checked() {
    let (block, transactions) = one_transaction_block(&full_block());
    verify_transactions_json(&block, &transactions).unwrap();
    let original: Transaction = serde_json::from_value(transactions[0].clone()).unwrap();
    let encoded = original.encoded_2718();
    let mut checked = 0;
    for byte in 0..encoded.len() {
        let mut bytes = encoded.clone();
        bytes[byte] ^= 0x01;
        // A corruption that no longer decodes never reaches the verifier as a transaction.
        let Ok(corrupt) = Transaction::decode_2718(&mut bytes.as_slice()) else {
            continue;
        };
        // The forger sends the corrupted transaction with its own consistent hash; the sender
        // claim is left out, so the root (or the signature) is what must catch it.
        let mut object = serde_json::to_value(&corrupt).unwrap();
        object["blockHash"] = json!(block.hash);
        let err = verify_transactions_json(&block, &json!([object]))
            .expect_err("a corrupted transaction was accepted");
        assert!(
            matches!(
                err,
                ExecutionError::Root { .. } | ExecutionError::Signature { .. }
            ),
            "byte {byte}: {err}"
        );
        checked += 1;
    }
    assert!(
        checked > encoded.len() / 2,
        "{checked} of {}",
        encoded.len()
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn claimed_senders_hashes_and_positions_are_checked() {
    let block = full_block();
    for index in [0usize, 1, 100, 216] {
        for byte in [0usize, 7, 19] {
            let mut bad = block.clone();
            let from = bad["transactions"][index]["from"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut raw = hex::decode(&from[2..]).unwrap();
            raw[byte] ^= 0x80;
            bad["transactions"][index]["from"] = json!(format!("0x{}", hex::encode(raw)));
            let err = transactions_rejected(&bad);
            assert!(
                matches!(err, ExecutionError::Sender { index: i, .. } if i == index),
                "{err}"
            );
        }
        let mut bad = block.clone();
        bad["transactions"][index]["hash"] = json!(B256::repeat_byte(0x11));
        assert!(matches!(
            transactions_rejected(&bad),
            ExecutionError::TransactionHash { .. }
        ));
        let mut bad = block.clone();
        bad["transactions"][index]["transactionIndex"] = json!("0x7ff");
        assert!(matches!(
            transactions_rejected(&bad),
            ExecutionError::Claim {
                field: "transactionIndex",
                ..
            }
        ));
    }
    // Dropping, duplicating or swapping transactions changes the root.
    let mut dropped = block.clone();
    dropped["transactions"].as_array_mut().unwrap().pop();
    assert!(matches!(
        transactions_rejected(&dropped),
        ExecutionError::Root { .. }
    ));
    let mut swapped = block.clone();
    let txs = swapped["transactions"].as_array_mut().unwrap();
    txs.swap(3, 4);
    for (i, tx) in txs.iter_mut().enumerate() {
        tx["transactionIndex"] = json!(format!("0x{i:x}"));
    }
    assert!(matches!(
        transactions_rejected(&swapped),
        ExecutionError::Root { .. }
    ));
    // Hashes only is refused with a clear message.
    let mut hashes = block.clone();
    hashes["transactions"] = json!([block["transactions"][0]["hash"]]);
    let err = transactions_rejected(&hashes);
    assert!(err.to_string().contains("full transactions"), "{err}");
    // One changed field a wallet shows: value and recipient.
    let mut bad = block.clone();
    bad["transactions"][5]["value"] = json!("0x1");
    bad["transactions"][5]
        .as_object_mut()
        .unwrap()
        .remove("hash");
    assert!(verify_block_json(&bad, full_block_hash(&bad)).is_err());
    let first = &block["transactions"][0];
    let tx: Transaction = serde_json::from_value(first.clone()).unwrap();
    assert!(tx.to().is_some());
}

fn receipts_rejected(block: &VerifiedBlock, receipts: &Value) -> ExecutionError {
    verify_receipts_json(block, receipts).expect_err("corrupted receipts were accepted")
}

fn flip(value: &mut Value, byte: usize) {
    let text = value.as_str().unwrap().to_owned();
    let mut raw = hex::decode(&text[2..]).unwrap();
    raw[byte] ^= 0x01;
    *value = json!(format!("0x{}", hex::encode(raw)));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_receipt_field_and_log_byte_is_checked() {
    let (block, _, receipts) = receipts_block();
    let root_error = |bad: &Value, what: &str| {
        let err = receipts_rejected(&block, bad);
        assert!(
            matches!(
                err,
                ExecutionError::Root {
                    what: "receipts",
                    ..
                }
            ),
            "{what}: {err}"
        );
    };
    // Receipt 0: two WETH logs with 32 bytes of data each; every data and topic byte.
    for log in 0..2 {
        for byte in 0..32 {
            let mut bad = receipts.clone();
            flip(&mut bad[0]["logs"][log]["data"], byte);
            root_error(&bad, "log data");
            let mut bad = receipts.clone();
            flip(&mut bad[0]["logs"][log]["topics"][1], byte);
            root_error(&bad, "log topic");
        }
        for byte in 0..20 {
            let mut bad = receipts.clone();
            flip(&mut bad[0]["logs"][log]["address"], byte);
            root_error(&bad, "log address");
        }
    }
    // The deposit log of receipt 0x27: every 8th byte of its 576 bytes of data.
    for byte in (0..576).step_by(8) {
        let mut bad = receipts.clone();
        flip(&mut bad[0x27]["logs"][0]["data"], byte);
        root_error(&bad, "deposit data");
    }
    for byte in (0..256).step_by(5) {
        let mut bad = receipts.clone();
        flip(&mut bad[7]["logsBloom"], byte);
        root_error(&bad, "bloom");
    }
    for index in [0usize, 0x27, 201] {
        let mut bad = receipts.clone();
        bad[index]["status"] = json!(if bad[index]["status"] == "0x1" {
            "0x0"
        } else {
            "0x1"
        });
        root_error(&bad, "status");
        let mut bad = receipts.clone();
        let gas = u64::from_str_radix(
            bad[index]["cumulativeGasUsed"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        bad[index]["cumulativeGasUsed"] = json!(format!("0x{:x}", gas + 1));
        root_error(&bad, "cumulative gas");
        let mut bad = receipts.clone();
        bad[index]["type"] = json!(if bad[index]["type"] == "0x2" {
            "0x0"
        } else {
            "0x2"
        });
        root_error(&bad, "type");
        let mut bad = receipts.clone();
        bad[index]["blockHash"] = json!(B256::ZERO);
        assert!(matches!(
            receipts_rejected(&block, &bad),
            ExecutionError::Claim {
                field: "blockHash",
                ..
            }
        ));
    }
    // A dropped log, an added log, a dropped receipt.
    let mut bad = receipts.clone();
    bad[0]["logs"].as_array_mut().unwrap().pop();
    root_error(&bad, "dropped log");
    let mut bad = receipts.clone();
    let extra = bad[0]["logs"][0].clone();
    bad[0]["logs"].as_array_mut().unwrap().push(extra);
    root_error(&bad, "added log");
    let mut bad = receipts.clone();
    bad.as_array_mut().unwrap().pop();
    root_error(&bad, "dropped receipt");
}

/// Blob (EIP-4844) and set-code (EIP-7702) transactions, which the mainnet fixtures predate:
/// signed here with a fixed key, serialized in the JSON-RPC shape, and checked against a header
/// committing to them.
fn typed_block() -> (VerifiedBlock, Value, Address) {
    use alloy_consensus::{SignableTransaction, TxEip4844, TxEip7702};
    use alloy_eips::eip7702::{Authorization, SignedAuthorization};
    use alloy_primitives::{Signature, U256};

    let key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let sign = |hash: B256| -> Signature {
        key.sign_prehash_recoverable(hash.as_slice())
            .unwrap()
            .into()
    };
    let blob = TxEip4844 {
        chain_id: 1,
        nonce: 3,
        gas_limit: 21_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: Address::repeat_byte(0x42),
        value: U256::from(5u64),
        blob_versioned_hashes: vec![B256::repeat_byte(0x01), B256::repeat_byte(0x02)],
        max_fee_per_blob_gas: 7,
        ..Default::default()
    };
    let set_code = TxEip7702 {
        chain_id: 1,
        nonce: 4,
        gas_limit: 60_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: Address::repeat_byte(0x43),
        authorization_list: vec![SignedAuthorization::new_unchecked(
            Authorization {
                chain_id: U256::from(1u64),
                address: Address::repeat_byte(0x44),
                nonce: 5,
            },
            1,
            U256::from(11u64),
            U256::from(12u64),
        )],
        input: vec![0xde, 0xad].into(),
        ..Default::default()
    };
    let blob_hash = blob.signature_hash();
    let set_code_hash = set_code.signature_hash();
    let txs: Vec<Transaction> = vec![
        blob.into_signed(sign(blob_hash)).into(),
        set_code.into_signed(sign(set_code_hash)).into(),
    ];
    let header = alloy_consensus::Header {
        number: 9,
        base_fee_per_gas: Some(10_000_000_000),
        transactions_root: alloy_consensus::proofs::calculate_transaction_root(&txs),
        ..Default::default()
    };
    let hash = header.hash_slow();
    let objects: Vec<Value> = txs
        .iter()
        .map(|tx| serde_json::to_value(tx).unwrap())
        .collect();
    (
        VerifiedBlock { header, hash },
        Value::Array(objects),
        Address::from_private_key(&key),
    )
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blob_and_set_code_transactions_verify_and_every_field_is_checked() {
    let (block, transactions, signer) = typed_block();
    assert_eq!(transactions[0]["type"], "0x3");
    assert_eq!(transactions[1]["type"], "0x4");
    let verified = verify_transactions_json(&block, &transactions).unwrap();
    assert_eq!(verified.len(), 2);
    for tx in &verified {
        assert_eq!(tx.from, signer);
        assert_eq!(tx.effective_gas_price, 11_000_000_000);
    }
    // Each encoded field of either transaction, changed (the forger also gives the matching
    // hash, so the root or the signature is what catches it).
    let changes: [(&str, Value); 6] = [
        ("maxFeePerBlobGas", json!("0x8")),
        ("blobVersionedHashes", json!([B256::repeat_byte(0x01)])),
        ("nonce", json!("0x9")),
        ("value", json!("0x6")),
        ("maxPriorityFeePerGas", json!("0x1")),
        ("chainId", json!("0x2")),
    ];
    for index in 0..2 {
        for (field, value) in &changes {
            if index == 1 && matches!(*field, "maxFeePerBlobGas" | "blobVersionedHashes") {
                continue;
            }
            let mut bad = transactions.clone();
            bad[index][*field] = value.clone();
            let forged: Transaction = serde_json::from_value(bad[index].clone()).unwrap();
            bad[index]["hash"] = json!(alloy_primitives::keccak256(forged.encoded_2718()));
            let err = verify_transactions_json(&block, &bad).expect_err(field);
            assert!(
                matches!(
                    err,
                    ExecutionError::Root { .. } | ExecutionError::Signature { .. }
                ),
                "{field}: {err}"
            );
        }
    }
    let mut bad = transactions.clone();
    bad[1]["authorizationList"][0]["address"] = json!(Address::repeat_byte(0x45));
    let forged: Transaction = serde_json::from_value(bad[1].clone()).unwrap();
    bad[1]["hash"] = json!(alloy_primitives::keccak256(forged.encoded_2718()));
    assert!(verify_transactions_json(&block, &bad).is_err());
    // The server's claimed sender is compared with the recovered one.
    let mut bad = transactions.clone();
    bad[0]["from"] = json!(Address::repeat_byte(0x99));
    assert!(matches!(
        verify_transactions_json(&block, &bad),
        Err(ExecutionError::Sender { index: 0, .. })
    ));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn mainnet_withdrawals_verify_and_every_change_is_rejected() {
    // Block 17463226's full body carries its withdrawals.
    let block = full_block();
    let body = verify_block_json(&block, full_block_hash(&block)).unwrap();
    let withdrawals = body
        .withdrawals
        .expect("a post-Shanghai block's withdrawals");
    assert_eq!(
        withdrawals.len(),
        block["withdrawals"].as_array().unwrap().len()
    );
    assert!(!withdrawals.is_empty());

    // Block 21925176: 16 withdrawals against its header's withdrawalsRoot.
    let file: Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/block.json")).unwrap();
    let header = verify_header_json(&file, root(file["hash"].as_str().unwrap())).unwrap();
    let withdrawals_root = header.header.withdrawals_root.unwrap();
    let original = file["withdrawals"].clone();
    let verified = verify_withdrawals_json(withdrawals_root, &original).unwrap();
    assert_eq!(verified.len(), 16);
    assert_eq!(verified[0].index, 0x4a9_e66b);
    assert_eq!(verified[0].validator_index, 0x8_5dd2);
    assert_eq!(verified[0].amount, 0x121_a6a9);
    assert_eq!(
        verified[0].address,
        "0xb9d7934878b5fb9610b3fe8a5e441e8fad7e293f"
            .parse::<Address>()
            .unwrap()
    );

    let rejected = |changed: &Value| {
        let err = verify_withdrawals_json(withdrawals_root, changed)
            .expect_err("changed withdrawals were accepted");
        assert!(
            matches!(
                err,
                ExecutionError::Root {
                    what: "withdrawals",
                    ..
                }
            ),
            "{err}"
        );
    };
    let items = original.as_array().unwrap().len();
    for index in 0..items {
        for field in ["index", "validatorIndex", "amount"] {
            let mut changed = original.clone();
            let value = &mut changed[index][field];
            let number = u64::from_str_radix(&value.as_str().unwrap()[2..], 16).unwrap();
            *value = json!(format!("{:#x}", number + 1));
            rejected(&changed);
        }
        for byte in 0..20 {
            let mut changed = original.clone();
            flip(&mut changed[index]["address"], byte);
            rejected(&changed);
        }
    }
    let list = |items: Vec<Value>| Value::Array(items);
    let all = original.as_array().unwrap().clone();
    rejected(&list(all[1..].to_vec()));
    rejected(&list(all[..items - 1].to_vec()));
    rejected(&list([all.clone(), vec![all[0].clone()]].concat()));
    let mut swapped = all.clone();
    swapped.swap(0, 1);
    rejected(&list(swapped));
    rejected(&list(Vec::new()));

    let mut malformed = original.clone();
    malformed[3]["amount"] = json!("0xzz");
    let err = verify_withdrawals_json(withdrawals_root, &malformed).unwrap_err();
    assert!(err.to_string().contains("#3"), "{err}");
    assert!(verify_withdrawals_json(withdrawals_root, &json!({})).is_err());
}
