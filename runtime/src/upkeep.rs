//! Keeps the node's files at the copies bought for them, with `node::buyer::replace`:
//! - a copy whose provider missed a proof (the chain resolved one of its deal's periods missed,
//!   which [`crate::announce`] reads and reports) is replaced by a copy bought from another
//!   provider under a new deal, and the failing deal is ended. The new provider fetches the
//!   object from the other holders itself while there are any (nothing is sent from this
//!   node); else it is sent from the file it was stored from while that still holds it, else
//!   fetched back verified from the holders and sent;
//! - a copy whose deal ends within [`renewal_lead`] (chain time) is renewed: its provider is paid
//!   again under a new deal once it serves a few chunks picked at random (it holds every chunk,
//!   so nothing is sent), else the copy is bought from another provider.
//!
//! A file is kept, and paid for, while it is in the catalog, and until its `keep_until` when it
//! has one: a deal ending at or after that date is not renewed, and a copy lost after it is not
//! replaced; once that date and all its deals are past, it leaves the catalog ([`expired`]).
//!
//! One copy is bought again at a time, in a task of its own; the event loop starts them and
//! folds their outcomes in on its ticks ([`Upkeep::tick`]), never waiting. A try that fails (no
//! other provider yet, no holder serving the object) is tried again after [`FIRST_RETRY`], then
//! twice as long each time up to [`LAST_RETRY`]; the status says why and when.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use node::buyer::{BuyerError, Catalog, Replacement, Why};
use protocol::api::{BoughtDeal, FileInfo, Repair};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The least time before a deal's end that its copy is renewed (when its periods are longer).
pub(crate) const RENEWAL_LEAD_MIN: u64 = 600;

/// How long before the end of a deal of `period`-second periods its copy is renewed: a quarter
/// of a period, at least [`RENEWAL_LEAD_MIN`], at most the whole last period. The new deal starts
/// when bought, so this is the most paid twice; it leaves time for a few tries (1, 2, 4… min
/// apart), and a provider keeps an object for a day after its deals end.
pub(crate) fn renewal_lead(period: u64) -> u64 {
    (period / 4).max(RENEWAL_LEAD_MIN).min(period)
}

/// How long after a failed try the next one is.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest wait between tries.
pub(crate) const LAST_RETRY: Duration = Duration::from_secs(3600);

/// A copy to buy again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    /// The file's content id.
    pub(crate) id: String,
    /// The copy's deal.
    pub(crate) deal: u64,
    pub(crate) why: Why,
}

/// The copies of `files` to buy again at `now` (Unix seconds), as `bought` (the deals' verified
/// state) says: first those whose provider missed a period (of a deal that still runs, or whose
/// last period has opened), then those whose deal ends soon (`ending`). A file kept until a
/// date has a lost copy replaced only before that date, and a deal renewed only if it ends
/// before it.
pub(crate) fn due(files: &[FileInfo], bought: &[BoughtDeal], now: u64) -> Vec<Due> {
    let mut due: Vec<Due> = files
        .iter()
        .flat_map(|file| {
            let kept_after = move |at: u64| file.keep_until.is_none_or(|until| until > at);
            file.deals.iter().filter_map(move |deal| {
                let state = bought.iter().find(|state| state.deal == *deal)?;
                let runs = state.proven + state.missed < state.periods;
                let why = if state.missed > 0 && (runs || state.ending) {
                    Why::MissedProof
                } else if state.ending {
                    Why::Ending
                } else {
                    return None;
                };
                let needed = match why {
                    Why::MissedProof => kept_after(now),
                    Why::Ending => kept_after(state.ends_at),
                };
                if !needed {
                    return None;
                }
                Some(Due {
                    id: file.id.clone(),
                    deal: *deal,
                    why,
                })
            })
        })
        .collect();
    // A copy whose provider missed a proof may be lost: those first.
    due.sort_by_key(|due| due.why != Why::MissedProof);
    due
}

