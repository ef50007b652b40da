//! Files passing between the daemon's page and the node, so a browser stores and fetches files
//! from its own disk rather than the daemon's.
//!
//! - Upload (`POST /api/files/upload?name=…&copies=…`, the bytes as the body): streamed into a
//!   folder of its own in the spool, stored on the network through the runtime (as a file the
//!   daemon was given a path to), then deleted: the daemon keeps no copy.
//! - Download (`POST /api/files/download`): the object is fetched into the spool, every chunk
//!   verified, and served under a link (`GET /api/downloads/<ticket>`, 128 random bits, no token:
//!   a browser download cannot send one) for [`LINK_TTL`], byte ranges included, then deleted.
//!
//! The spool is `browser-files` in the data directory, emptied when the daemon starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use protocol::api::{
    DownloadFile, DownloadReady, FetchFile, HTTP_DOWNLOADS_PATH, NodeState, StoreFile, UploadFile,
};
use tokio::io::AsyncWriteExt as _;
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use super::{AppState, BadRequest, answer, api_error, request};

/// The spool's folder in the data directory.
pub(crate) const SPOOL_DIR: &str = "browser-files";
/// How long a download link stays valid (its file is deleted after).
pub(crate) const LINK_TTL: Duration = Duration::from_secs(600);
/// How often expired links are swept.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest file name taken (bytes): what common file systems allow.
const MAX_NAME: usize = 255;

/// The spool and the download links it serves.
pub(crate) struct Spool {
    dir: PathBuf,
    links: Mutex<HashMap<String, Link>>,
}

struct Link {
    file: PathBuf,
    name: String,
    expires: Instant,
}

impl Spool {
    /// The spool in `data_dir`, emptied: what a stopped daemon left there is no one's.
    pub(crate) fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join(SPOOL_DIR);
        match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            links: Mutex::default(),
        })
    }

    /// A new folder of its own, and its random name.
    fn new_folder(&self) -> std::io::Result<(String, PathBuf)> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let ticket = hex::encode(random);
        let folder = self.dir.join(&ticket);
        std::fs::create_dir(&folder)?;
        Ok((ticket, folder))
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<String, Link>> {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes the expired links' files.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .links()
            .iter()
            .filter(|(_, link)| link.expires <= now)
            .map(|(ticket, _)| ticket.clone())
            .collect();
        for ticket in expired {
            self.links().remove(&ticket);
            remove_folder(&self.dir.join(&ticket));
        }
    }
}

fn remove_folder(folder: &Path) {
    if let Err(err) = std::fs::remove_dir_all(folder)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(folder = %folder.display(), %err, "cannot remove a spooled file");
    }
}

/// `name` if it is a plain file name: no folder, not `.` or `..`, at most [`MAX_NAME`] bytes.
fn plain_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("give the file's name: ?name=photo.jpg&copies=2".into());
    }
    if name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "{name:?} is not a file name: give the name alone, without a folder"
        ));
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "a file name of {} bytes is too long: at most {MAX_NAME}",
            name.len()
        ));
    }
    Ok(name)
}

/// What refuses an upload before its bytes arrive: no node, a node not running, copies out of
/// range, a date to keep it until that is past, a size the network does not store.
fn refuse_early(state: &AppState, upload: &UploadFile, length: Option<u64>) -> Option<Response> {
    match state.runtime.status().node {
        NodeState::Running(_) => {}
        NodeState::Off => return Some(answer::<()>(Err(runtime::Error::NoNode))),
        _ => {
            return Some(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "the node is not running yet (its status says why); files are stored through it",
            ));
        }
    }
    if let Err(err) = runtime::check_storing(upload.copies, upload.keep_until) {
        return Some(answer::<()>(Err(err)));
    }
    match length {
        Some(0) => Some(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the file is empty: there is nothing to store",
        )),
        Some(length) if length > node::content::MAX_OBJECT_SIZE => Some(too_large(length)),
        _ => None,
    }
}

