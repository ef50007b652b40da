//! StorageMarket: quotes, escrow, proofs against the Rust prover, misses, slashing, early end.

use alloy::primitives::{B256, Bytes, U256};
use alloy::rpc::types::TransactionReceipt;
use chain::contracts::{Contracts, StorageMarket};
use chain::eip712;
use chain::proof::{self, CHALLENGES, Tree, UniformPiece};
use rand::{Rng, RngCore, SeedableRng};

use crate::common::{Env, env, revert, tokens};
use crate::tx;

const PERIOD: u32 = 3600;
const PROVIDER: usize = 1;
const BUYER: usize = 2;

fn quote(
    env: &Env,
    size: u64,
    root: B256,
    periods: u32,
    price: u64,
    salt: u64,
) -> StorageMarket::Quote {
    StorageMarket::Quote {
        provider: env.key(PROVIDER).address(),
        buyer: env.key(BUYER).address(),
        root,
        size,
        periodDuration: PERIOD,
        numPeriods: periods,
        pricePerPeriod: u128::from(price) * 10u128.pow(18),
        expiry: u64::MAX,
        salt: U256::from(salt),
    }
}

fn sign_quote(env: &Env, q: &StorageMarket::Quote, signer: usize) -> Bytes {
    q.sign(
        &env.key(signer),
        env.deployment.chain_id,
        env.deployment.market,
    )
    .unwrap()
}

/// Buyer approves the escrow and opens the deal; returns its id.
async fn open(env: &Env, buyer: &Contracts, q: &StorageMarket::Quote) -> U256 {
    let total = U256::from(q.pricePerPeriod) * U256::from(q.numPeriods);
    tx!(buyer.token.approve(env.deployment.market, total)).unwrap();
    let receipt = tx!(buyer
        .market
        .openDeal(q.clone(), sign_quote(env, q, PROVIDER)))
    .unwrap();
    receipt
        .decoded_log::<StorageMarket::DealOpened>()
        .unwrap()
        .dealId
}

/// The contract's current challenge, checked against the Rust derivation.
async fn challenge(market: &Contracts, deal: U256) -> [u64; CHALLENGES] {
    let answer = market.market.challenges(deal).call().await.unwrap();
    let stored = market.market.getDeal(deal).call().await.unwrap();
    let leaves = proof::leaves(stored.size);
    let mut indices = [0u64; CHALLENGES];
    for (i, index) in answer.indices.iter().enumerate() {
        indices[i] = index.to::<u64>();
        assert_eq!(
            proof::challenge_index(stored.seed, i as u64, leaves),
            indices[i]
        );
    }
    indices
}

async fn prove(
    provider: &Contracts,
    deal: U256,
    tree: &Tree,
    data: &[u8],
) -> Result<TransactionReceipt, alloy::contract::Error> {
    let indices = challenge(provider, deal).await;
    let proof = tree.prove(data, &indices).unwrap();
    tx!(provider.market.prove(deal, proof.into()))
}

fn random_data(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    data
}

