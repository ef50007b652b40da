//! `cairn daemon`: the runtime with no window, its UI and JSON API served on loopback only.
//!
//! Routes: the built UI at `/` (public: it holds no data), `GET /api/health` (public liveness),
//! `GET /api/status`, `PUT /api/chain`, `PUT /api/light-client`, `PUT /api/node/quota`,
//! `PUT /api/node/stake`, `PUT /api/node/market`, `POST /api/node/earnings/withdraw`,
//! `POST /api/files`, `POST /api/files/upload`, `POST /api/files/download`,
//! `POST /api/files/fetch`, `POST /api/files/forget` and `POST /api/files/refunds/withdraw` (all
//! require `Authorization: Bearer <token>`, the per-install token from `runtime::token`), and
//! `GET /api/downloads/<ticket>` (the ticket is the secret; see [`browser_files`]). Errors are translated once here ([`api_error`]) into
//! an HTTP status and a JSON `protocol::api::ApiError` body.

mod browser_files;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use protocol::api::{
    ApiError, FetchFile, ForgetFile, HTTP_CHAIN_PATH, HTTP_DOWNLOAD_FILE_PATH, HTTP_DOWNLOADS_PATH,
    HTTP_FETCH_FILE_PATH, HTTP_FILES_PATH, HTTP_FORGET_FILE_PATH, HTTP_HEALTH_PATH,
    HTTP_LIGHT_CLIENT_PATH, HTTP_NODE_MARKET_PATH, HTTP_NODE_QUOTA_PATH, HTTP_NODE_STAKE_PATH,
    HTTP_STATUS_PATH, HTTP_UPLOAD_FILE_PATH, HTTP_WITHDRAW_EARNINGS_PATH,
    HTTP_WITHDRAW_REFUNDS_PATH, SetChain, SetLightClient, SetNodeMarket, SetNodeQuota,
    SetNodeStake, Status, StoreFile, TOKEN_FRAGMENT_KEY,
};
use runtime::token::ApiToken;
use tower_http::services::{ServeDir, ServeFile};

/// Where `cargo xtask` puts the built UI, relative to this crate.
pub(crate) const DEFAULT_UI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/dist");

#[derive(Clone)]
struct AppState {
    runtime: runtime::Handle,
    token: Arc<ApiToken>,
    spool: Arc<browser_files::Spool>,
}

/// Runs the daemon until Ctrl-C or SIGTERM.
pub(crate) async fn run(
    config: runtime::Config,
    listen: SocketAddr,
    ui_dir: PathBuf,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve on {listen}: the daemon API only listens on loopback; use 127.0.0.1 or [::1] and reach it through an SSH tunnel or a reverse proxy"
        );
    }
    let index = ui_dir.join("index.html");
    if !index.is_file() {
        anyhow::bail!(
            "the UI is not built: {} is missing; run `cargo xtask build-ui` or pass --ui-dir",
            index.display()
        );
    }
    let token = runtime::token::load_or_create(&config.data_dir)?;
    let spool = Arc::new(
        browser_files::Spool::open(&config.data_dir).with_context(|| {
            format!(
                "cannot prepare {} for files passing through the browser",
                config.data_dir.join(browser_files::SPOOL_DIR).display()
            )
        })?,
    );
    let (handle, event_loop) = runtime::start(config)?;
    let runtime_task = tokio::spawn(event_loop.run());
    let sweeper = tokio::spawn({
        let spool = Arc::clone(&spool);
        async move {
            let mut every = tokio::time::interval(browser_files::SWEEP_EVERY);
            loop {
                every.tick().await;
                spool.sweep();
            }
        }
    });

    let state = AppState {
        runtime: handle.clone(),
        token: Arc::new(token.clone()),
        spool,
    };
    let app = router(state, &ui_dir);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another daemon running?"))?;
    let local = listener.local_addr()?;
    crate::print_line(&format!(
        "Cairn UI: http://{local}/#{TOKEN_FRAGMENT_KEY}={}",
        token.expose()
    ));
    tracing::info!(%local, ui = %ui_dir.display(), "daemon serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .context("HTTP server failed")?;
    sweeper.abort();
    handle.shutdown().await.ok();
    runtime_task.await.ok();
    Ok(())
}

fn router(state: AppState, ui_dir: &std::path::Path) -> Router {
    let api = Router::new()
        .route(HTTP_STATUS_PATH, get(status))
        .route(HTTP_NODE_QUOTA_PATH, put(set_node_quota))
        .route(HTTP_NODE_STAKE_PATH, put(set_node_stake))
        .route(HTTP_LIGHT_CLIENT_PATH, put(set_light_client))
        .route(HTTP_NODE_MARKET_PATH, put(set_node_market))
        .route(HTTP_WITHDRAW_EARNINGS_PATH, post(withdraw_earnings))
        .route(HTTP_CHAIN_PATH, put(set_chain))
        .route(HTTP_FILES_PATH, post(store_file))
        .route(HTTP_FETCH_FILE_PATH, post(fetch_file))
        .route(HTTP_UPLOAD_FILE_PATH, post(browser_files::upload))
        .route(HTTP_DOWNLOAD_FILE_PATH, post(browser_files::download))
        .route(HTTP_FORGET_FILE_PATH, post(forget_file))
        .route(HTTP_WITHDRAW_REFUNDS_PATH, post(withdraw_refunds))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let ui = ServeDir::new(ui_dir).fallback(ServeFile::new(ui_dir.join("index.html")));
    Router::new()
        .merge(api)
        .route(HTTP_HEALTH_PATH, get(health))
        .route(
            &format!("{HTTP_DOWNLOADS_PATH}/{{ticket}}"),
            get(browser_files::serve_link),
        )
        .fallback_service(ui)
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "version": protocol::VERSION }))
}

