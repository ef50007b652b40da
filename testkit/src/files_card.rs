//! The UI's "Your files on the network" card, driven as a user drives it: the app's window and
//! the daemon's page show the same card, so their tests share these steps.

use std::path::Path;
use std::time::Duration;

use crate::{Result, WebDriver};

/// How long a store or a fetch may take: discovery, a deal per copy, the transfer.
const TIMEOUT: Duration = Duration::from_secs(90);

/// Types `path` and `copies`, presses "Store", and returns what the card says it stored.
pub async fn store(ui: &WebDriver, path: &Path, copies: u32) -> Result<String> {
    fill_store(ui, path, copies).await?;
    ui.click_for("#node-store", "#node-stored-file", TIMEOUT)
        .await
}

/// As [`store`], for a store the UI refuses: returns the error line.
pub async fn store_refused(ui: &WebDriver, path: &Path, copies: u32) -> Result<String> {
    fill_store(ui, path, copies).await?;
    ui.click_for("#node-store", "#node-store-error", TIMEOUT)
        .await
}

async fn fill_store(ui: &WebDriver, path: &Path, copies: u32) -> Result<()> {
    ui.type_into("#node-store-path", &path.display().to_string())
        .await?;
    ui.type_into("#node-store-copies", &copies.to_string())
        .await
}

/// Stores `path` on `copies` providers, the file picked in the app's native file dialog
/// (titled `title`, answered on `display` as a user would), and returns what the card says.
pub async fn store_chosen(
    ui: &WebDriver,
    display: &crate::Xvfb,
    title: &str,
    path: &Path,
    copies: u32,
) -> Result<String> {
    ui.click("#node-store-choose").await?;
    display
        .answer_file_dialog(title, Some(path), crate::xvfb::FileDialog::Open)
        .await?;
    wait_for_value(ui, "#node-store-path", path).await?;
    ui.type_into("#node-store-copies", &copies.to_string())
        .await?;
    ui.click_for("#node-store", "#node-stored-file", TIMEOUT)
        .await
}

/// Opens the app's native file dialog (titled `title`) to store a file, cancels it on
/// `display`, and returns the store form's path field then: left as it was.
pub async fn store_chosen_cancelled(
    ui: &WebDriver,
    display: &crate::Xvfb,
    title: &str,
) -> Result<String> {
    ui.click("#node-store-choose").await?;
    display
        .answer_file_dialog(title, None, crate::xvfb::FileDialog::Open)
        .await?;
    value_of(ui, "#node-store-path").await
}

/// Fetches the first listed file to `output`, chosen in the app's native save dialog (titled
/// `title`, answered on `display`), and returns what the card says.
pub async fn fetch_first_chosen(
    ui: &WebDriver,
    display: &crate::Xvfb,
    title: &str,
    output: &Path,
) -> Result<String> {
    ui.click("#node-files li button.fetch").await?;
    ui.click("#node-fetch-choose").await?;
    display
        .answer_file_dialog(title, Some(output), crate::xvfb::FileDialog::Save)
        .await?;
    wait_for_value(ui, "#node-fetch-output", output).await?;
    ui.click_for("#node-fetch", "#node-fetched-file", TIMEOUT)
        .await
}

/// What the field `css` holds.
async fn value_of(ui: &WebDriver, css: &str) -> Result<String> {
    let value = ui
        .execute(&format!("return document.querySelector('{css}').value;"))
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// Waits until the field `css` holds `path`.
async fn wait_for_value(ui: &WebDriver, css: &str, path: &Path) -> Result<()> {
    let want = path.display().to_string();
    crate::eventually(&format!("{css} to hold {want}"), TIMEOUT, || {
        let read = value_of(ui, css);
        let want = want.clone();
        async move { (read.await.ok()? == want).then_some(()) }
    })
    .await
}

/// Picks `file` in the store form's file input (the daemon's page), types `copies`, presses
/// "Store", and returns what the card says it stored.
pub async fn upload(ui: &WebDriver, file: &Path, copies: u32) -> Result<String> {
    ui.choose_file("#node-store-pick", file).await?;
    ui.type_into("#node-store-copies", &copies.to_string())
        .await?;
    ui.click_for("#node-store", "#node-stored-file", TIMEOUT)
        .await
}

/// Sets the store form's "Keep until" date (`YYYY-MM-DD`) as its date picker would.
pub async fn keep_until(ui: &WebDriver, date: &str) -> Result<()> {
    ui.execute(&format!(
        "const input = document.querySelector('#node-store-keep'); input.value = '{date}'; \
         input.dispatchEvent(new Event('input', {{ bubbles: true }}));"
    ))
    .await
    .map(drop)
}

/// Presses "Download" on the first file listed (the daemon's page), and returns what the card
/// says; the browser saves the file.
pub async fn download_first(ui: &WebDriver) -> Result<String> {
    ui.click_for(
        "#node-files li button.download",
        "#node-downloaded-file",
        TIMEOUT,
    )
    .await
}

/// Presses "Forget…" on the first file listed, returns the question the card asks, then
/// presses "Forget" and returns what the card says it did.
pub async fn forget_first(ui: &WebDriver) -> Result<(String, String)> {
    ui.click("#node-files li button.forget").await?;
    let question = ui
        .wait_for_text("#node-forget-what", TIMEOUT, |t| !t.is_empty())
        .await?;
    let done = ui
        .click_for("#node-forget", "#node-forgot-file", TIMEOUT)
        .await?;
    Ok((question, done))
}

/// Presses "Fetch…" on the first file listed, types `output`, presses "Fetch", and returns what
/// the card says it fetched.
pub async fn fetch_first(ui: &WebDriver, output: &Path) -> Result<String> {
    ui.click("#node-files li button.fetch").await?;
    ui.type_into("#node-fetch-output", &output.display().to_string())
        .await?;
    ui.click_for("#node-fetch", "#node-fetched-file", TIMEOUT)
        .await
}

/// Types `id` and `output`, presses "Fetch" for a fetch the UI refuses, and returns the error
/// line.
pub async fn fetch_refused(ui: &WebDriver, id: &str, output: &Path) -> Result<String> {
    ui.type_into("#node-fetch-id", id).await?;
    ui.type_into("#node-fetch-output", &output.display().to_string())
        .await?;
    ui.click_for("#node-fetch", "#node-fetch-error", TIMEOUT)
        .await
}
