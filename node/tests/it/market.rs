//! The on-chain lifecycle on a real anvil devnet: quote, funded deal, upload accepted only for
//! it, proofs on schedule with earnings, and a flipped byte that makes the next proof fail.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, U256};
use chain::Devnet;
use chain::contracts::{Contracts, DeployOptions, Registry, StorageMarket, TOKEN, signer_provider};
use node::content::CHUNK_SIZE;
use node::market::{Market, Terms, quote_from};
use node::wire::ErrorCode;
use node::{Client, Event, TransferError};

use crate::common::*;

const PROVIDER: usize = 1;
const BUYER: usize = 2;
/// A second provider, for a copy moved away from the first.
const SPARE: usize = 3;
/// An hour per period: the test moves chain time a whole period at a time, so a slow (loaded)
/// run never lets a window expire in wall-clock time.
const PERIOD: u32 = 3600;

fn contracts(
    devnet: &Devnet,
    deployment: &chain::contracts::Deployment,
    index: usize,
) -> Contracts {
    Contracts::new(
        deployment,
        signer_provider(devnet.rpc_url(), Devnet::key(index)).unwrap(),
    )
}

/// A buyer paying with anvil account `index`'s key, its files written in `dir`.
fn chain_buyer(
    devnet: &Devnet,
    deployment: &chain::contracts::Deployment,
    dir: &std::path::Path,
    index: usize,
) -> node::market::Buyer {
    let deployment_file = dir.join("deployment.json");
    deployment.write(&deployment_file).unwrap();
    let key_file = dir.join(format!("buyer{index}.key"));
    std::fs::write(&key_file, Devnet::key(index).to_bytes().to_string()).unwrap();
    node::market::Buyer::from_files(devnet.rpc_url(), &deployment_file, &key_file).unwrap()
}

/// Flips one bit in place (no truncation, so a concurrent reader never sees a short file).
fn flip_byte(path: &std::path::Path, at: u64) {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x80;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
    f.sync_all().unwrap();
}

async fn wait_proof(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    deal: u64,
) -> (u32, bool) {
    next_event(events, |e| match e {
        Event::Proof {
            deal: d,
            period,
            accepted,
        } if *d == deal => Some((*period, *accepted)),
        _ => None,
    })
    .await
}

/// Registers anvil account [`PROVIDER`] in the Registry with 200 tokens of stake.
async fn register_provider(devnet: &Devnet, deployment: &chain::contracts::Deployment) {
    register_provider_as(devnet, deployment, PROVIDER).await;
}

/// Registers anvil account `index` in the Registry with 200 tokens of stake.
async fn register_provider_as(
    devnet: &Devnet,
    deployment: &chain::contracts::Deployment,
    index: usize,
) {
    let provider_chain = contracts(devnet, deployment, index);
    let stake = TOKEN * U256::from(200);
    provider_chain
        .token
        .approve(deployment.registry, stake)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let info = Registry::ProviderInfo {
        // A peer id is registered to one provider only.
        peerId: Bytes::from(format!("cairn-test-provider-{index}").into_bytes()),
        payout: Address::repeat_byte(0xA1),
        storageBytes: 1 << 30,
        computeUnits: 0,
        storagePricePerGiBDay: 1,
        computePricePerUnitHour: 0,
        multiaddrs: vec![],
    };
    assert!(
        provider_chain
            .registry
            .registerProvider(info, stake)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
            .status()
    );
}

/// A devnet with the contracts; a registered provider node selling deals of three one-hour
/// periods at a token each, proving every 300 ms; a buyer node that knows it; and a file of
/// `size` bytes on the buyer's side.
struct Selling {
    devnet: Devnet,
    deployment: chain::contracts::Deployment,
    market: Market,
    price: u128,
    provider: TestNode,
    peer: node::PeerId,
    buyer: TestNode,
    client: Client,
    bytes: Vec<u8>,
    src: std::path::PathBuf,
    manifest: node::content::Manifest,
    commitment: chain::proof::Commitment,
}

/// The [`Market`] of anvil account `index`, selling deals of three one-hour periods at a token
/// each.
fn market_of(devnet: &Devnet, deployment: &chain::contracts::Deployment, index: usize) -> Market {
    Market::new(
        devnet.rpc_url(),
        deployment.clone(),
        Devnet::key(index),
        Terms {
            period_duration: PERIOD,
            num_periods: 3,
            price_per_period: TOKEN.to::<u128>(),
            quote_ttl: Duration::from_secs(3600),
        },
    )
    .unwrap()
}

