//! `cairn storage put|get|ls|forget|refunds`: the buyer's side of the storage market.
//!
//! `put` and `get` start a short-lived client node (no store), dial the given peers, and run
//! `node::buyer`'s `put` or `get` over it (discovery, deals, transfers, the catalog in the data
//! directory, which `ls` lists); each prints one JSON line on stdout and exits. Progress goes to
//! stderr: a bar on a terminal, plain lines otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use alloy_primitives::utils::format_ether;
use anyhow::{Context as _, bail};
use node::buyer::{self, BuyerError, Catalog, CatalogEntry, DialFailures};
use node::{ContentId, Event, Handle, Multiaddr, Node, Options, PeerId};

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
    /// Address for the client's node to listen on (repeatable) [default: a random TCP port and
    /// a random QUIC port on every interface]. A provider behind a NAT, reached through a
    /// relay, dials such a client back, or the two punch a hole (over TCP, the client's dials
    /// leave from its listening port), so the transfer does not go through the relay; a client
    /// on loopback only (`/ip4/127.0.0.1/tcp/0`) accepts no connection from elsewhere.
    #[arg(long, global = true)]
    listen: Vec<Multiaddr>,
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
    /// List the objects this client has stored: a table on a terminal, otherwise one JSON object
    /// per line (the catalog's entries).
    Ls,
    /// Stop keeping an object: remove it from the catalog and end its copies' deals (with
    /// `--deployment-file` and `--chain-key-file`), the periods not yet started refunded.
    Forget {
        /// The content id (64 hex digits).
        id: ContentId,
    },
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

