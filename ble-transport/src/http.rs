//! ESP's softAP provisioning transport: each endpoint is `POST http://<host>/<endpoint>` with
//! the message as the body (`application/x-www-form-urlencoded`, as `esp_prov` sends it); the
//! device's first answer sets a `session=<id>` cookie that every later request carries, which is
//! how `protocomm_httpd` keeps one session per client. Every request has a timeout.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ble_provisioning::transport::{Transport, TransportError};

/// Default time one request may take: a blocking Wi-Fi scan on a real device takes a few seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Connecting to the device's address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The softAP HTTP transport.
#[derive(Debug)]
pub struct Http {
    base: String,
    client: reqwest::Client,
    cookie: Mutex<Option<String>>,
    timeout: Duration,
}

impl Http {
    /// A transport to `host:port` (ESP's default is `192.168.4.1:80`).
    pub fn new(host_port: &str, timeout: Duration) -> Result<Self, TransportError> {
        if host_port.contains('/') || !host_port.contains(':') {
            return Err(TransportError::Io(format!(
                "`{host_port}` is not host:port (for example 192.168.4.1:80)"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .build()
            .map_err(|err| TransportError::Io(format!("HTTP client: {err}")))?;
        Ok(Self {
            base: format!("http://{host_port}"),
            client,
            cookie: Mutex::new(None),
            timeout,
        })
    }

    fn cookie(&self) -> Option<String> {
        self.cookie.lock().ok().and_then(|c| c.clone())
    }

    fn set_cookie(&self, value: Option<String>) {
        if let Ok(mut cookie) = self.cookie.lock() {
            *cookie = value;
        }
    }

    fn error(&self, endpoint: &str, err: &reqwest::Error) -> TransportError {
        if err.is_timeout() {
            TransportError::Timeout {
                endpoint: endpoint.to_owned(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }
        } else if err.is_connect() {
            TransportError::Io(format!("cannot reach {}: {err}", self.base))
        } else {
            TransportError::Disconnected {
                endpoint: endpoint.to_owned(),
                detail: err.to_string(),
            }
        }
    }
}

#[async_trait]
impl Transport for Http {
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut request = self
            .client
            .post(format!("{}/{endpoint}", self.base))
            .header("Content-type", "application/x-www-form-urlencoded")
            .header("Accept", "text/plain")
            .body(data.to_vec());
        if let Some(cookie) = self.cookie() {
            request = request.header("Cookie", cookie);
        }
        let response = request
            .send()
            .await
            .map_err(|err| self.error(endpoint, &err))?;
        if let Some(set) = response.headers().get("set-cookie")
            && let Ok(set) = set.to_str()
        {
            // Keep `name=value`, drop attributes.
            let pair = set.split(';').next().unwrap_or_default().trim().to_owned();
            self.set_cookie(Some(pair));
        }
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| self.error(endpoint, &err))?;
        match status.as_u16() {
            200 => Ok(body.to_vec()),
            404 => Err(TransportError::UnknownEndpoint(endpoint.to_owned())),
            code => Err(TransportError::Rejected {
                endpoint: endpoint.to_owned(),
                detail: format!(
                    "HTTP {code}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            }),
        }
    }

    async fn reset(&self) -> Result<(), TransportError> {
        self.set_cookie(None);
        Ok(())
    }
}
