//! `cairn pair` and `cairn meter`: the installer's tools. A thin shell over `ble-provisioning`
//! (protocol), `ble-transport` (HTTP/BLE), `device-sim` (the simulator) and `chain` (the
//! registry): argument parsing, wiring, JSON output.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, Bytes};
use anyhow::{Context as _, bail};
use ble_provisioning::client::{self, Client, Options, Request};
use ble_provisioning::device::{Config, Device, Fault};
use ble_provisioning::profile::{self, ClaimRequest, ClaimResponse, IdentityInfo, Verifier};
use ble_provisioning::qr::{self, QrTransport};
use ble_provisioning::security::{Credentials, DEFAULT_USERNAME, DeviceSecurity, Level};
use ble_provisioning::transport::{Memory, Transport};
use chain::eip712::DeviceKind;
use clap::{Args, Subcommand, ValueEnum};

use crate::{print_line, shutdown_signal};

/// Pause between Wi-Fi status polls.
const STATUS_POLL: Duration = Duration::from_millis(500);

/// How a device is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportKind {
    /// In this process only.
    Memory,
    /// ESP softAP HTTP (`host:port`).
    Http,
    /// Bluetooth LE (device name or address).
    Ble,
}

/// `cairn pair ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PairCommand {
    /// Start a simulated ESP provisioning device with the Cairn profile and print where it is
    /// reachable (one JSON line), until Ctrl-C.
    Simulate(SimulateArgs),
    /// Give a device Wi-Fi credentials over ESP unified provisioning.
    Provision(ProvisionArgs),
    /// Have the device sign a registry claim (fresh nonce) and register it on chain.
    Claim(ClaimArgs),
    /// List provisioning devices advertising over Bluetooth LE.
    Scan {
        /// How long to scan, seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Bluetooth adapter [default: the first one].
        #[arg(long)]
        adapter: Option<String>,
        /// Only devices advertising this service UUID [default: ESP's provisioning service].
        #[arg(long)]
        service: Option<String>,
        /// List every advertising device, not only provisioning ones.
        #[arg(long, conflicts_with = "service")]
        any: bool,
    },
}

/// `cairn meter ...`
#[derive(Debug, Subcommand)]
pub(crate) enum MeterCommand {
    /// Read signed meter readings; each is verified (signature, counter order) before printing.
    Read {
        #[command(flatten)]
        device: DeviceArgs,
        /// Readings to take.
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Transport to serve on.
    #[arg(long, value_enum, default_value = "http")]
    transport: TransportKind,
    /// Security level: 0, 1 or 2.
    #[arg(long, default_value_t = 2)]
    security: u8,
    /// Proof of possession (security 1) or SRP password (security 2).
    #[arg(long, default_value = "")]
    pop: String,
    /// SRP username (security 2).
    #[arg(long, default_value = DEFAULT_USERNAME)]
    username: String,
    /// Security 2 patch level (1 fixes the reused nonce of 0).
    #[arg(long, default_value_t = 1)]
    sec_patch_ver: u32,
    /// Bluetooth adapter to serve on (BLE).
    #[arg(long, default_value = "hci0")]
    adapter: String,
    /// Loopback address for HTTP (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Device name.
    #[arg(long, default_value = "PROV_CAIRN")]
    name: String,
    /// Device kind: what it signs claims as.
    #[arg(long, value_enum, default_value = "meter")]
    kind: KindArg,
    /// Inject a fault: `drop@N`, `truncate@N`, `disconnect@N` or `reset@N` (N: request index).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Memory transport only: the network to provision.
    #[arg(long, default_value = "cairn-home")]
    ssid: String,
    /// Memory transport only: its passphrase.
    #[arg(long, default_value = "correct horse")]
    passphrase: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    Hotspot,
    Meter,
}

/// How to reach and authenticate to a device.
#[derive(Debug, Args)]
pub(crate) struct DeviceArgs {
    /// ESP's QR payload (`{"ver":"v1","name":...,"pop":...,"transport":...}`).
    #[arg(long, conflicts_with_all = ["device"])]
    qr: Option<String>,
    /// The device: `host:port` over HTTP, its name or address over BLE.
    #[arg(long, required_unless_present = "qr")]
    device: Option<String>,
    /// Proof of possession / SRP password.
    #[arg(long)]
    pop: Option<String>,
    /// SRP username (security 2) [default: wifiprov].
    #[arg(long)]
    username: Option<String>,
    /// Transport [default: from the QR payload, else http].
    #[arg(long, value_enum)]
    transport: Option<TransportKind>,
    /// Security level, when the device does not say (old firmware) [default: what it says].
    #[arg(long)]
    security: Option<u8>,
    /// Accept security 0: credentials sent in the clear, device not authenticated.
    #[arg(long)]
    allow_insecure: bool,
    /// Accept security 2 patch 0, which reuses one AES-GCM nonce for every message.
    #[arg(long)]
    allow_nonce_reuse: bool,
    /// Seconds one message may take.
    #[arg(long, default_value_t = 15)]
    timeout_secs: u64,
    /// Bluetooth adapter (BLE) [default: the first one].
    #[arg(long)]
    adapter: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Wi-Fi network name.
    #[arg(long)]
    ssid: String,
    /// Wi-Fi passphrase (empty for an open network).
    #[arg(long, default_value = "")]
    passphrase: String,
    /// Skip the Wi-Fi scan.
    #[arg(long)]
    no_scan: bool,
    /// Whole-flow attempts on transient failures.
    #[arg(long, default_value_t = 3)]
    attempts: u32,
}

#[derive(Debug, Args)]
pub(crate) struct ClaimArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Deployment JSON (`cairn devnet --deployment-file`): chain id, RPC URL, registry.
    #[arg(long, env = "CAIRN_DEPLOYMENT")]
    deployment: std::path::PathBuf,
    /// The installer's key (hex), which pays for the registration.
    #[arg(long, env = "CAIRN_INSTALLER_KEY", hide_env_values = true)]
    key: String,
    /// The owner the device is registered to [default: the installer].
    #[arg(long)]
    owner: Option<Address>,
}

