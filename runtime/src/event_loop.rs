//! The runtime task and its handle.
//!
//! Message flow: shells call [`Handle`] methods, which send a [`Command`] on a bounded channel
//! and await a `oneshot` reply. The [`EventLoop`] owns all state; each tick it polls the chain
//! and publishes a fresh [`Status`] on a `watch` channel, which shells forward (the app as a
//! Tauri event, the daemon over HTTP).
//!
//! With a node configured, the loop starts it first (its own task, [`node::EventLoop`], owns the
//! swarm) and reads its state through its [`node::Handle`] on every tick; a node that fails to
//! start or stops shows as [`NodeState::Failed`] while the chain follower keeps running. A node
//! that sells storage is announced in the Registry at start (tried again on every tick while the
//! chain cannot be reached, the node serving meanwhile). The node's events (transfers, proofs,
//! earnings) are folded by a task of its own ([`crate::activity`]) and read into each status,
//! with the [`MarketState`] its announcements found. A quota change applies to the
//! running node, which opens a store if it has none. The node is shut down with the runtime.
//!
//! Work that waits on the network runs in tasks of its own, never on the loop: storing and
//! fetching files through the node ([`Handle::store_file`], [`Handle::fetch_file`]),
//! withdrawals, and checking a new chain endpoint, which hands the checked endpoint back to the
//! loop as a command ([`Handle::set_chain`]).

use std::time::{Duration, Instant};

use chain::RpcClient;
use protocol::api::{
    ChainSettings, ChainState, CopyReplaced, EndpointSource, FetchFile, FetchedFile, FileInfo,
    ForgetFile, ForgotFile, LightClientSettings, MarketState, NodeInfo, NodeState, SetNodeMarket,
    Status, StoreFile, StoredFile, Withdrawal,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::activity::Recorder;
use crate::announce::Announcer;
use crate::beacon::{HeadState, LightClient};
use crate::settings::Settings;
use crate::upkeep::{self, Upkeep};
use crate::{BeaconConfig, Config, Error, NodeConfig, NodeMarket};

/// How long a (re)start waits for a store still held by a closing node, which may be finishing
/// a disk read of one chunk or, in the prover, of a whole object.
const STORE_WAIT: Duration = Duration::from_secs(10);

/// Where the client keeps its catalog of stored files in the data directory: where
/// `cairn storage` keeps it by default, so both list the same files.
pub const CLIENT_DIR: &str = "client";

/// Where, in [`CLIENT_DIR`], an object is fetched to while a copy of it is replaced.
const REPLACING_DIR: &str = "replacing";

/// Why files cannot be stored or fetched while the node does not run.
const NOT_RUNNING_FOR_FILES: &str =
    "the node is not running (its status says why); files are stored through it";

/// The most copies of a file stored at once.
const MAX_COPIES: usize = 16;

/// Checks what a file is to be stored with, before anything is sent: 1 to 16 (`MAX_COPIES`)
/// copies, and a date to keep it until that is to come. The daemon asks this before it receives
/// a file the browser sends.
pub fn check_storing(copies: u32, keep_until: Option<u64>) -> Result<(), Error> {
    if !(1..=MAX_COPIES).contains(&usize::try_from(copies).unwrap_or(usize::MAX)) {
        return Err(Error::Request(format!(
            "{copies} copies: store between 1 and {MAX_COPIES} copies, on as many providers"
        )));
    }
    if keep_until.is_some_and(|until| until <= upkeep::unix_now()) {
        return Err(Error::Request(
            "the date to keep the file until is past: give one to come, or none to keep it \
             while it is listed"
                .into(),
        ));
    }
    Ok(())
}

/// Commands are tiny and answered at once; a few in flight per shell is plenty.
const COMMAND_CAPACITY: usize = 32;

enum Command {
    Refresh(oneshot::Sender<Status>),
    SetNodeQuota(u64, oneshot::Sender<Result<Status, Error>>),
    SetNodeStake(u64, oneshot::Sender<Result<Status, Error>>),
    SetLightClient(
        Option<LightClientSettings>,
        oneshot::Sender<Result<Status, Error>>,
    ),
    SetNodeMarket(SetNodeMarket, oneshot::Sender<Result<Status, Error>>),
    SetChain(
        Option<ChainSettings>,
        oneshot::Sender<Result<Status, Error>>,
    ),
    /// A chain endpoint checked off the loop ([`EventLoop::set_chain`]), and the client that
    /// checked it: apply it.
    ApplyChain(
        Box<(Endpoint, RpcClient)>,
        oneshot::Sender<Result<Status, Error>>,
    ),
    Withdraw(Payout, oneshot::Sender<Result<Withdrawal, Error>>),
    /// Verify a selling node's earnings again, now (no answer: the status shows them).
    VerifyEarnings,
    /// A file to store, and whether it stays where it is (see [`Handle::store_sent_file`]).
    StoreFile(StoreFile, bool, oneshot::Sender<Result<StoredFile, Error>>),
    FetchFile(FetchFile, oneshot::Sender<Result<FetchedFile, Error>>),
    ForgetFile(ForgetFile, oneshot::Sender<Result<ForgotFile, Error>>),
    /// Read the catalog of stored files again (no answer: the status shows them).
    ReloadFiles,
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to a running runtime.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Refresh(_) => "Refresh",
            Command::SetNodeQuota(..) => "SetNodeQuota",
            Command::SetNodeStake(..) => "SetNodeStake",
            Command::SetLightClient(..) => "SetLightClient",
            Command::SetNodeMarket(..) => "SetNodeMarket",
            Command::SetChain(..) => "SetChain",
            Command::ApplyChain(..) => "ApplyChain",
            Command::Withdraw(..) => "Withdraw",
            Command::VerifyEarnings => "VerifyEarnings",
            Command::StoreFile(..) => "StoreFile",
            Command::FetchFile(..) => "FetchFile",
            Command::ForgetFile(..) => "ForgetFile",
            Command::ReloadFiles => "ReloadFiles",
            Command::Shutdown(_) => "Shutdown",
        })
    }
}

impl Handle {
    /// The latest published status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every new status.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Polls the chain now and returns the resulting status.
    pub async fn refresh(&self) -> Result<Status, Error> {
        self.ask(Command::Refresh).await
    }

    /// Sets the embedded node's quota (bytes offered to buyers): saved in the data directory
    /// first, then applied to the running node, which keeps its connections, transfers and
    /// addresses: one without a store yet opens one and becomes a provider, and a selling node
    /// updates its Registry entry. Only if the node cannot take it is it restarted with it. A
    /// quota of 0 accepts nothing new; what the node holds stays served and proven. Returns the status with the quota applied. [`Error::NoNode`] without
    /// a node; [`Error::Settings`] when the setting could not be saved (then nothing changed).
    pub async fn set_node_quota(&self, quota: u64) -> Result<Status, Error> {
        self.ask(|reply| Command::SetNodeQuota(quota, reply))
            .await?
    }

    /// Gives a selling node the stake (whole tokens) it registers with in the Registry, when it
    /// is not registered yet: saved in the data directory first, then used by the node's next
    /// announcement, at once. Registering needs the tokens and some ETH at the node's provider
    /// address; until they are there, the status says what to send where, and the node tries
    /// again on every tick. Returns the status. [`Error::NoNode`] without a node;
    /// [`Error::Stake`] for a node that does not sell storage or a stake of 0;
    /// [`Error::Settings`] when the setting could not be saved (then nothing changed).
    pub async fn set_node_stake(&self, tokens: u64) -> Result<Status, Error> {
        self.ask(|reply| Command::SetNodeStake(tokens, reply))
            .await?
    }