#[tokio::test]
async fn a_deal_lives_through_proofs_a_miss_and_settlement() {
    let env = env().await;
    let provider = env.register_provider(PROVIDER, 200).await;
    let buyer = env.as_account(BUYER);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let data = random_data(&mut rng, 100_000);
    let tree = Tree::build(&data).unwrap();
    let commitment = tree.commitment();
    let q = quote(&env, commitment.size, commitment.root, 4, 10, 1);
    let buyer_start = buyer
        .token
        .balanceOf(env.key(BUYER).address())
        .call()
        .await
        .unwrap();
    let deal = open(&env, &buyer, &q).await;
    assert_eq!(
        buyer
            .token
            .balanceOf(env.key(BUYER).address())
            .call()
            .await
            .unwrap(),
        buyer_start - tokens(40)
    );

    // Period 0 proven; a second proof in the same period is for period 1, not started yet.
    let receipt = prove(&provider, deal, &tree, &data).await.unwrap();
    assert_eq!(
        receipt
            .decoded_log::<StorageMarket::PeriodProven>()
            .unwrap()
            .period,
        0
    );
    revert::<StorageMarket::PeriodNotStarted, _>(prove(&provider, deal, &tree, &data).await);

    // Only the provider proves; a corrupted byte or a wrong length never passes.
    revert::<StorageMarket::NotProvider, _>(tx!(buyer.market.prove(deal, Bytes::new())));
    env.devnet.increase_time(PERIOD.into()).await.unwrap();
    let indices = challenge(&provider, deal).await;
    let good = tree.prove(&data, &indices).unwrap();
    for position in [0, 31, 32, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[position] ^= 0x80;
        revert::<StorageMarket::InvalidProof, _>(tx!(provider.market.prove(deal, bad.into())));
    }
    revert::<StorageMarket::InvalidProofLength, _>(tx!(provider
        .market
        .prove(deal, good[1..].to_vec().into())));
    tx!(provider.market.prove(deal, good.into())).unwrap();

    // Period 2 passes unproven: reporting early fails, afterwards it refunds and slashes.
    env.devnet.increase_time(PERIOD.into()).await.unwrap();
    revert::<StorageMarket::PeriodNotOver, _>(tx!(buyer.market.reportMissed(deal)));
    env.devnet.increase_time(PERIOD.into()).await.unwrap();
    revert::<StorageMarket::PeriodExpired, _>(prove(&provider, deal, &tree, &data).await);
    let buyer_before = buyer
        .token
        .balanceOf(env.key(BUYER).address())
        .call()
        .await
        .unwrap();
    let receipt = tx!(env.as_account(5).market.reportMissed(deal)).unwrap();
    let missed = receipt
        .decoded_log::<StorageMarket::PeriodMissed>()
        .unwrap();
    assert_eq!((missed.period, missed.slashed), (2, tokens(10)));
    assert_eq!(
        buyer
            .token
            .balanceOf(env.key(BUYER).address())
            .call()
            .await
            .unwrap(),
        buyer_before + tokens(10),
        "the slashed stake goes to the buyer"
    );
    let stake = provider
        .registry
        .getProvider(env.key(PROVIDER).address())
        .call()
        .await
        .unwrap()
        .stake;
    assert_eq!(stake, tokens(190));

    // Period 3, the last one: proven, the deal completes.
    let receipt = prove(&provider, deal, &tree, &data).await.unwrap();
    let done = receipt
        .decoded_log::<StorageMarket::DealCompleted>()
        .unwrap();
    assert_eq!((done.proven, done.missed), (3, 1));
    revert::<StorageMarket::DealNotActive, _>(prove(&provider, deal, &tree, &data).await);
    revert::<StorageMarket::DealNotActive, _>(tx!(buyer.market.reportMissed(deal)));

    // Payouts: three proven periods to the payout address, one refunded period to the buyer.
    let payout = provider
        .registry
        .payoutOf(env.key(PROVIDER).address())
        .call()
        .await
        .unwrap();
    tx!(buyer.market.withdrawEarnings(env.key(PROVIDER).address())).unwrap();
    assert_eq!(
        buyer.token.balanceOf(payout).call().await.unwrap(),
        tokens(30)
    );
    revert::<StorageMarket::NothingToWithdraw, _>(tx!(buyer
        .market
        .withdrawEarnings(env.key(PROVIDER).address())));
    let before = buyer
        .token
        .balanceOf(env.key(BUYER).address())
        .call()
        .await
        .unwrap();
    tx!(buyer.market.withdrawRefund()).unwrap();
    assert_eq!(
        buyer
            .token
            .balanceOf(env.key(BUYER).address())
            .call()
            .await
            .unwrap(),
        before + tokens(10)
    );
    revert::<StorageMarket::NothingToWithdraw, _>(tx!(buyer.market.withdrawRefund()));
    assert_eq!(
        buyer
            .token
            .balanceOf(env.deployment.market)
            .call()
            .await
            .unwrap(),
        U256::ZERO
    );
}

