//! The first screen: live status of the embedded runtime (the chain and, when it runs one, its
//! libp2p node).

use std::rc::Rc;

use leptos::prelude::*;
use protocol::api::{
    Activity, ActivityKind, ChainSettings, ChainState, DownloadFile, DownloadReady, EarningsAnchor,
    EarningsProof, EndpointSource, FetchFile, FetchedFile, FileInfo, ForgetFile, ForgotFile,
    LightClientSettings, LightClientState, MarketState, NodeState, Reachability, RelayServed,
    Repair, SetNodeMarket, Status, StoreFile, StoredFile, TransferInfo, Withdrawal,
};
use protocol::units::{format_bytes, format_utc};

use crate::backend::{Backend, BackendError};

/// The whole app.
#[allow(
    unreachable_pub,
    reason = "#[component] expands to a `pub` props struct"
)]
#[component]
pub(crate) fn App(backend: Rc<dyn Backend>) -> impl IntoView {
    let (status, set_status) = signal(None::<Status>);
    let (error, set_error) = signal(None::<String>);
    let sink = Rc::new(move |result: Result<Status, BackendError>| match result {
        Ok(fresh) => {
            set_status.set(Some(fresh));
            set_error.set(None);
        }
        Err(err) => set_error.set(Some(err.to_string())),
    });
    {
        let backend = Rc::clone(&backend);
        let sink = Rc::clone(&sink);
        leptos::task::spawn_local(async move {
            sink(backend.status().await);
            backend.watch_status(sink);
        });
    }
    let via = backend.name();
    let backend = StoredValue::new_local(backend);

    view! {
        <main>
            <header>
                <h1>"Cairn"</h1>
                <span class="via" id="backend">{via}</span>
            </header>
            <div class="grid">
                <Card label="Version" id="version" value=Signal::derive(move || status.get().map(|s| s.version))/>
                <Card label="Network" id="network" value=Signal::derive(move || status.get().map(|s| s.network))/>
                <Card label="Chain ID" id="chain-id" value=Signal::derive(move || status.get().and_then(|s| s.chain.chain_id()).map(|id| id.to_string()))/>
                <Card label="Latest block" id="latest-block" value=Signal::derive(move || status.get().and_then(|s| latest_block(&s.chain)).map(|b| b.to_string()))/>
                <Card label="Uptime" id="uptime" value=Signal::derive(move || status.get().map(|s| format_uptime(s.uptime_secs)))/>
                <div class="card">
                    <div class="label">"Chain"</div>
                    <div class="value">
                        <span id="chain-state" class=move || format!("pill {}", state_class(status.get().as_ref()))>
                            {move || state_class(status.get().as_ref())}
                        </span>
                    </div>
                    <div class="hint" id="chain-endpoint">{move || status.get().map(|s| format_endpoint(&s)).unwrap_or_default()}</div>
                </div>
            </div>
            <ChainSettingsForm status=status backend=backend set_status=set_status/>
            <LightClientSection light_client=Signal::derive(move || status.get().and_then(|s| s.light_client)) backend=backend set_status=set_status/>
            <Show when=move || error.get().is_some()>
                <div class="notice" id="error">{move || error.get().unwrap_or_default()}</div>
            </Show>
            <Show when=move || matches!(status.get().map(|s| s.chain), Some(ChainState::Unreachable { .. }))>
                <div class="notice" id="chain-error">
                    {move || match status.get().map(|s| s.chain) {
                        Some(ChainState::Unreachable { error, .. }) => error,
                        _ => String::new(),
                    }}
                </div>
            </Show>
            <Show when=move || status.get().is_some_and(|s| s.node != NodeState::Off)>
                <NodeSection node=Signal::derive(move || status.get().map(|s| s.node).unwrap_or_default()) backend=backend set_status=set_status/>
            </Show>
        </main>
    }
}

/// The form that sets the chain endpoint the runtime reads (and sells storage) through.
#[component]
fn ChainSettingsForm(
    status: ReadSignal<Option<Status>>,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
    set_status: WriteSignal<Option<Status>>,
) -> impl IntoView {
    let (rpc_url, set_rpc_url) = signal(String::new());
    let (network, set_network) = signal(String::new());
    let form = FormState::new(set_status);
    // Sends `settings` (`None`: the shell's endpoint, else the devnet's) and shows the status
    // after, or why not.
    let apply = move |settings: Option<ChainSettings>| {
        let resetting = settings.is_none();
        let backend = backend.get_value();
        form.send(
            async move { backend.set_chain(settings).await },
            move || {
                if !resetting {
                    set_rpc_url.set(String::new());
                    set_network.set(String::new());
                }
            },
        );
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match chain_settings(&rpc_url.get_untracked(), &network.get_untracked()) {
            Ok(settings) => apply(Some(settings)),
            Err(err) => form.message.set(Some(err)),
        }
    };
    let saved = move || {
        status.with(|status| {
            status
                .as_ref()
                .is_some_and(|s| s.rpc_source == EndpointSource::Saved)
        })
    };
    view! {
        <details class="card settings" id="chain-settings">
            <summary class="label">"Chain endpoint"</summary>
            <form class="quota" id="chain-form" on:submit=submit>
                <p class="hint">"The JSON-RPC endpoint the chain is read through, and storage sold on: your own Ethereum node's, or a provider's. It is asked for its chain id first; a node that sells storage stays on its chain. Kept across restarts, unless one is given at start."</p>
                {text_field("chain-rpc-url", "JSON-RPC endpoint", "https://rpc.example or http://127.0.0.1:8545", rpc_url, set_rpc_url)}
                {text_field("chain-network", "Network name (optional)", "empty: named after its chain id", network, set_network)}
                <div class="row">
                    <button id="chain-connect" type="submit" disabled=move || form.busy.get()>"Connect"</button>
                    <Show when=saved>
                        <button id="chain-default" class="secondary" type="button" disabled=move || form.busy.get() on:click=move |_| apply(None)>"Use the default"</button>
                    </Show>
                </div>
                {form.message_view("chain-settings-error")}
            </form>
        </details>
    }
}

/// The endpoint from the form's fields, or what is missing; the runtime checks the rest (a
/// URL, an endpoint that answers) and says what is wrong.
fn chain_settings(rpc_url: &str, network: &str) -> Result<ChainSettings, String> {
    let rpc_url = rpc_url.trim();
    if rpc_url.is_empty() {
        return Err(
            "give the chain's JSON-RPC endpoint, like https://rpc.example or \
             http://127.0.0.1:8545"
                .into(),
        );
    }
    Ok(ChainSettings {
        rpc_url: rpc_url.to_owned(),
        network: network.trim().to_owned(),
    })
}

/// `http://127.0.0.1:8545: the local devnet (the default)`, and where else it comes from.
fn format_endpoint(status: &Status) -> String {
    let source = match status.rpc_source {
        EndpointSource::Given => {
            "given at start (--rpc-url or CAIRN_RPC_URL), which wins at every start"
        }
        EndpointSource::Saved => "set here, kept across restarts",
        EndpointSource::Default => "the local devnet (the default)",
    };
    format!("{}: {source}", status.rpc_url)
}

/// A labelled one-line text input bound to `value`.
fn text_field(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    value: ReadSignal<String>,
    set: WriteSignal<String>,
) -> impl IntoView {
    text_field_with(id, label, placeholder, (value, set), ())
}

/// [`text_field`] with `beside` (a button) on the input's row.
fn text_field_with(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    (value, set): (ReadSignal<String>, WriteSignal<String>),
    beside: impl IntoView,
) -> impl IntoView {
    view! {
        <label class="label" for=id>{label}</label>
        <div class="row">
            <input id=id type="text" placeholder=placeholder prop:value=move || value.get() on:input=move |event| set.set(event_target_value(&event))/>
            {beside}
        </div>
    }
}

/// The light client: what it verified, and the form that sets the beacon chain it follows.
#[component]
fn LightClientSection(
    light_client: Signal<Option<LightClientState>>,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
    set_status: WriteSignal<Option<Status>>,
) -> impl IntoView {
    let (network, set_network) = signal(String::new());
    let (endpoints, set_endpoints) = signal(String::new());
    let (checkpoint, set_checkpoint) = signal(String::new());
    let form = FormState::new(set_status);
    // Sends `settings` (`None`: stop following) and shows the status after, or why not.
    let apply = move |settings: Option<LightClientSettings>| {
        let stopping = settings.is_none();
        let backend = backend.get_value();
        form.send(
            async move { backend.set_light_client(settings).await },
            move || {
                if !stopping {
                    set_network.set(String::new());
                    set_endpoints.set(String::new());
                    set_checkpoint.set(String::new());
                }
            },
        );
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match light_client_settings(
            &network.get_untracked(),
            &endpoints.get_untracked(),
            &checkpoint.get_untracked(),
        ) {
            Ok(settings) => apply(Some(settings)),
            Err(err) => form.message.set(Some(err)),
        }
    };
    view! {
        <Show when=move || light_client.with(Option::is_some)>
            <div class="card light-client">
                <div class="label">"Light client"</div>
                <div class="value" id="light-client">{move || light_client.get().map(|lc| format_light_client(&lc)).unwrap_or_default()}</div>
                <div class="hint" id="light-client-source">{move || light_client.get().map(|lc| format_light_client_source(&lc)).unwrap_or_default()}</div>
            </div>
        </Show>
        <details class="card settings" id="light-client-settings">
            <summary class="label">"Light client settings"</summary>
            <form class="quota" id="light-client-form" on:submit=submit>
                <p class="hint">"Follow a beacon chain with the light client: the node's earnings are then proven against a head this app verified itself, not against the chain endpoint's word. Kept across restarts."</p>
                {text_field("light-client-network", "Network", "mainnet, sepolia, hoodi, or a network file's path", network, set_network)}
                {text_field("light-client-endpoints", "Beacon API endpoints (comma-separated)", "https://beacon.example", endpoints, set_endpoints)}
                {text_field("light-client-checkpoint", "Trusted checkpoint: a finalized beacon block root", "0x and 64 hex digits", checkpoint, set_checkpoint)}
                <div class="row">
                    <button id="light-client-follow" type="submit" disabled=move || form.busy.get()>"Follow"</button>
                    <Show when=move || light_client.with(Option::is_some)>
                        <button id="light-client-stop" class="secondary" type="button" disabled=move || form.busy.get() on:click=move |_| apply(None)>"Stop following"</button>
                    </Show>
                </div>
                {form.message_view("light-client-settings-error")}
            </form>
        </details>
    }
}