    /// Follows the beacon chain `settings` names with the light client (checked first: a network
    /// that is not known, no endpoint, an endpoint that is not a URL or a checkpoint that is
    /// not a block root is [`Error::Config`] naming it, and nothing changes), or stops following
    /// one (`None`). Saved in the data directory, then applied at once: the light client that
    /// ran is stopped, the new one starts from the latest checkpoint it verified from the given
    /// one on that network, if any, else from the given one
    /// ([`crate::beacon::checkpoint_file`]), and a selling node's earnings are verified again
    /// against its verified head (or, with `None`, the endpoint's latest block). At the next
    /// start, a beacon chain the shell was given ([`Config::beacon`]) wins over the saved one.
    /// Returns the status; [`Error::Settings`] when the setting could not be saved (then nothing
    /// changed).
    pub async fn set_light_client(
        &self,
        settings: Option<LightClientSettings>,
    ) -> Result<Status, Error> {
        self.ask(|reply| Command::SetLightClient(settings, reply))
            .await?
    }

    /// Has a node that does not sell storage start selling it on the deployment `request`
    /// names, with its own chain key (made in the data directory on first use), its earnings
    /// paid to `request.payout` or else to its own address. Checked first: a deployment file
    /// that cannot be read or is not one, or a payout that is not an address, is
    /// [`Error::Config`] naming it, and nothing changes. The deployment is copied into the data
    /// directory ([`crate::MARKET_DEPLOYMENT_FILE`]) and the setting saved, then the
    /// node restarts with the market (keeping its identity and store); from there on it is
    /// announced as any selling node (register it with [`Handle::set_node_stake`]). At the next
    /// start a market the shell was given wins over the saved one. [`Error::NoNode`] without a
    /// node; [`Error::Config`] for a node that sells already (its deals are proven on its
    /// contracts, so they are not changed from here).
    pub async fn set_node_market(&self, request: SetNodeMarket) -> Result<Status, Error> {
        self.ask(|reply| Command::SetNodeMarket(request, reply))
            .await?
    }

    /// Reads the chain through the endpoint `settings` names, or returns to the one the shell
    /// was given, else the local devnet (`None`). Checked first, off the runtime's loop: a URL
    /// that is not http(s), or an endpoint that does not answer with its chain id, is
    /// [`Error::Config`] saying so, and nothing changes; so is one on another chain than a
    /// selling node's deployment (its deals are proven there). The network is shown by the name
    /// given, else after the chain id ([`chain::network_name`]). Saved in the data directory,
    /// then applied at once; a selling node restarts to sell through it (keeping its identity,
    /// store and deals). At the next start an endpoint the shell was given ([`Config::rpc_url`])
    /// wins over the saved one. Returns the status; [`Error::Settings`] when the setting could
    /// not be saved (then nothing changed).
    pub async fn set_chain(&self, settings: Option<ChainSettings>) -> Result<Status, Error> {
        self.ask(|reply| Command::SetChain(settings, reply)).await?
    }

    /// Pays a selling node's earnings to its payout address (`StorageMarket.withdrawEarnings`,
    /// sent with the node's own chain key, which pays the gas), off the runtime's loop, then
    /// has the earnings verified again at once. [`Error::NoNode`] without a node;
    /// [`Error::Withdraw`] for a node that does not sell storage, with nothing to withdraw, or
    /// when the chain refused or could not be reached (nothing was paid then).
    pub async fn withdraw_earnings(&self) -> Result<Withdrawal, Error> {
        self.withdraw(Payout::Earnings).await
    }

    /// Pays what the market owes a selling node's account as a buyer (periods its providers
    /// missed, deals it ended: `StorageMarket.withdrawRefund`) to that account, off the
    /// runtime's loop, then has it verified again at once. Errors as
    /// [`Handle::withdraw_earnings`]'s.
    pub async fn withdraw_refunds(&self) -> Result<Withdrawal, Error> {
        self.withdraw(Payout::Refunds).await
    }

    async fn withdraw(&self, what: Payout) -> Result<Withdrawal, Error> {
        let withdrawal = self.ask(|reply| Command::Withdraw(what, reply)).await??;
        // What was owed is now 0: shown so once verified, not before.
        self.tell(Command::VerifyEarnings).await?;
        Ok(withdrawal)
    }

    /// Stores a file on the network through the embedded node, as `cairn storage put` does:
    /// `request.copies` copies on distinct providers found on the LAN, through the node's peers
    /// and, when the node sells on a market, in its Registry; on a market each copy is stored
    /// under its own deal, paid by the node's chain key. Runs off the runtime's loop; returns
    /// once every copy is stored, and the file is then listed in the node's status
    /// ([`NodeInfo::files`], the catalog in `<data dir>/client`, which `cairn storage ls` reads
    /// too). A path that is not a file, or no copies, is [`Error::Request`] and nothing is sent;
    /// [`Error::NoNode`] without a node; [`Error::Storage`] when not every copy was stored (those
    /// that were are kept and listed).
    ///
    /// The file is remembered as the object's original: a lost copy no other provider could
    /// pull from the holders is sent again from it while it still holds the same bytes, rather
    /// than fetched back from the holders first.
    pub async fn store_file(&self, request: StoreFile) -> Result<StoredFile, Error> {
        self.store(request, true).await
    }

    /// Stores a file the shell was sent and deletes once stored (the daemon's browser uploads),
    /// as [`Handle::store_file`] does, but not remembered as the object's original.
    pub async fn store_sent_file(&self, request: StoreFile) -> Result<StoredFile, Error> {
        self.store(request, false).await
    }

    async fn store(&self, request: StoreFile, original: bool) -> Result<StoredFile, Error> {
        let result = self
            .ask(|reply| Command::StoreFile(request, original, reply))
            .await?;
        // Stored copies are in the catalog even when some failed: list them.
        self.tell(Command::ReloadFiles).await?;
        result
    }

    /// Fetches a stored object back into a new file, every chunk verified, from the holders the
    /// catalog names first, then any the node finds. An id that is not one, an output that
    /// exists already or whose folder does not, is [`Error::Request`]; [`Error::NoNode`] without a
    /// node; [`Error::Storage`] when no holder served it (then no file is left behind).
    pub async fn fetch_file(&self, request: FetchFile) -> Result<FetchedFile, Error> {
        self.ask(|reply| Command::FetchFile(request, reply)).await?
    }

    /// Stops keeping a stored file: it leaves the catalog at once (no longer listed, renewed or
    /// replaced), then its copies' deals are ended, the periods not yet started refunded to the
    /// node's account. An id that is not one, or not in the catalog, or a file one of whose
    /// copies is being bought again right now, is [`Error::Request`]. The refunds owed are
    /// verified again at once when deals were ended.
    pub async fn forget_file(&self, request: ForgetFile) -> Result<ForgotFile, Error> {
        let forgot = self
            .ask(|reply| Command::ForgetFile(request, reply))
            .await??;
        if !forgot.ended.is_empty() {
            self.tell(Command::VerifyEarnings).await?;
        }
        Ok(forgot)
    }

    /// Sends `command`, which has no reply.
    async fn tell(&self, command: Command) -> Result<(), Error> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Error::Stopped)
    }

    /// Sends the command `command` makes with a reply channel, and waits for the reply.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Stops the runtime and waits until its task has finished its current step.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.ask(Command::Shutdown).await
    }
}

