//! `cairn storage put|get|ls`: the buyer's side of the storage market.
//!
//! `put` and `get` start a short-lived client node (no store), dial the given peers, discover
//! providers (identify, DHT, gossiped offers), transfer, print one JSON line on stdout and exit.
//! Progress goes to stderr: a bar on a terminal, plain lines otherwise. Objects put are
//! recorded in `catalog.json` in the data directory, which `ls` lists and `get` uses to find
//! holders first.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_primitives::utils::format_ether;
use anyhow::{Context as _, bail};
use node::transfer::{PutReport, TransferError};
use node::{Client, ContentId, Event, Handle, Multiaddr, Node, Options, PeerId};

/// How long `put`/`get` look for providers before working with what they found.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `put` keeps looking for spare providers (to replace a failing one) once it has
/// enough for the copies asked.
const SPARE_GRACE: Duration = Duration::from_secs(2);
/// Catalog file name in the data directory.
const CATALOG: &str = "catalog.json";

/// Arguments of `cairn storage`.
#[derive(Debug, clap::Args)]
pub(crate) struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
    /// Directory for the client's key and catalog [default: platform data dir + /cairn/client].
    #[arg(long, global = true, env = "CAIRN_CLIENT_DIR")]
    data_dir: Option<PathBuf>,
    /// Peer to dial (repeatable), a full multiaddr ending in `/p2p/<peer id>`.
    #[arg(
        long = "peer",
        global = true,
        env = "CAIRN_PEERS",
        value_delimiter = ','
    )]
    peers: Vec<Multiaddr>,
    /// Buy storage on chain: the contracts' deployment file. `put` then gets each provider's
    /// signed quote, opens and pays a deal, and uploads under it. Needs `--chain-key-file`.
    #[arg(long, global = true, requires = "chain_key_file")]
    deployment_file: Option<PathBuf>,
    /// File holding the buyer's hex chain private key.
    #[arg(long, global = true, requires = "deployment_file")]
    chain_key_file: Option<PathBuf>,
    /// JSON-RPC endpoint of the chain for `--deployment-file`.
    #[arg(
        long,
        global = true,
        env = "CAIRN_RPC_URL",
        default_value = "http://127.0.0.1:8545"
    )]
    rpc_url: String,
    /// PEM certificate to trust when dialing `wss` providers (repeatable; for self-signed ones).
    #[arg(long, global = true)]
    tls_trust: Vec<PathBuf>,
    /// Do not look for providers on the LAN with mDNS: only `--peer`, the DHT through them and
    /// the Registry.
    #[arg(
        long,
        global = true,
        env = "CAIRN_NO_MDNS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    no_mdns: bool,
}

#[derive(Debug, clap::Subcommand)]
enum StorageCommand {
    /// Store a file on several providers; prints its content id and holders as JSON.
    Put {
        /// The file.
        file: PathBuf,
        /// Copies on distinct providers.
        #[arg(long, default_value_t = 2)]
        copies: usize,
    },
    /// Download an object with every chunk verified.
    Get {
        /// The content id (64 hex digits).
        id: ContentId,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Only bytes START..END of the object.
        #[arg(long, value_parser = parse_range)]
        range: Option<Range<u64>>,
    },
    /// List the objects this client has stored (one JSON object per line).
    Ls,
    /// What the market owes the buyer (`--deployment-file`, `--chain-key-file`): deals ended
    /// early and periods providers missed. `--withdraw` pays it to the buyer's address.
    Refunds {
        /// Pay the whole refund balance to the buyer's address (sends a transaction).
        #[arg(long)]
        withdraw: bool,
    },
}

fn parse_range(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a range: expected START..END in bytes"))?;
    let start = a
        .trim()
        .parse()
        .map_err(|_| format!("bad range start {a:?}"))?;
    let end = b
        .trim()
        .parse()
        .map_err(|_| format!("bad range end {b:?}"))?;
    if start >= end {
        return Err(format!("empty range {s:?}: START must be below END"));
    }
    Ok(start..end)
}

/// One line of the catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    id: ContentId,
    name: String,
    size: u64,
    holders: Vec<String>,
}

