//! Following the chain's head: consensus gives the block, execution is proven against it.
//!
//! A [`Follower`] owns a [`BeaconSync`] and an untrusted execution [`Rpc`]. Each
//! [`step`](Follower::step) runs one beacon sync round; when the verified optimistic header
//! (signed by more than the safety threshold of the sync committee) carries an execution block
//! other than the one in use, it anchors a new [`ExecutionClient`] on that block hash and returns a
//! [`Provider`] for it. The block hash comes only from the verified beacon header, never from
//! the execution node, so `cairn light-client serve --beacon` answers for the chain's latest
//! block with the same proofs as execution-only mode. The caller owns the loop (one step per
//! slot) and decides where the new provider goes.

use alloy_primitives::B256;

use crate::{BeaconError, BeaconSync, Error, ExecutionClient, Progress, Provider, Rpc};

/// A step that could not give a verified head.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// The beacon sync round failed (every endpoint failed or lied, or the checkpoint store).
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// The execution node could not give the verified head block's header.
    #[error(
        "the verified head block {number} ({hash}) from the execution node: {source}; is the \
         node synced and on the same network as the beacon endpoints?"
    )]
    Anchor {
        /// The block number the beacon chain vouches for.
        number: u64,
        /// Its hash.
        hash: B256,
        /// What went wrong.
        #[source]
        source: Error,
    },
}

/// What one [`Follower::step`] did.
#[derive(Debug)]
pub struct Step {
    /// The beacon sync round.
    pub progress: Progress,
    /// A provider anchored on the new head block, if the head moved.
    pub provider: Option<Provider>,
}

/// Keeps an execution anchor on the verified head of the beacon chain.
pub struct Follower {
    sync: BeaconSync,
    rpc: Rpc,
    chain_id: u64,
    anchored: Option<B256>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("rpc", &self.rpc.url())
            .field("chain_id", &self.chain_id)
            .field("anchored", &self.anchored)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Follows with `sync` (not yet synced, or resumed from a checkpoint) and proves execution
    /// data from `rpc`; `chain_id` is what `CHAINID` returns.
    pub fn new(sync: BeaconSync, rpc: Rpc, chain_id: u64) -> Self {
        Self {
            sync,
            rpc,
            chain_id,
            anchored: None,
        }
    }

    /// The execution block hash the last provider was anchored on.
    pub fn anchored(&self) -> Option<B256> {
        self.anchored
    }

    /// The beacon side (its verified store and the endpoints it found lying).
    pub fn sync(&self) -> &BeaconSync {
        &self.sync
    }

    /// One sync round at `current_slot`, then a new provider if the verified head's execution
    /// block changed. On an error nothing changes: the previous provider stays valid for its
    /// block.
    pub async fn step(&mut self, current_slot: u64) -> Result<Step, FollowError> {
        let progress = self.sync.sync(current_slot).await?;
        let Some(store) = self.sync.store() else {
            return Ok(Step {
                progress,
                provider: None,
            });
        };
        let head = &store.optimistic_header().execution;
        if self.anchored == Some(head.block_hash) {
            return Ok(Step {
                progress,
                provider: None,
            });
        }
        let (hash, number) = (head.block_hash, head.block_number);
        let client = ExecutionClient::anchor(self.rpc.clone(), hash, self.chain_id)
            .await
            .map_err(|source| FollowError::Anchor {
                number,
                hash,
                source,
            })?;
        self.anchored = Some(hash);
        Ok(Step {
            progress,
            provider: Some(Provider::new(client)),
        })
    }
}