/// The runtime task. Spawn [`EventLoop::run`] on a tokio runtime.
#[derive(Debug)]
pub struct EventLoop {
    config: Config,
    /// The chain endpoint in use: the shell's, else the saved one, else the devnet's.
    endpoint: Endpoint,
    client: RpcClient,
    commands: mpsc::Receiver<Command>,
    /// For tasks of the loop's own to send it their results; does not keep it running.
    loopback: mpsc::WeakSender<Command>,
    status: watch::Sender<Status>,
    started: Instant,
    last_chain_id: Option<u64>,
    settings: Settings,
    /// The node's options, from [`Config::node`] (the quota is set on each start).
    node_options: Option<node::Options>,
    /// The node could not start because its store was held: try again on the next tick.
    retry_node: bool,
    /// The light client, while a beacon chain is followed (its task starts in
    /// [`EventLoop::run`]).
    light_client: Option<LightClient>,
    /// Why the market saved from the UI could not be used at start (the node runs without it).
    market_error: Option<String>,
    /// The files this client stored (its catalog), or why the catalog cannot be read.
    files: Result<Vec<FileInfo>, String>,
    /// Buys copies of the files again: those whose provider missed a proof, those whose deal
    /// is ending.
    upkeep: Upkeep,
}

/// What a withdrawal pays out.
#[derive(Debug, Clone, Copy)]
enum Payout {
    /// A provider's earnings, to its payout address.
    Earnings,
    /// A buyer's refunds, to its own address.
    Refunds,
}

/// A chain endpoint, where it comes from, and the network's name as shown.
#[derive(Debug, Clone)]
struct Endpoint {
    rpc_url: String,
    network: String,
    source: EndpointSource,
    /// The chain id it answered with when it was checked ([`EventLoop::set_chain`]).
    chain_id: Option<u64>,
}

impl Endpoint {
    /// The shell's endpoint, else the saved one, else the devnet's.
    fn at_start(config: &Config, saved: Option<&ChainSettings>) -> Self {
        match (&config.rpc_url, saved) {
            (None, Some(saved)) => Self {
                rpc_url: saved.rpc_url.clone(),
                network: saved.network.clone(),
                source: EndpointSource::Saved,
                chain_id: None,
            },
            (given, _) => Self::shells(config, given.is_some()),
        }
    }

    /// The shell's endpoint (`given`), else the devnet's.
    fn shells(config: &Config, given: bool) -> Self {
        Self {
            rpc_url: config
                .rpc_url
                .clone()
                .unwrap_or_else(|| chain::DEVNET_DEFAULT_RPC_URL.to_owned()),
            network: config.network.clone(),
            source: if given {
                EndpointSource::Given
            } else {
                EndpointSource::Default
            },
            chain_id: None,
        }
    }

    /// What `settings.json` keeps for it: the endpoint set from the UI, or nothing (the shell's
    /// or the devnet's).
    fn saved(&self) -> Option<ChainSettings> {
        (self.source == EndpointSource::Saved).then(|| ChainSettings {
            rpc_url: self.rpc_url.clone(),
            network: self.network.clone(),
        })
    }
}