fn read_catalog(dir: &Path) -> anyhow::Result<BTreeMap<String, Entry>> {
    let path = dir.join(CATALOG);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a valid catalog; move it away to start a new one",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_catalog(dir: &Path, catalog: &BTreeMap<String, Entry>) -> anyhow::Result<()> {
    let path = dir.join(CATALOG);
    let tmp = dir.join(format!("{CATALOG}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(catalog)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))
}

pub(crate) async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let dir = match args.data_dir {
        Some(dir) => dir,
        None => crate::node::default_dir("client")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match args.command {
        StorageCommand::Ls => {
            for entry in read_catalog(&dir)?.values() {
                crate::print_line(&serde_json::to_string(entry)?);
            }
            Ok(())
        }
        StorageCommand::Put { file, copies } => {
            if copies == 0 {
                bail!("--copies must be at least 1");
            }
            let buyer = match (&args.deployment_file, &args.chain_key_file) {
                (Some(deployment), Some(key)) => Some(
                    node::market::Buyer::from_files(&args.rpc_url, deployment, key)
                        .context("setting up the on-chain market")?,
                ),
                _ => None,
            };
            let (handle, task, dials) =
                start_client(&dir, args.peers, &args.tls_trust, !args.no_mdns).await?;
            let result = put(&handle, &dir, &file, copies, buyer.as_ref(), &dials).await;
            let _ = handle.shutdown().await;
            let _ = task.await;
            let (report, ended) = result?;
            let mut out = serde_json::to_value(&report)?;
            if let (false, Some(fields)) = (ended.is_empty(), out.as_object_mut()) {
                fields.insert("ended_deals".into(), serde_json::to_value(&ended)?);
            }
            crate::print_line(&out.to_string());
            Ok(())
        }
        StorageCommand::Refunds { withdraw } => {
            let (Some(deployment), Some(key)) = (&args.deployment_file, &args.chain_key_file)
            else {
                bail!(
                    "`storage refunds` needs --deployment-file and --chain-key-file (the buyer's key)"
                );
            };
            let buyer = node::market::Buyer::from_files(&args.rpc_url, deployment, key)
                .context("setting up the on-chain market")?;
            let report = if withdraw {
                let paid = buyer
                    .withdraw_refund()
                    .await
                    .context("withdrawing refunds")?;
                serde_json::json!({
                    "buyer": buyer.address(),
                    "withdrawn": paid.amount.to_string(),
                    "withdrawn_tokens": format_ether(paid.amount),
                    "transaction": paid.transaction,
                })
            } else {
                let owed = buyer.refunds().await?;
                serde_json::json!({
                    "buyer": buyer.address(),
                    "refunds": owed.to_string(),
                    "refunds_tokens": format_ether(owed),
                })
            };
            crate::print_line(&report.to_string());
            Ok(())
        }
        StorageCommand::Get { id, output, range } => {
            let (handle, task, _dials) =
                start_client(&dir, args.peers, &args.tls_trust, !args.no_mdns).await?;
            let result = get(&handle, &dir, id, range, &output).await;
            let _ = handle.shutdown().await;
            let _ = task.await;
            let report = result?;
            crate::print_line(&serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

async fn start_client(
    dir: &Path,
    peers: Vec<Multiaddr>,
    tls_trust: &[PathBuf],
    mdns: bool,
) -> anyhow::Result<(Handle, tokio::task::JoinHandle<()>, DialLog)> {
    let mut options = Options::new(dir.to_owned());
    options.tls = crate::node::ws_tls(None, None, tls_trust)?;
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    options.bootstrap = peers;
    options.mdns = mdns;
    options.upnp = false;
    let (handle, mut events, event_loop) = Node::start(options)
        .await
        .context("starting the client node")?;
    // Dial failures (a wrong --peer, a refused certificate) are kept for the error shown when
    // no provider is found; the first receiver sees them from the start.
    let dials = DialLog::default();
    let log = dials.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::DialFailed { error, .. }) => {
                    if let Ok(mut log) = log.lock() {
                        log.push(error);
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Ok((handle, tokio::spawn(event_loop.run()), dials))
}

/// Dial failures seen by the client node.
type DialLog = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Waits until `want` providers are known, or `need` of them and [`SPARE_GRACE`] has passed,
/// or [`DISCOVERY_TIMEOUT`] has passed.
async fn discover(handle: &Handle, need: usize, want: usize) -> anyhow::Result<Vec<PeerId>> {
    let start = tokio::time::Instant::now();
    loop {
        let found: Vec<PeerId> = handle
            .providers()
            .await?
            .into_iter()
            .map(|p| p.peer)
            .collect();
        let waited = start.elapsed();
        if found.len() >= want
            || (found.len() >= need && waited >= SPARE_GRACE)
            || waited >= DISCOVERY_TIMEOUT
        {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shows transfer progress on stderr until `work` completes.
async fn with_progress<T>(
    handle: &Handle,
    label: &'static str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut events = handle.subscribe();
    let terminal = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new(0);
    if terminal {
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label);
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    type Transfer = (ContentId, Option<PeerId>);
    let mut transfers: BTreeMap<Transfer, (u64, u64)> = BTreeMap::new();
    let mut last_decile: BTreeMap<Transfer, u64> = BTreeMap::new();
    let show = async {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if let Event::Progress {
                id,
                peer,
                done,
                total,
                upload,
            } = event
            {
                // An upload counts per copy (one provider each); a download counts once, over
                // all the holders its parts come from.
                let key = (id, upload.then_some(peer));
                transfers.insert(key, (done, total));
                let (done_all, total_all) = transfers
                    .values()
                    .fold((0, 0), |(d, t), (a, b)| (d + a, t + b));
                if terminal {
                    bar.set_length(total_all);
                    bar.set_position(done_all);
                } else {
                    let decile = done * 10 / total.max(1);
                    if last_decile.get(&key) != Some(&decile) {
                        last_decile.insert(key, decile);
                        let whom = if upload { "to" } else { "last chunk from" };
                        eprintln!("{label} {done}/{total} bytes ({whom} {peer})");
                    }
                }
            }
        }
    };
    tokio::pin!(work);
    let result = tokio::select! {
        result = &mut work => result,
        // `show` only ends if the event channel does; then just wait for the work.
        () = show => work.await,
    };
    bar.finish_and_clear();
    result
}

/// Stores `copies` copies, each under its own deal: quote, open and pay the deal, upload.
async fn put_with_deals(
    handle: &Handle,
    buyer: &node::market::Buyer,
    file: &Path,
    copies: usize,
    providers: Vec<PeerId>,
) -> anyhow::Result<DealsPut> {
    let path = file.to_owned();
    let (manifest, commitment) =
        tokio::task::spawn_blocking(move || node::transfer::digest_file(&path)).await??;
    let client = Client::new(handle.clone());
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut ended = Vec::new();
    for peer in providers {
        if done.len() == copies {
            break;
        }
        let opened = async {
            let terms = client
                .quote(peer, buyer.address().into_array(), &commitment)
                .await?;
            Ok::<_, TransferError>(buyer.open_deal(&terms, &commitment).await?)
        };
        let deal = match opened.await {
            Ok(deal) => deal,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "no deal with this provider");
                failures.push(format!("{peer}: {e}"));
                continue;
            }
        };
        tracing::info!(%peer, deal, "deal opened");
        // An interrupted upload resumes once under the same deal, sending only missing chunks.
        let mut result = client.put_to(peer, file, &manifest, deal).await;
        for _ in 1..node::transfer::ATTEMPTS_PER_PROVIDER {
            match &result {
                Err(TransferError::Stream { .. } | TransferError::Timeout { .. }) => {
                    tracing::info!(%peer, deal, "upload interrupted; resuming");
                    result = client.put_to(peer, file, &manifest, deal).await;
                }
                _ => break,
            }
        }
        let e = match result {
            Ok(copy) => {
                done.push(copy);
                continue;
            }
            Err(e) => e,
        };
        // Paid for but not stored: end the deal so the periods not yet started come back, and
        // move on to the next provider.
        tracing::warn!(%peer, deal, error = %e, "upload failed; ending the deal");
        match buyer.end_deal(deal).await {
            Ok(end) => {
                failures.push(format!(
                    "{peer}: {e} (deal {deal} ended early, {} tokens refunded)",
                    format_ether(end.refund)
                ));
                ended.push(EndedUpload {
                    peer: peer.to_string(),
                    reason: e.to_string(),
                    deal: end,
                });
            }
            Err(end_err) => failures.push(format!(
                "{peer}: {e}; ending its deal {deal} failed too ({end_err}): the provider will \
                 miss its proofs, and `reportMissed` refunds each missed period"
            )),
        }
    }
    Ok(DealsPut {
        report: PutReport {
            id: manifest.id(),
            size: manifest.size(),
            copies: done,
        },
        ended,
        failures,
    })
}

/// What [`put_with_deals`] did: the copies stored (maybe fewer than asked), the deals ended
/// for failed uploads, and each provider's failure.
struct DealsPut {
    report: PutReport,
    ended: Vec<EndedUpload>,
    failures: Vec<String>,
}

/// An upload that failed after its deal was paid, and the deal ended for it.
#[derive(Debug, serde::Serialize)]
struct EndedUpload {
    /// The provider.
    peer: String,
    /// Why the upload failed.
    reason: String,
    /// The ended deal and its refund.
    #[serde(flatten)]
    deal: node::market::EndedDeal,
}

async fn put(
    handle: &Handle,
    dir: &Path,
    file: &Path,
    copies: usize,
    buyer: Option<&node::market::Buyer>,
    dials: &DialLog,
) -> anyhow::Result<(PutReport, Vec<EndedUpload>)> {
    if let Some(buyer) = buyer {
        // Providers selling on chain announce their addresses in the Registry: dial them all.
        let listed = buyer
            .listed_providers(0)
            .await
            .context("listing the providers in the chain's Registry")?;
        tracing::info!(providers = listed.len(), "providers listed in the Registry");
        for provider in listed {
            for addr in provider.addrs {
                if let Err(e) = handle.dial(addr.clone()).await {
                    tracing::debug!(%addr, error = %e, "cannot dial a listed provider");
                }
            }
        }
    }
    // Ask for a few more than needed so a failing provider can be replaced.
    let providers = discover(handle, copies, copies + 1).await?;
    if providers.is_empty() {
        let failed = dials.lock().map(|l| l.join("; ")).unwrap_or_default();
        let failed = if failed.is_empty() {
            String::new()
        } else {
            format!(". Dials that failed: {failed}")
        };
        bail!(
            "no storage provider found within {DISCOVERY_TIMEOUT:?} (LAN, DHT and, with --deployment-file, the chain's Registry); pass --peer <multiaddr> of a running `cairn node`{failed}"
        );
    }
    let client = Client::new(handle.clone());
    let stored = |id: ContentId, size: u64, holders: Vec<String>| {
        let mut catalog = read_catalog(dir)?;
        catalog.insert(
            id.to_string(),
            Entry {
                id,
                name: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size,
                holders,
            },
        );
        write_catalog(dir, &catalog)
    };
    let context = || format!("storing {}", file.display());
    // Fewer copies than asked is an error, but the copies made are kept (paid for, under a
    // deal) and recorded in the catalog, so `storage ls` and `storage get` find them.
    let short = |made: usize, id: ContentId, holders: &[String], why: String| {
        let kept = if made == 0 {
            String::new()
        } else {
            format!(
                " The {made} stored ({}) are kept and listed by `cairn storage ls`.",
                holders.join(", ")
            )
        };
        anyhow::anyhow!(
            "stored {made} of {copies} copies of {id}: {why}; start more providers, pass --peer, \
             or lower --copies.{kept}"
        )
    };
    match buyer {
        Some(buyer) => {
            let DealsPut {
                report,
                ended,
                failures,
            } = with_progress(
                handle,
                "upload",
                put_with_deals(handle, buyer, file, copies, providers),
            )
            .await
            .with_context(context)?;
            let holders: Vec<String> = report.copies.iter().map(|c| c.peer.to_string()).collect();
            if !holders.is_empty() {
                stored(report.id, report.size, holders.clone())?;
            }
            if report.copies.len() < copies {
                let why = if failures.is_empty() {
                    "no other provider was found".to_owned()
                } else {
                    format!("failures: {}", failures.join("; "))
                };
                return Err(short(report.copies.len(), report.id, &holders, why))
                    .with_context(context);
            }
            Ok((report, ended))
        }
        None => {
            match with_progress(handle, "upload", client.put_file(file, copies, providers)).await {
                Ok(report) => {
                    let holders = report.copies.iter().map(|c| c.peer.to_string()).collect();
                    stored(report.id, report.size, holders)?;
                    Ok((report, Vec::new()))
                }
                Err(TransferError::NotEnoughCopies {
                    stored: made,
                    id,
                    holders,
                    tried,
                    last,
                    ..
                }) => {
                    let holders: Vec<String> = holders.iter().map(ToString::to_string).collect();
                    if !holders.is_empty() {
                        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                        stored(id, size, holders.clone())?;
                    }
                    let why = format!("{tried} providers tried, last error: {last}");
                    Err(short(made, id, &holders, why)).with_context(context)
                }
                Err(e) => Err(e).with_context(context),
            }
        }
    }
}

async fn get(
    handle: &Handle,
    dir: &Path,
    id: ContentId,
    range: Option<Range<u64>>,
    output: &Path,
) -> anyhow::Result<node::transfer::GetReport> {
    let mut holders: Vec<PeerId> = read_catalog(dir)?
        .get(&id.to_string())
        .map(|e| e.holders.iter().filter_map(|h| h.parse().ok()).collect())
        .unwrap_or_default();
    discover(handle, 1, 1).await?;
    for peer in handle.find_holders(id).await? {
        if !holders.contains(&peer) {
            holders.push(peer);
        }
    }
    for peer in handle.providers().await?.into_iter().map(|p| p.peer) {
        if !holders.contains(&peer) {
            holders.push(peer);
        }
    }
    let client = Client::new(handle.clone());
    with_progress(handle, "download", client.get(id, range, output, holders))
        .await
        .with_context(|| format!("downloading {id}"))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_and_bad_ones_explain() {
        assert_eq!(parse_range("10..20"), Ok(10..20));
        assert!(parse_range("10").unwrap_err().contains("START..END"));
        assert!(parse_range("20..10").unwrap_err().contains("empty range"));
    }
}