/// The files of `files` whose `keep_until` is past at `now`, and whose every deal has ended as
/// `bought` says (a deal not read yet keeps the file): they leave the catalog.
pub(crate) fn expired(files: &[FileInfo], bought: &[BoughtDeal], now: u64) -> Vec<String> {
    files
        .iter()
        .filter(|file| file.keep_until.is_some_and(|until| until <= now))
        .filter(|file| {
            file.deals.iter().all(|deal| {
                bought
                    .iter()
                    .any(|state| state.deal == *deal && state.ends_at > 0 && state.ends_at <= now)
            })
        })
        .map(|file| file.id.clone())
        .collect()
}

/// The wait after `failures` failed tries in a row.
fn backoff(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
        .min(LAST_RETRY)
}

/// The copy being bought again and the failed tries' next ones.
#[derive(Debug)]
pub(crate) struct Upkeep {
    /// Where the object is fetched to while it is copied.
    scratch: PathBuf,
    running: Option<Running>,
    /// By deal.
    failed: BTreeMap<u64, Failed>,
}

#[derive(Debug)]
struct Running {
    /// The file's content id.
    id: String,
    deal: u64,
    why: Why,
    task: JoinHandle<Result<Replacement, BuyerError>>,
}

#[derive(Debug)]
struct Failed {
    why: Why,
    failures: u32,
    error: String,
    retry: Instant,
    retry_at: u64,
}

/// What the node a copy is bought through needs.
pub(crate) struct Buying<'a> {
    pub(crate) node: &'a node::Handle,
    pub(crate) market: node::market::Buyer,
    pub(crate) catalog: Catalog,
}

impl Upkeep {
    pub(crate) fn new(scratch: PathBuf) -> Self {
        Self {
            scratch,
            running: None,
            failed: BTreeMap::new(),
        }
    }

    /// Folds a finished try in (`true`: the catalog changed, read it again), else starts the
    /// next copy `due` whose try is due, if none runs. (`due` was read from the catalog before
    /// the change: the next tick starts from the new one.)
    pub(crate) async fn tick(&mut self, due: &[Due], buying: Option<Buying<'_>>) -> bool {
        if self.finish().await {
            return true;
        }
        // Copies no longer due (bought again, or their deal over) are forgotten.
        self.failed
            .retain(|deal, _| due.iter().any(|due| due.deal == *deal));
        if let (None, Some(buying)) = (&self.running, buying) {
            let now = Instant::now();
            let next = due.iter().find(|due| {
                self.failed
                    .get(&due.deal)
                    .is_none_or(|failed| failed.retry <= now)
            });
            if let Some(next) = next {
                self.start(next, buying);
            }
        }
        false
    }