/// Validates `config` and builds the runtime; the caller spawns the returned [`EventLoop`].
pub fn start(mut config: Config) -> Result<(Handle, EventLoop), Error> {
    config.validate()?;
    let settings = crate::settings::load(&config.data_dir)?;
    let endpoint = Endpoint::at_start(&config, settings.chain.as_ref());
    // A node the shell did not give a market sells on the one saved from the UI, if any; one
    // that no longer holds leaves the node running without it, saying why.
    let mut market_error = None;
    let mut node_options = None;
    if let Some(node) = config.node.as_mut() {
        if let Some(saved) = settings
            .node_market
            .as_ref()
            .filter(|_| node.market.is_none())
        {
            let with_market = NodeConfig {
                market: Some(NodeMarket::saved(&config.data_dir, saved)),
                ..node.clone()
            };
            match with_market.options(&config.data_dir, &endpoint.rpc_url) {
                Ok(options) => {
                    *node = with_market;
                    node_options = Some(options);
                }
                Err(err) => {
                    let error = format!(
                        "the storage market saved in {} cannot be used ({err}); give the \
                         deployment again",
                        crate::settings::FILE_NAME
                    );
                    tracing::error!("{error}");
                    market_error = Some(error);
                }
            }
        }
        if node_options.is_none() {
            node_options = Some(node.options(&config.data_dir, &endpoint.rpc_url)?);
        }
    }
    // The shell's beacon chain, else the one saved from the UI; saved settings that no longer
    // hold leave the light client without a head, saying why.
    let light_client = match (&config.beacon, &settings.light_client) {
        (Some(beacon), _) => Some(LightClient::new(beacon.clone(), config.data_dir.clone())),
        (None, Some(saved)) => Some(match BeaconConfig::from_settings(saved) {
            Ok(beacon) => LightClient::new(beacon, config.data_dir.clone()),
            Err(err) => LightClient::unusable(
                saved,
                format!(
                    "the light client's settings saved in {} cannot be used: {err}; set them \
                     again",
                    crate::settings::FILE_NAME
                ),
            ),
        }),
        (None, None) => None,
    };
    let client = RpcClient::new(&endpoint.rpc_url).map_err(|err| match endpoint.source {
        EndpointSource::Saved => Error::Config(format!(
            "the chain endpoint saved in {} cannot be used ({err}); fix it, or delete its \
             \"chain\" entry to return to the default",
            crate::settings::FILE_NAME
        )),
        _ => Error::Rpc(err),
    })?;
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let initial = Status {
        version: protocol::VERSION.to_owned(),
        network: endpoint.network.clone(),
        rpc_url: endpoint.rpc_url.clone(),
        rpc_source: endpoint.source,
        chain: ChainState::Connecting,
        uptime_secs: 0,
        node: if config.node.is_some() {
            NodeState::Starting
        } else {
            NodeState::Off
        },
        light_client: light_client.as_ref().map(LightClient::state),
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let loopback = commands_tx.downgrade();
    let handle = Handle {
        commands: commands_tx,
        status: status_rx,
    };
    let event_loop = EventLoop {
        endpoint,
        client,
        commands: commands_rx,
        loopback,
        status: status_tx,
        started: Instant::now(),
        last_chain_id: None,
        settings,
        node_options,
        retry_node: false,
        light_client,
        upkeep: Upkeep::new(config.data_dir.join(CLIENT_DIR).join(REPLACING_DIR)),
        config,
        market_error,
        files: Ok(Vec::new()),
    };
    Ok((handle, event_loop))
}

impl EventLoop {
    /// Runs until every [`Handle`] is dropped or one calls [`Handle::shutdown`].
    pub async fn run(mut self) {
        let span = tracing::info_span!("runtime", network = %self.endpoint.network);
        let _enter = span.enter();
        // Dropped when the loop ends, which stops the sync.
        if let Some(light_client) = self.light_client.as_mut() {
            light_client.run();
        }
        let mut node = self.start_node(Duration::ZERO).await;
        self.reload_files().await;
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(Command::Refresh(reply)) => {
                        let status = self.poll(&mut node).await;
                        let _ = reply.send(status);
                    }
                    Some(Command::SetNodeQuota(quota, reply)) => {
                        let result = self.set_node_quota(quota, &mut node).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::SetNodeStake(tokens, reply)) => {
                        let result = self.set_node_stake(tokens, &mut node).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::Withdraw(what, reply)) => {
                        match self.running_node(node.as_ref(), "the node is not running", Error::Withdraw) {
                            Ok(running) => running.withdraw(what, reply),
                            Err(err) => {
                                let _ = reply.send(Err(err));
                            }
                        }
                    }
                    Some(Command::StoreFile(request, original, reply)) => {
                        answer_off_the_loop(
                            self.store_file(request, original, node.as_ref()),
                            reply,
                        );
                    }
                    Some(Command::FetchFile(request, reply)) => {
                        answer_off_the_loop(self.fetch_file(request, node.as_ref()), reply);
                    }
                    Some(Command::ForgetFile(request, reply)) => {
                        let work = self.forget_file(request);
                        if work.is_ok() {
                            self.reload_files().await;
                            self.poll(&mut node).await;
                        }
                        answer_off_the_loop(work, reply);
                    }
                    Some(Command::ReloadFiles) => {
                        self.reload_files().await;
                        self.poll(&mut node).await;
                    }
                    Some(Command::VerifyEarnings) => {
                        if let Some(running) = node.as_mut() {
                            running.announce_again();
                        }
                    }
                    Some(Command::SetNodeMarket(request, reply)) => {
                        let result = self.set_node_market(request, &mut node).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::SetLightClient(settings, reply)) => {
                        let result = self.set_light_client(settings, &mut node).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::SetChain(settings, reply)) => self.set_chain(settings, reply),
                    Some(Command::ApplyChain(checked, reply)) => {
                        let (endpoint, client) = *checked;
                        let result = self.apply_chain(endpoint, client, &mut node).await;
                        let _ = reply.send(result);
                    }
                },
                _ = ticker.tick() => {
                    self.poll(&mut node).await;
                }
            }
        }
        if let Some(node) = node {
            node.stop().await;
        }
        tracing::info!("runtime stopped");
    }

    /// Saves the quota, then restarts the node with it.
    async fn set_node_quota(
        &mut self,
        quota: u64,
        node: &mut Option<RunningNode>,
    ) -> Result<Status, Error> {
        let Some(config) = self.config.node.as_mut() else {
            return Err(Error::NoNode);
        };
        let settings = Settings {
            node_quota: Some(quota),
            ..self.settings.clone()
        };
        crate::settings::save(&self.config.data_dir, &settings)?;
        self.settings = settings;
        config.quota = Some(quota);
        if let Some(running) = node.as_mut() {
            match running.handle.set_quota(quota).await {
                Ok(()) => {
                    tracing::info!(quota, "node quota set");
                    // A selling node's Registry entry follows, off the loop.
                    running.announce_again();
                    return Ok(self.poll(node).await);
                }
                Err(err) => tracing::warn!(%err, "the node did not take the quota; restarting it"),
            }
        }
        tracing::info!(quota, "node quota set; restarting the node");
        self.restart_node(node).await;
        Ok(self.poll(node).await)
    }

    /// Saves the stake, then has the running node's next announcement register with it.
    async fn set_node_stake(
        &mut self,
        tokens: u64,
        node: &mut Option<RunningNode>,
    ) -> Result<Status, Error> {
        let Some(config) = self.config.node.as_mut() else {
            return Err(Error::NoNode);
        };
        let Some(market) = config.market.as_mut() else {
            return Err(Error::Stake(
                "this node does not sell storage, so it has nothing to register: give it the \
                 contracts' deployment first (in the UI's Sell storage form, or \
                 --node-deployment-file)"
                    .into(),
            ));
        };
        if tokens == 0 {
            return Err(Error::Stake(
                "a stake of 0 tokens registers nothing; give at least the Registry's minimum"
                    .into(),
            ));
        }
        let settings = Settings {
            node_stake: Some(tokens),
            ..self.settings.clone()
        };
        crate::settings::save(&self.config.data_dir, &settings)?;
        self.settings = settings;
        market.stake = Some(tokens);
        tracing::info!(tokens, "node stake set");
        if let Some(running) = node.as_mut() {
            running.set_stake(tokens);
        }
        Ok(self.poll(node).await)
    }

    /// Checks the market, copies its deployment, saves the setting, then restarts the node with
    /// it.
    async fn set_node_market(
        &mut self,
        request: SetNodeMarket,
        node: &mut Option<RunningNode>,
    ) -> Result<Status, Error> {
        let Some(config) = self.config.node.as_ref() else {
            return Err(Error::NoNode);
        };
        if let Some(market) = &config.market {
            return Err(Error::Config(format!(
                "this node sells storage already, on the deployment in {}: its deals are proven \
                 on those contracts, so they are not changed from here",
                market.deployment_file.display()
            )));
        }
        let given = std::path::Path::new(request.deployment_file.trim());
        let deployment = chain::contracts::Deployment::read(given).map_err(|err| {
            Error::Config(format!(
                "{err}; give the deployment file `cairn devnet --deployment-file` wrote, or your \
                 network's"
            ))
        })?;
        if let Some(chain_id) = self.last_chain_id
            && chain_id != deployment.chain_id
        {
            return Err(Error::Config(format!(
                "{} is a deployment on chain {}, but the chain endpoint {} serves chain \
                 {chain_id}; give this chain's deployment",
                given.display(),
                deployment.chain_id,
                self.endpoint.rpc_url
            )));
        }
        let payout = match request.payout.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(payout) => Some(payout.parse::<node::market::Address>().map_err(|err| {
                Error::Config(format!(
                    "the payout address {payout:?} is not a chain address ({err}); write it as \
                     0x and 40 hex digits, or leave it empty to be paid to the node's own address"
                ))
            })?),
        };
        let saved = crate::settings::SavedMarket { payout };
        let copy = self
            .config
            .data_dir
            .join(crate::config::MARKET_DEPLOYMENT_FILE);
        let text = serde_json::to_string_pretty(&deployment).map_err(|err| {
            Error::Config(format!("the deployment cannot be written back: {err}"))
        })?;
        crate::files::replace(&copy, text.as_bytes()).map_err(|source| {
            Error::Settings(crate::settings::SettingsError::Io {
                path: copy.clone(),
                source,
            })
        })?;
        let with_market = NodeConfig {
            market: Some(NodeMarket::saved(&self.config.data_dir, &saved)),
            ..config.clone()
        };
        let options = with_market.options(&self.config.data_dir, &self.endpoint.rpc_url)?;
        let settings = Settings {
            node_market: Some(saved),
            ..self.settings.clone()
        };
        crate::settings::save(&self.config.data_dir, &settings)?;
        self.settings = settings;
        self.config.node = Some(with_market);
        self.node_options = Some(options);
        self.market_error = None;
        tracing::info!(market = %deployment.market, chain = deployment.chain_id, "the node sells storage; restarting it");
        self.restart_node(node).await;
        Ok(self.poll(node).await)
    }

    /// Checks and saves the light client's settings, then replaces the running light client
    /// with one that follows them (or none), and has the node anchor its earnings on it.
    async fn set_light_client(
        &mut self,
        settings: Option<LightClientSettings>,
        node: &mut Option<RunningNode>,
    ) -> Result<Status, Error> {
        let beacon = settings
            .as_ref()
            .map(BeaconConfig::from_settings)
            .transpose()?;
        let saved = Settings {
            light_client: settings,
            ..self.settings.clone()
        };
        crate::settings::save(&self.config.data_dir, &saved)?;
        self.settings = saved;
        // The old light client is dropped, which stops its task.
        self.light_client = beacon.map(|beacon| {
            tracing::info!(network = %beacon.network.name, "the light client follows a new beacon chain");
            let mut light_client = LightClient::new(beacon, self.config.data_dir.clone());
            light_client.run();
            light_client
        });
        if self.light_client.is_none() {
            tracing::info!("the light client stopped: earnings are anchored on the endpoint");
        }
        if let Some(running) = node.as_mut() {
            running.anchor_on(self.head());
        }
        Ok(self.poll(node).await)
    }

    /// Checks the endpoint `settings` names (or the shell's, for `None`) from a task of its
    /// own, which has the loop apply it ([`Command::ApplyChain`]) or answers `reply` with why
    /// not: asking for the chain id may take as long as the endpoint's timeout.
    fn set_chain(
        &self,
        settings: Option<ChainSettings>,
        reply: oneshot::Sender<Result<Status, Error>>,
    ) {
        let mut endpoint = match settings {
            None => Endpoint::shells(&self.config, self.config.rpc_url.is_some()),
            Some(settings) => Endpoint {
                rpc_url: settings.rpc_url.trim().to_owned(),
                network: settings.network.trim().to_owned(),
                source: EndpointSource::Saved,
                chain_id: None,
            },
        };
        let client = match RpcClient::new(&endpoint.rpc_url) {
            Ok(client) => client,
            Err(err) => {
                let _ = reply.send(Err(Error::Config(format!(
                    "{err}; write the chain's JSON-RPC endpoint like https://rpc.example or \
                     http://127.0.0.1:8545"
                ))));
                return;
            }
        };
        // A typed endpoint is always asked (a typo shows now, and its chain names the network);
        // the shell's only when a selling node must stay on its chain.
        let ask = endpoint.source == EndpointSource::Saved || self.selling_chain().is_some();
        let Some(loopback) = self.loopback.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            if ask {
                match client.chain_id().await {
                    Ok(chain_id) => endpoint.chain_id = Some(chain_id),
                    Err(err) => {
                        let _ = reply.send(Err(Error::Config(format!(
                            "the chain endpoint {} did not answer with its chain id ({err}); \
                             check the URL, and that the node behind it runs and is reachable \
                             from here",
                            endpoint.rpc_url
                        ))));
                        return;
                    }
                }
            }
            if endpoint.source == EndpointSource::Saved && endpoint.network.is_empty() {
                endpoint.network = chain::network_name(endpoint.chain_id.unwrap_or_default());
            }
            // The loop may have stopped meanwhile: then `reply` is dropped, which says so.
            let _ = loopback
                .send(Command::ApplyChain(Box::new((endpoint, client)), reply))
                .await;
        });
    }

    /// The chain a selling node's deals are on, and its deployment file.
    fn selling_chain(&self) -> Option<(u64, std::path::PathBuf)> {
        let market = self.node_options.as_ref()?.market.as_ref()?;
        let file = self
            .config
            .node
            .as_ref()
            .and_then(|node| node.market.as_ref())
            .map(|market| market.deployment_file.clone())
            .unwrap_or_default();
        Some((market.deployment().chain_id, file))
    }

    /// Saves and uses a checked endpoint; a selling node restarts to sell through it.
    async fn apply_chain(
        &mut self,
        endpoint: Endpoint,
        client: RpcClient,
        node: &mut Option<RunningNode>,
    ) -> Result<Status, Error> {
        let selling_chain = self.selling_chain();
        if let Some((selling, file)) = &selling_chain {
            let selling = *selling;
            match endpoint.chain_id {
                Some(chain_id) if chain_id == selling => {}
                Some(chain_id) => {
                    return Err(Error::Config(format!(
                        "this node sells storage on chain {selling} (the deployment in {}), and \
                         its deals are proven there, but {} serves chain {chain_id}; give an \
                         endpoint of chain {selling}",
                        file.display(),
                        endpoint.rpc_url
                    )));
                }
                None => {
                    return Err(Error::Config(
                        "the node started selling storage while the endpoint was checked; set \
                         the endpoint again"
                            .into(),
                    ));
                }
            }
        }
        let options = match (selling_chain, self.config.node.as_ref()) {
            (Some(_), Some(config)) => {
                Some(config.options(&self.config.data_dir, &endpoint.rpc_url)?)
            }
            _ => None,
        };
        let settings = Settings {
            chain: endpoint.saved(),
            ..self.settings.clone()
        };
        crate::settings::save(&self.config.data_dir, &settings)?;
        self.settings = settings;
        tracing::info!(rpc_url = %endpoint.rpc_url, network = %endpoint.network, "the chain endpoint changed");
        self.client = client;
        self.last_chain_id = endpoint.chain_id;
        self.status.send_modify(|status| {
            status.network.clone_from(&endpoint.network);
            status.rpc_url.clone_from(&endpoint.rpc_url);
            status.rpc_source = endpoint.source;
            status.chain = ChainState::Connecting;
        });
        self.endpoint = endpoint;
        if let Some(options) = options {
            // The market's transactions, proofs and earnings go through the endpoint it was
            // built with: a selling node restarts with one built on the new endpoint.
            self.node_options = Some(options);
            self.restart_node(node).await;
        }
        Ok(self.poll(node).await)
    }

    /// The running node, to act through; [`Error::NoNode`] without one configured, else
    /// `error` saying `not_running` while it is not running.
    fn running_node<'a>(
        &self,
        node: Option<&'a RunningNode>,
        not_running: &str,
        error: fn(String) -> Error,
    ) -> Result<&'a RunningNode, Error> {
        match node {
            Some(running) => Ok(running),
            None if self.config.node.is_none() => Err(Error::NoNode),
            None => Err(error(not_running.to_owned())),
        }
    }

    /// Checks `request` and returns the work storing it, to run off the loop.
    fn store_file(
        &self,
        request: StoreFile,
        original: bool,
        node: Option<&RunningNode>,
    ) -> Result<impl std::future::Future<Output = Result<StoredFile, Error>> + use<>, Error> {
        let running = self.running_node(node, NOT_RUNNING_FOR_FILES, Error::Storage)?;
        let path = std::path::PathBuf::from(request.path.trim());
        if request.path.trim().is_empty() {
            return Err(Error::Request("give the path of the file to store".into()));
        }
        let metadata = std::fs::metadata(&path).map_err(|err| {
            Error::Request(format!(
                "cannot store {}: {err}; give the path of a file on this machine",
                path.display()
            ))
        })?;
        if !metadata.is_file() {
            return Err(Error::Request(format!(
                "{} is not a file; give the path of a file",
                path.display()
            )));
        }
        check_storing(request.copies, request.keep_until)?;
        let copies = usize::try_from(request.copies).unwrap_or(usize::MAX);
        let keep_until = request.keep_until;
        let handle = running.handle.clone();
        let market = self.buyer();
        let catalog = self.catalog();
        Ok(async move {
            let dials = node::buyer::DialFailures::collect(handle.subscribe());
            let stored = node::buyer::put(
                &handle,
                &catalog,
                &path,
                node::buyer::Keep {
                    copies,
                    until: keep_until,
                    original,
                },
                market.as_ref(),
                &dials,
            )
            .await
            .map_err(|err| Error::Storage(err.to_string()))?;
            tracing::info!(id = %stored.entry.id, copies = stored.entry.holders.len(), "file stored");
            Ok(StoredFile {
                file: file_info(stored.entry),
            })
        })
    }

    /// Checks `request` and returns the work fetching it, to run off the loop.
    fn fetch_file(
        &self,
        request: FetchFile,
        node: Option<&RunningNode>,
    ) -> Result<impl std::future::Future<Output = Result<FetchedFile, Error>> + use<>, Error> {
        let running = self.running_node(node, NOT_RUNNING_FOR_FILES, Error::Storage)?;
        let id = content_id(&request.id)?;
        let output = std::path::PathBuf::from(request.output.trim());
        if request.output.trim().is_empty() {
            return Err(Error::Request("give the path of the file to write".into()));
        }
        if output.exists() {
            return Err(Error::Request(format!(
                "{} exists already; give a new file's path (nothing is overwritten)",
                output.display()
            )));
        }
        match output.parent() {
            Some(folder) if folder.as_os_str().is_empty() || folder.is_dir() => {}
            _ => {
                return Err(Error::Request(format!(
                    "the folder of {} does not exist; give a path in an existing folder",
                    output.display()
                )));
            }
        }
        let handle = running.handle.clone();
        let catalog = self.catalog();
        Ok(async move {
            let report = node::buyer::get(&handle, &catalog, id, None, &output)
                .await
                .map_err(|err| Error::Storage(err.to_string()))?;
            tracing::info!(%id, bytes = report.bytes, "file fetched");
            Ok(FetchedFile {
                output: output.display().to_string(),
                bytes: report.bytes,
                holders: report.served_by.iter().map(ToString::to_string).collect(),
            })
        })
    }

    /// Removes `request`'s file from the catalog, and returns the work ending its deals, to run
    /// off the loop.
    fn forget_file(
        &self,
        request: ForgetFile,
    ) -> Result<impl std::future::Future<Output = Result<ForgotFile, Error>> + use<>, Error> {
        if self.config.node.is_none() {
            return Err(Error::NoNode);
        }
        let id = content_id(&request.id)?;
        if self.upkeep.busy_with(&id.to_string()) {
            return Err(Error::Request(format!(
                "a copy of {id} is being bought again right now; forget it once that is done"
            )));
        }
        let entry = self
            .catalog()
            .remove(&id)
            .map_err(|err| Error::Storage(err.to_string()))?
            .ok_or_else(|| {
                Error::Request(format!(
                    "{id} is not in the list of stored files; give one from the list"
                ))
            })?;
        tracing::info!(%id, name = entry.name, "file forgotten");
        let market = self.buyer();
        Ok(async move {
            let done = match &market {
                Some(market) => node::buyer::end_deals(market, &entry).await,
                None => node::buyer::EndedDeals {
                    ended: Vec::new(),
                    not_ended: entry
                        .deals
                        .iter()
                        .map(|copy| {
                            format!(
                                "deal {}: this node does not sell on a market now, so it cannot \
                                 end it",
                                copy.deal
                            )
                        })
                        .collect(),
                },
            };
            let refunded: alloy_primitives::U256 = done.ended.iter().map(|e| e.refund).sum();
            Ok(ForgotFile {
                name: entry.name,
                ended: done.ended.iter().map(|ended| ended.deal).collect(),
                refunded: refunded.to_string(),
                not_ended: done.not_ended,
            })
        })
    }

    /// The node's market as a buyer (its chain key), when it sells on one: only then are its
    /// purchases deals.
    fn buyer(&self) -> Option<node::market::Buyer> {
        self.node_options
            .as_ref()
            .and_then(|options| options.market.as_ref())
            .map(node::market::Market::buyer)
    }

    /// The catalog of the files this client stored.
    fn catalog(&self) -> node::buyer::Catalog {
        node::buyer::Catalog::in_dir(&self.config.data_dir.join(CLIENT_DIR))
    }

    /// Reads the catalog of stored files (off the async threads).
    async fn reload_files(&mut self) {
        if self.config.node.is_none() {
            return;
        }
        let catalog = self.catalog();
        let read =
            tokio::task::spawn_blocking(move || catalog.entries().map_err(|e| e.to_string())).await;
        self.files = match read {
            Ok(Ok(entries)) => Ok(entries.into_values().map(file_info).collect()),
            Ok(Err(err)) => Err(err),
            Err(err) => Err(format!("reading the catalog stopped: {err}")),
        };
    }

    /// The light client's verified head, while one runs.
    fn head(&self) -> Option<watch::Receiver<HeadState>> {
        self.light_client.as_ref().map(LightClient::subscribe)
    }

    /// Stops the running node, if any, and starts it again with the current options.
    async fn restart_node(&mut self, node: &mut Option<RunningNode>) {
        if let Some(running) = node.take() {
            running.stop().await;
        }
        self.status
            .send_modify(|status| status.node = NodeState::Starting);
        // Its own previous node may still be finishing a disk read: give it time.
        *node = self.start_node(STORE_WAIT).await;
    }

    /// The quota the node starts with: the configured one, else the saved one, else 0.
    fn node_quota(&self) -> u64 {
        self.config
            .node
            .as_ref()
            .and_then(|node| node.quota)
            .or(self.settings.node_quota)
            .unwrap_or(0)
    }

    /// Starts the configured node, if any; a failure is published, not fatal. A store held by
    /// another node is waited for up to `store_wait`, then retried on every tick (see
    /// [`EventLoop::poll`]), so the loop is never blocked for long.
    async fn start_node(&mut self, store_wait: Duration) -> Option<RunningNode> {
        let mut options = self.node_options.clone()?;
        options.quota = self.node_quota();
        let stake = self
            .config
            .node
            .as_ref()
            .and_then(|node| node.market.as_ref())
            .and_then(|market| market.stake)
            .or(self.settings.node_stake);
        let deadline = Instant::now() + store_wait;
        loop {
            match RunningNode::start(
                options.clone(),
                stake,
                self.endpoint.rpc_url.clone(),
                self.head(),
            )
            .await
            {
                Ok(running) => {
                    self.retry_node = false;
                    return Some(running);
                }
                Err(failure) if failure.store_in_use && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(failure) => {
                    let error = if failure.store_in_use {
                        format!("{} (retrying every tick)", failure.error)
                    } else {
                        failure.error
                    };
                    if !self.retry_node {
                        tracing::error!(%error, "the node could not start");
                    }
                    self.retry_node = failure.store_in_use;
                    self.status
                        .send_modify(|status| status.node = NodeState::Failed { error });
                    return None;
                }
            }
        }
    }

    /// Reads the chain (and the node, if any) once, publishes and returns the new status.
    async fn poll(&mut self, node: &mut Option<RunningNode>) -> Status {
        if node.is_none() && self.retry_node {
            *node = self.start_node(Duration::ZERO).await;
        }
        let chain = match self.read_chain().await {
            Ok((chain_id, latest_block)) => {
                self.last_chain_id = Some(chain_id);
                ChainState::Connected {
                    chain_id,
                    latest_block,
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "chain read failed");
                ChainState::Unreachable {
                    error: err.to_string(),
                    last_chain_id: self.last_chain_id,
                }
            }
        };
        if let Some(running) = node.as_mut() {
            if let Ok(files) = &self.files {
                running.watch_bought(files.iter().flat_map(watched_deals));
            }
            running.drive_announcer();
        }
        let bought_again = self.keep_copies(node.as_ref()).await;
        let expired = self.let_expired_go(node.as_ref());
        if bought_again || expired {
            self.reload_files().await;
        }
        let node_state = match node.as_ref() {
            Some(running) => match running.state().await {
                Ok(state) => Some(state),
                Err(error) => {
                    // Its loop has ended: keep the reason, stop asking.
                    tracing::error!(%error, "the node stopped");
                    if let Some(stopped) = node.take() {
                        stopped.stop().await;
                    }
                    Some(NodeState::Failed { error })
                }
            },
            None => None,
        };
        let uptime_secs = uptime(self.started.elapsed());
        let light_client = self.light_client.as_ref().map(LightClient::state);
        self.status.send_modify(|status| {
            status.chain = chain;
            status.uptime_secs = uptime_secs;
            status.light_client = light_client;
            if let Some(mut state) = node_state {
                if let NodeState::Running(info) = &mut state {
                    info.market_error.clone_from(&self.market_error);
                    match &self.files {
                        Ok(files) => {
                            let bought = info.market.as_ref().map_or(&[][..], |m| &m.bought);
                            info.files = with_progress(files, bought);
                            for file in &mut info.files {
                                file.repair = self.upkeep.repair_of(file);
                            }
                        }
                        Err(error) => info.files_error = Some(error.clone()),
                    }
                }
                status.node = state;
            }
        });
        self.status.borrow().clone()
    }

    /// Removes from the catalog the files whose "keep until" date and deals are past (see
    /// [`upkeep::expired`]); `true` when one was.
    fn let_expired_go(&self, node: Option<&RunningNode>) -> bool {
        let (Some(running), Ok(files)) = (node, &self.files) else {
            return false;
        };
        let bought = running.market.as_ref().map_or(&[][..], |m| &m.bought);
        let mut removed = false;
        for id in upkeep::expired(files, bought, upkeep::unix_now()) {
            if self.upkeep.busy_with(&id) {
                continue;
            }
            let Ok(parsed) = id.parse() else { continue };
            match self.catalog().remove(&parsed) {
                Ok(Some(entry)) => {
                    tracing::info!(%id, name = entry.name, "file no longer kept: its date has passed");
                    removed = true;
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(%id, %err, "cannot remove an expired file"),
            }
        }
        removed
    }

    /// Drives the buying again of copies whose provider missed a proof or whose deal is ending
    /// (see [`crate::upkeep`]); `true` when one was bought, so the catalog changed.
    async fn keep_copies(&mut self, node: Option<&RunningNode>) -> bool {
        let (due, buying) = match (node, &self.files) {
            (Some(running), Ok(files)) => {
                let bought = running.market.as_ref().map_or(&[][..], |m| &m.bought);
                let buying = self.buyer().map(|market| upkeep::Buying {
                    node: &running.handle,
                    market,
                    catalog: self.catalog(),
                });
                (upkeep::due(files, bought, upkeep::unix_now()), buying)
            }
            _ => (Vec::new(), None),
        };
        self.upkeep.tick(&due, buying).await
    }

    async fn read_chain(&self) -> Result<(u64, u64), Error> {
        // The chain id is re-read every time: an endpoint restarted with another chain must show.
        let chain_id = self.client.chain_id().await?;
        let latest_block = self.client.block_number().await?;
        Ok((chain_id, latest_block))
    }
}