/// A provider node selling on `market`, proving every 300 ms.
async fn selling_node(market: &Market, configure: impl FnOnce(&mut node::Options)) -> TestNode {
    start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 1 << 30, vec![]);
        o.market = Some(market.clone());
        o.prove_every = Duration::from_millis(300);
        configure(&mut o);
        o
    })
    .await
}

async fn selling(size: usize, configure: impl FnOnce(&mut node::Options)) -> Selling {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet.deploy(&DeployOptions::default()).await.unwrap();
    register_provider(&devnet, &deployment).await;
    let price = TOKEN.to::<u128>();
    let market = market_of(&devnet, &deployment, PROVIDER);
    let provider = selling_node(&market, configure).await;
    let peer = provider.handle.peer_id();
    let buyer = start(0, vec![provider.addr.clone()]).await;
    providers(&buyer.handle, 1).await;
    let client = Client::new(buyer.handle.clone());
    let bytes = random_bytes(size, size as u64);
    let src = buyer.dir.path().join("in.bin");
    std::fs::write(&src, &bytes).unwrap();
    let manifest = node::transfer::manifest_of_file(&src).unwrap();
    let commitment = chain::proof::commit(&bytes).unwrap();
    Selling {
        devnet,
        deployment,
        market,
        price,
        provider,
        peer,
        buyer,
        client,
        bytes,
        src,
        manifest,
        commitment,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deal_lifecycle_proofs_earnings_and_a_flipped_byte() {
    let Selling {
        devnet,
        deployment,
        market,
        price,
        provider,
        peer,
        buyer,
        client,
        bytes,
        src,
        manifest,
        commitment,
    } = selling(2 * CHUNK_SIZE + 1000, |_| {}).await;

    // No deal, no storage.
    let err = client.put_to(peer, &src, &manifest, 0).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Remote {
                code: ErrorCode::NoDeal,
                ..
            }
        ),
        "{err}"
    );

    // Quote, then the buyer funds the deal on chain.
    let buyer_key = Devnet::key(BUYER);
    let terms = client
        .quote(peer, buyer_key.address().into_array(), &commitment)
        .await
        .unwrap();
    assert_eq!(Address::from(terms.provider), market.address());
    let quote = quote_from(
        &terms,
        buyer_key.address(),
        commitment.root,
        commitment.size,
    );
    let buyer_chain = contracts(&devnet, &deployment, BUYER);
    let total = U256::from(price) * U256::from(3);
    buyer_chain
        .token
        .approve(deployment.market, total)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let receipt = buyer_chain
        .market
        .openDeal(quote, Bytes::copy_from_slice(&terms.signature))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let deal = receipt
        .decoded_log::<StorageMarket::DealOpened>()
        .unwrap()
        .dealId
        .to::<u64>();

    // Different bytes of the same size under that deal: refused (root mismatch), nothing kept.
    let mut wrong = bytes.clone();
    wrong[10] ^= 1;
    let wrong_src = buyer.dir.path().join("wrong.bin");
    std::fs::write(&wrong_src, &wrong).unwrap();
    let wrong_manifest = node::transfer::manifest_of_file(&wrong_src).unwrap();
    let err = client
        .put_to(peer, &wrong_src, &wrong_manifest, deal)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the deal's root"), "{err}");
    assert!(provider.handle.store().unwrap().list().unwrap().is_empty());

    let mut events = provider.handle.subscribe();
    client.put_to(peer, &src, &manifest, deal).await.unwrap();

    // Period 0 is proven on schedule and paid.
    assert_eq!(wait_proof(&mut events, deal).await, (0, true));
    let earned = next_event(&mut events, |e| match e {
        Event::Earnings { total } => Some(*total),
        _ => None,
    })
    .await;
    assert_eq!(earned, price);
    assert_eq!(market.earnings().await.unwrap(), U256::from(price));

    // Period 1, a period of chain time later.
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    assert_eq!(wait_proof(&mut events, deal).await, (1, true));
    assert_eq!(market.earnings().await.unwrap(), U256::from(2 * price));

    // A flipped byte on disk: reported as corrupt, and the next proof fails on chain.
    let path = provider
        .dir
        .path()
        .join("store/objects")
        .join(manifest.id().to_string());
    flip_byte(&path, CHUNK_SIZE as u64 + 3);
    // Between windows the prover leaves the disk alone: several of its rounds pass with neither
    // a proof nor a report.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, Event::Corrupt { .. } | Event::Proof { .. }),
            "{e:?} before period 2 opened"
        );
    }
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    // Once period 2 opens, one read of the object finds the flipped chunk and builds the proof.
    let corrupt = next_event(&mut events, |e| match e {
        Event::Corrupt { id, chunk } if *id == manifest.id() => Some(*chunk),
        Event::Proof { deal: d, .. } if *d == deal => panic!("a proof before the report: {e:?}"),
        _ => None,
    })
    .await;
    assert_eq!(corrupt, 1);
    let proof = wait_proof(&mut events, deal).await;
    // The proof built from the disk is submitted once, mined and reverted by the contract.
    assert_eq!(proof, (2, false));
    assert_eq!(market.earnings().await.unwrap(), U256::from(2 * price));
    let stored = buyer_chain
        .market
        .getDeal(U256::from(deal))
        .call()
        .await
        .unwrap();
    assert_eq!(stored.nextPeriod, 2);
}