/// The light client's settings from the form's fields, or what is missing. The runtime checks
/// the rest (a known network, URLs, a block root) and says what is wrong.
fn light_client_settings(
    network: &str,
    endpoints: &str,
    checkpoint: &str,
) -> Result<LightClientSettings, String> {
    let endpoints: Vec<String> = endpoints
        .split([',', ' ', '\n', '\t'])
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if endpoints.is_empty() {
        return Err(
            "give at least one beacon API endpoint, like https://beacon.example (several, \
             comma-separated, are cross-checked)"
                .into(),
        );
    }
    let checkpoint = checkpoint.trim();
    if checkpoint.is_empty() {
        return Err(
            "give the trusted checkpoint: a finalized beacon block root (0x and 64 hex digits) \
             from a source you trust, such as a checkpoint-sync provider"
                .into(),
        );
    }
    let network = network.trim();
    Ok(LightClientSettings {
        network: if network.is_empty() {
            "mainnet"
        } else {
            network
        }
        .to_owned(),
        endpoints,
        checkpoint: checkpoint.to_owned(),
    })
}

/// `through https://a.example, https://b.example; trusted checkpoint 0x5afc…9275`.
fn format_light_client_source(state: &LightClientState) -> String {
    format!(
        "through {}; trusted checkpoint {}",
        state.endpoints.join(", "),
        short(&state.checkpoint)
    )
}

/// The embedded node: state, identity, peers, storage and addresses.
#[component]
fn NodeSection(
    node: Signal<NodeState>,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
    set_status: WriteSignal<Option<Status>>,
) -> impl IntoView {
    // Signal reads clone the state; a node's values are small.
    let running = move || node.with(|state| state.running().cloned());
    let corrupt = move || running().map_or(0, |info| info.corrupt_objects);
    let market = move || running().and_then(|info| info.market);
    let announce_error = move || market().and_then(|m| m.announce_error);
    let earnings_error = move || market().and_then(|m| m.earnings_error);
    let transfers = move || running().map(|info| info.transfers).unwrap_or_default();
    let activity = move || running().map(|info| info.activity).unwrap_or_default();
    view! {
        <section id="node">
            <h2>"Storage node"</h2>
            <div class="grid">
                <div class="card">
                    <div class="label">"Node"</div>
                    <div class="value">
                        <span id="node-state" class=move || format!("pill {}", node_class(&node.get()))>
                            {move || node_class(&node.get())}
                        </span>
                    </div>
                </div>
                <Card label="Peer ID" id="node-peer-id" value=Signal::derive(move || running().map(|info| info.peer_id))/>
                <Card label="Connected peers" id="node-peers" value=Signal::derive(move || running().map(|info| info.connected_peers.to_string()))/>
                <Card label="Reachable by other nodes" id="node-reachable" value=Signal::derive(move || running().map(|info| format_reachability(&info.reachability, &info.listen_addrs)))/>
                <Card label="Relay for nodes behind NATs" id="node-relay" value=Signal::derive(move || running().map(|info| format_relay(info.relay).to_owned()))/>
                <Card label="Stored" id="node-stored" value=Signal::derive(move || running().map(|info| format_stored(info.objects, info.stored_bytes, info.quota_bytes, info.disk_room_bytes)))/>
                <Show when=move || market().is_some()>
                    <HintCard label="Earnings (unwithdrawn, verified)" id="node-earnings" value=Signal::derive(move || market().map(|m| m.earnings.map_or_else(|| "not verified yet".into(), |e| format_tokens(&e)))) hint_id="node-earnings-proof" hint=Signal::derive(move || market().and_then(|m| m.earnings_proof).map(|p| format_earnings_proof(&p)))/>
                    <Card label="Proofs" id="node-proofs" value=Signal::derive(move || market().map(|m| format_proofs(&m)))/>
                    <Card label="Provider address" id="node-provider" value=Signal::derive(move || market().map(|m| m.provider))/>
                    <Card label="Earnings paid to" id="node-payout" value=Signal::derive(move || market().map(|m| m.payout.unwrap_or_else(|| "not registered yet".into())))/>
                </Show>
            </div>
            <Show when=move || corrupt() != 0>
                <div class="notice" id="node-corrupt">
                    {move || format!("{} stored object(s) found corrupt on disk: no longer served, and their next proofs fail on chain", corrupt())}
                </div>
            </Show>
            <Withdraw market=Signal::derive(market) backend=backend/>
            <Show when=move || earnings_error().is_some()>
                <div class="notice" id="node-earnings-error">{move || earnings_error().unwrap_or_default()}</div>
            </Show>
            <Show when=move || announce_error().is_some()>
                <div class="notice" id="node-announce-error">{move || announce_error().unwrap_or_default()}</div>
            </Show>
            <ListCard label="Listening on" id="node-addrs" items=Signal::derive(move || running().map(|info| info.listen_addrs).unwrap_or_default())/>
            <ListCard label="Transfers under way" id="node-transfers" items=Signal::derive(move || transfers().iter().map(format_transfer).collect())/>
            <ListCard label="Recent activity" id="node-activity" items=Signal::derive(move || activity().iter().map(format_activity).collect())/>
            <SettingForm setting=Setting::Quota backend=backend set_status=set_status/>
            <Show when=move || running().is_some()>
                <Files
                    files=Signal::derive(move || running().map(|info| info.files).unwrap_or_default())
                    files_error=Signal::derive(move || running().and_then(|info| info.files_error))
                    market=Signal::derive(market)
                    backend=backend/>
            </Show>
            <Show when=move || running().and_then(|info| info.market_error).is_some()>
                <div class="notice" id="node-market-error">{move || running().and_then(|info| info.market_error).unwrap_or_default()}</div>
            </Show>
            <Show when=move || running().is_some() && market().is_none()>
                <SellForm backend=backend set_status=set_status/>
            </Show>
            <Show when=move || market().is_some_and(|m| m.payout.is_none())>
                <SettingForm setting=Setting::Stake backend=backend set_status=set_status/>
            </Show>
            <Show when=move || matches!(node.get(), NodeState::Failed { .. })>
                <div class="notice" id="node-error">
                    {move || match node.get() {
                        NodeState::Failed { error } => error,
                        _ => String::new(),
                    }}
                </div>
            </Show>
        </section>
    }
}

/// Has a node that does not sell storage start selling it: the contracts' deployment file and,
/// optionally, the address the earnings are paid to.
#[component]
fn SellForm(
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
    set_status: WriteSignal<Option<Status>>,
) -> impl IntoView {
    let (deployment, set_deployment) = signal(String::new());
    let (payout, set_payout) = signal(String::new());
    let form = FormState::new(set_status);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match market_request(&deployment.get_untracked(), &payout.get_untracked()) {
            Ok(request) => {
                let backend = backend.get_value();
                form.send(async move { backend.set_node_market(request).await }, || ());
            }
            Err(err) => form.message.set(Some(err)),
        }
    };
    view! {
        <form class="card quota" id="node-market-form" on:submit=submit>
            <div class="label">"Sell storage on chain"</div>
            <p class="hint">"Buyers pay for the disk offered above through Cairn's contracts; the node signs with a key of its own, kept in the data directory. Kept across restarts."</p>
            <label class="label" for="node-market-deployment">"The contracts' deployment file"</label>
            <div class="row">
                <input id="node-market-deployment" type="text" placeholder="e.g. the file cairn devnet --deployment-file wrote" prop:value=move || deployment.get() on:input=move |event| set_deployment.set(event_target_value(&event))/>
            </div>
            <label class="label" for="node-market-payout">"Pay the earnings to (optional; default: the node's own address)"</label>
            <div class="row">
                <input id="node-market-payout" type="text" placeholder="0x and 40 hex digits, e.g. your wallet" prop:value=move || payout.get() on:input=move |event| set_payout.set(event_target_value(&event))/>
                <button id="node-market-set" type="submit" disabled=move || form.busy.get()>"Start selling"</button>
            </div>
            {form.message_view("node-market-set-error")}
        </form>
    }
}