/// Answers `reply` with `work`'s outcome from a task of its own, or at once with why the work
/// was refused.
fn answer_off_the_loop<T: Send + 'static>(
    work: Result<impl std::future::Future<Output = Result<T, Error>> + Send + 'static, Error>,
    reply: oneshot::Sender<Result<T, Error>>,
) {
    match work {
        Ok(work) => {
            tokio::spawn(async move {
                let _ = reply.send(work.await);
            });
        }
        Err(err) => {
            let _ = reply.send(Err(err));
        }
    }
}

/// The content id `text` names, or [`Error::Request`] saying what to give.
fn content_id(text: &str) -> Result<node::ContentId, Error> {
    text.trim().parse().map_err(|err| {
        Error::Request(format!(
            "{:?} is not a content id ({err}); give one from the list of stored files",
            text.trim()
        ))
    })
}

/// A catalog entry as the status shows it.
fn file_info(entry: node::buyer::CatalogEntry) -> FileInfo {
    FileInfo {
        id: entry.id.to_string(),
        paid_until: entry.paid_until(),
        deals: entry.deals.iter().map(|copy| copy.deal).collect(),
        name: entry.name,
        size: entry.size,
        holders: entry.holders,
        replaced: entry
            .replaced
            .iter()
            .map(|replaced| CopyReplaced {
                deal: replaced.copy.deal,
                by_deal: replaced.by.deal,
                at: replaced.at,
                renewed: replaced.renewed,
                pulled: replaced.pulled,
            })
            .collect(),
        // From the deals' verified state and the upkeep, in each status (see `EventLoop::poll`).
        proven_periods: 0,
        missed_periods: 0,
        periods: 0,
        repair: None,
        keep_until: entry.keep_until,
    }
}

