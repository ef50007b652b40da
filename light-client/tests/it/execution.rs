//! `eth_getProof` answers verified against their block's state root (mainnet block 21925176);
//! every byte of every proof node matters, and so do the claimed values.

use alloy_primitives::U256;
use light_client::ExecutionError;
use light_client::execution::{AccountProof, verify_code};

use crate::fixtures::{fixture, root, text, unhex};

/// `stateRoot` of mainnet block 21925176 (`block.json`).
fn state_root() -> alloy_primitives::B256 {
    let block: serde_json::Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/block.json")).unwrap();
    root(block["stateRoot"].as_str().unwrap())
}

fn deposit_contract() -> AccountProof {
    AccountProof::from_json(text(fixture!("helios-el-mainnet-block21925176/proof.json"))).unwrap()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn deposit_contract_account_storage_and_code_verify() {
    let verified = deposit_contract().verify(state_root()).unwrap();
    let account: serde_json::Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/account.json")).unwrap();
    assert_eq!(verified.nonce, 1);
    assert_eq!(
        verified.balance,
        account["account"]["balance"]
            .as_str()
            .unwrap()
            .parse::<U256>()
            .unwrap()
    );
    assert_eq!(
        verified.code_hash,
        root(account["account"]["codeHash"].as_str().unwrap())
    );
    assert_eq!(verified.storage.len(), 1);
    assert_eq!(
        verified.storage[0].value,
        "0x2394e3bc4086a9625ae88307145a40ff4a4bf2c9a6755435bff86b22d6175d5f"
            .parse::<U256>()
            .unwrap()
    );
    let code = unhex(account["code"].as_str().unwrap());
    verify_code(&verified, &code).unwrap();
    let mut bad_code = code.clone();
    bad_code[10] ^= 1;
    assert!(matches!(
        verify_code(&verified, &bad_code),
        Err(ExecutionError::CodeHash { .. })
    ));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn block_miner_account_verifies() {
    let proof = AccountProof::from_json(text(fixture!(
        "helios-el-mainnet-block21925176/block_miner_proof.json"
    )))
    .unwrap();
    let verified = proof.verify(state_root()).unwrap();
    assert_eq!(verified.nonce, 0x13e79e);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn another_state_root_is_rejected() {
    let mut other = state_root();
    other.0[31] ^= 1;
    assert!(matches!(
        deposit_contract().verify(other),
        Err(ExecutionError::AccountProof { .. })
    ));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_byte_of_every_proof_node_is_checked() {
    let proof = deposit_contract();
    let state_root = state_root();
    let mut checked = 0;
    for node in 0..proof.account_proof.len() {
        for byte in 0..proof.account_proof[node].len() {
            let mut bad = proof.clone();
            let mut bytes = bad.account_proof[node].to_vec();
            bytes[byte] ^= 0x01;
            bad.account_proof[node] = bytes.into();
            assert!(
                matches!(
                    bad.verify(state_root),
                    Err(ExecutionError::AccountProof { .. })
                ),
                "account node {node} byte {byte}"
            );
            checked += 1;
        }
    }
    for node in 0..proof.storage_proof[0].proof.len() {
        for byte in 0..proof.storage_proof[0].proof[node].len() {
            let mut bad = proof.clone();
            let mut bytes = bad.storage_proof[0].proof[node].to_vec();
            bytes[byte] ^= 0x01;
            bad.storage_proof[0].proof[node] = bytes.into();
            assert!(
                matches!(
                    bad.verify(state_root),
                    Err(ExecutionError::StorageProof { .. })
                ),
                "storage node {node} byte {byte}"
            );
            checked += 1;
        }
    }
    assert!(checked > 3000, "{checked}");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn tampered_claims_are_rejected() {
    let state_root = state_root();
    let mut bad = deposit_contract();
    bad.balance += U256::from(1);
    assert!(matches!(
        bad.verify(state_root),
        Err(ExecutionError::AccountProof { .. })
    ));
    let mut bad = deposit_contract();
    bad.nonce = U256::from(2);
    assert!(matches!(
        bad.verify(state_root),
        Err(ExecutionError::AccountProof { .. })
    ));
    let mut bad = deposit_contract();
    bad.code_hash.0[0] ^= 1;
    assert!(matches!(
        bad.verify(state_root),
        Err(ExecutionError::AccountProof { .. })
    ));
    let mut bad = deposit_contract();
    bad.storage_proof[0].value += U256::from(1);
    assert!(matches!(
        bad.verify(state_root),
        Err(ExecutionError::StorageProof { .. })
    ));
    let mut bad = deposit_contract();
    bad.storage_proof[0].value = U256::ZERO;
    assert!(matches!(
        bad.verify(state_root),
        Err(ExecutionError::StorageProof { .. })
    ));
}
