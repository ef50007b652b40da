//! Folds the embedded node's events into what the UI shows: transfers under way, recent
//! activity, proof counts and the latest earnings.
//!
//! The events are received by a task of its own ([`Recorder`]), not by the runtime's loop: a
//! transfer reports progress for every chunk (thousands of events a second), and a loop waiting
//! on a slow chain endpoint must not let the node's event channel overflow and lose a proof.
//! The folding itself ([`Folded`]) is pure and tested without a node.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use protocol::api::{ACTIVITY_LEN, Activity, ActivityKind, TransferInfo};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// A transfer with no progress for this long has broken off (a failed transfer sends no last
/// event): it is no longer shown as under way.
pub(crate) const TRANSFER_STALE: Duration = Duration::from_secs(30);

/// What the node's events have reported so far.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    /// Transfers under way, by object, peer and direction (`true`: sending): bytes done, bytes
    /// in all, and when progress was last reported.
    transfers: HashMap<(node::ContentId, node::PeerId, bool), (u64, u64, Instant)>,
    /// Newest first, at most [`ACTIVITY_LEN`].
    activity: VecDeque<Activity>,
    proofs_accepted: u64,
    proofs_rejected: u64,
    /// The latest earnings an accepted proof reported (token base units).
    earnings: Option<u128>,
}

/// A copy of [`Folded`] for one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Under way, largest first, then by object and peer (stable between ticks).
    pub(crate) transfers: Vec<TransferInfo>,
    /// Newest first.
    pub(crate) activity: Vec<Activity>,
    pub(crate) proofs_accepted: u64,
    pub(crate) proofs_rejected: u64,
    pub(crate) earnings: Option<u128>,
}

impl Folded {
    /// Folds one event, seen at `now` (`at`: seconds since the Unix epoch).
    pub(crate) fn record(&mut self, event: node::Event, now: Instant, at: u64) {
        let what = match event {
            node::Event::Progress {
                id,
                peer,
                done,
                total,
                upload,
            } => {
                if done >= total {
                    self.transfers.remove(&(id, peer, upload));
                } else {
                    self.transfers
                        .insert((id, peer, upload), (done, total, now));
                }
                return;
            }
            node::Event::Stored { id, size, peer } => {
                self.transfers.remove(&(id, peer, false));
                ActivityKind::Stored {
                    object: id.to_string(),
                    bytes: size,
                    peer: peer.to_string(),
                }
            }
            node::Event::Served { id, peer, bytes } => {
                self.transfers.remove(&(id, peer, true));
                ActivityKind::Served {
                    object: id.to_string(),
                    bytes,
                    peer: peer.to_string(),
                }
            }
            node::Event::Proof {
                deal,
                period,
                accepted,
            } => {
                if accepted {
                    self.proofs_accepted += 1;
                } else {
                    self.proofs_rejected += 1;
                }
                ActivityKind::Proof {
                    deal,
                    period,
                    accepted,
                }
            }
            node::Event::Corrupt { id, chunk } => ActivityKind::Corrupt {
                object: id.to_string(),
                chunk,
            },
            node::Event::Throttled { peer, banned } => ActivityKind::Throttled {
                peer: peer.to_string(),
                banned,
            },
            node::Event::Earnings { total } => {
                self.earnings = Some(total);
                return;
            }
            _ => return,
        };
        self.activity.truncate(ACTIVITY_LEN - 1);
        self.activity.push_front(Activity { at, what });
    }

    /// Forgets transfers silent since [`TRANSFER_STALE`] before `now`, and copies the rest.
    pub(crate) fn snapshot(&mut self, now: Instant) -> Snapshot {
        self.transfers
            .retain(|_, (_, _, seen)| now.duration_since(*seen) < TRANSFER_STALE);
        let mut transfers: Vec<TransferInfo> = self
            .transfers
            .iter()
            .map(|((id, peer, sending), (done, total, _))| TransferInfo {
                object: id.to_string(),
                peer: peer.to_string(),
                sending: *sending,
                done_bytes: *done,
                total_bytes: *total,
            })
            .collect();
        transfers.sort_by(|a, b| {
            b.total_bytes
                .cmp(&a.total_bytes)
                .then_with(|| a.object.cmp(&b.object))
                .then_with(|| a.peer.cmp(&b.peer))
        });
        Snapshot {
            transfers,
            activity: self.activity.iter().cloned().collect(),
            proofs_accepted: self.proofs_accepted,
            proofs_rejected: self.proofs_rejected,
            earnings: self.earnings,
        }
    }
}