/// The deals bought for `file`: its copies', and the replaced copies' (whose last period may
/// still be proven, or missed and refunded).
fn watched_deals(file: &FileInfo) -> impl Iterator<Item = u64> + Clone + '_ {
    file.deals
        .iter()
        .copied()
        .chain(file.replaced.iter().map(|replaced| replaced.deal))
}

/// `files` with what `bought` (the deals' verified state) says of their copies' deals.
fn with_progress(files: &[FileInfo], bought: &[protocol::api::BoughtDeal]) -> Vec<FileInfo> {
    files
        .iter()
        .map(|file| {
            let mut file = file.clone();
            let deals: Vec<u64> = watched_deals(&file).collect();
            for deal in bought.iter().filter(|deal| deals.contains(&deal.deal)) {
                file.proven_periods += deal.proven;
                file.missed_periods += deal.missed;
                file.periods += deal.periods;
            }
            file
        })
        .collect()
}

/// What the node's store holds, as a status shows it.
#[derive(Debug, Default)]
struct StoreCounts {
    objects: u64,
    stored_bytes: u64,
    quota_bytes: u64,
    disk_room_bytes: Option<u64>,
    corrupt_objects: u64,
}

impl StoreCounts {
    /// Reads `store` (blocking on disk).
    fn read(store: &node::Store) -> Result<Self, node::store::StoreError> {
        let objects = store.list()?;
        Ok(Self {
            objects: objects.len() as u64,
            stored_bytes: objects.iter().map(|o| o.size).sum(),
            quota_bytes: store.quota(),
            disk_room_bytes: store.disk_room_now()?,
            corrupt_objects: objects
                .iter()
                .filter(|o| o.state == node::store::State::Corrupt)
                .count() as u64,
        })
    }
}

