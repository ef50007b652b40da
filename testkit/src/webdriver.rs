//! A minimal W3C WebDriver client: enough to open a session, find elements, read text and take
//! screenshots. It drives `chromedriver` (daemon UI in Chromium) and `tauri-driver` (the desktop
//! app through WebKitWebDriver) with the same code.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Error, Result};

/// Key of a web element reference in W3C WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Opening a session starts a browser or the app: allow a slow first start.
const SESSION_TIMEOUT: Duration = Duration::from_secs(120);

/// How often opening a session is tried when the driver drops the request unanswered.
const SESSION_ATTEMPTS: u32 = 20;

/// True when the request got no HTTP answer at all (connection refused, reset or closed early).
fn is_dropped(err: &reqwest::Error) -> bool {
    err.is_connect() || (err.is_request() && !err.is_timeout() && err.status().is_none())
}

/// One WebDriver session.
#[derive(Debug)]
pub struct WebDriver {
    http: reqwest::Client,
    session_url: String,
}

impl WebDriver {
    /// Opens a session on the server at `server` (for example `http://127.0.0.1:4444`).
    pub async fn connect(server: &str, capabilities: Value) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(SESSION_TIMEOUT)
            .build()?;
        let body = json!({ "capabilities": { "alwaysMatch": capabilities } });
        // tauri-driver accepts connections before the native driver it proxies to listens, and
        // then drops the request without an answer: retry that (and only that) a bounded number
        // of times. An answer from the driver, even an error, is final.
        let mut attempt = 1;
        let answer = loop {
            let result = send(
                "new session",
                http.post(format!("{server}/session")).json(&body),
            )
            .await;
            match result {
                Err(Error::Http(err)) if attempt < SESSION_ATTEMPTS && is_dropped(&err) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => break other?,
            }
        };
        let session_id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| Error::WebDriver {
                command: "new session".into(),
                detail: format!("no sessionId in {answer}"),
            })?;
        Ok(Self {
            session_url: format!("{server}/session/{session_id}"),
            http,
        })
    }

    /// Where the Chromium of [`WebDriver::chromium_capabilities`] saves downloads, without asking.
    pub fn chromium_downloads(user_data_dir: &std::path::Path) -> std::path::PathBuf {
        user_data_dir.join("Downloads")
    }

    /// Capabilities for Debian's Chromium, headless, as root, with no network chatter; downloads
    /// go to [`WebDriver::chromium_downloads`].
    pub fn chromium_capabilities(user_data_dir: &std::path::Path) -> Value {
        json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "prefs": {
                    "download.default_directory": Self::chromium_downloads(user_data_dir),
                    "download.prompt_for_download": false,
                },
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", user_data_dir.display()),
                ]
            }
        })
    }

    /// Starts `chromedriver` (Debian's, or `$CHROMEDRIVER`) on a free port and opens a headless
    /// Chromium session with a fresh profile in `profile`. Keep the guard alive as long as the session.
    pub async fn chromium(profile: &std::path::Path) -> Result<(crate::ChildGuard, Self)> {
        let chromedriver = crate::find_tool("chromedriver", "CHROMEDRIVER")?;
        let port = crate::free_port()?;
        let mut command = tokio::process::Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let guard = crate::ChildGuard::spawn("chromedriver", command)?;
        crate::wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(30)).await?;
        let session = Self::connect(
            &format!("http://127.0.0.1:{port}"),
            Self::chromium_capabilities(profile),
        )
        .await?;
        Ok((guard, session))
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("navigate", "url", json!({ "url": url }))
            .await
            .map(drop)
    }

    /// The current page URL.
    pub async fn current_url(&self) -> Result<String> {
        let value = self.get("current url", "url").await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Clears the form field matching `css` and types `text` into it, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let element = self.element(css).await?;
        self.post(
            "element clear",
            &format!("element/{element}/clear"),
            json!({}),
        )
        .await?;
        self.post(
            "element send keys",
            &format!("element/{element}/value"),
            json!({ "text": text }),
        )
        .await
        .map(drop)
    }

    /// Slows what the page sends to `bytes_per_second` (Chromium only, through the DevTools
    /// protocol chromedriver relays), as a slow uplink would.
    pub async fn throttle_uploads(&self, bytes_per_second: u64) -> Result<()> {
        for (cmd, params) in [
            ("Network.enable", json!({})),
            (
                "Network.emulateNetworkConditions",
                json!({
                    "offline": false,
                    "latency": 0,
                    "downloadThroughput": -1,
                    "uploadThroughput": bytes_per_second,
                }),
            ),
        ] {
            self.post(
                "DevTools command",
                "goog/cdp/execute",
                json!({ "cmd": cmd, "params": params }),
            )
            .await?;
        }
        Ok(())
    }

    /// Picks the file at `path` in the file input matching `css`, as a user would in its dialog.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) -> Result<()> {
        let element = self.element(css).await?;
        self.post(
            "element send keys",
            &format!("element/{element}/value"),
            json!({ "text": path.display().to_string() }),
        )
        .await
        .map(drop)
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self.element(css).await?;
        self.post(
            "element click",
            &format!("element/{element}/click"),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// The WebDriver id of the first element matching `css` (an error when there is none).
    async fn element(&self, css: &str) -> Result<String> {
        let value = self
            .post(
                "find element",
                "element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        Ok(value[ELEMENT_KEY].as_str().unwrap_or_default().to_owned())
    }

    /// The visible text of the first element matching `css`, if there is one.
    pub async fn text_of(&self, css: &str) -> Result<Option<String>> {
        let found = self
            .post(
                "find element",
                "element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        let element = match found {
            Ok(value) => value[ELEMENT_KEY].as_str().unwrap_or_default().to_owned(),
            Err(Error::WebDriver { detail, .. }) if detail.contains("no such element") => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let text = self
            .get("element text", &format!("element/{element}/text"))
            .await?;
        Ok(text.as_str().map(str::to_owned))
    }

    /// Waits until the element matching `css` has text accepted by `accept`, and returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(text) = self.text_of(css).await? {
                if accept(&text) {
                    return Ok(text);
                }
                last = Some(text);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{css} to show an accepted value (last seen: {last:?})"),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks `button`, then waits (up to `timeout`) for an element matching `shown` and
    /// returns its text: what a form says once submitted.
    pub async fn click_for(&self, button: &str, shown: &str, timeout: Duration) -> Result<String> {
        self.click(button).await?;
        self.wait_for_text(shown, timeout, |_| true).await
    }

    /// Runs `script` in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Result<Value> {
        self.post(
            "execute script",
            "execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// A PNG screenshot of the current window.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        let value = self.get("screenshot", "screenshot").await?;
        let encoded = value.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|err| Error::WebDriver {
                command: "screenshot".into(),
                detail: format!("not base64: {err}"),
            })
    }

    /// Ends the session (closes the browser or the app).
    pub async fn quit(self) -> Result<()> {
        send("delete session", self.http.delete(&self.session_url))
            .await
            .map(drop)
    }

    async fn post(&self, command: &str, path: &str, body: Value) -> Result<Value> {
        let request = self
            .http
            .post(format!("{}/{path}", self.session_url))
            .json(&body);
        send(command, request).await
    }

    async fn get(&self, command: &str, path: &str) -> Result<Value> {
        let request = self.http.get(format!("{}/{path}", self.session_url));
        send(command, request).await
    }
}

async fn send(command: &str, request: reqwest::RequestBuilder) -> Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|err| Error::WebDriver {
        command: command.to_owned(),
        detail: format!("HTTP {status}, body is not JSON: {err}"),
    })?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(Error::WebDriver {
            command: command.to_owned(),
            detail: format!(
                "HTTP {status}: {} {}",
                value["error"].as_str().unwrap_or_default(),
                value["message"].as_str().unwrap_or_default()
            ),
        });
    }
    Ok(value)
}
