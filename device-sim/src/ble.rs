//! The simulator as a BLE peripheral, served through BlueZ's D-Bus API with `bluer` (in tests,
//! BlueZoo's virtual adapters on a private bus stand in for a radio).
//!
//! GATT layout, as ESP's `protocomm_ble`: one primary service ([`SERVICE_UUID`], ESP-IDF's
//! example UUID, advertised with the device's name); one characteristic per endpoint, its UUID
//! the service UUID with bytes 2–3 replaced by the endpoint id (`FF4F` scan, `FF50` ctrl, `FF51`
//! session, `FF52` config, `FF53` version, `FF54`.. the custom `cairn-*` endpoints), each with a
//! 0x2901 user description holding the endpoint name. A write is handed to the device at once
//! and its answer is kept for the next read by the same central (reads honour the offset of a
//! long read); a protocomm session is one central's address. Injected faults: a dropped message
//! is answered with a GATT error after [`DROP_HOLD`](crate::http::DROP_HOLD) (the client times
//! out first); every other device error is a GATT error, which closes the session. A second
//! service, the Cairn profile's, notifies signed meter readings (see [`READINGS_NAME`]); a third,
//! Environmental Sensing (0x181A), exposes the plain values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ble_provisioning::device::{Device, DeviceError};
use ble_provisioning::profile;
use bluer::adv::{Advertisement, AdvertisementHandle};
use bluer::gatt::local::ReqError;
use bluer::gatt::local::{
    Application, ApplicationHandle, Characteristic, CharacteristicNotify,
    CharacteristicNotifyMethod, CharacteristicRead, CharacteristicWrite, CharacteristicWriteMethod,
    Descriptor, DescriptorRead, Service,
};
use futures::FutureExt;
use uuid::Uuid;

/// The provisioning service (ESP-IDF's example UUID).
pub const SERVICE_UUID: Uuid = Uuid::from_u128(0x021a_9004_0382_4aea_bff4_6b3f_1c5a_dfb4);
/// 0x2901, Characteristic User Description.
const USER_DESCRIPTION: Uuid = Uuid::from_u128(0x0000_2901_0000_1000_8000_0080_5f9b_34fb);

/// The endpoints served and their ids.
pub const ENDPOINTS: [(u16, &str); 9] = [
    (0xFF4F, "prov-scan"),
    (0xFF50, "prov-ctrl"),
    (0xFF51, "prov-session"),
    (0xFF52, "prov-config"),
    (0xFF53, "proto-ver"),
    (0xFF54, profile::ENDPOINT_IDENTITY),
    (0xFF55, profile::ENDPOINT_CLAIM),
    (0xFF56, profile::ENDPOINT_HOTSPOT),
    (0xFF57, profile::ENDPOINT_METER),
];

/// Why the BLE peripheral did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BleServeError {
    /// A profile UUID does not parse (a bug in `ble_provisioning::profile`).
    #[error("bad profile UUID `{0}`")]
    BadUuid(&'static str),
    /// BlueZ (or BlueZoo) refused a step.
    #[error("BLE peripheral, {phase}: {source}")]
    Bluez {
        /// Which step.
        phase: &'static str,
        /// BlueZ's error.
        source: bluer::Error,
    },
}

fn bluez(phase: &'static str) -> impl FnOnce(bluer::Error) -> BleServeError {
    move |source| BleServeError::Bluez { phase, source }
}

/// The characteristic UUID of endpoint id `id`.
pub fn endpoint_uuid(id: u16) -> Uuid {
    let mut bytes = *SERVICE_UUID.as_bytes();
    let [hi, lo] = id.to_be_bytes();
    bytes[2] = hi;
    bytes[3] = lo;
    Uuid::from_bytes(bytes)
}

/// A running BLE peripheral: advertising and serving until dropped.
#[derive(Debug)]
pub struct BlePeripheral {
    adapter: String,
    address: String,
    name: String,
    _app: ApplicationHandle,
    advertiser: tokio::task::JoinHandle<()>,
    _session: bluer::Session,
}

impl Drop for BlePeripheral {
    fn drop(&mut self) {
        self.advertiser.abort();
    }
}