/// Why the node did not start, for the UI, and whether only its store was still held.
struct StartFailure {
    error: String,
    store_in_use: bool,
}

/// The embedded node: its handle, the task that owns its swarm, its events, and its market's
/// standing as those events report it.
struct RunningNode {
    handle: node::Handle,
    task: JoinHandle<()>,
    /// Folds the node's events (transfers, activity, proofs, earnings) in a task of its own.
    recorder: Recorder,
    /// A selling node's standing as its announcements found it (provider, earnings read at
    /// start, why it is not announced yet); proofs and later earnings come from `recorder`.
    market: Option<MarketState>,
    /// A selling node's Registry announcements.
    announcer: Option<Announcer>,
    /// Proofs accepted when the earnings were last asked for: each new one grows them.
    proofs_seen: u64,
    /// Listen address changes when the node was last announced: each new one is announced.
    address_changes_seen: u64,
}

impl RunningNode {
    /// Starts the node and, when it sells storage, starts announcing it in the Registry
    /// (registering with the configured stake) and reading its earnings, off the loop (see
    /// [`crate::announce`]), its earnings anchored on `beacon`'s verified head when a beacon
    /// chain is followed. `Err` says why the node did not start, for the UI.
    async fn start(
        options: node::Options,
        stake: Option<u64>,
        rpc_url: String,
        beacon: Option<watch::Receiver<HeadState>>,
    ) -> Result<Self, StartFailure> {
        let market = options.market.clone();
        let activity_file = options.data_dir.join(crate::activity::FILE_NAME);
        let (handle, events, event_loop) =
            node::Node::start(options)
                .await
                .map_err(|err| StartFailure {
                    store_in_use: err.is_store_in_use(),
                    error: format!("the node could not start: {err}"),
                })?;
        tracing::info!(peer = %handle.peer_id(), "node started");
        let task = tokio::spawn(event_loop.run());
        let announcer = market.map(|market| Announcer::new(market, stake, rpc_url, beacon));
        let mut running = Self {
            handle,
            task,
            recorder: Recorder::spawn(events, Some(activity_file)),
            market: announcer.as_ref().map(|announcer| MarketState {
                provider: announcer.provider(),
                earnings: None,
                earnings_proof: None,
                earnings_error: None,
                payout: None,
                proofs_accepted: 0,
                proofs_rejected: 0,
                announce_error: None,
                refunds: None,
                bought: Vec::new(),
            }),
            announcer,
            proofs_seen: 0,
            address_changes_seen: 0,
        };
        running.drive_announcer();
        Ok(running)
    }