/// The market request from the form's fields, or what is missing; the runtime checks the file
/// and the address.
fn market_request(deployment: &str, payout: &str) -> Result<SetNodeMarket, String> {
    let deployment = deployment.trim();
    if deployment.is_empty() {
        return Err(
            "give the path of the contracts' deployment file (cairn devnet --deployment-file \
             writes one)"
                .into(),
        );
    }
    let payout = payout.trim();
    Ok(SetNodeMarket {
        deployment_file: deployment.to_owned(),
        payout: (!payout.is_empty()).then(|| payout.to_owned()),
    })
}

/// Pays a selling node's earnings to its payout address: a button while there are some, and
/// what was paid (or why not) after.
#[component]
fn Withdraw(
    market: Signal<Option<MarketState>>,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
) -> impl IntoView {
    let action = Action::new();
    let owed = move || {
        market
            .get()
            .and_then(|m| Some((m.earnings.filter(|e| e != "0")?, m.payout?)))
    };
    let withdraw = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let backend = backend.get_value();
        action.run(async move {
            let paid = backend.withdraw_earnings().await?;
            Ok(format_withdrawal(&paid))
        });
    };
    view! {
        <Show when=move || owed().is_some()>
            <form class="card quota" id="node-withdraw-form" on:submit=withdraw>
                <div class="label">"Withdraw the earnings to the payout address"</div>
                <div class="row">
                    <span class="owed" id="node-withdraw-owed">{move || owed().map(|(earnings, payout)| format!("{} to {payout}", format_tokens(&earnings))).unwrap_or_default()}</span>
                    <button id="node-withdraw" type="submit" disabled=move || action.busy.get()>"Withdraw"</button>
                </div>
            </form>
        </Show>
        {action.outcome_view("node-withdrawn", "node-withdraw-error")}
    }
}

/// An action the user starts (a withdrawal, storing or fetching a file): busy while it runs,
/// then what it did or why it failed.
#[derive(Clone, Copy)]
struct Action {
    busy: RwSignal<bool>,
    outcome: RwSignal<Option<Result<String, String>>>,
}

impl Action {
    fn new() -> Self {
        Self {
            busy: RwSignal::new(false),
            outcome: RwSignal::new(None),
        }
    }

    /// Runs `work`; what it answers (a line saying what was done) or its error is shown.
    fn run(self, work: impl std::future::Future<Output = Result<String, BackendError>> + 'static) {
        self.busy.set(true);
        self.outcome.set(None);
        leptos::task::spawn_local(async move {
            self.outcome
                .set(Some(work.await.map_err(|err| err.to_string())));
            self.busy.set(false);
        });
    }

    /// Shows what was said why: what was done with the element id `done_id`, an error with
    /// `error_id`.
    fn outcome_view(self, done_id: &'static str, error_id: &'static str) -> impl IntoView {
        let outcome = self.outcome;
        view! {
            <Show when=move || matches!(outcome.get(), Some(Ok(_)))>
                <div class="card hint" id=done_id>{move || outcome.get().and_then(Result::ok).unwrap_or_default()}</div>
            </Show>
            <Show when=move || matches!(outcome.get(), Some(Err(_)))>
                <div class="notice" id=error_id>{move || outcome.get().and_then(Result::err).unwrap_or_default()}</div>
            </Show>
        }
    }
}

/// The files this client stored on the network: the list, and the forms storing a file and
/// fetching one back.
#[component]
fn Files(
    files: Signal<Vec<FileInfo>>,
    files_error: Signal<Option<String>>,
    market: Signal<Option<MarketState>>,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
) -> impl IntoView {
    let selling = move || market.with(Option::is_some);
    let refunds = move || {
        market
            .get()
            .and_then(|m| m.refunds)
            .filter(|owed| owed != "0")
    };
    let refunding = Action::new();
    let withdraw_refunds = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let backend = backend.get_value();
        refunding.run(async move {
            let paid = backend.withdraw_refunds().await?;
            Ok(format_withdrawal(&paid))
        });
    };
    let (path, set_path) = signal(String::new());
    let (copies, set_copies) = signal("2".to_owned());
    let (keep, set_keep) = signal(String::new());
    let (id, set_id) = signal(String::new());
    let (output, set_output) = signal(String::new());
    let storing = Action::new();
    let fetching = Action::new();
    let downloading = Action::new();
    let forgetting = Action::new();
    // The daemon's page stores files picked in the browser, and downloads them back there.
    let browser_files = backend.with_value(|backend| backend.browser_files());
    let picker = NodeRef::<leptos::html::Input>::new();
    // The app's window picks files, and where fetched ones go, in the system's dialogs.
    let file_dialogs = backend.with_value(|backend| backend.file_dialogs());
    let choose_file = move |_| {
        let backend = backend.get_value();
        leptos::task::spawn_local(async move {
            match backend.pick_file().await {
                Ok(Some(picked)) => set_path.set(picked),
                Ok(None) => {}
                Err(err) => storing.outcome.set(Some(Err(err.to_string()))),
            }
        });
    };
    let choose_output = move |_| {
        let backend = backend.get_value();
        // The dialog starts from the name of the file being fetched, when it is listed.
        let wanted = id.get_untracked();
        let name = files
            .get_untracked()
            .into_iter()
            .find(|file| file.id == wanted.trim())
            .map(|file| file.name)
            .unwrap_or_default();
        leptos::task::spawn_local(async move {
            match backend.pick_save_file(name).await {
                Ok(Some(picked)) => set_output.set(picked),
                Ok(None) => {}
                Err(err) => fetching.outcome.set(Some(Err(err.to_string()))),
            }
        });
    };
    // A file picked in the browser, while it is sent: its name, the bytes sent, its size.
    let sending = RwSignal::new(None::<(String, u64, u64)>);
    // The file whose "Forget…" was pressed, until it is forgotten or kept.
    let to_forget = RwSignal::new(None::<FileInfo>);
    let forget = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(file) = to_forget.get_untracked() else {
            return;
        };
        let backend = backend.get_value();
        forgetting.run(async move {
            let forgot = backend.forget_file(ForgetFile { id: file.id }).await?;
            to_forget.set(None);
            Ok(format_forgot_file(&forgot))
        });
    };
    let store = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let backend = backend.get_value();
        let picked = picker
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        if let Some(file) = picked {
            let wanted = parse_copies(&copies.get_untracked())
                .and_then(|copies| Ok((copies, parse_keep_until(&keep.get_untracked())?)));
            let (copies, keep_until) = match wanted {
                Ok(wanted) => wanted,
                Err(err) => {
                    storing.outcome.set(Some(Err(err)));
                    return;
                }
            };
            let name = file.name();
            let progress = std::rc::Rc::new(move |sent: u64, total: u64| {
                sending.set(Some((name.clone(), sent, total)));
            });
            storing.run(async move {
                let stored = backend
                    .upload_file(file, (copies, keep_until), progress)
                    .await;
                sending.set(None);
                let stored = stored?;
                if let Some(input) = picker.get_untracked() {
                    input.set_value("");
                }
                Ok(format_stored_file(&stored))
            });
            return;
        }
        let request = match store_request(
            &path.get_untracked(),
            &copies.get_untracked(),
            &keep.get_untracked(),
        ) {
            Ok(request) => request,
            Err(_) if browser_files && path.get_untracked().trim().is_empty() => {
                storing.outcome.set(Some(Err(
                    "pick a file to store, or give the path of one on the daemon's machine".into(),
                )));
                return;
            }
            Err(err) => {
                storing.outcome.set(Some(Err(err)));
                return;
            }
        };
        storing.run(async move {
            let stored = backend.store_file(request).await?;
            set_path.set(String::new());
            Ok(format_stored_file(&stored))
        });
    };
    let fetch = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = FetchFile {
            id: id.get_untracked().trim().to_owned(),
            output: output.get_untracked().trim().to_owned(),
        };
        let backend = backend.get_value();
        fetching.run(async move {
            let fetched = backend.fetch_file(request).await?;
            Ok(format_fetched_file(&fetched))
        });
    };
    view! {
        <section class="card files" id="files">
            <div class="label">"Your files on the network"</div>
            <p class="hint">{move || if selling() {
                "Stored on other providers, each copy under its own deal, paid by this node's chain key; every byte fetched back is verified."
            } else {
                "Stored on other providers; every byte fetched back is verified."
            }}</p>
            <ul id="node-files">
                {move || files.get().into_iter().map(|file| {
                    let pick = file.id.clone();
                    let line = format_file(&file);
                    let download = browser_files.then(|| {
                        let id = file.id.clone();
                        view! {
                            " "
                            <button class="secondary download" type="button" disabled=move || downloading.busy.get() on:click=move |_| {
                                let backend = backend.get_value();
                                let request = DownloadFile { id: id.clone() };
                                downloading.run(async move {
                                    let ready = backend.download_file(request).await?;
                                    Ok(format_download(&ready))
                                });
                            }>"Download"</button>
                        }
                    });
                    view! {
                        <li>
                            <span>{line}</span>
                            {download}
                            " "
                            <button class="secondary fetch" type="button" on:click=move |_| set_id.set(pick.clone())>"Fetch…"</button>
                            " "
                            <button class="secondary forget" type="button" on:click=move |_| {
                                forgetting.outcome.set(None);
                                to_forget.set(Some(file.clone()));
                            }>"Forget…"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <Show when=move || files_error.with(Option::is_some)>
                <div class="notice" id="node-files-error">{move || files_error.get().unwrap_or_default()}</div>
            </Show>
            <Show when=move || refunds().is_some()>
                <form class="quota" id="node-refunds-form" on:submit=withdraw_refunds>
                    <div class="row">
                        <span class="owed" id="node-refunds">{move || refunds().map(|owed| format!("{} refunded to this node: periods its providers missed, deals it ended", format_tokens(&owed))).unwrap_or_default()}</span>
                        <button id="node-withdraw-refunds" type="submit" disabled=move || refunding.busy.get()>"Withdraw refunds"</button>
                    </div>
                </form>
            </Show>
            {refunding.outcome_view("node-refunds-withdrawn", "node-refunds-error")}
            {downloading.outcome_view("node-downloaded-file", "node-download-error")}
            <form class="quota" id="node-store-form" on:submit=store>
                {browser_files.then(|| view! {
                    <label class="label" for="node-store-pick">"Store a file from this computer"</label>
                    <div class="row">
                        <input id="node-store-pick" type="file" node_ref=picker/>
                    </div>
                })}
                {text_field_with(
                    "node-store-path",
                    if browser_files { "…or by its path on the daemon's machine" } else { "Store a file: its path" },
                    if browser_files { "/srv/data/photo.jpg" } else { "/home/me/photo.jpg" },
                    (path, set_path),
                    file_dialogs.then(|| view! {
                        <button class="secondary" id="node-store-choose" type="button" on:click=choose_file>"Choose a file…"</button>
                    }),
                )}
                {text_field("node-store-copies", "Copies, on as many providers", "2", copies, set_copies)}
                <label class="label" for="node-store-keep">"Keep until (UTC; empty: while it is listed)"</label>
                <div class="row">
                    <input id="node-store-keep" type="date" prop:value=move || keep.get() on:input=move |event| set_keep.set(event_target_value(&event))/>
                </div>
                <div class="row">
                    <button id="node-store" type="submit" disabled=move || storing.busy.get()>"Store"</button>
                </div>
            </form>
            <Show when=move || sending.with(Option::is_some)>
                <div class="card hint" id="node-store-progress">{move || sending.get().map(|(name, sent, total)| format_sending(&name, sent, total)).unwrap_or_default()}</div>
            </Show>
            {storing.outcome_view("node-stored-file", "node-store-error")}
            <form class="quota" id="node-fetch-form" on:submit=fetch>
                {text_field("node-fetch-id", "Fetch a file back: its content id", "64 hex digits, or pick one above", id, set_id)}
                {text_field_with(
                    "node-fetch-output",
                    "Save it as (a new file)",
                    "/home/me/photo-copy.jpg",
                    (output, set_output),
                    file_dialogs.then(|| view! {
                        <button class="secondary" id="node-fetch-choose" type="button" on:click=choose_output>"Choose where…"</button>
                    }),
                )}
                <div class="row">
                    <button id="node-fetch" type="submit" disabled=move || fetching.busy.get()>"Fetch"</button>
                </div>
            </form>
            {fetching.outcome_view("node-fetched-file", "node-fetch-error")}
            <Show when=move || to_forget.with(Option::is_some)>
                <form class="quota" id="node-forget-form" on:submit=forget>
                    <p class="hint" id="node-forget-what">{move || to_forget.get().map(|file| forget_question(&file)).unwrap_or_default()}</p>
                    <div class="row">
                        <button id="node-forget" type="submit" disabled=move || forgetting.busy.get()>"Forget"</button>
                        <button class="secondary" id="node-forget-cancel" type="button" on:click=move |_| to_forget.set(None)>"Keep it"</button>
                    </div>
                </form>
            </Show>
            {forgetting.outcome_view("node-forgot-file", "node-forget-error")}
        </section>
    }
}

/// The store request from the form's fields, or what is wrong with them; the runtime checks
/// the path, and that the date is to come.
fn store_request(path: &str, copies: &str, keep: &str) -> Result<StoreFile, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("give the path of the file to store".into());
    }
    Ok(StoreFile {
        path: path.to_owned(),
        copies: parse_copies(copies)?,
        keep_until: parse_keep_until(keep)?,
    })
}

/// The end of the day `date` (`YYYY-MM-DD`, as a date field gives it) names, UTC, in Unix
/// seconds; `None` when it is empty (kept while listed).
fn parse_keep_until(date: &str) -> Result<Option<u64>, String> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    let wrong = || {
        format!(
            "{date:?}: give the last day to keep the file as YYYY-MM-DD, or leave it empty to keep it while it is listed"
        )
    };
    let mut parts = date.splitn(3, '-').map(str::parse::<u64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(wrong());
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return Err(wrong()),
    };
    if !(1970..=9999).contains(&year) || !(1..=days_in_month).contains(&day) {
        return Err(wrong());
    }
    // Howard Hinnant's days-from-civil, the inverse of `format_utc`'s.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(Some((days + 1) * 86_400))
}

