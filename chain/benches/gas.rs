//! Gas table of Cairn's contracts, measured on a real anvil devnet.
//!
//! Run: `cargo bench -p chain --bench gas`. Executes every external state-changing function once
//! in a realistic scenario and prints the gas each used, then the gas of `StorageMarket.prove` for
//! pieces of 1 MiB (random data), 1 GiB and 1 TiB (uniform random leaves: the same proof size and
//! byte entropy as real data, built in O(depth)), with the proof depth and calldata size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::TransactionReceipt;
use chain::Devnet;
use chain::contracts::{Contracts, DeployOptions, Registry, StorageMarket, TOKEN};
use chain::eip712::{self, DeviceClaim, DeviceKind};
use chain::proof::{self, Tree, UniformPiece};
use rand::{RngCore, SeedableRng};

const PERIOD: u32 = 3600;

macro_rules! gas {
    ($rows:expr, $name:expr, $call:expr) => {{
        let receipt: TransactionReceipt = $call.send().await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "{} reverted", $name);
        $rows.push(($name.to_string(), receipt.gas_used));
        receipt
    }};
}

fn tokens(n: u64) -> U256 {
    TOKEN * U256::from(n)
}

fn info(peer: &str, payout: Address) -> Registry::ProviderInfo {
    Registry::ProviderInfo {
        peerId: Bytes::from(peer.as_bytes().to_vec()),
        payout,
        storageBytes: 1 << 40,
        computeUnits: 8,
        storagePricePerGiBDay: 1_000_000_000_000_000,
        computePricePerUnitHour: 1_000_000_000_000_000,
        multiaddrs: vec![
            Bytes::from_static(b"/ip4/203.0.113.7/tcp/4001"),
            Bytes::from_static(b"/ip4/203.0.113.7/udp/4001/quic-v1"),
        ],
    }
}

fn quote(
    provider: Address,
    buyer: Address,
    size: u64,
    root: B256,
    salt: u64,
) -> StorageMarket::Quote {
    StorageMarket::Quote {
        provider,
        buyer,
        root,
        size,
        periodDuration: PERIOD,
        numPeriods: 4,
        pricePerPeriod: 10u128.pow(18),
        expiry: u64::MAX,
        salt: U256::from(salt),
    }
}

async fn open(
    c: &Contracts,
    chain_id: u64,
    provider_key: &alloy::signers::local::PrivateKeySigner,
    q: StorageMarket::Quote,
) -> U256 {
    let sig = q.sign(provider_key, chain_id, *c.market.address()).unwrap();
    let receipt = c
        .market
        .openDeal(q, sig)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    receipt
        .decoded_log::<StorageMarket::DealOpened>()
        .unwrap()
        .dealId
}