async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(state.runtime.status())
}

async fn set_node_stake(
    State(state): State<AppState>,
    body: Result<Json<SetNodeStake>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(body, r#"{"tokens": 200}"#)?;
    Ok(answer(state.runtime.set_node_stake(request.tokens).await))
}

async fn set_node_quota(
    State(state): State<AppState>,
    body: Result<Json<SetNodeQuota>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(body, r#"{"quotaBytes": 10737418240}"#)?;
    Ok(answer(
        state.runtime.set_node_quota(request.quota_bytes).await,
    ))
}

async fn set_light_client(
    State(state): State<AppState>,
    body: Result<Json<SetLightClient>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let example = r#"{"settings": {"network": "mainnet", "endpoints": ["https://beacon.example"], "checkpoint": "0x<64 hex digits>"}} (or {"settings": null} to stop)"#;
    let request = request(body, example)?;
    Ok(answer(
        state.runtime.set_light_client(request.settings).await,
    ))
}

async fn set_node_market(
    State(state): State<AppState>,
    body: Result<Json<SetNodeMarket>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let example = r#"{"deploymentFile": "/path/to/deployment.json", "payout": "0x<40 hex digits>"} (payout optional)"#;
    let request = request(body, example)?;
    Ok(answer(state.runtime.set_node_market(request).await))
}

async fn set_chain(
    State(state): State<AppState>,
    body: Result<Json<SetChain>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let example = r#"{"settings": {"rpcUrl": "https://rpc.example", "network": "sepolia"}} (network optional; {"settings": null} returns to the daemon's --rpc-url, else the devnet)"#;
    let request = request(body, example)?;
    Ok(answer(state.runtime.set_chain(request.settings).await))
}

async fn store_file(
    State(state): State<AppState>,
    body: Result<Json<StoreFile>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(body, r#"{"path": "/path/to/file", "copies": 2}"#)?;
    Ok(answer(state.runtime.store_file(request).await))
}

async fn fetch_file(
    State(state): State<AppState>,
    body: Result<Json<FetchFile>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(
        body,
        r#"{"id": "<64 hex digits>", "output": "/path/to/new-file"}"#,
    )?;
    Ok(answer(state.runtime.fetch_file(request).await))
}

async fn forget_file(
    State(state): State<AppState>,
    body: Result<Json<ForgetFile>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(body, r#"{"id": "<64 hex digits>"}"#)?;
    Ok(answer(state.runtime.forget_file(request).await))
}

async fn withdraw_earnings(State(state): State<AppState>) -> Response {
    answer(state.runtime.withdraw_earnings().await)
}

async fn withdraw_refunds(State(state): State<AppState>) -> Response {
    answer(state.runtime.withdraw_refunds().await)
}

/// The request in `body`, or what to say instead: send JSON like `example` (answered as 400).
fn request<T>(body: Result<Json<T>, JsonRejection>, example: &str) -> Result<T, BadRequest> {
    body.map(|Json(request)| request).map_err(|rejection| {
        BadRequest(format!(
            "the body must be JSON like {example} with Content-Type: application/json ({})",
            rejection.body_text()
        ))
    })
}

/// A body that is not the route's request: answered as 400 `bad_request` with what to send.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        api_error(StatusCode::BAD_REQUEST, "bad_request", &self.0)
    }
}

/// The answer to a setting (quota, stake, market, light client: the status) or an action (a
/// withdrawal: what was paid), or the error as an HTTP status and code.
fn answer<T: serde::Serialize>(result: Result<T, runtime::Error>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err @ runtime::Error::Config(_)) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_setting",
            &err.to_string(),
        ),
        Err(err @ runtime::Error::NoNode) => {
            api_error(StatusCode::CONFLICT, "no_node", &err.to_string())
        }
        Err(err @ runtime::Error::Stake(_)) => {
            api_error(StatusCode::CONFLICT, "stake", &err.to_string())
        }
        Err(err @ runtime::Error::Withdraw(_)) => {
            api_error(StatusCode::CONFLICT, "withdraw", &err.to_string())
        }
        Err(err @ runtime::Error::Request(_)) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            &err.to_string(),
        ),
        Err(err @ runtime::Error::Storage(_)) => {
            api_error(StatusCode::SERVICE_UNAVAILABLE, "storage", &err.to_string())
        }
        Err(err @ runtime::Error::Stopped) => {
            api_error(StatusCode::SERVICE_UNAVAILABLE, "stopped", &err.to_string())
        }
        Err(err) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "settings",
            &err.to_string(),
        ),
    }
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ApiError {
        code: code.into(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

async fn require_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if state.token.matches(token.trim()) => next.run(request).await,
        Some(_) => unauthorized(
            "the API token is wrong; open the URL the daemon printed, or read the api-token file in its data directory",
        ),
        None => unauthorized(
            "this API needs `Authorization: Bearer <token>`; the token is in the URL the daemon printed and in the api-token file in its data directory",
        ),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = api_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}
