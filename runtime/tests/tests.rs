//! Integration tests for the runtime against a real anvil devnet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use chain::Devnet;
use runtime::{ChainState, Config};

fn config(rpc_url: &str) -> Config {
    Config {
        rpc_url: rpc_url.to_owned(),
        poll_interval: Duration::from_millis(200),
        ..Config::devnet(std::env::temp_dir().join("cairn-runtime-tests"))
    }
}

#[tokio::test]
async fn status_follows_the_devnet_head() {
    let devnet = Devnet::start().await.unwrap();
    let (handle, event_loop) = runtime::start(config(devnet.rpc_url())).unwrap();
    let task = tokio::spawn(event_loop.run());

    let first = handle.refresh().await.unwrap();
    let ChainState::Connected {
        chain_id,
        latest_block,
    } = first.chain
    else {
        panic!("not connected: {first:?}");
    };
    assert_eq!(chain_id, devnet.chain_id());
    assert_eq!(first.network, "devnet");
    assert_eq!(first.version, env!("CARGO_PKG_VERSION"));

    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    // The ticker publishes the new head on its own, without a refresh.
    let mut updates = handle.subscribe();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            updates.changed().await.unwrap();
            if let ChainState::Connected {
                latest_block: b, ..
            } = updates.borrow().chain
                && b >= latest_block + 3
            {
                return b;
            }
        }
    })
    .await
    .expect("the new head is published");
    assert_eq!(seen, latest_block + 3);

    handle.shutdown().await.unwrap();
    task.await.unwrap();
    assert!(handle.refresh().await.is_err());
}

#[tokio::test]
async fn an_outage_is_reported_and_keeps_the_last_chain_id() {
    let devnet = Devnet::start().await.unwrap();
    let chain_id = devnet.chain_id();
    let (handle, event_loop) = runtime::start(config(devnet.rpc_url())).unwrap();
    tokio::spawn(event_loop.run());
    assert_eq!(
        handle.refresh().await.unwrap().chain.chain_id(),
        Some(chain_id)
    );

    devnet.stop().await.unwrap();
    let status = handle.refresh().await.unwrap();
    match status.chain {
        ChainState::Unreachable {
            error,
            last_chain_id,
        } => {
            assert_eq!(last_chain_id, Some(chain_id));
            assert!(error.contains("could not reach"), "{error}");
        }
        other => panic!("expected an outage, got {other:?}"),
    }
}

#[test]
fn bad_configuration_is_refused_with_the_reason() {
    let err = runtime::start(config("localhost:8545")).unwrap_err();
    assert!(err.to_string().contains("not a valid RPC URL"), "{err}");

    let err = runtime::start(Config {
        poll_interval: Duration::from_millis(1),
        ..config("http://127.0.0.1:1")
    })
    .unwrap_err();
    assert!(err.to_string().contains("poll interval"), "{err}");
}

#[tokio::test]
async fn the_loop_ends_when_every_handle_is_dropped() {
    let (handle, event_loop) = runtime::start(config("http://127.0.0.1:1")).unwrap();
    let task = tokio::spawn(event_loop.run());
    drop(handle);
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("loop ends")
        .unwrap();
}