#[tokio::test]
async fn the_buyer_ends_early_and_unstarted_periods_are_refunded() {
    let env = env().await;
    let provider = env.register_provider(PROVIDER, 200).await;
    let buyer = env.as_account(BUYER);
    let data = random_data(&mut rand::rngs::StdRng::seed_from_u64(2), 5000);
    let tree = Tree::build(&data).unwrap();
    let c = tree.commitment();
    let deal = open(&env, &buyer, &quote(&env, c.size, c.root, 10, 3, 7)).await;
    prove(&provider, deal, &tree, &data).await.unwrap();
    env.devnet
        .increase_time(u64::from(PERIOD) * 3 / 2)
        .await
        .unwrap();

    revert::<StorageMarket::NotBuyer, _>(tx!(provider.market.endDeal(deal)));
    let receipt = tx!(buyer.market.endDeal(deal)).unwrap();
    let ended = receipt.decoded_log::<StorageMarket::DealEnded>().unwrap();
    assert_eq!(ended.endPeriod, 2, "the period under way stays");
    assert_eq!(ended.refund, tokens(3 * 8));
    assert_eq!(
        buyer
            .market
            .refunds(env.key(BUYER).address())
            .call()
            .await
            .unwrap(),
        tokens(24)
    );

    // The provider still proves the period under way, and that completes the deal.
    let receipt = prove(&provider, deal, &tree, &data).await.unwrap();
    assert!(
        receipt
            .decoded_log::<StorageMarket::DealCompleted>()
            .is_some()
    );
    revert::<StorageMarket::DealNotActive, _>(tx!(buyer.market.endDeal(deal)));
    revert::<StorageMarket::UnknownDeal, _>(tx!(buyer.market.endDeal(U256::from(999))));
}

#[tokio::test]
async fn quotes_are_checked_and_good_once() {
    let env = env().await;
    env.register_provider(PROVIDER, 100).await;
    let buyer = env.as_account(BUYER);
    tx!(buyer
        .token
        .approve(env.deployment.market, tokens(1_000_000)))
    .unwrap();
    let root = B256::repeat_byte(1);
    let q = quote(&env, 1 << 20, root, 2, 1, 99);

    revert::<StorageMarket::InvalidQuoteSignature, _>(tx!(buyer
        .market
        .openDeal(q.clone(), sign_quote(&env, &q, 3))));
    let stranger = env.as_account(4);
    revert::<StorageMarket::WrongBuyer, _>(tx!(stranger
        .market
        .openDeal(q.clone(), sign_quote(&env, &q, PROVIDER))));
    let mut expired = q.clone();
    expired.expiry = 1;
    revert::<StorageMarket::QuoteExpired, _>(tx!(buyer
        .market
        .openDeal(expired.clone(), sign_quote(&env, &expired, PROVIDER))));
    for (size, periods, duration) in [
        (0u64, 2u32, PERIOD),
        ((1 << 44) + 1, 2, PERIOD),
        (1, 0, PERIOD),
        (1, 3651, PERIOD),
        (1, 2, 59),
    ] {
        let mut bad = q.clone();
        bad.size = size;
        bad.numPeriods = periods;
        bad.periodDuration = duration;
        let result = tx!(buyer
            .market
            .openDeal(bad.clone(), sign_quote(&env, &bad, PROVIDER)));
        let err = result.unwrap_err();
        assert!(
            err.as_decoded_error::<StorageMarket::InvalidSize>()
                .is_some()
                || err
                    .as_decoded_error::<StorageMarket::InvalidPeriodCount>()
                    .is_some()
                || err
                    .as_decoded_error::<StorageMarket::InvalidPeriodDuration>()
                    .is_some(),
            "{err}"
        );
    }
    let mut pricey = q.clone();
    pricey.pricePerPeriod = u128::MAX;
    revert::<StorageMarket::AmountOutOfRange, _>(tx!(buyer
        .market
        .openDeal(pricey.clone(), sign_quote(&env, &pricey, PROVIDER))));

    tx!(buyer
        .market
        .openDeal(q.clone(), sign_quote(&env, &q, PROVIDER)))
    .unwrap();
    revert::<StorageMarket::QuoteAlreadyUsed, _>(tx!(buyer
        .market
        .openDeal(q.clone(), sign_quote(&env, &q, PROVIDER))));

    // A provider below the minimum stake takes no new deals.
    let p = env.as_account(PROVIDER);
    tx!(p.registry.requestUnbond(tokens(1))).unwrap();
    let mut next = q.clone();
    next.salt = U256::from(100);
    revert::<StorageMarket::ProviderNotActive, _>(tx!(buyer
        .market
        .openDeal(next.clone(), sign_quote(&env, &next, PROVIDER))));
}

