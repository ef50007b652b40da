//! Keeps a selling node's Registry entry current, and its earnings verified, without ever
//! blocking the runtime's loop.
//!
//! An announcement (register or update the entry, then verify the earnings: see
//! [`crate::earnings`]) is a few chain calls
//! and maybe a transaction; a chain that is down or silent must not hold up the loop that
//! answers the UI. So each attempt runs as its own task, bounded by [`ATTEMPT_TIMEOUT`], and
//! the loop only looks at its outcome on its next tick ([`Announcer::drive`]). A failed attempt
//! is tried again on the tick after; a quota change or an accepted proof asks for a new one
//! ([`Announcer::request`]), and the earnings are verified again every [`REVERIFY_EVERY`] (a
//! withdrawal from elsewhere changes them too). When they are anchored on the light client's
//! verified head ([`crate::beacon`]), which trails the endpoint's latest block by up to a slot,
//! a request is answered twice: at once, and again when the head moves, so a proof accepted
//! after the head's block is counted within a slot rather than at the next re-verification; an
//! attempt made before the light client verified any head is made again as soon as it has one.
//!
//! The same reading covers the node as a buyer: what the market owes it (refunds) and the
//! deals it bought for its files ([`Announcer::set_bought`]), at the same anchored block. A
//! bought deal whose current period's window ended without a proof is reported missed with the
//! node's key, and read again at once.

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use protocol::api::{BoughtDeal, MarketState};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::beacon::HeadState;

/// How long one attempt may take (chain calls, a transaction and its receipt) before it is
/// abandoned and tried again.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the status says of a selling node that has no stake to register with.
pub(crate) const NOT_REGISTERED: &str = "not registered in the Registry: buyers cannot open deals \
     with this node; give it a stake to register (here, or --node-stake, or CAIRN_NODE_STAKE in \
     the app)";

/// How often the earnings are verified again when nothing asked for it.
pub(crate) const REVERIFY_EVERY: Duration = Duration::from_secs(30);

/// What a successful attempt found.
struct Announced {
    registration: node::market::Registration,
    /// Where the earnings are paid, once registered.
    payout: Option<String>,
    /// The earnings, refunds and bought deals, and what they were proven against, or why they
    /// could not be verified.
    reading: Result<crate::earnings::MarketReading, String>,
    /// Bought deals reported missed in this attempt: read again at once.
    reported: usize,
}

/// One attempt under way.
struct Attempt {
    outcome: oneshot::Receiver<Result<Announced, String>>,
    task: JoinHandle<()>,
}

/// A selling node's announcements.
pub(crate) struct Announcer {
    market: node::market::Market,
    /// The chain endpoint the earnings are verified through.
    rpc_url: String,
    /// The light client's verified head the earnings are anchored on, when a beacon chain is
    /// followed; `None`: the endpoint's latest block.
    beacon: Option<watch::Receiver<HeadState>>,
    /// The verified head's block when the last request came, until the head moves past it
    /// (see the module's doc). `Some(None)`: requested, or attempted, before any head was
    /// verified.
    recheck_after: Option<Option<B256>>,
    /// Token units to stake if the provider is not registered yet.
    stake: Option<u64>,
    /// The deals the node bought for its files (from its catalog): verified with the earnings,
    /// and reported missed when their provider lets a period pass without a proof.
    bought: Vec<u64>,
    /// Bought deals the chain resolved to the end (every period proven or missed), as last
    /// read: they no longer change, so they are not read again.
    finished: std::collections::BTreeMap<u64, BoughtDeal>,
    /// An announcement is due (at start, after a quota change, after a failure).
    due: bool,
    attempt: Option<Attempt>,
    /// When the last attempt started.
    started: Option<Instant>,
}

impl Announcer {
    /// An announcer with its first announcement due.
    pub(crate) fn new(
        market: node::market::Market,
        stake: Option<u64>,
        rpc_url: String,
        beacon: Option<watch::Receiver<HeadState>>,
    ) -> Self {
        Self {
            market,
            rpc_url,
            beacon,
            recheck_after: None,
            stake,
            bought: Vec::new(),
            finished: std::collections::BTreeMap::new(),
            due: true,
            attempt: None,
            started: None,
        }
    }

    /// The market the node sells on, signing with its key.
    pub(crate) fn market(&self) -> node::market::Market {
        self.market.clone()
    }

    /// The provider's chain address.
    pub(crate) fn provider(&self) -> String {
        self.market.address().to_checksum(None)
    }

    /// Registers with `stake` (whole tokens) from the next announcement on, if not registered
    /// yet, and asks for that announcement.
    pub(crate) fn set_stake(&mut self, stake: u64) {
        self.stake = Some(stake);
        self.due = true;
    }