impl BlePeripheral {
    /// The adapter serving it (`hci1`).
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// Its Bluetooth address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The name it advertises.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The 0x2901 name of the Cairn service's notifying meter characteristic.
pub const READINGS_NAME: &str = "cairn-readings";
/// How often a subscribed central gets a signed reading.
pub const READING_PERIOD: std::time::Duration = std::time::Duration::from_millis(200);

fn user_description(name: &'static str) -> Descriptor {
    Descriptor {
        uuid: USER_DESCRIPTION,
        read: Some(DescriptorRead {
            read: true,
            fun: Box::new(move |_| async move { Ok(name.as_bytes().to_vec()) }.boxed()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Cairn service ([`profile::SERVICE_UUID`]): the meter characteristic
/// ([`profile::METER_UUID`], named [`READINGS_NAME`]) answers a read with a fresh signed reading
/// and, once subscribed, notifies one every [`READING_PERIOD`]. Readings go in the clear: the
/// device's signature and the counter authenticate them, and the app verifies both.
fn cairn_service(device: &Arc<Mutex<Device>>) -> Result<Service, BleServeError> {
    let parse =
        |text: &'static str| Uuid::try_parse(text).map_err(|_| BleServeError::BadUuid(text));
    let (read_device, notify_device) = (device.clone(), device.clone());
    Ok(Service {
        uuid: parse(profile::SERVICE_UUID)?,
        primary: true,
        characteristics: vec![Characteristic {
            uuid: parse(profile::METER_UUID)?,
            descriptors: vec![user_description(READINGS_NAME)],
            read: Some(CharacteristicRead {
                read: true,
                fun: Box::new(move |_| {
                    let reading = read_device
                        .lock()
                        .ok()
                        .and_then(|mut d| d.next_reading().ok());
                    async move { reading.ok_or(ReqError::Failed) }.boxed()
                }),
                ..Default::default()
            }),
            notify: Some(CharacteristicNotify {
                notify: true,
                method: CharacteristicNotifyMethod::Fun(Box::new(move |mut notifier| {
                    let device = notify_device.clone();
                    async move {
                        tokio::spawn(async move {
                            while !notifier.is_stopped() {
                                let reading =
                                    device.lock().ok().and_then(|mut d| d.next_reading().ok());
                                let Some(reading) = reading else { break };
                                if notifier.notify(reading).await.is_err() {
                                    break;
                                }
                                tokio::time::sleep(READING_PERIOD).await;
                            }
                        });
                    }
                    .boxed()
                })),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A Bluetooth SIG 16-bit UUID as 128 bits.
pub fn sig_uuid(short: u16) -> Uuid {
    Uuid::from_u128((u128::from(short) << 96) | 0x0000_0000_0000_1000_8000_0080_5f9b_34fb)
}

/// The Environmental Sensing service (0x181A): energy, power, voltage and current of a fresh
/// reading as plain SIG characteristics (`profile::ess`), readable by any BLE tool.
fn ess_service(device: &Arc<Mutex<Device>>) -> Service {
    use profile::ess;
    let characteristics = [ess::ENERGY, ess::POWER, ess::VOLTAGE, ess::ELECTRIC_CURRENT]
        .into_iter()
        .map(|id| {
            let device = device.clone();
            Characteristic {
                uuid: sig_uuid(id),
                read: Some(CharacteristicRead {
                    read: true,
                    fun: Box::new(move |_| {
                        let value = device
                            .lock()
                            .ok()
                            .and_then(|mut d| d.next_reading().ok())
                            .and_then(|bytes| profile::SignedReading::decode(&bytes).ok())
                            .and_then(|signed| {
                                ess::values(&signed.reading)
                                    .into_iter()
                                    .find(|(c, _)| *c == id)
                                    .map(|(_, v)| v)
                            });
                        async move { value.ok_or(ReqError::Failed) }.boxed()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    Service {
        uuid: sig_uuid(ess::SERVICE_UUID),
        primary: true,
        characteristics,
        ..Default::default()
    }
}

/// Answers waiting for a read: `(central, endpoint) -> answer`.
type Pending = Arc<Mutex<HashMap<(bluer::Address, &'static str), Vec<u8>>>>;

fn session_of(address: bluer::Address) -> u64 {
    address
        .0
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn characteristic(
    device: &Arc<Mutex<Device>>,
    pending: &Pending,
    id: u16,
    endpoint: &'static str,
    named: bool,
) -> Characteristic {
    let (write_device, write_pending) = (device.clone(), pending.clone());
    let read_pending = pending.clone();
    Characteristic {
        uuid: endpoint_uuid(id),
        descriptors: if named {
            vec![user_description(endpoint)]
        } else {
            Vec::new()
        },
        read: Some(CharacteristicRead {
            read: true,
            fun: Box::new(move |req| {
                let answer = read_pending
                    .lock()
                    .ok()
                    .and_then(|p| p.get(&(req.device_address, endpoint)).cloned())
                    .unwrap_or_default();
                let offset = usize::from(req.offset).min(answer.len());
                async move { Ok(answer[offset..].to_vec()) }.boxed()
            }),
            ..Default::default()
        }),
        write: Some(CharacteristicWrite {
            write: true,
            method: CharacteristicWriteMethod::Fun(Box::new(move |value, req| {
                let session = session_of(req.device_address);
                let result = match write_device.lock() {
                    Ok(mut device) => device.handle(session, endpoint, &value),
                    Err(_) => Err(DeviceError::Disconnected),
                };
                let pending = write_pending.clone();
                async move {
                    match result {
                        Ok(answer) => {
                            if let Ok(mut p) = pending.lock() {
                                p.insert((req.device_address, endpoint), answer);
                            }
                            Ok(())
                        }
                        Err(DeviceError::Dropped) => {
                            tokio::time::sleep(crate::http::DROP_HOLD).await;
                            Err(ReqError::Failed)
                        }
                        Err(err) => {
                            tracing::debug!(endpoint, session, %err, "the device closed the session");
                            Err(ReqError::Failed)
                        }
                    }
                }
                .boxed()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// How often the advertisement is refreshed.
const ADVERTISING_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

fn advertisement(name: &str, sequence: u8) -> Advertisement {
    Advertisement {
        service_uuids: [SERVICE_UUID].into_iter().collect(),
        service_data: [(SERVICE_UUID, vec![sequence])].into_iter().collect(),
        local_name: Some(name.to_owned()),
        discoverable: Some(true),
        ..Default::default()
    }
}

/// Re-registers the advertisement every [`ADVERTISING_PERIOD`] with the next sequence byte as
/// service data, so a central's scan sees fresh advertising reports (a radio gives
/// fresh RSSI; BlueZoo reports a device again only when its advertised data changes). The new
/// one is registered before the old one goes, so advertising never pauses.
async fn readvertise(bt: bluer::Adapter, name: String, mut current: AdvertisementHandle) {
    let mut sequence = 0u8;
    loop {
        tokio::time::sleep(ADVERTISING_PERIOD).await;
        sequence = sequence.wrapping_add(1);
        match bt.advertise(advertisement(&name, sequence)).await {
            Ok(next) => drop(std::mem::replace(&mut current, next)),
            Err(err) => {
                tracing::debug!(%err, "re-advertising failed; keeping the old advertisement")
            }
        }
    }
}

/// Serves `device` on the local adapter `adapter` (`hci1`), advertising its configured name and
/// [`SERVICE_UUID`]. Uses the system bus (`DBUS_SYSTEM_BUS_ADDRESS`).
pub async fn serve(
    device: Arc<Mutex<Device>>,
    adapter: &str,
) -> Result<BlePeripheral, BleServeError> {
    serve_with(device, adapter, true).await
}

/// [`serve`], with `named: false` like old ESP firmware: no 0x2901 user descriptions, so a
/// client must fall back to the fixed `FF4F`–`FF53` ids (and cannot find custom endpoints).
pub async fn serve_with(
    device: Arc<Mutex<Device>>,
    adapter: &str,
    named: bool,
) -> Result<BlePeripheral, BleServeError> {
    let name = device
        .lock()
        .map(|d| d.config().name.clone())
        .unwrap_or_default();
    let session = bluer::Session::new()
        .await
        .map_err(bluez("connecting to BlueZ"))?;
    let bt = session
        .adapter(adapter)
        .map_err(bluez("opening the adapter"))?;
    bt.set_powered(true)
        .await
        .map_err(bluez("powering the adapter"))?;
    let address = bt
        .address()
        .await
        .map_err(bluez("reading the adapter address"))?;
    let pending: Pending = Arc::default();
    let app = Application {
        services: vec![
            Service {
                uuid: SERVICE_UUID,
                primary: true,
                characteristics: ENDPOINTS
                    .iter()
                    .map(|(id, endpoint)| characteristic(&device, &pending, *id, endpoint, named))
                    .collect(),
                ..Default::default()
            },
            cairn_service(&device)?,
            ess_service(&device),
        ],
        ..Default::default()
    };
    let app = bt
        .serve_gatt_application(app)
        .await
        .map_err(bluez("registering the GATT application"))?;
    let first = bt
        .advertise(advertisement(&name, 0))
        .await
        .map_err(bluez("advertising"))?;
    let advertiser = tokio::spawn(readvertise(bt, name.clone(), first));
    Ok(BlePeripheral {
        adapter: adapter.to_owned(),
        address: address.to_string(),
        name,
        _app: app,
        advertiser,
        _session: session,
    })
}
