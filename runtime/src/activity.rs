//! Folds the embedded node's events into what the UI shows: transfers under way, recent
//! activity and proof counts.
//!
//! The events are received by a task of its own ([`Recorder`]), not by the runtime's loop: a
//! transfer reports progress for every chunk (thousands of events a second), and a loop waiting
//! on a slow chain endpoint must not let the node's event channel overflow and lose a proof.
//! The folding itself ([`Folded`]) is pure and tested without a node.
//!
//! The recent activity outlives a restart: it is kept in the node's data directory
//! ([`FILE_NAME`]), replaced atomically at most once per [`SAVE_EVERY`] while it changes, and
//! once more when the recorder stops. A file that does not parse is moved aside (`.bad`), never
//! overwritten.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use protocol::api::{
    ACTIVITY_LEN, Activity, ActivityKind, Reachability, RelayServed, TransferInfo,
};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// A transfer with no progress for this long has broken off (a failed transfer sends no last
/// event): it is no longer shown as under way.
pub(crate) const TRANSFER_STALE: Duration = Duration::from_secs(30);

/// The file in the node's data directory that keeps its recent activity.
pub(crate) const FILE_NAME: &str = "activity.json";

/// The activity file is written at most this often: a flood of throttled peers must not become
/// a flood of fsyncs.
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What the node's events have reported so far.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    /// Transfers under way, by object, peer and direction: bytes done, bytes in all, and when
    /// progress was last reported.
    transfers: HashMap<(node::ContentId, node::PeerId, Direction), (u64, u64, Instant)>,
    /// Newest first, at most [`ACTIVITY_LEN`].
    activity: VecDeque<Activity>,
    proofs_accepted: u64,
    proofs_rejected: u64,
    /// Listen addresses gained or lost (a relay's circuit, a listener closed): the Registry
    /// entry is announced again when this moves.
    address_changes: u64,
    /// Whether other nodes can dial the node, as it last found.
    reachability: Reachability,
    /// The relay it serves others now.
    relay: RelayServed,
    /// Activity was added since it was last saved.
    unsaved: bool,
}

/// Which way a transfer under way goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    /// The node sends.
    Sending,
    /// The node receives.
    Receiving,
    /// The peer fetches the object from other holders for the node.
    Pulling,
}

impl Direction {
    fn of_upload(upload: bool) -> Self {
        if upload {
            Self::Sending
        } else {
            Self::Receiving
        }
    }
}

/// The relay a node serves, as the UI and `cairn node`'s `{"relay": …}` lines show it, from
/// the one its [`node::Event::Relaying`] said.
pub fn relay_served(service: Option<node::RelayService>) -> RelayServed {
    match service {
        Some(node::RelayService::Limited) => RelayServed::Limited,
        Some(node::RelayService::Full) => RelayServed::Full,
        _ => RelayServed::None,
    }
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
    pub(crate) reachability: Reachability,
    pub(crate) relay: RelayServed,
}

impl Folded {
    /// Starts from the activity an earlier run kept (newest first; the newest
    /// [`ACTIVITY_LEN`] are kept).
    pub(crate) fn with_activity(mut activity: Vec<Activity>) -> Self {
        activity.truncate(ACTIVITY_LEN);
        Self {
            activity: activity.into(),
            ..Self::default()
        }
    }