    /// Watches `deals` (bought for the node's files) from now on; a new one is read at once.
    /// Called on every tick: nothing is allocated unless they changed.
    pub(crate) fn set_bought(&mut self, deals: impl Iterator<Item = u64> + Clone) {
        if !self.bought.iter().copied().eq(deals.clone()) {
            self.bought = deals.collect();
            self.due = true;
        }
    }

    /// Asks for a new announcement (the quota or the addresses changed, or a proof was
    /// accepted and the earnings grew).
    pub(crate) fn request(&mut self) {
        self.due = true;
        if let Some(beacon) = &self.beacon {
            self.recheck_after = Some(beacon.borrow().head.map(|head| head.block_hash));
        }
    }

    /// Anchors the earnings on `beacon`'s verified head from now on (`None`: the endpoint's
    /// latest block), and asks for them to be verified again.
    pub(crate) fn anchor_on(&mut self, beacon: Option<watch::Receiver<HeadState>>) {
        self.beacon = beacon;
        self.recheck_after = None;
        self.due = true;
    }

    /// The verified head's block, when a beacon chain is followed and a head is verified.
    fn head_block(&self) -> Option<B256> {
        self.beacon
            .as_ref()
            .and_then(|beacon| beacon.borrow().head.map(|head| head.block_hash))
    }

    /// Folds a finished attempt into `state`, then starts the next one if one is due. Never
    /// waits.
    pub(crate) fn drive(&mut self, node: &node::Handle, state: &mut MarketState) {
        if let Some(attempt) = self.attempt.as_mut() {
            let outcome = match attempt.outcome.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => return,
                Ok(outcome) => outcome,
                Err(oneshot::error::TryRecvError::Closed) => {
                    Err("the announcement task ended without an answer".to_owned())
                }
            };
            self.attempt = None;
            self.record(outcome, state);
        }
        if self
            .started
            .is_some_and(|started| started.elapsed() >= REVERIFY_EVERY)
        {
            self.due = true;
        }
        if let Some(at_request) = self.recheck_after {
            let head = self.head_block();
            if head.is_some() && head != at_request {
                self.recheck_after = None;
                self.due = true;
            }
        }
        if self.due {
            self.due = false;
            self.started = Some(Instant::now());
            self.attempt = Some(self.start(node));
        }
    }

    fn record(&mut self, outcome: Result<Announced, String>, state: &mut MarketState) {
        match outcome {
            Ok(announced) => {
                state.payout = announced.payout;
                if matches!(
                    announced.registration,
                    node::market::Registration::Unregistered
                ) {
                    // Not an error to retry: nothing changes until the node is given a stake.
                    let note = NOT_REGISTERED.to_owned();
                    if state.announce_error.as_ref() != Some(&note) {
                        tracing::warn!("{note}");
                    }
                    state.announce_error = Some(note);
                } else if state.announce_error.take().is_some() {
                    tracing::info!("the node is announced in the Registry");
                }
                if announced.reported > 0 {
                    // Their periods are resolved now: show the refunds they brought.
                    self.due = true;
                }
                match announced.reading {
                    Ok(reading) => {
                        state.earnings = Some(reading.earnings);
                        state.earnings_proof = Some(reading.proof);
                        state.refunds = Some(reading.refunds);
                        state.bought =
                            fold_bought(&mut self.finished, &self.bought, reading.bought);
                        state.earnings_error = None;
                    }
                    Err(error) => {
                        // `runtime::Error::Unverified`: "the earnings could not be verified: …"
                        if state.earnings_error.as_ref() != Some(&error) {
                            tracing::warn!(%error, "verifying the node's earnings failed");
                        }
                        state.earnings_error = Some(error);
                    }
                }
            }
            Err(err) => {
                let error = format!(
                    "not announced in the chain's Registry yet ({err}); retrying every tick"
                );
                if state.announce_error.is_none() {
                    tracing::error!(%error, "announcing the node failed");
                }
                state.announce_error = Some(error);
                self.due = true;
            }
        }
    }

    fn start(&mut self, node: &node::Handle) -> Attempt {
        let (reply, outcome) = oneshot::channel();
        let market = self.market.clone();
        let node = node.clone();
        let stake = self.stake.map(node::market::token_units);
        let rpc_url = self.rpc_url.clone();
        let bought: Vec<u64> = self
            .bought
            .iter()
            .copied()
            .filter(|deal| !self.finished.contains_key(deal))
            .collect();
        let anchor = match &self.beacon {
            None => Ok(crate::earnings::Anchor::Endpoint),
            Some(beacon) => beacon
                .borrow()
                .anchor()
                .map(crate::earnings::Anchor::Beacon),
        };
        if anchor.is_err() {
            // No verified head yet: check again as soon as there is one.
            self.recheck_after = Some(None);
        }
        let task = tokio::spawn(async move {
            let attempt = async {
                let registration = market
                    .announce_node(&node, stake)
                    .await
                    .map_err(|err| err.to_string())?;
                // The entry the announcement read or wrote names it: no second read.
                let payout = registration.payout().map(|payout| payout.to_checksum(None));
                let reading = match anchor {
                    Ok(anchor) => crate::earnings::read_market(
                        &rpc_url,
                        market.deployment(),
                        market.address(),
                        &bought,
                        anchor,
                    )
                    .await
                    .map_err(|err| crate::Error::Unverified(err).to_string()),
                    Err(why) => Err(crate::Error::Unverified(why).to_string()),
                };
                // A period its provider let pass without a proof is the buyer's to report: its
                // share is refunded and the provider slashed. Another may have reported it first.
                let mut reported = 0;
                for &deal in reading.as_ref().map_or(&[][..], |r| &r.overdue) {
                    match market.buyer().report_missed(deal).await {
                        Ok(transaction) => {
                            tracing::warn!(deal, %transaction, "a provider missed a period of a deal bought for a file; reported, and refunded");
                            reported += 1;
                        }
                        Err(err) => tracing::info!(deal, %err, "reporting a missed period failed"),
                    }
                }
                Ok(Announced {
                    registration,
                    payout,
                    reading,
                    reported,
                })
            };
            let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "the chain did not answer within {} s",
                        ATTEMPT_TIMEOUT.as_secs()
                    ))
                });
            let _ = reply.send(outcome);
        });
        Attempt { outcome, task }
    }
}

