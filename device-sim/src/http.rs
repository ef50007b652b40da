//! The simulator over HTTP, as ESP's softAP `protocomm_httpd`: `POST /<endpoint>`, a
//! `session=<id>` cookie set on a client's first request, HTTP 500 when the device closes the
//! session, 404 for an unknown endpoint. Injected faults: a dropped message is never answered
//! (the request is held for [`DROP_HOLD`], longer than any client timeout, then closed); a
//! disconnect aborts the response mid-body; truncation and resets happen in the device.
//!
//! The server is one task; [`Server`] aborts it on drop or on [`Server::shutdown`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ble_provisioning::device::{Device, DeviceError};

/// How long a dropped request is held before its connection is closed.
pub const DROP_HOLD: Duration = Duration::from_secs(20);

/// Session ids of cookie-less clients: this bit plus the client's (loopback) port.
const CONNECTION_SESSION: u64 = 1 << 62;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Only loopback addresses are served.
    #[error("the simulator only listens on loopback addresses, not {0}")]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct AppState {
    device: Arc<Mutex<Device>>,
}

/// A running HTTP simulator.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `device` on `listen` (loopback only; port 0 picks one).
pub async fn serve(device: Arc<Mutex<Device>>, listen: SocketAddr) -> Result<Server, ServeError> {
    if !listen.ip().is_loopback() {
        return Err(ServeError::NotLoopback(listen));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: listen,
        source,
    })?;
    let state = AppState { device };
    let app = Router::new()
        .route("/{endpoint}", axum::routing::post(endpoint))
        .with_state(state);
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "device simulator HTTP server stopped");
        }
    });
    Ok(Server { addr, task })
}

fn session_of(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("session="))
        .find_map(|id| id.parse().ok())
}

async fn endpoint(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, new_cookie) = match session_of(&headers) {
        Some(id) => (id, None),
        // Like `protocomm_httpd`, a client without the cookie is known by its connection
        // (esp_prov keeps one connection and, with Python's case-sensitive header lookup, never
        // sees hyper's lower-case `set-cookie`).
        None => {
            let id = CONNECTION_SESSION | u64::from(peer.port());
            (id, Some(format!("session={id}")))
        }
    };
    let result = match state.device.lock() {
        Ok(mut device) => device.handle(session, &endpoint, &body),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "device lock poisoned").into_response();
        }
    };
    let mut response = match result {
        Ok(answer) => (StatusCode::OK, answer).into_response(),
        Err(DeviceError::Dropped) => {
            tokio::time::sleep(DROP_HOLD).await;
            return StatusCode::REQUEST_TIMEOUT.into_response();
        }
        Err(DeviceError::Disconnected) => {
            let stream = futures::stream::iter([Err::<Bytes, std::io::Error>(
                std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated disconnect"),
            )]);
            Response::new(Body::from_stream(stream))
        }
        Err(DeviceError::UnknownEndpoint(name)) => {
            (StatusCode::NOT_FOUND, format!("no endpoint `{name}`")).into_response()
        }
        Err(err) => {
            tracing::debug!(%endpoint, session, %err, "the device closed the session");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
    };
    if let Some(cookie) = new_cookie
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