/// `openDeal` checks a quote's expiry against the chain's clock: a provider quotes from the
/// later of its own clock and the chain's, so a chain running hours ahead of the machine (a
/// devnet whose time was moved, a skewed clock) still takes its quotes.
#[tokio::test]
async fn a_quote_expires_by_the_chains_clock_when_it_runs_ahead() {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet.deploy(&DeployOptions::default()).await.unwrap();
    register_provider(&devnet, &deployment).await;
    let ttl = Duration::from_secs(600);
    let market = Market::new(
        devnet.rpc_url(),
        deployment.clone(),
        Devnet::key(PROVIDER),
        Terms {
            quote_ttl: ttl,
            ..Terms::default()
        },
    )
    .unwrap();
    devnet.increase_time(2 * 3600).await.unwrap();
    devnet.mine().await.unwrap();
    let chain_now = {
        use alloy::providers::Provider as _;
        contracts(&devnet, &deployment, BUYER)
            .market
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .unwrap()
            .unwrap()
            .header
            .timestamp
    };
    let buyer = Devnet::key(BUYER).address();
    let data = random_bytes(5000, 3);
    let commitment = chain::proof::commit(&data).unwrap();
    let terms = market
        .quote(buyer, commitment.root, commitment.size)
        .await
        .unwrap();
    assert!(
        terms.expiry >= chain_now + ttl.as_secs(),
        "expiry {} against the chain's {chain_now}",
        terms.expiry
    );
    let dir = tempfile::tempdir().unwrap();
    let opened = chain_buyer(&devnet, &deployment, dir.path(), BUYER)
        .open_deal(&terms, &commitment)
        .await;
    assert_eq!(opened.unwrap(), 1, "the deal opens on the quote");
}