#[tokio::main]
async fn main() {
    let devnet = Devnet::start().await.unwrap();
    let d = devnet.deploy(&DeployOptions::default()).await.unwrap();
    let (admin_key, provider_key, buyer_key) = (Devnet::key(0), Devnet::key(1), Devnet::key(2));
    let with = |i: usize| {
        Contracts::new(
            &d,
            chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(i)).unwrap(),
        )
    };
    let (admin, provider, buyer) = (with(0), with(1), with(2));
    let mut rows: Vec<(String, u64)> = Vec::new();

    gas!(
        rows,
        "CairnToken.mint",
        admin.token.mint(Address::repeat_byte(1), tokens(1))
    );
    gas!(
        rows,
        "CairnToken.transfer",
        admin.token.transfer(Address::repeat_byte(2), tokens(1))
    );
    gas!(
        rows,
        "CairnToken.approve",
        provider.token.approve(d.registry, tokens(10_000))
    );
    let domain = eip712::token_domain(d.chain_id, d.token);
    let permit = eip712::Permit {
        owner: admin_key.address(),
        spender: Address::repeat_byte(3),
        value: tokens(1),
        nonce: U256::ZERO,
        deadline: U256::from(u64::MAX),
    };
    let (v, r, s) = eip712::split(&eip712::sign(&admin_key, &permit, &domain).unwrap());
    gas!(
        rows,
        "CairnToken.permit",
        admin.token.permit(
            permit.owner,
            permit.spender,
            permit.value,
            permit.deadline,
            v,
            r,
            s
        )
    );

    gas!(
        rows,
        "Registry.registerProvider",
        provider.registry.registerProvider(
            info("12D3KooWBenchProvider", Address::repeat_byte(0xAA)),
            tokens(1000)
        )
    );
    gas!(
        rows,
        "Registry.updateProvider",
        provider
            .registry
            .updateProvider(info("12D3KooWBenchProvider2", Address::repeat_byte(0xAB)))
    );
    gas!(
        rows,
        "Registry.addStake",
        provider.registry.addStake(tokens(10))
    );
    gas!(
        rows,
        "Registry.requestUnbond",
        provider.registry.requestUnbond(tokens(5))
    );
    devnet.increase_time(7 * 24 * 3600 + 1).await.unwrap();
    gas!(
        rows,
        "Registry.withdrawUnbonded",
        provider.registry.withdrawUnbonded()
    );
    let device = alloy::signers::local::PrivateKeySigner::random();
    let claim = DeviceClaim::new(
        device.address(),
        buyer_key.address(),
        DeviceKind::Hotspot,
        U256::ZERO,
    );
    let sig = eip712::sign(
        &device,
        &claim,
        &eip712::registry_domain(d.chain_id, d.registry),
    )
    .unwrap();
    gas!(
        rows,
        "Registry.registerDevice",
        buyer.registry.registerDevice(
            device.address(),
            buyer_key.address(),
            0,
            0x8928308280fffff,
            Bytes::from(sig.as_bytes().to_vec())
        )
    );
    gas!(
        rows,
        "Registry.setDeviceLocation",
        buyer
            .registry
            .setDeviceLocation(device.address(), 0x8928308280bffff)
    );
    let role = admin.registry.SLASHER_ROLE().call().await.unwrap();
    gas!(
        rows,
        "Registry.grantRole",
        admin.registry.grantRole(role, Address::repeat_byte(9))
    );

    gas!(
        rows,
        "CairnToken.approve (market)",
        buyer.token.approve(d.market, tokens(100_000))
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut data = vec![0u8; 1 << 20];
    rng.fill_bytes(&mut data);
    let tree = Tree::build(&data).unwrap();
    let c = tree.commitment();
    let q = quote(
        provider_key.address(),
        buyer_key.address(),
        c.size,
        c.root,
        1,
    );
    let sig = q.sign(&provider_key, d.chain_id, d.market).unwrap();
    let receipt = gas!(
        rows,
        "StorageMarket.openDeal",
        buyer.market.openDeal(q, sig)
    );
    let deal = receipt
        .decoded_log::<StorageMarket::DealOpened>()
        .unwrap()
        .dealId;

    let q2 = quote(
        provider_key.address(),
        buyer_key.address(),
        4096,
        B256::repeat_byte(4),
        2,
    );
    let total = U256::from(q2.pricePerPeriod) * U256::from(q2.numPeriods);
    let permit = eip712::Permit {
        owner: buyer_key.address(),
        spender: d.market,
        value: total,
        nonce: U256::ZERO,
        deadline: U256::from(u64::MAX),
    };
    let (pv, pr, ps) = eip712::split(&eip712::sign(&buyer_key, &permit, &domain).unwrap());
    let qsig = q2.sign(&provider_key, d.chain_id, d.market).unwrap();
    let receipt = gas!(
        rows,
        "StorageMarket.openDealWithPermit",
        buyer
            .market
            .openDealWithPermit(q2, qsig, permit.deadline, pv, pr, ps)
    );
    let deal2 = receipt
        .decoded_log::<StorageMarket::DealOpened>()
        .unwrap()
        .dealId;

    let indices = challenge(&provider, deal).await;
    let proof_1mib = tree.prove(&data, &indices).unwrap();
    let prove_1mib = gas!(
        rows,
        "StorageMarket.prove (1 MiB)",
        provider.market.prove(deal, proof_1mib.clone().into())
    )
    .gas_used;
    devnet.increase_time(2 * u64::from(PERIOD)).await.unwrap();
    gas!(
        rows,
        "StorageMarket.reportMissed",
        buyer.market.reportMissed(deal)
    );
    gas!(rows, "StorageMarket.endDeal", buyer.market.endDeal(deal2));
    gas!(
        rows,
        "StorageMarket.withdrawEarnings",
        buyer.market.withdrawEarnings(provider_key.address())
    );
    gas!(
        rows,
        "StorageMarket.withdrawRefund",
        buyer.market.withdrawRefund()
    );

    println!("\nGas per external function (anvil, solc 0.8.37, optimizer 200 runs)\n");
    println!("{:<40} {:>10}", "function", "gas");
    for (name, gas) in &rows {
        println!("{name:<40} {gas:>10}");
    }

    println!(
        "\nProof submission (StorageMarket.prove, {} challenges, 32-byte leaves)\n",
        proof::CHALLENGES
    );
    println!(
        "{:<8} {:>6} {:>14} {:>10} {:>14}",
        "piece", "depth", "calldata (B)", "gas", "vs 150k"
    );
    println!(
        "{:<8} {:>6} {:>14} {:>10} {:>13.2}x",
        "1 MiB",
        c.depth(),
        proof_1mib.len(),
        prove_1mib,
        prove_1mib as f64 / 150_000.0
    );
    // The permit above replaced the buyer's allowance with one deal's worth.
    buyer
        .token
        .approve(d.market, tokens(100_000))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    for (label, size) in [("1 GiB", 1u64 << 30), ("1 TiB", 1u64 << 40)] {
        let mut leaf = [0u8; 32];
        rng.fill_bytes(&mut leaf);
        let piece = UniformPiece::new(leaf, size);
        let deal = open(
            &buyer,
            d.chain_id,
            &provider_key,
            quote(
                provider_key.address(),
                buyer_key.address(),
                size,
                piece.root(),
                size,
            ),
        )
        .await;
        let p = piece.proof();
        let receipt = provider
            .market
            .prove(deal, p.clone().into())
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        let depth = proof::depth(proof::leaves(size));
        println!(
            "{label:<8} {depth:>6} {:>14} {:>10} {:>13.2}x",
            p.len(),
            receipt.gas_used,
            receipt.gas_used as f64 / 150_000.0
        );
    }
    let _ = admin_key;
}

async fn challenge(c: &Contracts, deal: U256) -> [u64; proof::CHALLENGES] {
    let answer = c.market.challenges(deal).call().await.unwrap();
    let mut out = [0u64; proof::CHALLENGES];
    for (slot, index) in out.iter_mut().zip(answer.indices) {
        *slot = index.to::<u64>();
    }
    out
}
