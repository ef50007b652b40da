//! CairnToken: minting within the cap, roles, EIP-2612 permit.

use alloy::primitives::{Address, U256};
use chain::contracts::CairnToken;
use chain::eip712::{self, Permit};

use crate::common::{env, revert, tokens};
use crate::tx;

#[tokio::test]
async fn minting_is_capped_and_reserved_to_minters() {
    let env = env().await;
    let admin = env.as_account(0);
    let stranger = env.as_account(1);
    let to = Address::repeat_byte(9);

    tx!(admin.token.mint(to, tokens(5))).unwrap();
    assert_eq!(admin.token.balanceOf(to).call().await.unwrap(), tokens(5));

    let err = revert::<CairnToken::AccessControlUnauthorizedAccount, _>(tx!(stranger
        .token
        .mint(to, tokens(1))));
    assert_eq!(err.account, env.key(1).address());

    let cap = admin.token.MAX_SUPPLY().call().await.unwrap();
    let supply = admin.token.totalSupply().call().await.unwrap();
    let err = revert::<CairnToken::SupplyCapExceeded, _>(tx!(admin.token.mint(to, cap)));
    assert_eq!(err.available, cap - supply);
}

#[tokio::test]
async fn permit_sets_an_allowance_without_a_transaction_from_the_owner() {
    let env = env().await;
    let owner_key = env.key(2);
    let spender = env.key(3).address();
    let relayer = env.as_account(4);
    let domain = eip712::token_domain(env.deployment.chain_id, env.deployment.token);
    let permit = Permit {
        owner: owner_key.address(),
        spender,
        value: tokens(7),
        nonce: U256::ZERO,
        deadline: U256::from(u64::MAX),
    };
    let (v, r, s) = eip712::split(&eip712::sign(&owner_key, &permit, &domain).unwrap());
    tx!(relayer.token.permit(
        permit.owner,
        spender,
        permit.value,
        permit.deadline,
        v,
        r,
        s
    ))
    .unwrap();
    assert_eq!(
        relayer
            .token
            .allowance(permit.owner, spender)
            .call()
            .await
            .unwrap(),
        tokens(7)
    );
    // The same signature again: the nonce moved on.
    let replay = tx!(relayer.token.permit(
        permit.owner,
        spender,
        permit.value,
        permit.deadline,
        v,
        r,
        s
    ));
    revert::<CairnToken::ERC2612InvalidSigner, _>(replay);
}

/// Every transaction leaves room above its estimate (see `chain::contracts::GasMargin`).
#[tokio::test]
async fn transactions_carry_a_gas_margin() {
    use alloy::consensus::Transaction as _;
    use alloy::providers::Provider as _;
    let env = env().await;
    let admin = env.as_account(0);
    let receipt = tx!(admin.token.mint(Address::repeat_byte(9), tokens(1))).unwrap();
    let sent = env
        .provider(0)
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    let limit = sent.gas_limit();
    assert!(
        limit >= receipt.gas_used + receipt.gas_used / 5,
        "limit {limit} for {} used",
        receipt.gas_used
    );
}