    /// The activity to save, if any was added since the last call.
    fn take_unsaved(&mut self) -> Option<Vec<Activity>> {
        std::mem::take(&mut self.unsaved).then(|| self.activity.iter().cloned().collect())
    }

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
                self.progress((id, peer, Direction::of_upload(upload)), done, total, now);
                return;
            }
            node::Event::Pulling {
                id,
                peer,
                done,
                total,
            } => {
                self.progress((id, peer, Direction::Pulling), done, total, now);
                return;
            }
            node::Event::Stored { id, size, peer } => {
                self.transfers.remove(&(id, peer, Direction::Receiving));
                ActivityKind::Stored {
                    object: id.to_string(),
                    bytes: size,
                    peer: peer.to_string(),
                }
            }
            node::Event::Served { id, peer, bytes } => {
                self.transfers.remove(&(id, peer, Direction::Sending));
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
            node::Event::Released { id, size, deals } => ActivityKind::Released {
                object: id.to_string(),
                bytes: size,
                deals,
            },
            node::Event::Corrupt { id, chunk } => ActivityKind::Corrupt {
                object: id.to_string(),
                chunk,
            },
            node::Event::Throttled { peer, banned } => ActivityKind::Throttled {
                peer: peer.to_string(),
                banned,
            },
            node::Event::Listening { .. } | node::Event::ListenExpired { .. } => {
                self.address_changes += 1;
                return;
            }
            node::Event::Reachability { status } => {
                self.reachability = match status {
                    node::Reachability::Public { addr } => Reachability::Public {
                        addr: addr.to_string(),
                    },
                    node::Reachability::Private => Reachability::Private,
                    _ => Reachability::Unknown,
                };
                return;
            }
            node::Event::Relaying { service } => {
                self.relay = relay_served(service);
                return;
            }
            // Earnings are not taken from events: the runtime shows them only once verified
            // (`crate::earnings`); an accepted proof asks for that.
            _ => return,
        };
        self.activity.truncate(ACTIVITY_LEN - 1);
        self.activity.push_front(Activity { at, what });
        self.unsaved = true;
    }

    /// A transfer's progress: under way until all is done.
    fn progress(
        &mut self,
        key: (node::ContentId, node::PeerId, Direction),
        done: u64,
        total: u64,
        now: Instant,
    ) {
        if done >= total {
            self.transfers.remove(&key);
        } else {
            self.transfers.insert(key, (done, total, now));
        }
    }

    /// Forgets transfers silent since [`TRANSFER_STALE`] before `now`, and copies the rest.
    pub(crate) fn snapshot(&mut self, now: Instant) -> Snapshot {
        self.transfers
            .retain(|_, (_, _, seen)| now.duration_since(*seen) < TRANSFER_STALE);
        let mut transfers: Vec<TransferInfo> = self
            .transfers
            .iter()
            .map(|((id, peer, direction), (done, total, _))| TransferInfo {
                object: id.to_string(),
                peer: peer.to_string(),
                sending: *direction == Direction::Sending,
                pulling: *direction == Direction::Pulling,
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
            reachability: self.reachability.clone(),
            relay: self.relay,
        }
    }
}

/// The activity kept in `file` by an earlier run, or none. A file that does not parse is moved
/// aside to `<file>.bad` (and logged), so saving afresh loses nothing.
pub(crate) fn load(file: &Path) -> Vec<Activity> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => {
            tracing::warn!(path = %file.display(), %err, "cannot read the node's activity");
            return Vec::new();
        }
    };
    match serde_json::from_str(&text) {
        Ok(activity) => activity,
        Err(err) => {
            let mut aside = file.as_os_str().to_owned();
            aside.push(".bad");
            let moved = std::fs::rename(file, &aside);
            tracing::warn!(
                path = %file.display(),
                %err,
                moved_to = %PathBuf::from(&aside).display(),
                moved = moved.is_ok(),
                "the node's activity file does not parse; starting a new one"
            );
            Vec::new()
        }
    }
}

/// Where a recorder keeps its activity.
#[derive(Debug)]
struct Kept {
    file: PathBuf,
    /// Held from taking the activity to the end of writing it: two saves never write the file
    /// at once, and a newer one always lands last. The fold itself is not held meanwhile.
    writer: Mutex<()>,
}

/// Saves `folded`'s activity to `kept` if any was added since the last save.
fn save(folded: &Mutex<Folded>, kept: &Kept) {
    let _writing = kept.writer.lock().unwrap_or_else(PoisonError::into_inner);
    let taken = folded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_unsaved();
    let Some(activity) = taken else {
        return;
    };
    let file = &kept.file;
    let written = serde_json::to_vec(&activity)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::files::replace(file, &bytes));
    if let Err(err) = written {
        tracing::warn!(path = %file.display(), %err, "cannot save the node's activity");
    }
}