/// The same bytes bought twice from one provider (a second buyer, or the same one renewing):
/// the second upload sends nothing, and the object is proven for both deals, each paid. Once
/// both deals have ended, and the provider's grace after that has passed, the object is
/// released: deleted, its quota freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_bought_twice_from_one_provider_is_proven_for_each_deal_then_released() {
    let Selling {
        devnet,
        deployment,
        market,
        price,
        provider,
        peer,
        buyer,
        client,
        bytes,
        src,
        manifest,
        commitment,
    } = selling(3 * CHUNK_SIZE + 10, |o| {
        o.release_after = Duration::from_secs(u64::from(PERIOD));
    })
    .await;
    let mut events = provider.handle.subscribe();
    let mut deals = Vec::new();
    for index in [BUYER, 3] {
        let chain_buyer = chain_buyer(&devnet, &deployment, buyer.dir.path(), index);
        let terms = client
            .quote(peer, chain_buyer.address().into_array(), &commitment)
            .await
            .unwrap();
        let deal = chain_buyer.open_deal(&terms, &commitment).await.unwrap();
        let copy = client.put_to(peer, &src, &manifest, deal).await.unwrap();
        deals.push((deal, copy));
    }
    let (first, second) = (deals[0].0, deals[1].0);
    assert_ne!(first, second);
    assert_eq!(deals[0].1.skipped_chunks, 0);
    assert_eq!(
        (deals[1].1.sent_chunks, deals[1].1.skipped_chunks),
        (0, manifest.chunks()),
        "the second upload sends nothing: the provider holds every chunk"
    );
    let listed = provider.handle.store().unwrap().list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].deals, vec![first, second]);

    // Period 0 of each deal is proven and paid; then period 1 of each.
    let mut proven = std::collections::BTreeSet::new();
    while proven.len() < 2 {
        let (deal, period, accepted) = next_event(&mut events, |e| match e {
            Event::Proof {
                deal,
                period,
                accepted,
            } => Some((*deal, *period, *accepted)),
            _ => None,
        })
        .await;
        assert_eq!((period, accepted), (0, true), "deal {deal}");
        proven.insert(deal);
    }
    assert_eq!(proven, [first, second].into());
    assert_eq!(market.earnings().await.unwrap(), U256::from(2 * price));
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    for deal in [first, second] {
        let d = contracts(&devnet, &deployment, BUYER)
            .market
            .getDeal(U256::from(deal))
            .call()
            .await
            .unwrap();
        assert_eq!(d.missed, 0, "deal {deal}");
    }
    let mut proven = std::collections::BTreeSet::new();
    while proven.len() < 2 {
        let (deal, period) = next_event(&mut events, |e| match e {
            Event::Proof {
                deal,
                period: 1,
                accepted: true,
            } => Some((*deal, 1)),
            Event::Proof { .. } => panic!("{e:?}"),
            _ => None,
        })
        .await;
        assert_eq!(period, 1);
        proven.insert(deal);
    }
    assert_eq!(market.earnings().await.unwrap(), U256::from(4 * price));

    // Period 2, the last; then both deals are over, and kept for the grace (a period here).
    let proven_in = |period: u32| {
        let mut events = provider.handle.subscribe();
        async move {
            let mut proven = std::collections::BTreeSet::new();
            while proven.len() < 2 {
                let deal = next_event(&mut events, |e| match e {
                    Event::Proof {
                        deal,
                        period: p,
                        accepted: true,
                    } if *p == period => Some(*deal),
                    _ => None,
                })
                .await;
                proven.insert(deal);
            }
        }
    };
    let period_2 = tokio::spawn(proven_in(2));
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    period_2.await.unwrap();
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    let store = provider.handle.store().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(store.list().unwrap().len(), 1, "kept during the grace");
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, Event::Released { .. }),
            "{e:?} during the grace"
        );
    }
    devnet.increase_time(u64::from(PERIOD)).await.unwrap();
    let (id, size, ended) = next_event(&mut events, |e| match e {
        Event::Released { id, size, deals } => Some((*id, *size, deals.clone())),
        _ => None,
    })
    .await;
    assert_eq!((id, size), (manifest.id(), bytes.len() as u64));
    assert_eq!(ended, vec![first, second]);
    assert!(store.list().unwrap().is_empty());
    assert!(store.info(&id).unwrap().is_none());
    assert!(
        !provider
            .dir
            .path()
            .join("store/objects")
            .join(id.to_string())
            .exists(),
        "its file is deleted"
    );
    // Gone: a download finds nothing there.
    let out = buyer.dir.path().join("out.bin");
    assert!(client.get(id, None, &out, vec![peer]).await.is_err());
}