/// The copies typed in the store form, or what is wrong with them.
fn parse_copies(copies: &str) -> Result<u32, String> {
    match copies.trim().parse::<u32>() {
        Ok(copies) if copies >= 1 => Ok(copies),
        _ => Err(format!(
            "{:?} copies: give a whole number, 1 or more",
            copies.trim()
        )),
    }
}

/// `photo.jpg: 1.5 MiB, 2 copies, paid until 2026-12-06 02:00 UTC; 3 of 48 periods proven,
/// 1 missed (refunded); 1 copy moved to another provider (deal 1 by 3) (5dd2…27cd)`, then
/// what is being done about a copy whose provider missed a proof.
fn format_file(file: &FileInfo) -> String {
    let copies = file.holders.len();
    let paid = file
        .paid_until
        .map(|end| format!(", paid until {}", format_utc(end)))
        .unwrap_or_default();
    let paid = match file.keep_until {
        Some(until) => format!("{paid}, kept until {}", format_utc(until)),
        None => paid,
    };
    let proven = if file.periods == 0 {
        String::new()
    } else {
        let missed = match file.missed_periods {
            0 => String::new(),
            missed => format!(", {missed} missed (refunded)"),
        };
        format!(
            "; {} of {} periods proven{missed}",
            file.proven_periods, file.periods
        )
    };
    let (renewed, missed): (Vec<_>, Vec<_>) = file.replaced.iter().partition(|r| r.renewed);
    let mut replaced = match missed.len() {
        0 => String::new(),
        count => format!(
            "; {count} {} moved to another provider ({})",
            if count == 1 { "copy" } else { "copies" },
            missed
                .iter()
                .map(|r| {
                    // A copy the new provider fetched itself sent nothing from this device.
                    let from = if r.pulled {
                        " copied from a holder"
                    } else {
                        ""
                    };
                    format!("deal {} by {}{from}", r.deal, r.by_deal)
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    match renewed.as_slice() {
        [] => {}
        [once] => replaced.push_str(&format!(
            "; renewed (deal {} by {})",
            once.deal, once.by_deal
        )),
        [.., last] => replaced.push_str(&format!(
            "; renewed {} times (last: deal {} by {})",
            renewed.len(),
            last.deal,
            last.by_deal
        )),
    }
    let why = |renewal: bool| {
        if renewal {
            "its deal is ending"
        } else {
            "its provider missed a proof"
        }
    };
    let repair = match &file.repair {
        None => String::new(),
        Some(Repair::Replacing { deal, renewal }) => format!(
            "; buying the copy under deal {deal} again ({})…",
            why(*renewal)
        ),
        Some(Repair::Failed {
            deal,
            renewal,
            error,
            retry_at,
        }) => format!(
            "; the copy under deal {deal} ({}) could not be bought again yet: {error}; next try \
             at {}",
            why(*renewal),
            format_utc(*retry_at)
        ),
    };
    format!(
        "{}: {}, {copies} {}{paid}{proven}{replaced} ({}){repair}",
        file.name,
        format_bytes(file.size),
        if copies == 1 { "copy" } else { "copies" },
        short(&file.id)
    )
}

/// `stored photo.jpg (1.5 MiB) on 2 providers under deals 3, 4; content id 5dd2…`.
fn format_stored_file(stored: &StoredFile) -> String {
    let deals = if stored.file.deals.is_empty() {
        String::new()
    } else {
        format!(" under {}", name_deals(&stored.file.deals))
    };
    let providers = stored.file.holders.len();
    format!(
        "stored {} ({}) on {providers} {}{deals}; content id {}",
        stored.file.name,
        format_bytes(stored.file.size),
        if providers == 1 {
            "provider"
        } else {
            "providers"
        },
        stored.file.id
    )
}

/// What forgetting `file` does, asked before it is done.
fn forget_question(file: &FileInfo) -> String {
    let deals = match file.deals.len() {
        0 => "its providers keep it as long as they choose".to_owned(),
        one_or_more => {
            let (is, providers) = if one_or_more == 1 {
                ("is", "provider")
            } else {
                ("are", "providers")
            };
            format!(
                "its {} {is} ended now, the periods not yet started refunded; its {providers} \
                 may delete it a day later",
                name_deals(&file.deals)
            )
        }
    };
    format!(
        "Forget {}? It leaves this list and is no longer kept or renewed; {deals}.",
        file.name
    )
}

/// `forgot photo.jpg: deals 3, 4 ended, 0.02 CAIRN refunded to this node`.
fn format_forgot_file(forgot: &ForgotFile) -> String {
    let mut line = format!("forgot {}", forgot.name);
    if !forgot.ended.is_empty() {
        line.push_str(&format!(
            ": {} ended, {} refunded to this node",
            name_deals(&forgot.ended),
            format_tokens(&forgot.refunded)
        ));
    }
    if !forgot.not_ended.is_empty() {
        line.push_str(&format!(
            "; not ended (they run to their end): {}",
            forgot.not_ended.join("; ")
        ));
    }
    line
}

fn join_deals(deals: &[u64]) -> String {
    deals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `deal 3`, or `deals 3, 4`.
fn name_deals(deals: &[u64]) -> String {
    match deals {
        [deal] => format!("deal {deal}"),
        deals => format!("deals {}", join_deals(deals)),
    }
}

/// `fetched 1.5 MiB to /home/me/copy.jpg, every chunk verified, from 2 holders`.
fn format_fetched_file(fetched: &FetchedFile) -> String {
    let holders = fetched.holders.len();
    format!(
        "fetched {} to {}, every chunk verified, from {holders} {}",
        format_bytes(fetched.bytes),
        fetched.output,
        if holders == 1 { "holder" } else { "holders" }
    )
}

/// `sending notes.bin to the daemon: 45% (120 MiB of 266.7 MiB)`, then, once all is sent,
/// `storing notes.bin on the network…` while the daemon stores it.
fn format_sending(name: &str, sent: u64, total: u64) -> String {
    if sent < total {
        format!(
            "sending {name} to the daemon: {}% ({} of {})",
            sent.saturating_mul(100) / total,
            format_bytes(sent),
            format_bytes(total)
        )
    } else {
        format!("storing {name} on the network…")
    }
}

/// `downloading notes.bin (292.9 KiB), every chunk verified, from 2 holders`: the browser saves
/// it from the link.
fn format_download(ready: &DownloadReady) -> String {
    let holders = ready.holders.len();
    format!(
        "downloading {} ({}), every chunk verified, from {holders} {}; the link lasts {} minutes",
        ready.name,
        format_bytes(ready.bytes),
        if holders == 1 { "holder" } else { "holders" },
        ready.expires_in / 60
    )
}

/// `withdrew 0.01 CAIRN to 0x7099…79C8 (transaction 0x1a2b3c…9d0e)`.
fn format_withdrawal(paid: &Withdrawal) -> String {
    format!(
        "withdrew {} to {} (transaction {})",
        format_tokens(&paid.amount),
        paid.payout,
        short(&paid.transaction)
    )
}

/// A node setting the user types into a form of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// The disk offered to buyers.
    Quota,
    /// The stake a selling node registers with.
    Stake,
}

impl Setting {
    /// The ids of the form, its input, its button and its error line.
    fn ids(self) -> [&'static str; 4] {
        match self {
            Self::Quota => [
                "node-quota-form",
                "node-quota-input",
                "node-quota-set",
                "node-quota-error",
            ],
            Self::Stake => [
                "node-stake-form",
                "node-stake-input",
                "node-stake-set",
                "node-stake-error",
            ],
        }
    }

    /// The label, the input's placeholder and the button's text.
    fn words(self) -> [&'static str; 3] {
        match self {
            Self::Quota => [
                "Disk offered to buyers (kept across restarts)",
                "e.g. 10GiB",
                "Set quota",
            ],
            Self::Stake => [
                "Register in the Registry: CAIRN to lock as stake",
                "e.g. 200",
                "Register",
            ],
        }
    }

    /// The value typed, or why it is not one.
    fn parse(self, text: &str) -> Result<u64, String> {
        match self {
            Self::Quota => protocol::units::parse_size(text),
            Self::Stake => parse_tokens(text),
        }
    }

    /// Sets `value` through `backend`: the status after.
    async fn apply(self, backend: Rc<dyn Backend>, value: u64) -> Result<Status, BackendError> {
        match self {
            Self::Quota => backend.set_node_quota(value).await,
            Self::Stake => backend.set_node_stake(value).await,
        }
    }
}

/// A form for one node [`Setting`]: a value that does not parse, or that the backend refuses,
/// is explained under it.
#[component]
fn SettingForm(
    setting: Setting,
    backend: StoredValue<Rc<dyn Backend>, LocalStorage>,
    set_status: WriteSignal<Option<Status>>,
) -> impl IntoView {
    let (input, set_input) = signal(String::new());
    let form = FormState::new(set_status);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match setting.parse(&input.get_untracked()) {
            Ok(value) => {
                let backend = backend.get_value();
                form.send(setting.apply(backend, value), move || {
                    set_input.set(String::new());
                });
            }
            Err(err) => form.message.set(Some(err)),
        }
    };
    let [form_id, input_id, button_id, error_id] = setting.ids();
    let [label, placeholder, button] = setting.words();
    view! {
        <form class="card quota" id=form_id on:submit=submit>
            <label class="label" for=input_id>{label}</label>
            <div class="row">
                <input id=input_id type="text" placeholder=placeholder prop:value=move || input.get() on:input=move |event| set_input.set(event_target_value(&event))/>
                <button id=button_id type="submit" disabled=move || form.busy.get()>{button}</button>
            </div>
            {form.message_view(error_id)}
        </form>
    }
}

/// What a form that changes a setting shows while its request runs and after: the button is
/// disabled while `busy`, and `message` says why the value was not taken.
#[derive(Clone, Copy)]
struct FormState {
    message: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    set_status: WriteSignal<Option<Status>>,
}

impl FormState {
    fn new(set_status: WriteSignal<Option<Status>>) -> Self {
        Self {
            message: RwSignal::new(None),
            busy: RwSignal::new(false),
            set_status,
        }
    }

    /// Runs `request`: the status it answers is shown and `done` called, or its error is.
    fn send(
        self,
        request: impl std::future::Future<Output = Result<Status, BackendError>> + 'static,
        done: impl FnOnce() + 'static,
    ) {
        self.busy.set(true);
        self.message.set(None);
        leptos::task::spawn_local(async move {
            match request.await {
                Ok(status) => {
                    self.set_status.set(Some(status));
                    done();
                }
                Err(err) => self.message.set(Some(err.to_string())),
            }
            self.busy.set(false);
        });
    }

    /// The form's error line, with the element id `id`, while there is one.
    fn message_view(self, id: &'static str) -> impl IntoView {
        view! {
            <Show when=move || self.message.with(Option::is_some)>
                <div class="notice" id=id>{move || self.message.get().unwrap_or_default()}</div>
            </Show>
        }
    }
}

/// A stake typed by the user: a whole number of CAIRN, `200` or `1,000`.
fn parse_tokens(text: &str) -> Result<u64, String> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    match digits.parse::<u64>() {
        Ok(0) => Err("a stake of 0 registers nothing; give the Registry's minimum or more".into()),
        Ok(tokens) => Ok(tokens),
        Err(_) => Err(format!(
            "{:?} is not a whole number of CAIRN; type one like 200",
            text.trim()
        )),
    }
}

fn node_class(node: &NodeState) -> &'static str {
    match node {
        NodeState::Running(_) => "running",
        NodeState::Starting => "starting",
        NodeState::Failed { .. } => "failed",
        NodeState::Off => "off",
    }
}

/// `3 objects, 1.5 MiB of 10 GiB`, and what the disk allows when that is less than the quota
/// leaves. A node with no quota stores nothing new, but may still hold (serve and prove) what it
/// stored before.
pub(crate) fn format_stored(
    objects: u64,
    bytes: u64,
    quota: u64,
    disk_room: Option<u64>,
) -> String {
    let noun = if objects == 1 { "object" } else { "objects" };
    if quota == 0 {
        if objects == 0 {
            return "no quota (stores nothing)".into();
        }
        return format!(
            "{objects} {noun}, {} held; quota 0: accepts nothing new",
            format_bytes(bytes)
        );
    }
    let stored = format!(
        "{objects} {noun}, {} of {}",
        format_bytes(bytes),
        format_bytes(quota)
    );
    match disk_room {
        Some(room) if room < quota.saturating_sub(bytes) => format!(
            "{stored}; the disk has room for only {} more",
            format_bytes(room)
        ),
        _ => stored,
    }
}

/// `2 accepted, 1 rejected`, as counted since the node started.
fn format_proofs(market: &MarketState) -> String {
    format!(
        "{} accepted, {} rejected",
        market.proofs_accepted, market.proofs_rejected
    )
}

/// `proven at block 1234 against its header; the block is the endpoint's latest, not checked
/// against a beacon chain`, or, anchored on the light client's head, `proven at block 1234,
/// which the light client verified the beacon chain signed (slot 5678)`.
fn format_earnings_proof(proof: &EarningsProof) -> String {
    match proof.anchor {
        EarningsAnchor::Endpoint => format!(
            "proven at block {} against its header; the block is the endpoint's latest, not \
             checked against a beacon chain",
            proof.block
        ),
        EarningsAnchor::Beacon { slot } => format!(
            "proven at block {}, which the light client verified the beacon chain signed (slot \
             {slot})",
            proof.block
        ),
    }
}

/// `mainnet: verified head at slot 13000000, block 23900000`, with why the last round failed
/// when it did.
fn format_light_client(state: &LightClientState) -> String {
    let head = match &state.head {
        Some(head) => format!(
            "{}: verified head at slot {}, block {}",
            state.network, head.slot, head.block
        ),
        None => format!("{}: no verified head yet", state.network),
    };
    match &state.error {
        Some(error) => format!("{head} (last sync round: {error})"),
        None => head,
    }
}

/// Whether other nodes reach the node, and how: `directly, at /ip4/…`, `through 1 relay
/// (12D3Ko…abcd): behind a NAT`, or why not.
pub(crate) fn format_reachability(reachability: &Reachability, listen_addrs: &[String]) -> String {
    match reachability {
        Reachability::Public { addr } => format!("directly, at {addr}"),
        Reachability::Private => {
            // The relay of each circuit address: the peer id before `/p2p-circuit`.
            let mut relays: Vec<String> = Vec::new();
            for relay in listen_addrs
                .iter()
                .filter_map(|addr| addr.split_once("/p2p-circuit"))
                .filter_map(|(relay, _)| relay.rsplit_once("/p2p/"))
                .map(|(_, peer)| short(peer))
            {
                // A relay reached at two addresses (TCP and QUIC) is one relay.
                if !relays.contains(&relay) {
                    relays.push(relay);
                }
            }
            match relays.len() {
                0 => {
                    "no: behind a NAT or a firewall, and no relay met yet (a peer others can reach \
                      serves one for hole punching; `cairn node --relay-server` one that \
                      carries transfers)"
                        .into()
                }
                1 => format!("through 1 relay ({}): behind a NAT", relays[0]),
                n => format!("through {n} relays ({}): behind a NAT", relays.join(", ")),
            }
        }
        _ => "not known yet: no peer has tried to dial it back".into(),
    }
}

/// The relay the node serves others.
pub(crate) fn format_relay(relay: RelayServed) -> &'static str {
    match relay {
        RelayServed::None => "none: only a node that others can reach serves one",
        RelayServed::Limited => "for hole punching (2 minutes and 128 KiB per circuit)",
        RelayServed::Full => "for whole transfers",
    }
}

