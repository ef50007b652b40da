//! A mainnet `eth_call` (block 17463226) re-executed with revm over proven state only: the block
//! header is checked against its hash, accounts against its state root, code against the proven
//! code hashes; the result matches the node's answer.

use alloy_primitives::{Address, Bytes};
use light_client::evm::{CallError, CallOutcome, CallRequest, Missing, VerifiedState, call};
use light_client::execution::AccountProof;
use light_client::header::verify_header_json;

use crate::fixtures::{fixture, root, unhex};

struct Vector {
    block: light_client::header::VerifiedBlock,
    state: VerifiedState,
    request: CallRequest,
    expected: Bytes,
}

fn vector() -> Vector {
    let json: serde_json::Value =
        serde_json::from_slice(fixture!("lodestar-prover-mainnet/eth_call.json")).unwrap();
    let block_json = &json["execution"]["block"];
    let block = verify_header_json(block_json, root(block_json["hash"].as_str().unwrap())).unwrap();
    let mut state = VerifiedState::new(block.header.state_root);
    for dependent in json["dependentRequests"].as_array().unwrap() {
        let (Some(payloads), Some(responses)) = (
            dependent["payload"].as_array(),
            dependent["response"].as_array(),
        ) else {
            continue;
        };
        for (payload, response) in payloads.iter().zip(responses) {
            match payload["method"].as_str().unwrap() {
                "eth_getProof" => {
                    let proof = AccountProof::from_json(&response.to_string()).unwrap();
                    state.add_proof(&proof).unwrap();
                }
                "eth_getCode" => {
                    let address: Address = payload["params"][0].as_str().unwrap().parse().unwrap();
                    let code = unhex(response["result"].as_str().unwrap());
                    state.add_code(address, code.into()).unwrap();
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let params = &json["request"]["params"][0];
    let request = CallRequest {
        from: None,
        to: Some(params["to"].as_str().unwrap().parse().unwrap()),
        data: unhex(params["data"].as_str().unwrap()).into(),
        ..CallRequest::default()
    };
    let expected = unhex(json["response"]["result"].as_str().unwrap()).into();
    Vector {
        block,
        state,
        request,
        expected,
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn mainnet_eth_call_reexecutes_to_the_same_result() {
    let v = vector();
    let outcome = call(&v.state, &v.block.header, 1, &v.request).unwrap();
    match outcome {
        CallOutcome::Success { output, gas_used } => {
            assert_eq!(output, v.expected);
            assert!(gas_used > 21_000);
        }
        other => panic!("{other:?}"),
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn unproven_state_is_reported_missing_never_guessed() {
    let v = vector();
    let empty = VerifiedState::new(v.block.header.state_root);
    let err = call(&empty, &v.block.header, 1, &v.request).unwrap_err();
    let CallError::Missing(missing) = err else {
        panic!("{err:?}")
    };
    assert!(missing.contains(&Missing::Account(v.request.to.unwrap())));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn tampered_code_or_header_is_rejected() {
    let json: serde_json::Value =
        serde_json::from_slice(fixture!("lodestar-prover-mainnet/eth_call.json")).unwrap();
    let mut block = json["execution"]["block"].clone();
    let hash = root(block["hash"].as_str().unwrap());
    block["stateRoot"] = serde_json::Value::String(format!("0x{}", "11".repeat(32)));
    assert!(verify_header_json(&block, hash).is_err());

    let mut v = vector();
    let to = v.request.to.unwrap();
    let mut code = unhex(
        "0x6080604052348015600f57600080fd5b506004361060285760003560e01c8063e6cb901314602d575b600080fd5b",
    );
    code[3] ^= 1;
    assert!(v.state.add_code(to, code.into()).is_err());
}