/// The task that receives a node's events and folds them.
#[derive(Debug)]
pub(crate) struct Recorder {
    folded: Arc<Mutex<Folded>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts folding `events` (until the node's channel closes or this is dropped).
    pub(crate) fn spawn(mut events: broadcast::Receiver<node::Event>) -> Self {
        let folded = Arc::new(Mutex::new(Folded::default()));
        let shared = Arc::clone(&folded);
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let at = SystemTime::now()
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map_or(0, |since| since.as_secs());
                        shared
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .record(event, Instant::now(), at);
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "node events missed");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Self { folded, task }
    }

    /// What has been folded so far.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.folded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot(Instant::now())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> node::PeerId {
        node::PeerId::random()
    }

    fn object(byte: u8) -> node::ContentId {
        node::ContentId([byte; 32])
    }

    #[test]
    fn progress_is_under_way_until_stored_or_served_then_activity_newest_first() {
        let (buyer, reader) = (peer(), peer());
        let t0 = Instant::now();
        let mut folded = Folded::default();
        let progress = |id, peer, done, upload| node::Event::Progress {
            id,
            peer,
            done,
            total: 1000,
            upload,
        };
        folded.record(progress(object(1), buyer, 100, false), t0, 10);
        folded.record(progress(object(2), reader, 500, true), t0, 10);
        folded.record(progress(object(1), buyer, 400, false), t0, 11);
        let now = folded.snapshot(t0);
        assert_eq!(now.transfers.len(), 2);
        let receiving = now.transfers.iter().find(|t| !t.sending).unwrap();
        assert_eq!(
            (receiving.done_bytes, receiving.total_bytes),
            (400, 1000),
            "the latest progress"
        );
        assert!(now.activity.is_empty(), "progress is not activity");

        folded.record(
            node::Event::Stored {
                id: object(1),
                size: 1000,
                peer: buyer,
            },
            t0,
            12,
        );
        folded.record(
            node::Event::Served {
                id: object(2),
                peer: reader,
                bytes: 1000,
            },
            t0,
            13,
        );
        let after = folded.snapshot(t0);
        assert!(after.transfers.is_empty());
        let kinds: Vec<_> = after.activity.iter().map(|a| (a.at, &a.what)).collect();
        assert!(matches!(
            kinds[0],
            (13, ActivityKind::Served { bytes: 1000, .. })
        ));
        assert!(matches!(
            kinds[1],
            (12, ActivityKind::Stored { bytes: 1000, .. })
        ));
    }

    #[test]
    fn proofs_are_counted_earnings_kept_and_activity_bounded() {
        let t0 = Instant::now();
        let mut folded = Folded::default();
        for period in 0..(ACTIVITY_LEN as u32 + 5) {
            let accepted = period % 3 != 0;
            folded.record(
                node::Event::Proof {
                    deal: 1,
                    period,
                    accepted,
                },
                t0,
                u64::from(period),
            );
        }
        folded.record(node::Event::Earnings { total: u128::MAX }, t0, 99);
        let now = folded.snapshot(t0);
        assert_eq!((now.proofs_accepted, now.proofs_rejected), (16, 9));
        assert_eq!(now.earnings, Some(u128::MAX));
        assert_eq!(now.activity.len(), ACTIVITY_LEN);
        assert!(matches!(
            now.activity[0].what,
            ActivityKind::Proof { period: 24, .. }
        ));
        assert!(matches!(
            now.activity[ACTIVITY_LEN - 1].what,
            ActivityKind::Proof { period: 5, .. }
        ));
    }

    #[test]
    fn a_transfer_silent_for_too_long_is_dropped() {
        let t0 = Instant::now();
        let mut folded = Folded::default();
        folded.record(
            node::Event::Progress {
                id: object(3),
                peer: peer(),
                done: 1,
                total: 2,
                upload: false,
            },
            t0,
            0,
        );
        assert_eq!(folded.snapshot(t0 + TRANSFER_STALE / 2).transfers.len(), 1);
        assert!(folded.snapshot(t0 + TRANSFER_STALE).transfers.is_empty());
    }
}