/// A long id cut to its ends: `3f2a…9c1d`.
fn short(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 12 {
        return id.to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `receiving 3f2a…9c1d from 12D3Ko…abcd: 256 KiB of 1 MiB (25%)`.
pub(crate) fn format_transfer(t: &TransferInfo) -> String {
    let percent = u128::from(t.done_bytes) * 100 / u128::from(t.total_bytes.max(1));
    if t.pulling {
        return format!(
            "{} copies {} from the other holders: {} of {} ({percent}%)",
            short(&t.peer),
            short(&t.object),
            format_bytes(t.done_bytes),
            format_bytes(t.total_bytes)
        );
    }
    let (verb, dir) = if t.sending {
        ("sending", "to")
    } else {
        ("receiving", "from")
    };
    format!(
        "{verb} {} {dir} {}: {} of {} ({percent}%)",
        short(&t.object),
        short(&t.peer),
        format_bytes(t.done_bytes),
        format_bytes(t.total_bytes)
    )
}

/// `14:03:07 UTC  stored 3f2a…9c1d (1 MiB) from 12D3Ko…abcd`.
pub(crate) fn format_activity(a: &Activity) -> String {
    let day = a.at % 86_400;
    let time = format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        (day % 3600) / 60,
        day % 60
    );
    let what = match &a.what {
        ActivityKind::Stored {
            object,
            bytes,
            peer,
        } => format!(
            "stored {} ({}) from {}",
            short(object),
            format_bytes(*bytes),
            short(peer)
        ),
        ActivityKind::Served {
            object,
            bytes,
            peer,
        } => format!(
            "served {} ({}) to {}",
            short(object),
            format_bytes(*bytes),
            short(peer)
        ),
        ActivityKind::Proof {
            deal,
            period,
            accepted,
        } => format!(
            "proof for deal {deal}, period {period}: {}",
            if *accepted { "accepted" } else { "rejected" }
        ),
        ActivityKind::Released {
            object,
            bytes,
            deals,
        } => format!(
            "released {} ({}): its {} ended",
            short(object),
            format_bytes(*bytes),
            name_deals(deals)
        ),
        ActivityKind::Corrupt { object, chunk } => format!(
            "{} found corrupt on disk (chunk {chunk}): no longer served",
            short(object)
        ),
        ActivityKind::Throttled { peer, banned } => {
            if *banned {
                format!(
                    "{} banned for a while: too much data or garbage",
                    short(peer)
                )
            } else {
                format!("{} throttled: sending too fast", short(peer))
            }
        }
    };
    format!("{time}  {what}")
}

/// Token base units (18 decimals, as a decimal string) in whole tokens with at most 4 decimals,
/// cut, not rounded, so a balance never reads higher than it is: `10000000000000000` ->
/// `0.01 CAIRN`. A string that is not a number is shown as it is.
pub(crate) fn format_tokens(base_units: &str) -> String {
    protocol::units::format_units(base_units, 4)
        .map_or_else(|| base_units.to_owned(), |shown| format!("{shown} CAIRN"))
}

/// A labelled list, one line per item; hidden while the list is empty.
#[component]
fn ListCard(label: &'static str, id: &'static str, items: Signal<Vec<String>>) -> impl IntoView {
    view! {
        <Show when=move || items.with(|items| !items.is_empty())>
            <div class="card addrs">
                <div class="label">{label}</div>
                <ul id=id>
                    {move || items.get().into_iter().map(|item| view! { <li>{item}</li> }).collect_view()}
                </ul>
            </div>
        </Show>
    }
}

#[component]
fn Card(label: &'static str, id: &'static str, value: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="card">
            <div class="label">{label}</div>
            <div class="value" id=id>{move || value.get().unwrap_or_else(|| "…".into())}</div>
        </div>
    }
}