    fn start(&mut self, due: &Due, buying: Buying<'_>) {
        let (deal, why) = (due.deal, due.why);
        let id: node::ContentId = match due.id.parse() {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(id = due.id, %err, "a catalog entry's id does not parse");
                return;
            }
        };
        tracing::info!(%id, deal, ?why, "buying a copy again");
        let handle = buying.node.clone();
        let scratch = self.scratch.clone();
        let task = tokio::spawn(async move {
            let copy = (id, deal);
            node::buyer::replace(
                &handle,
                &buying.catalog,
                &buying.market,
                copy,
                why,
                &scratch,
            )
            .await
        });
        self.running = Some(Running {
            id: due.id.clone(),
            deal,
            why,
            task,
        });
    }

    async fn finish(&mut self) -> bool {
        if !self
            .running
            .as_ref()
            .is_some_and(|running| running.task.is_finished())
        {
            return false;
        }
        let Some(Running {
            deal, why, task, ..
        }) = self.running.take()
        else {
            return false;
        };
        let error = match task.await {
            Ok(Ok(replacement)) => {
                tracing::info!(
                    deal,
                    ?why,
                    by = replacement.by.deal,
                    peer = %replacement.by.peer,
                    ended = replacement.ended.is_some(),
                    fetched = replacement.fetched,
                    from_original = replacement.from_original,
                    pulled_chunks = replacement.pulled_chunks,
                    "copy bought again"
                );
                self.failed.remove(&deal);
                return true;
            }
            Ok(Err(err)) => err.to_string(),
            Err(err) => format!("the try stopped: {err}"),
        };
        let failures = self.failed.get(&deal).map_or(0, |failed| failed.failures) + 1;
        let wait = backoff(failures);
        tracing::warn!(deal, ?why, %error, ?wait, "buying a copy again failed; trying again later");
        self.failed.insert(
            deal,
            Failed {
                why,
                failures,
                error,
                retry: Instant::now() + wait,
                retry_at: unix_now() + wait.as_secs(),
            },
        );
        false
    }

    /// Whether a copy of the file `id` is being bought again now.
    pub(crate) fn busy_with(&self, id: &str) -> bool {
        self.running
            .as_ref()
            .is_some_and(|running| running.id == id)
    }

    /// What is being done about `file`'s copies, for its status.
    pub(crate) fn repair_of(&self, file: &FileInfo) -> Option<Repair> {
        if let Some(running) = &self.running
            && file.deals.contains(&running.deal)
        {
            return Some(Repair::Replacing {
                deal: running.deal,
                renewal: running.why == Why::Ending,
            });
        }
        file.deals.iter().find_map(|deal| {
            self.failed.get(deal).map(|failed| Repair::Failed {
                deal: *deal,
                renewal: failed.why == Why::Ending,
                error: failed.error.clone(),
                retry_at: failed.retry_at,
            })
        })
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.task.abort();
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, deals: &[u64]) -> FileInfo {
        FileInfo {
            id: id.into(),
            name: "a".into(),
            size: 1,
            holders: Vec::new(),
            deals: deals.to_vec(),
            paid_until: None,
            proven_periods: 0,
            missed_periods: 0,
            periods: 0,
            replaced: Vec::new(),
            repair: None,
            keep_until: None,
        }
    }

    /// Deals end at 1000 + their id.
    fn state(deal: u64, proven: u32, missed: u32, periods: u32, ending: bool) -> BoughtDeal {
        BoughtDeal {
            deal,
            proven,
            missed,
            periods,
            ending,
            ends_at: 1000 + deal,
        }
    }

    fn due_of(id: &str, deal: u64, why: Why) -> Due {
        Due {
            id: id.into(),
            deal,
            why,
        }
    }

    #[test]
    fn missed_proofs_are_replaced_first_then_ending_deals_renewed() {
        let files = [file("a", &[1, 2, 6]), file("b", &[3, 4, 5, 7])];
        let bought = [
            state(1, 3, 0, 24, false), // proving
            state(2, 3, 1, 24, false), // missed one, still runs: replaced
            state(3, 0, 24, 24, true), // over, every period missed: replaced elsewhere
            state(4, 23, 0, 24, true), // its last period proven: renewed
            state(6, 22, 0, 24, true), // its last period open: renewed
            state(7, 22, 1, 24, false), // missed one, runs, not ending: replaced
                                       // 5 not read yet
        ];
        assert_eq!(
            due(&files, &bought, 500),
            vec![
                due_of("a", 2, Why::MissedProof),
                due_of("b", 3, Why::MissedProof),
                due_of("b", 7, Why::MissedProof),
                due_of("a", 6, Why::Ending),
                due_of("b", 4, Why::Ending),
            ]
        );
        assert!(due(&files, &[], 500).is_empty());
        // Over, with a missed period, but not yet known to be ending: nothing (an older read).
        assert!(due(&[file("c", &[8])], &[state(8, 23, 1, 24, false)], 500).is_empty());
    }

    #[test]
    fn a_file_kept_until_a_date_is_not_bought_again_for_later() {
        let bought = [
            state(1, 23, 0, 24, true), // ending at 1001
            state(2, 3, 1, 24, false), // missed one, runs until 1002
            state(3, 22, 0, 24, true), // ending at 1003
        ];
        let kept_until = |until: Option<u64>| FileInfo {
            keep_until: until,
            ..file("a", &[1, 2, 3])
        };
        let all = vec![
            due_of("a", 2, Why::MissedProof),
            due_of("a", 1, Why::Ending),
            due_of("a", 3, Why::Ending),
        ];
        assert_eq!(due(&[kept_until(None)], &bought, 500), all);
        assert_eq!(due(&[kept_until(Some(5000))], &bought, 500), all);
        // Kept past the first deal's end only: the other deal already covers the rest.
        assert_eq!(
            due(&[kept_until(Some(1002))], &bought, 500),
            vec![
                due_of("a", 2, Why::MissedProof),
                due_of("a", 1, Why::Ending)
            ]
        );
        // Its last day is past: a lost copy is not replaced, and nothing is renewed.
        assert!(due(&[kept_until(Some(900))], &bought, 950).is_empty());
    }

    #[test]
    fn a_file_leaves_once_its_date_and_its_deals_are_past() {
        let bought = [state(1, 24, 0, 24, true), state(2, 23, 0, 24, true)]; // end 1001, 1002
        let kept_until = |id: &str, deals: &[u64], until: Option<u64>| FileInfo {
            keep_until: until,
            ..file(id, deals)
        };
        let files = [
            kept_until("forever", &[1], None),
            kept_until("later", &[1], Some(2000)),
            kept_until("deal-runs", &[1, 2], Some(900)),
            kept_until("over", &[1], Some(900)),
            kept_until("unread", &[3], Some(900)),
            kept_until("free", &[], Some(900)),
        ];
        assert_eq!(expired(&files, &bought, 1001), vec!["over", "free"]);
        assert_eq!(
            expired(&files, &bought, 1002),
            vec!["deal-runs", "over", "free"]
        );
        assert!(expired(&files, &bought, 899).is_empty());
    }

    #[test]
    fn a_copy_is_renewed_a_quarter_period_before_its_deal_ends() {
        assert_eq!(renewal_lead(3600), 900);
        assert_eq!(renewal_lead(86_400), 21_600);
        assert_eq!(renewal_lead(1200), RENEWAL_LEAD_MIN);
        // Periods shorter than the least lead: the whole last period.
        assert_eq!(renewal_lead(60), 60);
        assert_eq!(renewal_lead(0), 0);
    }

    #[test]
    fn tries_are_spaced_twice_as_long_each_time_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(6), Duration::from_secs(1920));
        assert_eq!(backoff(7), LAST_RETRY);
        assert_eq!(backoff(u32::MAX), LAST_RETRY);
    }

    #[tokio::test]
    async fn a_failed_try_is_shown_with_its_next_and_forgotten_once_not_due() {
        let mut upkeep = Upkeep::new(PathBuf::from("unused"));
        upkeep.running = Some(Running {
            id: "a".into(),
            deal: 2,
            why: Why::Ending,
            task: tokio::spawn(async {
                Err(BuyerError::NoSpareProvider {
                    id: node::ContentId([1; 32]),
                    why: "every provider found (1) holds a copy already".into(),
                })
            }),
        });
        let mine = file("a", &[1, 2]);
        assert_eq!(
            upkeep.repair_of(&mine),
            Some(Repair::Replacing {
                deal: 2,
                renewal: true
            })
        );
        assert_eq!(upkeep.repair_of(&file("b", &[3])), None);
        assert!(upkeep.busy_with("a") && !upkeep.busy_with("b"));
        while !upkeep.running.as_ref().unwrap().task.is_finished() {
            tokio::task::yield_now().await;
        }
        let due = [due_of("a", 2, Why::Ending)];
        // Failed: not started again before its time (no node given anyway), shown with why.
        assert!(!upkeep.tick(&due, None).await);
        let Some(Repair::Failed {
            deal,
            renewal,
            error,
            retry_at,
        }) = upkeep.repair_of(&mine)
        else {
            panic!("{:?}", upkeep.repair_of(&mine));
        };
        assert_eq!((deal, renewal), (2, true));
        assert!(error.contains("holds a copy already"), "{error}");
        assert!(retry_at >= unix_now() + 59, "{retry_at}");
        assert_eq!(upkeep.failed[&2].failures, 1);
        // No longer due (its deal is over or it was bought again): forgotten.
        assert!(!upkeep.tick(&[], None).await);
        assert_eq!(upkeep.repair_of(&mine), None);
    }
}