/// A renewal with the copy's own provider fetches a few chunks, not the file, and sends nothing:
/// the new deal is for the same root and is proven, and the old one runs to its end. A provider
/// that serves none of the chunks asked is not paid again: the copy moves to another provider,
/// sent from the file it was stored from while that is there, else fetched back from a holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_checks_a_few_chunks_and_buys_the_copy_again_without_the_file() {
    use node::buyer::{Catalog, DialFailures, RENEWAL_SAMPLES, Why};
    let Selling {
        devnet,
        deployment,
        provider,
        peer,
        buyer,
        bytes,
        src,
        manifest,
        commitment,
        ..
    } = selling(12 * CHUNK_SIZE + 7, |_| {}).await;
    let id = manifest.id();
    let chain_buyer = chain_buyer(&devnet, &deployment, buyer.dir.path(), BUYER);
    let catalog = Catalog::in_dir(&buyer.dir.path().join("client"));
    let dials = DialFailures::collect(buyer.handle.subscribe());
    let stored = node::buyer::put(
        &buyer.handle,
        &catalog,
        &src,
        node::buyer::Keep {
            copies: 1,
            until: None,
            original: true,
        },
        Some(&chain_buyer),
        &dials,
    )
    .await
    .unwrap();
    let first = stored.entry.deals[0].deal;
    // The buyer keeps no copy of its own.
    std::fs::remove_file(&src).unwrap();
    let mut events = provider.handle.subscribe();
    let scratch = buyer.dir.path().join("scratch");
    let renewal = node::buyer::replace(
        &buyer.handle,
        &catalog,
        &chain_buyer,
        (id, first),
        Why::Ending,
        &scratch,
    )
    .await
    .unwrap();
    // Eight of the 13 chunks, one of which may be the last (7 bytes).
    let chunk = CHUNK_SIZE as u64;
    assert!(
        ((RENEWAL_SAMPLES - 1) * chunk + 7..=RENEWAL_SAMPLES * chunk).contains(&renewal.fetched),
        "{} bytes fetched: {RENEWAL_SAMPLES} chunks of {}",
        renewal.fetched,
        manifest.chunks()
    );
    assert!(!scratch.join(id.to_string()).exists());
    assert_eq!(renewal.by.peer, peer.to_string());
    assert!(renewal.ended.is_none(), "the old deal runs to its end");
    let second = renewal.by.deal;
    assert_ne!(second, first);
    let on_chain = |deal: u64| {
        let market = contracts(&devnet, &deployment, BUYER).market;
        async move { market.getDeal(U256::from(deal)).call().await.unwrap() }
    };
    let (old, new) = (on_chain(first).await, on_chain(second).await);
    assert_eq!((new.root, new.size), (commitment.root, commitment.size));
    assert_eq!(new.provider, Devnet::key(PROVIDER).address());
    assert_eq!(new.buyer, chain_buyer.address());
    assert_eq!((old.endPeriod, old.missed), (3, 0), "not ended");
    let listed = provider.handle.store().unwrap().list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].deals, vec![first, second]);
    let entry = &catalog.entries().unwrap()[&id.to_string()];
    assert_eq!(entry.deals, vec![renewal.by.clone()]);
    assert_eq!(entry.holders, vec![peer.to_string()]);
    assert!(entry.replaced[0].renewed);
    assert_eq!(wait_proof(&mut events, second).await, (0, true));

    // Every chunk corrupt on the provider's disk: the first one sampled is refused, the file
    // cannot be fetched back, and no deal is opened.
    let object = provider
        .dir
        .path()
        .join("store/objects")
        .join(id.to_string());
    for chunk in 0..manifest.chunks() {
        flip_byte(&object, chunk * CHUNK_SIZE as u64);
    }
    let deals = || {
        let market = contracts(&devnet, &deployment, BUYER).market;
        async move { market.dealCount().call().await.unwrap() }
    };
    let before = deals().await;
    let renew_second = || {
        node::buyer::replace(
            &buyer.handle,
            &catalog,
            &chain_buyer,
            (id, second),
            Why::Ending,
            &scratch,
        )
    };
    let err = renew_second().await.unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(deals().await, before, "no deal opened");
    let entry = &catalog.entries().unwrap()[&id.to_string()];
    assert_eq!(entry.deals, vec![renewal.by]);
    let reported = next_event(&mut events, |e| match e {
        Event::Corrupt { id, .. } => Some(*id),
        _ => None,
    })
    .await;
    assert_eq!(reported, id, "the provider reports the object corrupt");

    // The file it was stored from is back where it was: the other provider first tries to pull
    // the copy from the corrupt one, which serves none of it; the copy is then sent from the
    // file under the same deal (one deal opened), nothing fetched, and the corrupt copy's deal
    // is ended.
    std::fs::write(&src, &bytes).unwrap();
    register_provider_as(&devnet, &deployment, SPARE).await;
    let spare = selling_node(&market_of(&devnet, &deployment, SPARE), |_| {}).await;
    let mut spare_events = spare.handle.subscribe();
    buyer.handle.dial(spare.addr.clone()).await.unwrap();
    providers(&buyer.handle, 2).await;
    let moved = renew_second().await.unwrap();
    assert!(moved.from_original);
    assert_eq!((moved.fetched, moved.pulled_chunks), (0, 0));
    assert_eq!(deals().await, before + U256::from(1));
    assert_eq!(moved.by.peer, spare.handle.peer_id().to_string());
    assert_eq!(moved.ended.map(|ended| ended.deal), Some(second));
    let held = spare.handle.store().unwrap().list().unwrap();
    assert_eq!(
        (held.len(), held[0].deals.clone()),
        (1, vec![moved.by.deal])
    );
    assert_eq!(
        wait_proof(&mut spare_events, moved.by.deal).await,
        (0, true)
    );
    let entry = &catalog.entries().unwrap()[&id.to_string()];
    assert_eq!(entry.holders, vec![spare.handle.peer_id().to_string()]);

    // The original gone, the copy moved away from the spare is fetched back from it, every
    // chunk verified, and sent to the first provider, which holds none whole: its corrupt copy
    // is replaced by the upload. The new deal is for the commitment the moved one was opened
    // for.
    std::fs::remove_file(&src).unwrap();
    let back = node::buyer::replace(
        &buyer.handle,
        &catalog,
        &chain_buyer,
        (id, moved.by.deal),
        Why::MissedProof,
        &scratch,
    )
    .await
    .unwrap();
    assert!(!back.from_original);
    assert_eq!(back.fetched, bytes.len() as u64);
    assert_eq!(back.by.peer, peer.to_string());
    assert_eq!(back.ended.map(|ended| ended.deal), Some(moved.by.deal));
    let new = on_chain(back.by.deal).await;
    assert_eq!((new.root, new.size), (commitment.root, commitment.size));
    assert_eq!(wait_proof(&mut events, back.by.deal).await, (0, true));
    assert!(!scratch.join(id.to_string()).exists());
}