/// The task that receives a node's events and folds them.
#[derive(Debug)]
pub(crate) struct Recorder {
    folded: Arc<Mutex<Folded>>,
    /// Where the activity is kept, if anywhere.
    kept: Option<Arc<Kept>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts folding `events` (until the node's channel closes or this is dropped), from the
    /// activity kept in `file` and keeping it there.
    pub(crate) fn spawn(
        mut events: broadcast::Receiver<node::Event>,
        file: Option<PathBuf>,
    ) -> Self {
        let earlier = file.as_deref().map(load).unwrap_or_default();
        let folded = Arc::new(Mutex::new(Folded::with_activity(earlier)));
        let kept = file.map(|file| {
            Arc::new(Kept {
                file,
                writer: Mutex::new(()),
            })
        });
        let shared = Arc::clone(&folded);
        let target = kept.clone();
        let task = tokio::spawn(async move {
            let mut saves = tokio::time::interval(SAVE_EVERY);
            saves.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let save_now = |shared: &Arc<Mutex<Folded>>, target: &Option<Arc<Kept>>| {
                let (shared, target) = (Arc::clone(shared), target.clone());
                tokio::task::spawn_blocking(move || {
                    if let Some(kept) = target {
                        save(&shared, &kept);
                    }
                })
            };
            loop {
                tokio::select! {
                    received = events.recv() => match received {
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
                    },
                    _ = saves.tick(), if target.is_some() => {
                        let _ = save_now(&shared, &target).await;
                    }
                }
            }
            let _ = save_now(&shared, &target).await;
        });
        Self { folded, kept, task }
    }

    /// Proofs the chain accepted since the node started (no copy of the rest).
    pub(crate) fn proofs_accepted(&self) -> u64 {
        self.folded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .proofs_accepted
    }

    /// Listen addresses gained or lost since the node started (its first ones included).
    pub(crate) fn address_changes(&self) -> u64 {
        self.folded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .address_changes
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
        // What was added since the last save (at most SAVE_EVERY's worth): a small file.
        if let Some(kept) = &self.kept {
            save(&self.folded, kept);
        }
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

    /// A provider pulling a copy for the node is shown as its own kind of transfer (the node
    /// sends nothing), beside a download of the same object from it, until it says it is done.
    #[test]
    fn a_pull_is_under_way_until_the_provider_holds_the_whole_copy() {
        let provider = peer();
        let t0 = Instant::now();
        let mut folded = Folded::default();
        let pulling = |done| node::Event::Pulling {
            id: object(3),
            peer: provider,
            done,
            total: 1000,
        };
        folded.record(pulling(250), t0, 10);
        folded.record(
            node::Event::Progress {
                id: object(3),
                peer: provider,
                done: 100,
                total: 1000,
                upload: false,
            },
            t0,
            10,
        );
        let now = folded.snapshot(t0);
        assert_eq!(now.transfers.len(), 2);
        let pull = now.transfers.iter().find(|t| t.pulling).unwrap();
        assert_eq!((pull.sending, pull.done_bytes), (false, 250));
        assert!(now.activity.is_empty(), "progress is not activity");
        folded.record(pulling(1000), t0, 11);
        let after = folded.snapshot(t0);
        assert_eq!(after.transfers.len(), 1);
        assert!(!after.transfers[0].pulling);
    }

    /// A listen address gained or lost is counted (the Registry entry is announced again), and
    /// is not activity.
    #[test]
    fn listen_addresses_gained_or_lost_are_counted_not_shown() {
        let t0 = Instant::now();
        let mut folded = Folded::default();
        let addr: node::Multiaddr = "/ip4/10.99.0.2/tcp/4001/p2p-circuit".parse().unwrap();
        folded.record(node::Event::Listening { addr: addr.clone() }, t0, 1);
        folded.record(node::Event::ListenExpired { addr }, t0, 2);
        folded.record(node::Event::PeerConnected { peer: peer() }, t0, 3);
        assert_eq!(folded.address_changes, 2);
        assert!(folded.snapshot(t0).activity.is_empty());
        // Reachability is the last one found.
        assert_eq!(folded.snapshot(t0).reachability, Reachability::Unknown);
        folded.record(
            node::Event::Reachability {
                status: node::Reachability::Private,
            },
            t0,
            4,
        );
        assert_eq!(folded.snapshot(t0).reachability, Reachability::Private);
        let at: node::Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
        folded.record(
            node::Event::Reachability {
                status: node::Reachability::Public { addr: at },
            },
            t0,
            5,
        );
        // So is the relay it serves.
        assert_eq!(folded.snapshot(t0).relay, RelayServed::None);
        for (service, served) in [
            (Some(node::RelayService::Limited), RelayServed::Limited),
            (None, RelayServed::None),
            (Some(node::RelayService::Full), RelayServed::Full),
        ] {
            folded.record(node::Event::Relaying { service }, t0, 6);
            assert_eq!(folded.snapshot(t0).relay, served);
        }
        assert!(folded.snapshot(t0).activity.is_empty());
        assert_eq!(
            folded.snapshot(t0).reachability,
            Reachability::Public {
                addr: "/ip4/203.0.113.7/tcp/4001".into()
            }
        );
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
    fn proofs_are_counted_and_activity_bounded() {
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
        // Earnings events are not activity: the runtime verifies the earnings itself.
        folded.record(node::Event::Earnings { total: u128::MAX }, t0, 99);
        let now = folded.snapshot(t0);
        assert_eq!((now.proofs_accepted, now.proofs_rejected), (16, 9));
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

    fn proof(deal: u64) -> node::Event {
        node::Event::Proof {
            deal,
            period: 0,
            accepted: true,
        }
    }

    /// Waits (bounded) until `file` holds `deals`' proofs, newest first.
    async fn saved(file: &Path, deals: &[u64]) -> Vec<Activity> {
        let wanted: Vec<u64> = deals.to_vec();
        for _ in 0..100 {
            let activity = load(file);
            let found: Vec<u64> = activity
                .iter()
                .filter_map(|a| match a.what {
                    ActivityKind::Proof { deal, .. } => Some(deal),
                    _ => None,
                })
                .collect();
            if found == wanted {
                return activity;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never held proofs {wanted:?}", file.display());
    }

    #[tokio::test]
    async fn the_activity_is_kept_in_its_file_over_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let (events, receiver) = broadcast::channel(16);
        let recorder = Recorder::spawn(receiver, Some(file.clone()));
        events.send(proof(1)).unwrap();
        events.send(proof(2)).unwrap();
        let first = saved(&file, &[2, 1]).await;

        // A new recorder starts from it; the counters are this run's.
        drop(recorder);
        let (events, receiver) = broadcast::channel(16);
        let recorder = Recorder::spawn(receiver, Some(file.clone()));
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot.activity, first);
        assert_eq!(snapshot.proofs_accepted, 0);
        // What arrives just before the recorder stops is saved too, without waiting a second.
        events.send(proof(3)).unwrap();
        for _ in 0..100 {
            if recorder.snapshot().activity.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(recorder);
        let kept = load(&file);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[1..], first[..]);
        assert!(!dir.path().join(format!("{FILE_NAME}.tmp")).exists());
    }

    #[tokio::test]
    async fn an_activity_file_that_does_not_parse_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, "not json").unwrap();
        let (events, receiver) = broadcast::channel(16);
        let recorder = Recorder::spawn(receiver, Some(file.clone()));
        assert!(recorder.snapshot().activity.is_empty());
        let aside = dir.path().join(format!("{FILE_NAME}.bad"));
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "not json");
        events.send(proof(7)).unwrap();
        saved(&file, &[7]).await;
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "not json");
    }

    #[test]
    fn kept_activity_is_bounded() {
        let many: Vec<Activity> = (0..ACTIVITY_LEN as u64 + 5)
            .map(|at| Activity {
                at,
                what: ActivityKind::Proof {
                    deal: at,
                    period: 0,
                    accepted: true,
                },
            })
            .collect();
        let mut folded = Folded::with_activity(many.clone());
        let snapshot = folded.snapshot(Instant::now());
        assert_eq!(snapshot.activity, many[..ACTIVITY_LEN]);
        assert!(folded.take_unsaved().is_none(), "nothing new to save");
    }
}
