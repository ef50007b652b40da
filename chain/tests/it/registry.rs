//! Registry: provider registration, updates, stake, unbonding, slashing roles.

use alloy::primitives::{Address, Bytes};
use chain::contracts::Registry;

use crate::common::{env, provider_info, revert, tokens};
use crate::tx;

#[tokio::test]
async fn providers_register_update_and_are_refused_bad_input() {
    let env = env().await;
    let c = env.register_provider(1, 150).await;
    let me = env.key(1).address();
    assert!(c.registry.isActiveProvider(me).call().await.unwrap());
    let stored = c.registry.getProvider(me).call().await.unwrap();
    assert_eq!(stored.stake, tokens(150));
    assert_eq!(stored.info.peerId, provider_info(1).peerId);
    assert_eq!(stored.info.multiaddrs, provider_info(1).multiaddrs);

    revert::<Registry::AlreadyRegistered, _>(tx!(c
        .registry
        .registerProvider(provider_info(1), tokens(150))));

    // Updating frees the old peer id and takes the new one.
    let mut info = provider_info(1);
    info.peerId = Bytes::from_static(b"12D3KooWMoved");
    info.payout = Address::repeat_byte(0xEE);
    let receipt = tx!(c.registry.updateProvider(info.clone())).unwrap();
    assert!(receipt.decoded_log::<Registry::ProviderUpdated>().is_some());
    assert_eq!(
        c.registry.payoutOf(me).call().await.unwrap(),
        Address::repeat_byte(0xEE)
    );

    let other = env.as_account(2);
    tx!(other.token.approve(env.deployment.registry, tokens(1000))).unwrap();
    let err =
        revert::<Registry::PeerIdTaken, _>(tx!(other.registry.registerProvider(info, tokens(100))));
    assert_eq!(err.owner, me);
    let err = revert::<Registry::AmountOutOfRange, _>(tx!(other
        .registry
        .registerProvider(provider_info(2), tokens(99))));
    assert_eq!(err.min, tokens(100));
    let mut bad = provider_info(2);
    bad.peerId = Bytes::new();
    revert::<Registry::InvalidPeerId, _>(tx!(other.registry.registerProvider(bad, tokens(100))));
    let mut bad = provider_info(2);
    bad.payout = Address::ZERO;
    revert::<Registry::InvalidPayout, _>(tx!(other.registry.registerProvider(bad, tokens(100))));
    let mut bad = provider_info(2);
    bad.multiaddrs = vec![Bytes::from_static(b"/ip4/1.2.3.4/tcp/1"); 9];
    revert::<Registry::TooManyMultiaddrs, _>(tx!(other
        .registry
        .registerProvider(bad, tokens(100))));
    let mut bad = provider_info(2);
    bad.multiaddrs = vec![Bytes::new()];
    revert::<Registry::InvalidMultiaddr, _>(tx!(other.registry.registerProvider(bad, tokens(100))));
    revert::<Registry::NotRegistered, _>(tx!(other.registry.updateProvider(provider_info(2))));
    revert::<Registry::NotRegistered, _>(tx!(other.registry.addStake(tokens(1))));
}

#[tokio::test]
async fn stake_unbonds_only_after_the_delay() {
    let env = env().await;
    let c = env.register_provider(1, 200).await;
    let me = env.key(1).address();
    tx!(c.token.approve(env.deployment.registry, tokens(50))).unwrap();
    tx!(c.registry.addStake(tokens(50))).unwrap();
    assert_eq!(
        c.registry.getProvider(me).call().await.unwrap().stake,
        tokens(250)
    );

    revert::<Registry::InsufficientStake, _>(tx!(c.registry.requestUnbond(tokens(251))));
    tx!(c.registry.requestUnbond(tokens(160))).unwrap();
    // 90 left active: below the minimum, so no longer active for new deals.
    assert!(!c.registry.isActiveProvider(me).call().await.unwrap());
    revert::<Registry::UnbondingNotReady, _>(tx!(c.registry.withdrawUnbonded()));

    let before = c.token.balanceOf(me).call().await.unwrap();
    env.devnet.increase_time(7 * 24 * 3600 + 1).await.unwrap();
    tx!(c.registry.withdrawUnbonded()).unwrap();
    assert_eq!(
        c.token.balanceOf(me).call().await.unwrap(),
        before + tokens(160)
    );
    revert::<Registry::NothingToWithdraw, _>(tx!(c.registry.withdrawUnbonded()));
}

#[tokio::test]
async fn only_the_slasher_role_slashes() {
    let env = env().await;
    env.register_provider(1, 100).await;
    let stranger = env.as_account(2);
    revert::<Registry::AccessControlUnauthorizedAccount, _>(tx!(stranger.registry.slash(
        env.key(1).address(),
        tokens(1),
        env.key(2).address()
    )));
}

#[tokio::test]
async fn constructors_refuse_unbounded_parameters() {
    use chain::contracts::{StorageMarket, TOKEN};
    let env = env().await;
    let provider = env.provider(0);
    let admin = env.key(0).address();
    let token = env.deployment.token;

    let err = Registry::deploy(
        provider.clone(),
        token,
        alloy::primitives::U256::ZERO,
        3600,
        admin,
    )
    .await
    .unwrap_err();
    let decoded = err
        .as_decoded_error::<Registry::AmountOutOfRange>()
        .unwrap();
    assert_eq!(decoded.amount, alloy::primitives::U256::ZERO);

    let err = Registry::deploy(provider.clone(), token, TOKEN, 366 * 24 * 3600, admin)
        .await
        .unwrap_err();
    let decoded = err
        .as_decoded_error::<Registry::InvalidUnbondingDelay>()
        .unwrap();
    assert_eq!(decoded.delay, 366 * 24 * 3600);

    let too_much = TOKEN * alloy::primitives::U256::from(2_000_000_000u64);
    let err = StorageMarket::deploy(provider, token, env.deployment.registry, too_much)
        .await
        .unwrap_err();
    assert!(
        err.as_decoded_error::<StorageMarket::AmountOutOfRange>()
            .is_some(),
        "{err}"
    );
}
