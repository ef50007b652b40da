//! The runtime task and its handle.
//!
//! Message flow: shells call [`Handle`] methods, which send a [`Command`] on a bounded channel
//! and await a `oneshot` reply. The [`EventLoop`] owns all state; each tick it polls the chain
//! and publishes a fresh [`Status`] on a `watch` channel, which shells forward (the app as a
//! Tauri event, the daemon over HTTP).

use std::time::{Duration, Instant};

use chain::RpcClient;
use protocol::api::{ChainState, Status};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

use crate::{Config, Error};

/// Commands are tiny and answered at once; a few in flight per shell is plenty.
const COMMAND_CAPACITY: usize = 32;

enum Command {
    Refresh(oneshot::Sender<Status>),
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
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Refresh(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Stops the runtime and waits until its task has finished its current step.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Shutdown(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }
}

/// The runtime task. Spawn [`EventLoop::run`] on a tokio runtime.
#[derive(Debug)]
pub struct EventLoop {
    config: Config,
    client: RpcClient,
    commands: mpsc::Receiver<Command>,
    status: watch::Sender<Status>,
    started: Instant,
    last_chain_id: Option<u64>,
}

/// Validates `config` and builds the runtime; the caller spawns the returned [`EventLoop`].
pub fn start(config: Config) -> Result<(Handle, EventLoop), Error> {
    config.validate()?;
    let client = RpcClient::new(&config.rpc_url)?;
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let initial = Status {
        version: protocol::VERSION.to_owned(),
        network: config.network.clone(),
        rpc_url: config.rpc_url.clone(),
        chain: ChainState::Connecting,
        uptime_secs: 0,
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let handle = Handle {
        commands: commands_tx,
        status: status_rx,
    };
    let event_loop = EventLoop {
        config,
        client,
        commands: commands_rx,
        status: status_tx,
        started: Instant::now(),
        last_chain_id: None,
    };
    Ok((handle, event_loop))
}

impl EventLoop {
    /// Runs until every [`Handle`] is dropped or one calls [`Handle::shutdown`].
    pub async fn run(mut self) {
        let span = tracing::info_span!("runtime", network = %self.config.network);
        let _enter = span.enter();
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
                        let status = self.poll().await;
                        let _ = reply.send(status);
                    }
                },
                _ = ticker.tick() => {
                    self.poll().await;
                }
            }
        }
        tracing::info!("runtime stopped");
    }

    /// Reads the chain once, publishes and returns the new status.
    async fn poll(&mut self) -> Status {
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
        let uptime_secs = uptime(self.started.elapsed());
        self.status.send_modify(|status| {
            status.chain = chain;
            status.uptime_secs = uptime_secs;
        });
        self.status.borrow().clone()
    }

    async fn read_chain(&self) -> Result<(u64, u64), Error> {
        // The chain id is re-read every time: an endpoint restarted with another chain must show.
        let chain_id = self.client.chain_id().await?;
        let latest_block = self.client.block_number().await?;
        Ok((chain_id, latest_block))
    }
}

fn uptime(elapsed: Duration) -> u64 {
    elapsed.as_secs()
}