/// The buyer on chain, when `--deployment-file` and `--chain-key-file` are given (clap
/// requires each with the other).
fn chain_buyer(
    rpc_url: &str,
    deployment: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Option<node::market::Buyer>> {
    match (deployment, key) {
        (Some(deployment), Some(key)) => node::market::Buyer::from_files(rpc_url, deployment, key)
            .map(Some)
            .context("setting up the on-chain market"),
        _ => Ok(None),
    }
}

pub(crate) async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let dir = match args.data_dir {
        Some(dir) => dir,
        None => crate::node::default_dir("client")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let net = ClientNet {
        peers: args.peers,
        listen: args.listen,
        tls_trust: args.tls_trust,
        mdns: !args.no_mdns,
    };
    match args.command {
        StorageCommand::Ls => {
            let entries = Catalog::in_dir(&dir).entries()?;
            if std::io::stdout().is_terminal() {
                for line in ls_table(entries.values()) {
                    crate::print_line(&line);
                }
            } else {
                for entry in entries.values() {
                    crate::print_line(&serde_json::to_string(entry)?);
                }
            }
            Ok(())
        }
        StorageCommand::Forget { id } => {
            let catalog = Catalog::in_dir(&dir);
            let Some(entry) = catalog.entries()?.remove(&id.to_string()) else {
                bail!(
                    "{id} is not in the catalog {}; `cairn storage ls` lists what is",
                    dir.display()
                );
            };
            let buyer = chain_buyer(
                &args.rpc_url,
                args.deployment_file.as_deref(),
                args.chain_key_file.as_deref(),
            )?;
            if buyer.is_none() && !entry.deals.is_empty() {
                bail!(
                    "{id}'s copies are under deals {}: give --deployment-file and \
                     --chain-key-file so they are ended (the periods not yet started refunded); \
                     nothing was changed",
                    entry
                        .deals
                        .iter()
                        .map(|copy| copy.deal.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            // As it is now: a copy may have been bought again since it was read above.
            let entry = catalog.remove(&id)?.unwrap_or(entry);
            let done = match &buyer {
                Some(buyer) => buyer::end_deals(buyer, &entry).await,
                None => buyer::EndedDeals::default(),
            };
            let mut out = serde_json::to_value(&done)?;
            if let Some(fields) = out.as_object_mut() {
                fields.insert("id".into(), id.to_string().into());
                fields.insert("name".into(), entry.name.into());
            }
            crate::print_line(&out.to_string());
            Ok(())
        }
        StorageCommand::Put { file, copies } => {
            if copies == 0 {
                bail!("--copies must be at least 1");
            }
            let buyer = chain_buyer(
                &args.rpc_url,
                args.deployment_file.as_deref(),
                args.chain_key_file.as_deref(),
            )?;
            let (handle, task, dials) = start_client(&dir, net).await?;
            let catalog = Catalog::in_dir(&dir);
            let result = put(&handle, &catalog, &file, copies, buyer.as_ref(), &dials).await;
            let _ = handle.shutdown().await;
            let _ = task.await;
            let buyer::Stored { report, ended, .. } = result?;
            let mut out = serde_json::to_value(&report)?;
            if let (false, Some(fields)) = (ended.is_empty(), out.as_object_mut()) {
                fields.insert("ended_deals".into(), serde_json::to_value(&ended)?);
            }
            crate::print_line(&out.to_string());
            Ok(())
        }
        StorageCommand::Refunds { withdraw } => {
            let Some(buyer) = chain_buyer(
                &args.rpc_url,
                args.deployment_file.as_deref(),
                args.chain_key_file.as_deref(),
            )?
            else {
                bail!(
                    "`storage refunds` needs --deployment-file and --chain-key-file (the buyer's key)"
                );
            };
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
            let (handle, task, _dials) = start_client(&dir, net).await?;
            let result = with_progress(
                &handle,
                "download",
                buyer::get(&handle, &Catalog::in_dir(&dir), id, range, &output),
            )
            .await
            .with_context(|| format!("downloading {id}"));
            let _ = handle.shutdown().await;
            let _ = task.await;
            let report = result?;
            crate::print_line(&serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

/// How the client's node meets the network: `--peer`, `--listen`, `--tls-trust`, mDNS.
struct ClientNet {
    peers: Vec<Multiaddr>,
    listen: Vec<Multiaddr>,
    tls_trust: Vec<PathBuf>,
    mdns: bool,
}

async fn start_client(
    dir: &Path,
    net: ClientNet,
) -> anyhow::Result<(Handle, tokio::task::JoinHandle<()>, DialFailures)> {
    let mut options = Options::new(dir.to_owned());
    options.tls = crate::node::ws_tls(None, None, &net.tls_trust)?;
    options.listen = if net.listen.is_empty() {
        vec![
            "/ip4/0.0.0.0/tcp/0".parse()?,
            "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
        ]
    } else {
        net.listen
    };
    options.bootstrap = net.peers;
    options.mdns = net.mdns;
    options.upnp = false;
    // It runs for one command: a relay served from it would be gone when the command ends, and
    // a home provider that took it would lose the address it announced through it.
    options.relay_service = node::RelayService::Off;
    // Nor does it answer DHT queries: its peers would keep it in their routing tables, a dead
    // entry once it exits, which their lookups then wait on.
    options.dht_server = false;
    let (handle, events, event_loop) = Node::start(options)
        .await
        .context("starting the client node")?;
    // Dial failures (a wrong --peer, a refused certificate) are kept for the error shown when
    // no provider is found; the first receiver sees them from the start.
    let dials = DialFailures::collect(events);
    Ok((handle, tokio::spawn(event_loop.run()), dials))
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

/// Stores `file` through [`buyer::put`], with progress; the errors say what to do from here.
async fn put(
    handle: &Handle,
    catalog: &Catalog,
    file: &Path,
    copies: usize,
    market: Option<&node::market::Buyer>,
    dials: &DialFailures,
) -> anyhow::Result<buyer::Stored> {
    let context = || format!("storing {}", file.display());
    match with_progress(
        handle,
        "upload",
        buyer::put(
            handle,
            catalog,
            file,
            buyer::Keep {
                copies,
                until: None,
                original: true,
            },
            market,
            dials,
        ),
    )
    .await
    {
        Ok(stored) => Ok(stored),
        Err(err @ BuyerError::NoProviders { .. }) => Err(anyhow::anyhow!(
            "{err}; pass --peer <multiaddr> of a running `cairn node`"
        ))
        .with_context(context),
        // The copies made are kept (paid for, under a deal) and in the catalog.
        Err(err @ BuyerError::NotEnoughCopies { .. }) => {
            let kept = match &err {
                BuyerError::NotEnoughCopies {
                    stored, holders, ..
                } if *stored > 0 => format!(
                    " The {stored} stored ({}) are kept and listed by `cairn storage ls`.",
                    holders.join(", ")
                ),
                _ => String::new(),
            };
            Err(anyhow::anyhow!(
                "{err}; start more providers, pass --peer, or lower --copies.{kept}"
            ))
            .with_context(context)
        }
        Err(err) => Err(err).with_context(context),
    }
}

/// The catalog as `cairn storage ls` shows it on a terminal: a header, then one aligned row per
/// file (name, size, copies, when the first of its deals stops being paid, until when it is
/// kept, content id); a hint when nothing is stored.
fn ls_table<'a>(entries: impl IntoIterator<Item = &'a CatalogEntry>) -> Vec<String> {
    let rows: Vec<[String; 6]> = entries
        .into_iter()
        .map(|entry| {
            [
                entry.name.clone(),
                protocol::units::format_bytes(entry.size),
                entry.holders.len().to_string(),
                entry
                    .paid_until()
                    .map_or_else(|| "-".to_owned(), protocol::units::format_utc),
                entry
                    .keep_until
                    .map_or_else(|| "while listed".to_owned(), protocol::units::format_utc),
                entry.id.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return vec!["no files stored yet: `cairn storage put <file>` stores one".to_owned()];
    }
    let header = [
        "NAME",
        "SIZE",
        "COPIES",
        "PAID UNTIL",
        "KEPT UNTIL",
        "CONTENT ID",
    ]
    .map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use node::ContentId;
    use node::buyer::{BoughtCopy, CatalogEntry};

    use super::{ls_table, parse_range};

    #[test]
    fn the_catalog_reads_as_an_aligned_table_on_a_terminal() {
        assert_eq!(
            ls_table([]),
            ["no files stored yet: `cairn storage put <file>` stores one"]
        );
        let photo = CatalogEntry {
            id: ContentId([0xab; 32]),
            name: "été photo.jpg".into(),
            size: 1536,
            holders: vec!["12D3KooWA".into(), "12D3KooWB".into()],
            deals: vec![BoughtCopy {
                deal: 4,
                peer: "12D3KooWA".into(),
                paid_until: 1_764_986_400,
            }],
            replaced: Vec::new(),
            keep_until: Some(4_102_444_799),
            original: None,
        };
        let notes = CatalogEntry {
            id: ContentId([0x01; 32]),
            name: "n".into(),
            size: 10 << 30,
            holders: vec!["12D3KooWC".into()],
            deals: Vec::new(),
            keep_until: None,
            ..photo.clone()
        };
        let table = ls_table([&photo, &notes]);
        let ab = "ab".repeat(32);
        let one = "01".repeat(32);
        assert_eq!(
            table,
            [
                "NAME           SIZE     COPIES  PAID UNTIL            KEPT UNTIL            CONTENT ID"
                    .to_owned(),
                format!(
                    "été photo.jpg  1.5 KiB  2       2025-12-06 02:00 UTC  2099-12-31 23:59 UTC  {ab}"
                ),
                format!(
                    "n              10 GiB   1       -                     while listed          {one}"
                ),
            ]
        );
    }

    #[test]
    fn ranges_parse_and_bad_ones_explain() {
        assert_eq!(parse_range("10..20"), Ok(10..20));
        assert!(parse_range("10").unwrap_err().contains("START..END"));
        assert!(parse_range("20..10").unwrap_err().contains("empty range"));
    }
}
