//! ESP's BLE provisioning transport over btleplug (a BLE central; on Linux it talks to BlueZ over
//! D-Bus, so BlueZoo stands in for a radio in tests).
//!
//! [`scan`] lists devices advertising a service (the filter is btleplug's `ScanFilter`).
//! [`Ble::connect`] finds a device by its advertised name, connects, discovers its services and
//! maps endpoint names to characteristics through their 0x2901 user-description descriptors,
//! falling back to ESP's fixed `FF4F`–`FF53` characteristic ids on firmware without them. Each
//! [`Transport::send`] is a write-with-response followed by a read of the same characteristic
//! (what `protocomm_ble` expects), each under the transport's timeout. Values above the ATT limit
//! are refused before anything is written; values above the link's MTU go as long writes/reads,
//! which BlueZ splits at the negotiated MTU. [`Transport::reset`] (and a send that finds the
//! link gone) reconnects: on BLE a connection is a protocomm session.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use ble_provisioning::transport::{Transport, TransportError};
use btleplug::api::{
    Central, Characteristic, Manager as _, Peripheral as _, ScanFilter, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures::{Stream, StreamExt};
use tokio::sync::Mutex;
use uuid::Uuid;

/// The provisioning service ESP-IDF's examples advertise.
pub const ESP_SERVICE_UUID: Uuid = Uuid::from_u128(0x021a_9004_0382_4aea_bff4_6b3f_1c5a_dfb4);
/// The 0x2901 Characteristic User Description descriptor that names an endpoint.
pub const USER_DESCRIPTION_UUID: Uuid = Uuid::from_u128(0x0000_2901_0000_1000_8000_0080_5f9b_34fb);
/// The largest attribute value ATT allows (a long write/read cannot go past it).
pub const MAX_ATTRIBUTE_LEN: usize = 512;
/// Default time one connect, write or read may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the adapter's device list is polled while looking for a device.
const POLL: Duration = Duration::from_millis(200);

/// ESP's fixed characteristic ids (bytes 2–3 of the service UUID replaced), used when a device
/// has no user descriptions: `(id, endpoint)`.
pub const FALLBACK_ENDPOINTS: [(u16, &str); 5] = [
    (0xFF4F, "prov-scan"),
    (0xFF50, "prov-ctrl"),
    (0xFF51, "prov-session"),
    (0xFF52, "prov-config"),
    (0xFF53, "proto-ver"),
];

/// The characteristic UUID ESP derives for endpoint id `id` under `service`.
pub fn endpoint_uuid(service: Uuid, id: u16) -> Uuid {
    let mut bytes = *service.as_bytes();
    let [hi, lo] = id.to_be_bytes();
    bytes[2] = hi;
    bytes[3] = lo;
    Uuid::from_bytes(bytes)
}

fn io(what: &str, err: impl std::fmt::Display) -> TransportError {
    TransportError::Io(format!("{what}: {err}"))
}

async fn bounded<T>(
    endpoint: &str,
    timeout: Duration,
    fut: impl Future<Output = btleplug::Result<T>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(btleplug::Error::NotConnected | btleplug::Error::DeviceNotFound)) => {
            Err(TransportError::Disconnected {
                endpoint: endpoint.to_owned(),
                detail: "the link is gone".into(),
            })
        }
        Ok(Err(err)) => Err(TransportError::Rejected {
            endpoint: endpoint.to_owned(),
            detail: err.to_string(),
        }),
        Err(_) => Err(TransportError::Timeout {
            endpoint: endpoint.to_owned(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// The local Bluetooth adapter named `name` (`hci0`), or the first one.
pub async fn adapter(name: Option<&str>) -> Result<Adapter, TransportError> {
    let manager = Manager::new().await.map_err(|err| {
        io(
            "cannot reach the Bluetooth stack (is bluetoothd running?)",
            err,
        )
    })?;
    let adapters = manager
        .adapters()
        .await
        .map_err(|err| io("listing Bluetooth adapters", err))?;
    let mut names = Vec::new();
    for adapter in adapters {
        let info = adapter.adapter_info().await.unwrap_or_default();
        let id = info.split(' ').next().unwrap_or_default().to_owned();
        if name.is_none_or(|wanted| wanted == id) {
            return Ok(adapter);
        }
        names.push(id);
    }
    Err(TransportError::Io(match name {
        Some(wanted) => format!(
            "no Bluetooth adapter `{wanted}` (have: {})",
            names.join(", ")
        ),
        None => "no Bluetooth adapter: plug one in or start bluetoothd".into(),
    }))
}

/// A device seen while scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its advertised name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// The services it advertises.
    pub services: Vec<Uuid>,
    /// Signal strength, when known.
    pub rssi: Option<i16>,
}

async fn found(peripheral: &Peripheral) -> Option<Found> {
    let props = peripheral.properties().await.ok()??;
    Some(Found {
        name: props.local_name.or(props.advertisement_name)?,
        address: props.address.to_string(),
        services: props.services,
        rssi: props.rssi,
    })
}

/// Scans for `duration` and lists the devices advertising `service` (any, when `None`).
pub async fn scan(
    adapter: &Adapter,
    service: Option<Uuid>,
    duration: Duration,
) -> Result<Vec<Found>, TransportError> {
    let filter = ScanFilter {
        services: service.into_iter().collect(),
    };
    adapter
        .start_scan(filter)
        .await
        .map_err(|err| io("starting a BLE scan", err))?;
    tokio::time::sleep(duration).await;
    let peripherals = adapter.peripherals().await;
    let _ = adapter.stop_scan().await;
    let mut out = Vec::new();
    for peripheral in peripherals.map_err(|err| io("listing scanned devices", err))? {
        if let Some(device) = found(&peripheral).await
            && service.is_none_or(|s| device.services.contains(&s))
        {
            out.push(device);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.address.cmp(&b.address)));
    Ok(out)
}

/// Scans until a device named `name` (or with that address) advertises `service` (any, when `None`), for at most
/// `timeout`.
async fn find(
    adapter: &Adapter,
    name: &str,
    service: Option<Uuid>,
    timeout: Duration,
) -> Result<Peripheral, TransportError> {
    let filter = ScanFilter {
        services: service.into_iter().collect(),
    };
    adapter
        .start_scan(filter)
        .await
        .map_err(|err| io("starting a BLE scan", err))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let result = loop {
        let peripherals = adapter
            .peripherals()
            .await
            .map_err(|err| io("listing scanned devices", err))?;
        let mut hit = None;
        for peripheral in peripherals {
            if found(&peripheral)
                .await
                .is_some_and(|d| d.name == name || d.address.eq_ignore_ascii_case(name))
            {
                hit = Some(peripheral);
                break;
            }
        }
        if let Some(peripheral) = hit {
            break Ok(peripheral);
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(TransportError::Io(format!(
                "no device named `{name}` advertising within {} s: is it powered and in \
                 provisioning mode?",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    };
    let _ = adapter.stop_scan().await;
    result
}

/// Maps endpoint names to characteristics of `service` (any service when `None`): user
/// descriptions first, ESP's fixed ids otherwise.
async fn map_endpoints(
    peripheral: &Peripheral,
    service: Option<Uuid>,
    timeout: Duration,
) -> Result<HashMap<String, Characteristic>, TransportError> {
    let chars: Vec<Characteristic> = peripheral
        .characteristics()
        .into_iter()
        .filter(|c| service.is_none_or(|s| c.service_uuid == s))
        .collect();
    let mut map = HashMap::new();
    for chr in &chars {
        for desc in &chr.descriptors {
            if desc.uuid != USER_DESCRIPTION_UUID {
                continue;
            }
            let value = bounded("0x2901", timeout, peripheral.read_descriptor(desc)).await?;
            let name = String::from_utf8_lossy(&value)
                .trim_end_matches('\0')
                .to_lowercase();
            if !name.is_empty() {
                map.insert(name, chr.clone());
            }
        }
    }
    if map.is_empty() {
        for chr in &chars {
            for (id, endpoint) in FALLBACK_ENDPOINTS {
                if chr.uuid == endpoint_uuid(chr.service_uuid, id) {
                    map.insert(endpoint.to_owned(), chr.clone());
                }
            }
        }
    }
    if !map.contains_key("prov-session") {
        return Err(TransportError::Io(format!(
            "the device has no provisioning service (no `prov-session` characteristic among {} \
             characteristics): is it an ESP provisioning device?",
            chars.len()
        )));
    }
    Ok(map)
}

struct Link {
    peripheral: Peripheral,
    endpoints: HashMap<String, Characteristic>,
}

/// The BLE transport to one device.
pub struct Ble {
    adapter: Adapter,
    name: String,
    service: Option<Uuid>,
    timeout: Duration,
    link: Mutex<Option<Link>>,
}

impl std::fmt::Debug for Ble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ble")
            .field("name", &self.name)
            .field("service", &self.service)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Ble {
    /// Finds the device advertising as `name` (and `service`, when given), connects and maps its
    /// endpoints; every step is bounded by `timeout`.
    pub async fn connect(
        adapter: Adapter,
        name: &str,
        service: Option<Uuid>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let ble = Self {
            adapter,
            name: name.to_owned(),
            service,
            timeout,
            link: Mutex::new(None),
        };
        let link = ble.open().await?;
        *ble.link.lock().await = Some(link);
        Ok(ble)
    }

    async fn open(&self) -> Result<Link, TransportError> {
        let peripheral = find(&self.adapter, &self.name, self.service, self.timeout).await?;
        if !peripheral.is_connected().await.unwrap_or(false) {
            bounded("connect", self.timeout, peripheral.connect()).await?;
        }
        bounded("discover", self.timeout, peripheral.discover_services()).await?;
        let endpoints = map_endpoints(&peripheral, self.service, self.timeout).await?;
        tracing::debug!(name = %self.name, mtu = peripheral.mtu(), endpoints = ?endpoints.keys(), "BLE link up");
        Ok(Link {
            peripheral,
            endpoints,
        })
    }

    /// The endpoint names the device exposes.
    pub async fn endpoints(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .link
            .lock()
            .await
            .as_ref()
            .map(|l| l.endpoints.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The link's ATT MTU (23 until negotiated).
    pub async fn mtu(&self) -> u16 {
        self.link
            .lock()
            .await
            .as_ref()
            .map_or(23, |l| l.peripheral.mtu())
    }

    /// Notifications from `endpoint`'s characteristic (subscribes first).
    pub async fn notifications(
        &self,
        endpoint: &str,
    ) -> Result<Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>, TransportError> {
        let guard = self.link.lock().await;
        let link = guard.as_ref().ok_or_else(|| TransportError::Disconnected {
            endpoint: endpoint.to_owned(),
            detail: "not connected".into(),
        })?;
        let chr = link
            .endpoints
            .get(endpoint)
            .ok_or_else(|| TransportError::UnknownEndpoint(endpoint.to_owned()))?
            .clone();
        bounded(endpoint, self.timeout, link.peripheral.subscribe(&chr)).await?;
        let stream = bounded(endpoint, self.timeout, link.peripheral.notifications()).await?;
        Ok(stream
            .filter_map(move |n| {
                let keep = (n.uuid == chr.uuid).then_some(n.value);
                async move { keep }
            })
            .boxed())
    }

    /// Reads a characteristic by UUID (plain GATT values such as Environmental Sensing ones).
    pub async fn read_characteristic(&self, uuid: Uuid) -> Result<Vec<u8>, TransportError> {
        let guard = self.link.lock().await;
        let link = guard.as_ref().ok_or_else(|| TransportError::Disconnected {
            endpoint: uuid.to_string(),
            detail: "not connected".into(),
        })?;
        let chr = link
            .peripheral
            .characteristics()
            .into_iter()
            .find(|c| c.uuid == uuid)
            .ok_or_else(|| TransportError::UnknownEndpoint(uuid.to_string()))?;
        bounded(&uuid.to_string(), self.timeout, link.peripheral.read(&chr)).await
    }

    /// Disconnects.
    pub async fn disconnect(&self) {
        if let Some(link) = self.link.lock().await.take() {
            let _ = tokio::time::timeout(self.timeout, link.peripheral.disconnect()).await;
        }
    }

    async fn exchange(
        link: &Link,
        endpoint: &str,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let chr = link
            .endpoints
            .get(endpoint)
            .ok_or_else(|| TransportError::UnknownEndpoint(endpoint.to_owned()))?;
        bounded(
            endpoint,
            timeout,
            link.peripheral.write(chr, data, WriteType::WithResponse),
        )
        .await?;
        bounded(endpoint, timeout, link.peripheral.read(chr)).await
    }
}

#[async_trait]
impl Transport for Ble {
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        if data.len() > MAX_ATTRIBUTE_LEN {
            return Err(TransportError::Rejected {
                endpoint: endpoint.to_owned(),
                detail: format!(
                    "{} bytes do not fit one GATT attribute (at most {MAX_ATTRIBUTE_LEN})",
                    data.len()
                ),
            });
        }
        let mut guard = self.link.lock().await;
        if guard.is_none() {
            *guard = Some(self.open().await?);
        }
        let link = guard
            .as_ref()
            .ok_or_else(|| TransportError::Io("no link".into()))?;
        let result = Self::exchange(link, endpoint, data, self.timeout).await;
        if matches!(
            result,
            Err(TransportError::Disconnected { .. }) | Err(TransportError::Timeout { .. })
        ) {
            // Drop the link: the next send (a new session) reconnects.
            if let Some(link) = guard.take() {
                let _ = tokio::time::timeout(self.timeout, link.peripheral.disconnect()).await;
            }
        }
        result
    }

    async fn reset(&self) -> Result<(), TransportError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.take() {
            let _ = tokio::time::timeout(self.timeout, link.peripheral.disconnect()).await;
        }
        *guard = Some(self.open().await?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_ids_replace_bytes_two_and_three_like_esp() {
        assert_eq!(
            endpoint_uuid(ESP_SERVICE_UUID, 0xFF51).to_string(),
            "021aff51-0382-4aea-bff4-6b3f1c5adfb4"
        );
        let base = Uuid::from_u128(0x0000_ffff_0000_1000_8000_0080_5f9b_34fb);
        assert_eq!(
            endpoint_uuid(base, 0xFF53).to_string(),
            "0000ff53-0000-1000-8000-00805f9b34fb"
        );
    }
}