#[tokio::test]
async fn a_deal_opens_with_a_permit_in_one_transaction() {
    let env = env().await;
    env.register_provider(PROVIDER, 100).await;
    let buyer = env.as_account(BUYER);
    let q = quote(&env, 4096, B256::repeat_byte(2), 3, 2, 5);
    let total = U256::from(q.pricePerPeriod) * U256::from(3);
    let domain = eip712::token_domain(env.deployment.chain_id, env.deployment.token);
    let permit = eip712::Permit {
        owner: env.key(BUYER).address(),
        spender: env.deployment.market,
        value: total,
        nonce: U256::ZERO,
        deadline: U256::from(u64::MAX),
    };
    let (v, r, s) = eip712::split(&eip712::sign(&env.key(BUYER), &permit, &domain).unwrap());
    assert_eq!(
        buyer
            .token
            .allowance(permit.owner, env.deployment.market)
            .call()
            .await
            .unwrap(),
        U256::ZERO
    );
    let receipt = tx!(buyer.market.openDealWithPermit(
        q.clone(),
        sign_quote(&env, &q, PROVIDER),
        permit.deadline,
        v,
        r,
        s
    ))
    .unwrap();
    assert!(receipt.decoded_log::<StorageMarket::DealOpened>().is_some());
    assert_eq!(
        buyer
            .token
            .balanceOf(env.deployment.market)
            .call()
            .await
            .unwrap(),
        total
    );
}

/// The on-chain verifier against the Rust prover: random sizes from 1 byte to several MiB (none a
/// power of two), random data; each proof passes, and the same proof with one random byte flipped
/// is rejected.
#[tokio::test]
async fn onchain_verifier_agrees_with_the_rust_prover() {
    let env = env().await;
    let provider = env.register_provider(PROVIDER, 100).await;
    let buyer = env.as_account(BUYER);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xCA1F);
    let mut sizes = vec![1usize, 31, 33, 95, 4097];
    sizes.extend((0..3).map(|_| rng.random_range(5_000..200_000)));
    sizes.push(rng.random_range(1_100_000..1_500_000));
    sizes.push(rng.random_range(3_000_000..5_000_000));
    for (n, size) in sizes.into_iter().enumerate() {
        assert!(!size.is_power_of_two() || size == 1);
        let data = random_data(&mut rng, size);
        let tree = Tree::build(&data).unwrap();
        let c = tree.commitment();
        assert_eq!(proof::commit(&data).unwrap(), c);
        let deal = open(
            &env,
            &buyer,
            &quote(&env, c.size, c.root, 1, 1, 1000 + n as u64),
        )
        .await;
        let indices = challenge(&provider, deal).await;
        let good = tree.prove(&data, &indices).unwrap();
        let mut bad = good.clone();
        let position = rng.random_range(0..bad.len());
        bad[position] ^= 1 << rng.random_range(0..8);
        revert::<StorageMarket::InvalidProof, _>(tx!(provider.market.prove(deal, bad.into())));
        let receipt = tx!(provider.market.prove(deal, good.into())).unwrap();
        eprintln!(
            "size {size}: depth {}, prove gas {}",
            c.depth(),
            receipt.gas_used
        );
    }
}

#[tokio::test]
async fn a_proof_for_a_1_gib_piece_costs_at_most_150k_gas() {
    let env = env().await;
    let provider = env.register_provider(PROVIDER, 100).await;
    let buyer = env.as_account(BUYER);
    let mut leaf = [0u8; 32];
    rand::rngs::StdRng::seed_from_u64(3).fill_bytes(&mut leaf);
    let size = 1u64 << 30;
    let piece = UniformPiece::new(leaf, size);
    let deal = open(&env, &buyer, &quote(&env, size, piece.root(), 2, 1, 4242)).await;
    let receipt = tx!(provider.market.prove(deal, piece.proof().into())).unwrap();
    eprintln!("1 GiB proof: {} gas", receipt.gas_used);
    assert!(
        receipt.gas_used <= 150_000,
        "1 GiB proof used {} gas",
        receipt.gas_used
    );
}