/// A [`Card`] with a line in small print under its value.
#[component]
fn HintCard(
    label: &'static str,
    id: &'static str,
    value: Signal<Option<String>>,
    hint_id: &'static str,
    hint: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="card">
            <div class="label">{label}</div>
            <div class="value" id=id>{move || value.get().unwrap_or_else(|| "…".into())}</div>
            <div class="hint" id=hint_id>{move || hint.get().unwrap_or_default()}</div>
        </div>
    }
}

fn latest_block(chain: &ChainState) -> Option<u64> {
    match chain {
        ChainState::Connected { latest_block, .. } => Some(*latest_block),
        _ => None,
    }
}

fn state_class(status: Option<&Status>) -> &'static str {
    match status.map(|s| &s.chain) {
        Some(ChainState::Connected { .. }) => "connected",
        Some(ChainState::Unreachable { .. }) => "unreachable",
        Some(ChainState::Connecting) | None => "connecting",
    }
}

/// `3725` -> `1h 2m 5s`.
pub(crate) fn format_uptime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Activity, ActivityKind, EarningsAnchor, EarningsProof, LightClientState, TransferInfo,
        format_activity, format_earnings_proof, format_light_client, format_light_client_source,
        format_stored, format_tokens, format_transfer, format_uptime, format_withdrawal,
        light_client_settings, market_request, parse_tokens,
    };
    use super::{ChainState, EndpointSource, Status, chain_settings, format_endpoint};
    use super::{DownloadReady, format_download, format_sending};
    use super::{
        FetchedFile, FileInfo, Repair, StoredFile, format_fetched_file, format_file,
        format_stored_file, format_utc, parse_keep_until, store_request,
    };
    use super::{ForgotFile, forget_question, format_forgot_file};
    use super::{Reachability, format_reachability};

    #[test]
    fn reachability_says_how_other_nodes_reach_the_node() {
        let direct = "/ip4/192.168.1.5/tcp/4001/p2p/12D3KooWHome".to_owned();
        let relay = |n: u8| {
            format!(
                "/ip4/203.0.113.{n}/tcp/4001/p2p/12D3KooWRelay{n}xyz/p2p-circuit/p2p/12D3KooWHome"
            )
        };
        assert_eq!(
            format_reachability(&Reachability::Unknown, std::slice::from_ref(&direct)),
            "not known yet: no peer has tried to dial it back"
        );
        assert_eq!(
            format_reachability(
                &Reachability::Public {
                    addr: "/ip4/198.51.100.4/tcp/4001".into()
                },
                std::slice::from_ref(&direct)
            ),
            "directly, at /ip4/198.51.100.4/tcp/4001"
        );
        assert_eq!(
            format_reachability(&Reachability::Private, std::slice::from_ref(&direct)),
            "no: behind a NAT or a firewall, and no relay met yet (a peer others can reach serves \
             one for hole punching; `cairn node --relay-server` one that carries transfers)"
        );
        assert_eq!(
            format_reachability(&Reachability::Private, &[direct.clone(), relay(1)]),
            "through 1 relay (12D3Ko…1xyz): behind a NAT"
        );
        assert_eq!(
            format_reachability(
                &Reachability::Private,
                &[direct, relay(1), relay(2), relay(1)]
            ),
            "through 2 relays (12D3Ko…1xyz, 12D3Ko…2xyz): behind a NAT"
        );
    }

    /// A 1.5 MiB file on two providers under deals 3 and 4, paid until 2025-12-06 02:00 UTC.
    fn photo() -> FileInfo {
        FileInfo {
            id: format!("5dd2{}27cd", "0".repeat(56)),
            name: "photo.jpg".into(),
            size: 3 << 19,
            holders: vec!["12D3KooWA".into(), "12D3KooWB".into()],
            deals: vec![3, 4],
            paid_until: Some(1_764_986_400),
            proven_periods: 0,
            missed_periods: 0,
            periods: 0,
            replaced: Vec::new(),
            repair: None,
            keep_until: None,
        }
    }

    #[test]
    fn forgetting_a_file_says_what_it_does_and_what_it_did() {
        let file = photo();
        assert_eq!(
            forget_question(&file),
            "Forget photo.jpg? It leaves this list and is no longer kept or renewed; its deals \
             3, 4 are ended now, the periods not yet started refunded; its providers may delete \
             it a day later."
        );
        let one = FileInfo {
            deals: vec![3],
            ..file.clone()
        };
        assert!(forget_question(&one).contains("; its deal 3 is ended now"));
        let free = FileInfo {
            deals: Vec::new(),
            ..file
        };
        assert!(
            forget_question(&free).ends_with("; its providers keep it as long as they choose.")
        );
        let forgot = ForgotFile {
            name: "photo.jpg".into(),
            ended: vec![3, 4],
            refunded: "20000000000000000".into(),
            not_ended: Vec::new(),
        };
        assert_eq!(
            format_forgot_file(&forgot),
            "forgot photo.jpg: deals 3, 4 ended, 0.02 CAIRN refunded to this node"
        );
        let partly = ForgotFile {
            ended: vec![3],
            refunded: "10000000000000000".into(),
            not_ended: vec!["deal 4: chain call endDeal failed".into()],
            ..forgot
        };
        assert_eq!(
            format_forgot_file(&partly),
            "forgot photo.jpg: deal 3 ended, 0.01 CAIRN refunded to this node; not ended (they \
             run to their end): deal 4: chain call endDeal failed"
        );
        let free = ForgotFile {
            name: "notes.txt".into(),
            ended: Vec::new(),
            refunded: "0".into(),
            not_ended: Vec::new(),
        };
        assert_eq!(format_forgot_file(&free), "forgot notes.txt");
    }

    #[test]
    fn a_keep_until_date_is_the_end_of_that_day_utc() {
        assert_eq!(parse_keep_until(""), Ok(None));
        assert_eq!(parse_keep_until("1970-01-01"), Ok(Some(86_400)));
        assert_eq!(parse_keep_until("2000-02-29"), Ok(Some(951_868_800)));
        for date in ["2026-12-31", "2024-02-29", "2099-12-30"] {
            let end = parse_keep_until(date).unwrap().unwrap();
            assert_eq!(format_utc(end - 60), format!("{date} 23:59 UTC"));
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-32",
            "31/12/2026",
            "soon",
        ] {
            assert!(
                parse_keep_until(bad).unwrap_err().contains("YYYY-MM-DD"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_file_to_store_needs_a_path_and_at_least_one_copy() {
        let request = store_request(" /home/me/photo.jpg ", " 3 ", "").unwrap();
        assert_eq!(request.path, "/home/me/photo.jpg");
        assert_eq!(request.copies, 3);
        assert_eq!(request.keep_until, None);
        let kept = store_request("/f", "1", " 2026-12-31 ").unwrap();
        assert_eq!(kept.keep_until, Some(1_798_761_600), "2027-01-01 00:00 UTC");
        assert!(store_request(" ", "2", "").unwrap_err().contains("path"));
        for bad in ["0", "two", "-1", ""] {
            assert!(
                store_request("/f", bad, "")
                    .unwrap_err()
                    .contains("whole number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn stored_files_say_where_they_are_and_how_to_get_them_back() {
        use protocol::api::CopyReplaced;
        let file = photo();
        assert_eq!(
            format_file(&file),
            "photo.jpg: 1.5 MiB, 2 copies, paid until 2025-12-06 02:00 UTC (5dd200…27cd)",
            "before its deals are read"
        );
        let read = FileInfo {
            proven_periods: 3,
            missed_periods: 1,
            periods: 48,
            ..file.clone()
        };
        assert_eq!(
            format_file(&read),
            "photo.jpg: 1.5 MiB, 2 copies, paid until 2025-12-06 02:00 UTC; 3 of 48 periods \
             proven, 1 missed (refunded) (5dd200…27cd)"
        );
        assert!(
            format_file(&FileInfo {
                missed_periods: 0,
                ..read.clone()
            })
            .contains("; 3 of 48 periods proven (5dd2")
        );
        let replaced = |deal, by_deal, renewed| CopyReplaced {
            deal,
            by_deal,
            at: 1_764_900_000 + by_deal,
            renewed,
            pulled: false,
        };
        let mended = FileInfo {
            replaced: vec![
                replaced(1, 3, false),
                CopyReplaced {
                    pulled: true,
                    ..replaced(2, 4, false)
                },
            ],
            ..read.clone()
        };
        assert_eq!(
            format_file(&mended),
            "photo.jpg: 1.5 MiB, 2 copies, paid until 2025-12-06 02:00 UTC; 3 of 48 periods \
             proven, 1 missed (refunded); 2 copies moved to another provider (deal 1 by 3, deal \
             2 by 4 copied from a holder) (5dd200…27cd)"
        );
        let renewed = FileInfo {
            replaced: vec![replaced(1, 3, false), replaced(2, 4, true)],
            ..read.clone()
        };
        assert!(
            format_file(&renewed).ends_with(
                "; 1 copy moved to another provider (deal 1 by 3); renewed (deal 2 by 4) \
                 (5dd200…27cd)"
            ),
            "{}",
            format_file(&renewed)
        );
        let kept = FileInfo {
            replaced: vec![
                replaced(2, 4, true),
                replaced(3, 5, true),
                replaced(4, 6, true),
            ],
            ..read.clone()
        };
        assert!(
            format_file(&kept).ends_with("; renewed 3 times (last: deal 4 by 6) (5dd200…27cd)"),
            "{}",
            format_file(&kept)
        );
        let replacing = FileInfo {
            repair: Some(Repair::Replacing {
                deal: 4,
                renewal: false,
            }),
            ..read.clone()
        };
        assert!(
            format_file(&replacing).ends_with(
                "(5dd200…27cd); buying the copy under deal 4 again (its provider missed a \
                 proof)…"
            ),
            "{}",
            format_file(&replacing)
        );
        let failed = FileInfo {
            repair: Some(Repair::Failed {
                deal: 4,
                renewal: true,
                error: "no provider could take another copy".into(),
                retry_at: 1_764_986_400,
            }),
            ..read
        };
        assert!(
            format_file(&failed).ends_with(
                "(5dd200…27cd); the copy under deal 4 (its deal is ending) could not be bought \
                 again yet: no provider could take another copy; next try at 2025-12-06 02:00 \
                 UTC"
            ),
            "{}",
            format_file(&failed)
        );
        let stored = StoredFile { file: file.clone() };
        assert_eq!(
            format_stored_file(&stored),
            format!(
                "stored photo.jpg (1.5 MiB) on 2 providers under deals 3, 4; content id {}",
                file.id
            )
        );
        let free = FileInfo {
            holders: vec!["12D3KooWA".into()],
            deals: Vec::new(),
            paid_until: None,
            ..file
        };
        assert!(format_file(&free).starts_with("photo.jpg: 1.5 MiB, 1 copy ("));
        let kept = FileInfo {
            keep_until: Some(1_798_761_600),
            ..photo()
        };
        assert!(
            format_file(&kept).starts_with(
                "photo.jpg: 1.5 MiB, 2 copies, paid until 2025-12-06 02:00 UTC, kept until \
                 2027-01-01 00:00 UTC ("
            ),
            "{}",
            format_file(&kept)
        );
        let free = StoredFile { file: free };
        assert!(format_stored_file(&free).contains("on 1 provider; content id"));
        let fetched = FetchedFile {
            output: "/home/me/copy.jpg".into(),
            bytes: 3 << 19,
            holders: vec!["12D3KooWA".into()],
        };
        assert_eq!(
            format_fetched_file(&fetched),
            "fetched 1.5 MiB to /home/me/copy.jpg, every chunk verified, from 1 holder"
        );
        let ready = DownloadReady {
            url: "/api/downloads/00ff".into(),
            name: "photo.jpg".into(),
            bytes: 3 << 19,
            holders: vec!["12D3KooWA".into(), "12D3KooWB".into()],
            expires_in: 600,
        };
        assert_eq!(
            format_sending("photo.jpg", 3 << 18, 3 << 19),
            "sending photo.jpg to the daemon: 50% (768 KiB of 1.5 MiB)"
        );
        assert_eq!(
            format_sending("photo.jpg", 3 << 19, 3 << 19),
            "storing photo.jpg on the network…"
        );
        assert_eq!(
            format_download(&ready),
            "downloading photo.jpg (1.5 MiB), every chunk verified, from 2 holders; the link lasts 10 minutes"
        );
    }

    #[test]
    fn a_chain_endpoint_needs_a_url_and_its_name_is_optional() {
        let settings = chain_settings(" https://rpc.example ", " ").unwrap();
        assert_eq!(settings.rpc_url, "https://rpc.example");
        assert_eq!(
            settings.network, "",
            "named after its chain id by the runtime"
        );
        assert_eq!(
            chain_settings("http://127.0.0.1:8545", " sepolia ")
                .unwrap()
                .network,
            "sepolia"
        );
        assert!(
            chain_settings("  ", "sepolia")
                .unwrap_err()
                .contains("JSON-RPC endpoint")
        );
    }

    #[test]
    fn the_endpoint_says_where_it_comes_from() {
        let mut status = Status {
            version: "0.1.0".into(),
            network: "devnet".into(),
            rpc_url: "http://127.0.0.1:8545".into(),
            rpc_source: EndpointSource::Default,
            chain: ChainState::Connecting,
            uptime_secs: 0,
            node: Default::default(),
            light_client: None,
        };
        assert_eq!(
            format_endpoint(&status),
            "http://127.0.0.1:8545: the local devnet (the default)"
        );
        status.rpc_source = EndpointSource::Saved;
        assert!(format_endpoint(&status).ends_with("set here, kept across restarts"));
        status.rpc_source = EndpointSource::Given;
        assert!(format_endpoint(&status).contains("CAIRN_RPC_URL"));
    }

    #[test]
    fn a_stake_is_a_whole_number_of_tokens() {
        assert_eq!(parse_tokens("200"), Ok(200));
        assert_eq!(parse_tokens(" 1,000 "), Ok(1000));
        assert!(parse_tokens("0").unwrap_err().contains("registers nothing"));
        assert!(parse_tokens("2.5").unwrap_err().contains("whole number"));
        assert!(parse_tokens("").unwrap_err().contains("whole number"));
    }

    #[test]
    fn the_earnings_proof_names_its_block_and_how_it_is_trusted() {
        let proof = EarningsProof {
            block: 1234,
            block_hash: format!("0x{}", "ab".repeat(32)),
            anchor: EarningsAnchor::Endpoint,
        };
        assert_eq!(
            format_earnings_proof(&proof),
            "proven at block 1234 against its header; the block is the endpoint's latest, not \
             checked against a beacon chain"
        );
        let anchored = EarningsProof {
            anchor: EarningsAnchor::Beacon { slot: 5678 },
            ..proof
        };
        assert_eq!(
            format_earnings_proof(&anchored),
            "proven at block 1234, which the light client verified the beacon chain signed (slot \
             5678)"
        );
    }

    #[test]
    fn the_light_client_says_its_verified_head_and_why_a_round_failed() {
        let mut state = LightClientState {
            network: "mainnet".into(),
            endpoints: vec!["https://a.example".into(), "http://127.0.0.1:5052".into()],
            checkpoint: "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275".into(),
            head: None,
            error: None,
        };
        assert_eq!(
            format_light_client_source(&state),
            "through https://a.example, http://127.0.0.1:5052; trusted checkpoint 0x5afc…9275"
        );
        assert_eq!(format_light_client(&state), "mainnet: no verified head yet");
        state.error = Some("bootstrap: no beacon endpoint gave verifiable data".into());
        assert_eq!(
            format_light_client(&state),
            "mainnet: no verified head yet (last sync round: bootstrap: no beacon endpoint gave \
             verifiable data)"
        );
        state.head = Some(protocol::api::VerifiedHead {
            slot: 13_000_000,
            block: 23_900_000,
            block_hash: format!("0x{}", "cd".repeat(32)),
        });
        state.error = None;
        assert_eq!(
            format_light_client(&state),
            "mainnet: verified head at slot 13000000, block 23900000"
        );
    }

    #[test]
    fn the_light_client_form_needs_endpoints_and_a_checkpoint_and_defaults_to_mainnet() {
        let root = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
        let settings =
            light_client_settings(" ", "https://a.example, http://127.0.0.1:5052\n", root).unwrap();
        assert_eq!(settings.network, "mainnet");
        assert_eq!(
            settings.endpoints,
            ["https://a.example", "http://127.0.0.1:5052"]
        );
        assert_eq!(settings.checkpoint, root);
        let settings =
            light_client_settings(" /etc/cairn/network.json ", "https://a.example", root).unwrap();
        assert_eq!(settings.network, "/etc/cairn/network.json");
        let error = light_client_settings("mainnet", " , ", root).unwrap_err();
        assert!(
            error.contains("at least one beacon API endpoint"),
            "{error}"
        );
        let error = light_client_settings("mainnet", "https://a.example", " ").unwrap_err();
        assert!(error.contains("trusted checkpoint"), "{error}");
    }

    #[test]
    fn the_market_form_needs_a_deployment_file_and_the_payout_is_optional() {
        let request = market_request(" /srv/deployment.json ", " ").unwrap();
        assert_eq!(request.deployment_file, "/srv/deployment.json");
        assert_eq!(request.payout, None);
        let request = market_request("d.json", " 0xabc ").unwrap();
        assert_eq!(request.payout.as_deref(), Some("0xabc"));
        let error = market_request("  ", "").unwrap_err();
        assert!(error.contains("deployment file"), "{error}");
    }

    #[test]
    fn a_withdrawal_says_what_was_paid_where() {
        let paid = protocol::api::Withdrawal {
            amount: "10000000000000000".into(),
            payout: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
            transaction: format!("0x1a2b{}9d0e", "0".repeat(56)),
        };
        assert_eq!(
            format_withdrawal(&paid),
            "withdrew 0.01 CAIRN to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 (transaction \
             0x1a2b…9d0e)"
        );
    }

    #[test]
    fn transfers_and_activity_read_as_sentences() {
        let object = "3f2a".to_owned() + &"0".repeat(56) + "9c1d";
        let peer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo".to_owned();
        let transfer = TransferInfo {
            object: object.clone(),
            peer: peer.clone(),
            sending: false,
            pulling: false,
            done_bytes: 256 << 10,
            total_bytes: 1 << 20,
        };
        assert_eq!(
            format_transfer(&transfer),
            "receiving 3f2a00…9c1d from 12D3Ko…e2Xo: 256 KiB of 1 MiB (25%)"
        );
        let pulling = TransferInfo {
            pulling: true,
            ..transfer.clone()
        };
        assert_eq!(
            format_transfer(&pulling),
            "12D3Ko…e2Xo copies 3f2a00…9c1d from the other holders: 256 KiB of 1 MiB (25%)"
        );
        let empty = TransferInfo {
            sending: true,
            total_bytes: 0,
            done_bytes: 0,
            ..transfer
        };
        assert_eq!(
            format_transfer(&empty),
            "sending 3f2a00…9c1d to 12D3Ko…e2Xo: 0 B of 0 B (0%)"
        );
        let at = 1_764_000_000 + 3 * 3600 + 7; // 2025-11-24 19:00:07 UTC
        let stored = Activity {
            at,
            what: ActivityKind::Stored {
                object: object.clone(),
                bytes: 1 << 20,
                peer: peer.clone(),
            },
        };
        assert_eq!(
            format_activity(&stored),
            "19:00:07 UTC  stored 3f2a00…9c1d (1 MiB) from 12D3Ko…e2Xo"
        );
        let proof = Activity {
            at,
            what: ActivityKind::Proof {
                deal: 7,
                period: 2,
                accepted: false,
            },
        };
        assert!(format_activity(&proof).ends_with("proof for deal 7, period 2: rejected"));
        let released = |deals: Vec<u64>| Activity {
            at,
            what: ActivityKind::Released {
                object: object.clone(),
                bytes: 3 << 19,
                deals,
            },
        };
        assert_eq!(
            format_activity(&released(vec![4])),
            "19:00:07 UTC  released 3f2a00…9c1d (1.5 MiB): its deal 4 ended"
        );
        assert!(format_activity(&released(vec![4, 9])).ends_with(": its deals 4, 9 ended"));
        let banned = Activity {
            at,
            what: ActivityKind::Throttled { peer, banned: true },
        };
        assert!(format_activity(&banned).contains("12D3Ko…e2Xo banned"));
    }

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(format_uptime(0), "0s");
        assert_eq!(format_uptime(59), "59s");
        assert_eq!(format_uptime(61), "1m 1s");
        assert_eq!(format_uptime(3725), "1h 2m 5s");
    }

    #[test]
    fn tokens_read_in_whole_units_cut_to_four_decimals() {
        assert_eq!(format_tokens("0"), "0 CAIRN");
        assert_eq!(format_tokens("10000000000000000"), "0.01 CAIRN");
        assert_eq!(format_tokens("1000000000000000000"), "1 CAIRN");
        assert_eq!(format_tokens("1234567890000000000000"), "1234.5678 CAIRN");
        assert_eq!(
            format_tokens("99999"),
            "0 CAIRN",
            "dust is cut, not rounded up"
        );
        assert_eq!(
            format_tokens(&u128::MAX.to_string()),
            "340282366920938463463.3746 CAIRN"
        );
        assert_eq!(format_tokens("-5"), "-5", "not a balance: shown as it is");
    }

    #[test]
    fn stored_says_objects_bytes_and_quota() {
        assert_eq!(format_stored(0, 0, 0, None), "no quota (stores nothing)");
        assert_eq!(
            format_stored(2, 3 << 20, 0, Some(1 << 30)),
            "2 objects, 3 MiB held; quota 0: accepts nothing new"
        );
        assert_eq!(
            format_stored(1, 1536, 1 << 30, None),
            "1 object, 1.5 KiB of 1 GiB"
        );
        assert_eq!(
            format_stored(3, 5 << 20, 10 << 30, Some(20 << 30)),
            "3 objects, 5 MiB of 10 GiB"
        );
        assert_eq!(
            format_stored(3, 5 << 20, 10 << 30, Some(2 << 30)),
            "3 objects, 5 MiB of 10 GiB; the disk has room for only 2 GiB more"
        );
    }
}