fn too_large(length: u64) -> Response {
    api_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        &format!(
            "the file has {length} bytes or more: this version stores files of up to {} bytes (16 GiB)",
            node::content::MAX_OBJECT_SIZE
        ),
    )
}

/// `POST /api/files/upload`: see the module's doc.
pub(super) async fn upload(
    State(state): State<AppState>,
    query: Result<Query<UploadFile>, QueryRejection>,
    request: Request,
) -> Response {
    let upload = match query {
        Ok(Query(upload)) => upload,
        Err(rejection) => {
            return BadRequest(format!(
                "give the file's name and the copies in the query, like ?name=photo.jpg&copies=2, and the file's bytes as the body ({})",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    let name = match plain_name(&upload.name) {
        Ok(name) => name.to_owned(),
        Err(why) => return BadRequest(why).into_response(),
    };
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(refused) = refuse_early(&state, &upload, length) {
        return refused;
    }
    let (_, folder) = match state.spool.new_folder() {
        Ok(made) => made,
        Err(err) => return spool_failed(&state.spool.dir, &err),
    };
    let file = folder.join(&name);
    let response = match receive(request.into_body(), &file).await {
        Ok(0) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the file is empty: there is nothing to store",
        ),
        Ok(bytes) => {
            tracing::info!(%name, bytes, "file received from the browser; storing it");
            let stored = state
                .runtime
                .store_sent_file(StoreFile {
                    path: file.display().to_string(),
                    copies: upload.copies,
                    keep_until: upload.keep_until,
                })
                .await;
            answer(stored)
        }
        Err(Received::TooLarge(bytes)) => too_large(bytes),
        Err(Received::Body(err)) => BadRequest(format!(
            "the upload broke off ({err}); nothing was stored, send the file again"
        ))
        .into_response(),
        Err(Received::Disk(err)) => spool_failed(&state.spool.dir, &err),
    };
    remove_folder(&folder);
    response
}

/// Why a body could not be received into the spool.
enum Received {
    TooLarge(u64),
    Body(axum::Error),
    Disk(std::io::Error),
}

/// Streams `body` into `file`; returns its size.
async fn receive(body: Body, file: &Path) -> Result<u64, Received> {
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(Received::Disk)?;
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(data) = stream.next().await {
        let data = data.map_err(Received::Body)?;
        received += data.len() as u64;
        if received > node::content::MAX_OBJECT_SIZE {
            return Err(Received::TooLarge(received));
        }
        out.write_all(&data).await.map_err(Received::Disk)?;
    }
    out.flush().await.map_err(Received::Disk)?;
    Ok(received)
}

fn spool_failed(dir: &Path, err: &std::io::Error) -> Response {
    let (status, hint) = if err.kind() == std::io::ErrorKind::StorageFull {
        (
            StatusCode::INSUFFICIENT_STORAGE,
            "the daemon's disk is full: free room there, or store the file by its path on the daemon's machine",
        )
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "check that the daemon's data directory is writable",
        )
    };
    api_error(
        status,
        "spool",
        &format!("cannot hold the file in {} ({err}); {hint}", dir.display()),
    )
}

/// `POST /api/files/download`: see the module's doc.
pub(super) async fn download(
    State(state): State<AppState>,
    body: Result<Json<DownloadFile>, JsonRejection>,
) -> Result<Response, BadRequest> {
    let request = request(body, r#"{"id": "<64 hex digits>"}"#)?;
    let id = request.id.trim().to_owned();
    // Saved under its name in the list; a plain name only, else its id.
    let listed = match state.runtime.status().node {
        NodeState::Running(info) => info.files,
        _ => Vec::new(),
    };
    let name = listed
        .into_iter()
        .find(|file| file.id == id)
        .and_then(|file| plain_name(&file.name).ok().map(str::to_owned))
        .unwrap_or_else(|| id.clone());
    state.spool.sweep();
    let (ticket, folder) = match state.spool.new_folder() {
        Ok(made) => made,
        Err(err) => return Ok(spool_failed(&state.spool.dir, &err)),
    };
    let file = folder.join(&name);
    let fetched = state
        .runtime
        .fetch_file(FetchFile {
            id,
            output: file.display().to_string(),
        })
        .await;
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(err) => {
            remove_folder(&folder);
            return Ok(answer::<()>(Err(err)));
        }
    };
    state.spool.links().insert(
        ticket.clone(),
        Link {
            file,
            name: name.clone(),
            expires: Instant::now() + LINK_TTL,
        },
    );
    Ok(Json(DownloadReady {
        url: format!("{HTTP_DOWNLOADS_PATH}/{ticket}"),
        name,
        bytes: fetched.bytes,
        holders: fetched.holders,
        expires_in: LINK_TTL.as_secs(),
    })
    .into_response())
}

/// `GET /api/downloads/<ticket>`: the file, as an attachment, with byte ranges.
pub(super) async fn serve_link(
    State(state): State<AppState>,
    UrlPath(ticket): UrlPath<String>,
    request: Request,
) -> Response {
    state.spool.sweep();
    let found = state
        .spool
        .links()
        .get(&ticket)
        .map(|link| (link.file.clone(), link.name.clone()));
    let Some((file, name)) = found else {
        return api_error(
            StatusCode::NOT_FOUND,
            "no_download",
            &format!(
                "this download link has expired (links last {} minutes) or never existed; download the file again from the page",
                LINK_TTL.as_secs() / 60
            ),
        );
    };
    let Ok(mut response) = ServeFile::new(file).oneshot(request).await;
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_DISPOSITION, attachment(&name));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response.map(Body::new)
}

/// `Content-Disposition: attachment` naming `name`: an ASCII fallback and the UTF-8 name
/// (RFC 6266, RFC 8187).
fn attachment(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_taken() {
        assert_eq!(plain_name("  photo.jpg "), Ok("photo.jpg"));
        assert_eq!(plain_name("été 2026.png"), Ok("été 2026.png"));
        for bad in ["", "  ", ".", "..", "a/b", "../x", "a\\b", "a\0b"] {
            let err = plain_name(bad).unwrap_err();
            assert!(
                err.contains("not a file name") || err.contains("give the file's name"),
                "{bad:?}: {err}"
            );
        }
        let long = "x".repeat(MAX_NAME + 1);
        assert!(plain_name(&long).unwrap_err().contains("too long"));
        assert!(plain_name(&long[1..]).is_ok());
    }

    #[test]
    fn an_attachment_names_the_file_in_ascii_and_in_utf8() {
        assert_eq!(
            attachment("notes.bin"),
            "attachment; filename=\"notes.bin\"; filename*=UTF-8''notes.bin"
        );
        assert_eq!(
            attachment("été \"2026\".png"),
            "attachment; filename=\"_t_ _2026_.png\"; filename*=UTF-8''%C3%A9t%C3%A9%20%222026%22.png"
        );
    }

    #[test]
    fn the_spool_is_emptied_at_start_and_expired_links_are_deleted() {
        let data = tempfile::tempdir().unwrap();
        let left = data.path().join(SPOOL_DIR).join("left-over");
        std::fs::create_dir_all(&left).unwrap();
        std::fs::write(left.join("a.bin"), b"old").unwrap();
        let spool = Spool::open(data.path()).unwrap();
        assert!(!left.exists(), "emptied at start");
        let (fresh, fresh_dir) = spool.new_folder().unwrap();
        let (old, old_dir) = spool.new_folder().unwrap();
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, old);
        for (ticket, dir, expires) in [
            (&fresh, &fresh_dir, Instant::now() + LINK_TTL),
            (&old, &old_dir, Instant::now()),
        ] {
            std::fs::write(dir.join("f"), b"x").unwrap();
            spool.links().insert(
                ticket.clone(),
                Link {
                    file: dir.join("f"),
                    name: "f".into(),
                    expires,
                },
            );
        }
        spool.sweep();
        assert!(fresh_dir.join("f").exists());
        assert!(!old_dir.exists());
        assert!(spool.links().contains_key(&fresh));
        assert!(!spool.links().contains_key(&old));
    }
}