/// A copy whose provider missed a proof, moved while another provider holds the object: the new
/// provider pulls it from that holder itself, every chunk verified, and the buyer sends nothing
/// and does not even read the file, though it is on its disk (its access time stays put); its
/// proof is accepted on chain and the failing deal ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_copy_is_pulled_by_the_new_provider_from_another_holder() {
    use node::buyer::{Catalog, DialFailures, Why};
    /// A third provider, which holds nothing until the copy moves to it.
    const THIRD: usize = 4;
    let Selling {
        devnet,
        deployment,
        provider,
        peer,
        buyer,
        bytes,
        src,
        manifest,
        commitment,
        ..
    } = selling(6 * CHUNK_SIZE + 5, |_| {}).await;
    register_provider_as(&devnet, &deployment, SPARE).await;
    let second = selling_node(&market_of(&devnet, &deployment, SPARE), |_| {}).await;
    buyer.handle.dial(second.addr.clone()).await.unwrap();
    providers(&buyer.handle, 2).await;
    let chain_buyer = chain_buyer(&devnet, &deployment, buyer.dir.path(), BUYER);
    let catalog = Catalog::in_dir(&buyer.dir.path().join("client"));
    let dials = DialFailures::collect(buyer.handle.subscribe());
    let keep = node::buyer::Keep {
        copies: 2,
        until: None,
        original: true,
    };
    let stored = node::buyer::put(
        &buyer.handle,
        &catalog,
        &src,
        keep,
        Some(&chain_buyer),
        &dials,
    )
    .await
    .unwrap();
    let id = manifest.id();
    let failing = stored
        .entry
        .deals
        .iter()
        .find(|copy| copy.peer == peer.to_string())
        .unwrap()
        .deal;

    // The first provider is gone. With no provider to move the copy to, nothing is fetched,
    // though the file is not on the buyer's disk (the runtime tries again later), and no deal
    // is opened.
    provider.kill();
    std::fs::remove_file(&src).unwrap();
    let scratch = buyer.dir.path().join("scratch");
    let move_copy = |deal: u64| {
        node::buyer::replace(
            &buyer.handle,
            &catalog,
            &chain_buyer,
            (id, deal),
            Why::MissedProof,
            &scratch,
        )
    };
    let mut second_events = second.handle.subscribe();
    let deals = contracts(&devnet, &deployment, BUYER).market;
    let before = deals.dealCount().call().await.unwrap();
    let err = move_copy(failing).await.unwrap_err();
    assert!(err.to_string().contains("holds a copy already"), "{err}");
    assert_eq!(deals.dealCount().call().await.unwrap(), before);
    while let Ok(event) = second_events.try_recv() {
        assert!(!matches!(event, Event::Served { .. }), "{event:?}");
    }
    std::fs::write(&src, &bytes).unwrap();
    // Read from now on, the file's access time moves (relatime: it is older than its mtime).
    let long_ago = std::time::UNIX_EPOCH + Duration::from_secs(946_684_800);
    let accessed = || std::fs::metadata(&src).unwrap().accessed().unwrap();
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_accessed(long_ago))
        .unwrap();
    assert_eq!(accessed(), long_ago);

    // A third provider comes up, which knows neither holder.
    register_provider_as(&devnet, &deployment, THIRD).await;
    let third = selling_node(&market_of(&devnet, &deployment, THIRD), |_| {}).await;
    let third_peer = third.handle.peer_id();
    let mut third_events = third.handle.subscribe();
    buyer.handle.dial(third.addr.clone()).await.unwrap();
    providers(&buyer.handle, 3).await;
    let moved = move_copy(failing).await.unwrap();
    assert_eq!(moved.pulled_chunks, manifest.chunks());
    assert_eq!((moved.fetched, moved.from_original), (0, false));
    assert_eq!(accessed(), long_ago, "the original was read");
    // A read does move it: the check above can fail.
    std::fs::read(&src).unwrap();
    assert_ne!(accessed(), long_ago, "this filesystem records no reads");
    assert_eq!(moved.by.peer, third_peer.to_string());
    assert_eq!(moved.ended.map(|ended| ended.deal), Some(failing));
    // Every byte the third provider holds came from the second, verified.
    let mut served = 0;
    while let Ok(event) = second_events.try_recv() {
        if let Event::Served { id: i, peer, bytes } = event
            && i == id
        {
            assert_eq!(peer, third_peer);
            served += bytes;
        }
    }
    assert_eq!(served, bytes.len() as u64);
    let object = third.dir.path().join("store/objects").join(id.to_string());
    assert_eq!(std::fs::read(object).unwrap(), bytes);
    let market = contracts(&devnet, &deployment, BUYER).market;
    let new = market
        .getDeal(U256::from(moved.by.deal))
        .call()
        .await
        .unwrap();
    assert_eq!((new.root, new.size), (commitment.root, commitment.size));
    assert_eq!(new.provider, Devnet::key(THIRD).address());
    assert_eq!(
        wait_proof(&mut third_events, moved.by.deal).await,
        (0, true)
    );
    let entry = &catalog.entries().unwrap()[&id.to_string()];
    let mut holders = entry.holders.clone();
    holders.sort();
    let mut expected = vec![second.handle.peer_id().to_string(), third_peer.to_string()];
    expected.sort();
    assert_eq!(holders, expected);
    assert!(!scratch.join(id.to_string()).exists());

    // The third copy is moved in turn, to a fourth provider, which both holders refuse (they
    // banned it), and the original is gone: the buyer fetches the object from the holders and
    // sends it, under the deal opened for the pull (one deal, no second one).
    const FOURTH: usize = 5;
    register_provider_as(&devnet, &deployment, FOURTH).await;
    let fourth = selling_node(&market_of(&devnet, &deployment, FOURTH), |_| {}).await;
    let mut fourth_events = fourth.handle.subscribe();
    get_banned(&fourth.handle, &second).await;
    get_banned(&fourth.handle, &third).await;
    buyer.handle.dial(fourth.addr.clone()).await.unwrap();
    providers(&buyer.handle, 4).await;
    std::fs::remove_file(&src).unwrap();
    let before = deals.dealCount().call().await.unwrap();
    let again = move_copy(moved.by.deal).await.unwrap();
    assert_eq!(
        deals.dealCount().call().await.unwrap(),
        before + U256::from(1)
    );
    assert_eq!(
        (again.fetched, again.pulled_chunks),
        (bytes.len() as u64, 0)
    );
    assert!(!again.from_original);
    assert_eq!(again.by.peer, fourth.handle.peer_id().to_string());
    assert_eq!(again.ended.map(|ended| ended.deal), Some(moved.by.deal));
    let object = fourth.dir.path().join("store/objects").join(id.to_string());
    assert_eq!(std::fs::read(object).unwrap(), bytes);
    assert_eq!(
        wait_proof(&mut fourth_events, again.by.deal).await,
        (0, true)
    );
    assert!(!scratch.join(id.to_string()).exists());
}