pub(crate) async fn run_pair(command: PairCommand) -> anyhow::Result<()> {
    match command {
        PairCommand::Simulate(args) => simulate(args).await,
        PairCommand::Provision(args) => provision(args).await,
        PairCommand::Claim(args) => claim(args).await,
        PairCommand::Scan {
            seconds,
            adapter,
            service,
            any,
        } => scan(seconds, adapter.as_deref(), service.as_deref(), any).await,
    }
}

pub(crate) async fn run_meter(command: MeterCommand) -> anyhow::Result<()> {
    match command {
        MeterCommand::Read { device, count } => meter_read(device, count).await,
    }
}

fn parse_fault(spec: &str) -> anyhow::Result<(u64, Fault)> {
    let (kind, at) = spec
        .split_once('@')
        .with_context(|| format!("fault `{spec}` is not KIND@N (e.g. drop@3)"))?;
    let fault = match kind {
        "drop" => Fault::Drop,
        "truncate" => Fault::Truncate,
        "disconnect" => Fault::Disconnect,
        "reset" => Fault::Reset,
        other => bail!("unknown fault `{other}`: use drop, truncate, disconnect or reset"),
    };
    let at = at
        .parse()
        .with_context(|| format!("fault `{spec}`: `{at}` is not a request index"))?;
    Ok((at, fault))
}

fn device_security(args: &SimulateArgs) -> anyhow::Result<DeviceSecurity> {
    Ok(match Level::from_number(u64::from(args.security))? {
        Level::Sec0 => DeviceSecurity::Sec0,
        Level::Sec1 => DeviceSecurity::Sec1 {
            pop: args.pop.clone(),
        },
        Level::Sec2 => {
            if args.pop.is_empty() {
                bail!("security 2 needs --pop (the SRP password)");
            }
            DeviceSecurity::sec2(&args.username, &args.pop, args.sec_patch_ver)?
        }
    })
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let security = device_security(&args)?;
    let mut config = Config::example(&args.name, security.clone());
    config.identity = profile::Identity::random(match args.kind {
        KindArg::Hotspot => DeviceKind::Hotspot,
        KindArg::Meter => DeviceKind::Meter,
    });
    let address = config.identity.address();
    let mut device = Device::new(config);
    for spec in &args.faults {
        let (at, fault) = parse_fault(spec)?;
        device.inject(at, fault);
    }
    let device = Arc::new(Mutex::new(device));
    match args.transport {
        TransportKind::Memory => {
            let transport = Memory::new(device);
            let request = Request {
                options: Options {
                    credentials: Credentials {
                        pop: args.pop.clone(),
                        username: args.username.clone(),
                    },
                    level: None,
                    allow_sec0: true,
                    allow_nonce_reuse: true,
                },
                ssid: args.ssid,
                passphrase: args.passphrase,
                scan: true,
                attempts: 3,
                status_polls: 10,
            };
            let report = client::provision(&transport, &request, || async {}).await?;
            print_line(&serde_json::to_string(&serde_json::json!({
                "transport": "memory",
                "reachable": "in this process only: Cairn's client provisioned it",
                "device": address.to_string(),
                "report": report,
            }))?);
            Ok(())
        }
        TransportKind::Http => {
            let server = device_sim::http::serve(device, args.listen).await?;
            let qr = qr::Payload {
                ver: "v1".into(),
                name: server.addr().to_string(),
                pop: (!args.pop.is_empty()).then(|| args.pop.clone()),
                username: (security.level() == Level::Sec2).then(|| args.username.clone()),
                transport: QrTransport::Softap,
                security: Some(security.level().number()),
            };
            print_line(&serde_json::to_string(&serde_json::json!({
                "transport": "http",
                "address": server.addr().to_string(),
                "url": format!("http://{}", server.addr()),
                "security": security.level().number(),
                "sec_patch_ver": security.patch(),
                "device": address.to_string(),
                "qr": qr.to_json(),
            }))?);
            shutdown_signal().await;
            server.shutdown();
            Ok(())
        }
        TransportKind::Ble => {
            let peripheral = device_sim::ble::serve(device, &args.adapter).await?;
            let qr = qr::Payload {
                ver: "v1".into(),
                name: peripheral.name().to_owned(),
                pop: (!args.pop.is_empty()).then(|| args.pop.clone()),
                username: (security.level() == Level::Sec2).then(|| args.username.clone()),
                transport: QrTransport::Ble,
                security: Some(security.level().number()),
            };
            print_line(&serde_json::to_string(&serde_json::json!({
                "transport": "ble",
                "adapter": peripheral.adapter(),
                "address": peripheral.address(),
                "name": peripheral.name(),
                "service": device_sim::ble::SERVICE_UUID.to_string(),
                "security": security.level().number(),
                "sec_patch_ver": security.patch(),
                "device": address.to_string(),
                "qr": qr.to_json(),
            }))?);
            shutdown_signal().await;
            drop(peripheral);
            Ok(())
        }
    }
}

