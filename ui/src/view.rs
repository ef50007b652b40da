//! The first screen: live status of the embedded runtime.

use std::rc::Rc;

use leptos::prelude::*;
use protocol::api::{ChainState, Status};

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
                </div>
            </div>
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
        </main>
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
    use super::format_uptime;

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(format_uptime(0), "0s");
        assert_eq!(format_uptime(59), "59s");
        assert_eq!(format_uptime(61), "1m 1s");
        assert_eq!(format_uptime(3725), "1h 2m 5s");
    }
}