/// The bought deals to show, of those `bought`: the ones just `read`, and those `finished`
/// before. A deal `read` whose every period is resolved, and that is `ending` (nothing about it
/// changes after that), joins `finished`, and is not read again. One whose last period was
/// proven early is read until it is ending: its copy is renewed then.
fn fold_bought(
    finished: &mut std::collections::BTreeMap<u64, BoughtDeal>,
    bought: &[u64],
    read: Vec<BoughtDeal>,
) -> Vec<BoughtDeal> {
    for deal in &read {
        if deal.proven + deal.missed >= deal.periods && deal.ending {
            finished.insert(deal.deal, deal.clone());
        }
    }
    let mut shown: Vec<BoughtDeal> = read
        .into_iter()
        .filter(|deal| !finished.contains_key(&deal.deal))
        .chain(
            finished
                .values()
                .filter(|deal| bought.contains(&deal.deal))
                .cloned(),
        )
        .collect();
    shown.sort_by_key(|deal| deal.deal);
    shown
}

impl Drop for Announcer {
    fn drop(&mut self) {
        if let Some(attempt) = self.attempt.take() {
            attempt.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(deal: u64, proven: u32, missed: u32, periods: u32) -> BoughtDeal {
        BoughtDeal {
            deal,
            proven,
            missed,
            periods,
            ending: proven + missed >= periods,
            ends_at: 0,
        }
    }

    #[test]
    fn a_finished_deal_is_kept_and_no_longer_read() {
        let mut finished = std::collections::BTreeMap::new();
        let shown = fold_bought(
            &mut finished,
            &[1, 2],
            vec![deal(2, 1, 1, 2), deal(1, 3, 0, 24)],
        );
        assert_eq!(shown, vec![deal(1, 3, 0, 24), deal(2, 1, 1, 2)]);
        assert_eq!(finished.keys().copied().collect::<Vec<_>>(), vec![2]);
        // Next time only deal 1 is read; deal 2 is shown as it ended.
        let shown = fold_bought(&mut finished, &[1, 2], vec![deal(1, 4, 0, 24)]);
        assert_eq!(shown, vec![deal(1, 4, 0, 24), deal(2, 1, 1, 2)]);
        // A deal no longer in the catalog is not shown.
        let shown = fold_bought(&mut finished, &[1], vec![deal(1, 4, 0, 24)]);
        assert_eq!(shown, vec![deal(1, 4, 0, 24)]);
    }

    #[test]
    fn a_deal_proven_to_its_end_is_read_until_it_is_ending() {
        let mut finished = std::collections::BTreeMap::new();
        let early = BoughtDeal {
            ending: false,
            ..deal(3, 2, 0, 2)
        };
        let shown = fold_bought(&mut finished, &[3], vec![early.clone()]);
        assert_eq!(shown, vec![early]);
        assert!(finished.is_empty(), "read again");
        let shown = fold_bought(&mut finished, &[3], vec![deal(3, 2, 0, 2)]);
        assert!(shown[0].ending);
        assert_eq!(finished.keys().copied().collect::<Vec<_>>(), vec![3]);
    }
}