async fn scan(
    seconds: u64,
    adapter: Option<&str>,
    service: Option<&str>,
    any: bool,
) -> anyhow::Result<()> {
    let service = match (service, any) {
        (_, true) => None,
        (Some(text), false) => Some(
            text.parse::<uuid::Uuid>()
                .with_context(|| format!("--service `{text}` is not a UUID"))?,
        ),
        (None, false) => Some(ble_transport::ble::ESP_SERVICE_UUID),
    };
    let adapter = ble_transport::ble::adapter(adapter).await?;
    let found =
        ble_transport::ble::scan(&adapter, service, Duration::from_secs(seconds.clamp(1, 60)))
            .await?;
    for device in found {
        print_line(&serde_json::to_string(&serde_json::json!({
            "name": device.name,
            "address": device.address,
            "rssi": device.rssi,
            "services": device.services.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))?);
    }
    Ok(())
}

/// A connected client and what it learned.
struct Session {
    client: Client<Arc<dyn Transport>>,
}

struct Target {
    transport: Arc<dyn Transport>,
    options: Options,
}

async fn target(args: &DeviceArgs) -> anyhow::Result<Target> {
    let qr = args.qr.as_deref().map(qr::Payload::parse).transpose()?;
    let (name, kind) = match &qr {
        Some(p) => (
            p.name.clone(),
            args.transport.unwrap_or(match p.transport {
                QrTransport::Ble => TransportKind::Ble,
                QrTransport::Softap => TransportKind::Http,
                QrTransport::Console => bail!("console provisioning is not supported"),
            }),
        ),
        None => (
            args.device.clone().context("pass --device or --qr")?,
            args.transport.unwrap_or(TransportKind::Http),
        ),
    };
    let pop = args
        .pop
        .clone()
        .or_else(|| qr.as_ref().and_then(|p| p.pop.clone()))
        .unwrap_or_default();
    let username = args
        .username
        .clone()
        .or_else(|| qr.as_ref().and_then(|p| p.username.clone()))
        .unwrap_or_default();
    let level = args
        .security
        .or_else(|| qr.as_ref().and_then(|p| p.security))
        .map(|n| Level::from_number(u64::from(n)))
        .transpose()?;
    let transport: Arc<dyn Transport> = match kind {
        TransportKind::Http => {
            // A softAP device's QR names its SSID; once joined it answers on 192.168.4.1:80.
            let host = if name.contains(':') {
                name
            } else {
                "192.168.4.1:80".to_owned()
            };
            Arc::new(ble_transport::Http::new(
                &host,
                Duration::from_secs(args.timeout_secs.max(1)),
            )?)
        }
        TransportKind::Ble => {
            let adapter = ble_transport::ble::adapter(args.adapter.as_deref()).await?;
            Arc::new(
                ble_transport::Ble::connect(
                    adapter,
                    &name,
                    None,
                    Duration::from_secs(args.timeout_secs.max(1)),
                )
                .await?,
            )
        }
        TransportKind::Memory => bail!(
            "the memory transport only reaches a simulator in the same process (`cairn pair simulate --transport memory`)"
        ),
    };
    Ok(Target {
        transport,
        options: Options {
            credentials: Credentials { pop, username },
            level,
            allow_sec0: args.allow_insecure,
            allow_nonce_reuse: args.allow_nonce_reuse,
        },
    })
}

async fn connect(args: &DeviceArgs) -> anyhow::Result<Session> {
    let target = target(args).await?;
    let mut client = Client::new(target.transport);
    client.connect(&target.options).await?;
    Ok(Session { client })
}

async fn provision(args: ProvisionArgs) -> anyhow::Result<()> {
    let target = target(&args.device).await?;
    let request = Request {
        options: target.options,
        ssid: args.ssid,
        passphrase: args.passphrase,
        scan: !args.no_scan,
        attempts: args.attempts.max(1),
        status_polls: 40,
    };
    let report = client::provision(&target.transport, &request, || {
        tokio::time::sleep(STATUS_POLL)
    })
    .await?;
    print_line(&serde_json::to_string(&report)?);
    Ok(())
}

async fn call_json<T: serde::de::DeserializeOwned>(
    session: &mut Session,
    endpoint: &'static str,
    body: &[u8],
) -> anyhow::Result<T> {
    let answer = session.client.call(endpoint, body).await?;
    serde_json::from_slice(&answer)
        .with_context(|| format!("the device's answer on {endpoint} is not the expected JSON"))
}

async fn claim(args: ClaimArgs) -> anyhow::Result<()> {
    let deployment = chain::contracts::Deployment::read(&args.deployment)?;
    let installer: alloy_signer_local::PrivateKeySigner = args
        .key
        .trim()
        .parse()
        .context("--key / CAIRN_INSTALLER_KEY is not a hex private key")?;
    let owner = args.owner.unwrap_or(installer.address());
    let mut session = connect(&args.device).await?;
    let identity: IdentityInfo = call_json(&mut session, profile::ENDPOINT_IDENTITY, b"{}").await?;
    let device: Address = identity
        .device
        .parse()
        .context("the device reported a malformed address")?;
    let provider = chain::contracts::signer_provider(&deployment.rpc_url, installer)?;
    let contracts = chain::contracts::Contracts::new(&deployment, provider);
    let nonce = contracts
        .registry
        .deviceNonce(device)
        .call()
        .await
        .context("reading the device's registry nonce")?;
    let request = ClaimRequest {
        chain_id: deployment.chain_id,
        registry: deployment.registry.to_string(),
        owner: owner.to_string(),
        nonce: nonce.to_string(),
    };
    let response: ClaimResponse = call_json(
        &mut session,
        profile::ENDPOINT_CLAIM,
        &serde_json::to_vec(&request)?,
    )
    .await?;
    let (signer, signature) = response.verify(&request)?;
    if signer != device {
        bail!("the claim is signed by {signer}, not by the device {device}");
    }
    let h3 = if response.kind == DeviceKind::Hotspot as u8 {
        let settings: profile::HotspotSettings =
            call_json(&mut session, profile::ENDPOINT_HOTSPOT, b"{}").await?;
        settings.h3()?
    } else {
        0
    };
    let pending = contracts
        .registry
        .registerDevice(
            device,
            owner,
            response.kind,
            h3,
            Bytes::from(signature.as_bytes().to_vec()),
        )
        .send()
        .await
        .context("sending registerDevice")?;
    let receipt = pending
        .get_receipt()
        .await
        .context("waiting for the registerDevice receipt")?;
    if !receipt.status() {
        bail!("registerDevice reverted");
    }
    print_line(&serde_json::to_string(&serde_json::json!({
        "device": device.to_string(),
        "owner": owner.to_string(),
        "kind": response.kind,
        "nonce": nonce.to_string(),
        "h3_cell": format!("{h3:x}"),
        "transaction": receipt.transaction_hash.to_string(),
        "block": receipt.block_number,
    }))?);
    Ok(())
}

async fn meter_read(args: DeviceArgs, count: u32) -> anyhow::Result<()> {
    let mut session = connect(&args).await?;
    let mut verifier = Verifier::new();
    for _ in 0..count {
        let bytes = session.client.call(profile::ENDPOINT_METER, b"").await?;
        let reading = verifier
            .verify_bytes(&bytes)
            .context("the meter's reading did not verify")?;
        print_line(&serde_json::to_string(&serde_json::json!({
            "verified": true,
            "reading": reading,
        }))?);
    }
    Ok(())
}