    /// Folds a finished announcement into the market's standing and starts the next one due;
    /// never waits (see [`crate::announce`]).
    fn drive_announcer(&mut self) {
        if let (Some(announcer), Some(state)) = (self.announcer.as_mut(), self.market.as_mut()) {
            // An accepted proof grew the earnings: verify them again.
            let accepted = self.recorder.proofs_accepted();
            if accepted != self.proofs_seen {
                self.proofs_seen = accepted;
                announcer.request();
            }
            // A listen address gained (a relay's circuit, once behind a NAT) or lost: buyers
            // finding the node in the Registry dial what it holds.
            let changes = self.recorder.address_changes();
            if changes != self.address_changes_seen {
                self.address_changes_seen = changes;
                announcer.request();
            }
            announcer.drive(&self.handle, state);
        }
    }

    /// Watches `deals` (bought for the node's files) with the earnings, if the node sells on a
    /// market (only then are its purchases deals).
    fn watch_bought(&mut self, deals: impl Iterator<Item = u64> + Clone) {
        if let Some(announcer) = self.announcer.as_mut() {
            announcer.set_bought(deals);
        }
    }

    /// Registers with `tokens` of stake from the next announcement on (started now, off the
    /// loop), if not registered yet.
    fn set_stake(&mut self, tokens: u64) {
        if let Some(announcer) = self.announcer.as_mut() {
            announcer.set_stake(tokens);
        }
        self.drive_announcer();
    }

    /// Anchors a selling node's earnings on `beacon`'s verified head from now on (`None`: the
    /// endpoint's latest block), and verifies them again: those shown were proven against the
    /// former anchor, so they are cleared until then.
    fn anchor_on(&mut self, beacon: Option<watch::Receiver<HeadState>>) {
        let Some(announcer) = self.announcer.as_mut() else {
            return;
        };
        announcer.anchor_on(beacon);
        if let Some(market) = self.market.as_mut() {
            market.earnings = None;
            market.earnings_proof = None;
            market.earnings_error = None;
        }
        self.drive_announcer();
    }

    /// Pays the earnings to the payout address, or the refunds to the node's account, from a
    /// task of its own, which answers `reply`.
    fn withdraw(&self, what: Payout, reply: oneshot::Sender<Result<Withdrawal, Error>>) {
        let Some(market) = self.announcer.as_ref().map(Announcer::market) else {
            let _ = reply.send(Err(Error::Withdraw(
                "this node does not sell storage on a market, so nothing is owed to it there: \
                 give it the contracts' deployment first (in the UI's Sell storage form, or \
                 --node-deployment-file)"
                    .into(),
            )));
            return;
        };
        tokio::spawn(async move {
            let paid = match what {
                Payout::Earnings => market
                    .withdraw_earnings_of(market.address())
                    .await
                    .map(|paid| (paid.amount, paid.payout, paid.transaction)),
                Payout::Refunds => market
                    .buyer()
                    .withdraw_refund()
                    .await
                    .map(|paid| (paid.amount, market.address(), paid.transaction)),
            };
            let result = paid
                .map(|(amount, payout, transaction)| {
                    tracing::info!(%amount, %payout, ?what, "withdrawn");
                    Withdrawal {
                        amount: amount.to_string(),
                        payout: payout.to_checksum(None),
                        transaction: transaction.to_string(),
                    }
                })
                .map_err(|err| Error::Withdraw(err.to_string()));
            let _ = reply.send(result);
        });
    }

    /// Announces the node again (its quota changed), off the loop.
    fn announce_again(&mut self) {
        if let Some(announcer) = self.announcer.as_mut() {
            announcer.request();
        }
        self.drive_announcer();
    }

    /// The node's state now: peers and addresses from its loop, objects from its store. `Err`
    /// (why) when the node's loop no longer answers.
    async fn state(&self) -> Result<NodeState, String> {
        let stopped = |err: node::NodeError| format!("the node stopped: {err}");
        let listen_addrs = self
            .handle
            .listen_addrs()
            .await
            .map_err(stopped)?
            .iter()
            .map(ToString::to_string)
            .collect();
        let peers = self.handle.peers().await.map_err(stopped)?;
        let counts = match self.handle.store().cloned() {
            None => StoreCounts::default(),
            Some(store) => {
                // The store blocks on disk: read it off the async threads.
                let read = tokio::task::spawn_blocking(move || StoreCounts::read(&store)).await;
                // On an error the node still runs; what its store holds is unknown until a read
                // succeeds, so the error is shown instead.
                match read {
                    Ok(Ok(counts)) => counts,
                    Ok(Err(err)) => {
                        let error = format!("the node's store cannot be read: {err}");
                        return Ok(NodeState::Failed { error });
                    }
                    Err(err) => {
                        let error = format!("reading the node's store failed: {err}");
                        return Ok(NodeState::Failed { error });
                    }
                }
            }
        };
        let folded = self.recorder.snapshot();
        let market = self.market.clone().map(|mut market| {
            market.proofs_accepted = folded.proofs_accepted;
            market.proofs_rejected = folded.proofs_rejected;
            market
        });
        Ok(NodeState::Running(Box::new(NodeInfo {
            peer_id: self.handle.peer_id().to_string(),
            listen_addrs,
            connected_peers: u32::try_from(peers.len()).unwrap_or(u32::MAX),
            objects: counts.objects,
            stored_bytes: counts.stored_bytes,
            quota_bytes: counts.quota_bytes,
            disk_room_bytes: counts.disk_room_bytes,
            corrupt_objects: counts.corrupt_objects,
            market,
            transfers: folded.transfers,
            activity: folded.activity,
            // Set by the loop, which knows.
            market_error: None,
            files: Vec::new(),
            files_error: None,
            reachability: folded.reachability,
            relay: folded.relay,
        })))
    }

    /// Shuts the node down and waits for its task.
    async fn stop(self) {
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

fn uptime(elapsed: Duration) -> u64 {
    elapsed.as_secs()
}
