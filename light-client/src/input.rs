//! Light-client objects from files or HTTP bodies in any of the encodings servers use: beacon-API
//! JSON (`{"version", "data"}` or arrays of them), the beacon API's SSZ (`light_client/updates`
//! framed as `[u64 length][fork digest][SSZ]`; single objects bare, their fork taken from their
//! own slot) and fork-digest-prefixed SSZ.

use crate::config::ChainConfig;
use crate::error::DecodeError;
use crate::json;
use crate::types::{Bootstrap, Kind, Update, decode_updates_response, decode_with_digest};

fn is_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| DecodeError::Json {
        what,
        reason: e.to_string(),
    })
}

/// A bootstrap: JSON, bare SSZ, or fork-digest-prefixed SSZ.
pub fn bootstrap(bytes: &[u8], config: &ChainConfig) -> Result<Bootstrap, DecodeError> {
    if is_json(bytes) {
        return json::bootstrap_from_json(utf8(bytes, "light-client bootstrap")?, config);
    }
    match Bootstrap::from_ssz_any_fork(bytes, config) {
        Ok(bootstrap) => Ok(bootstrap),
        Err(bare_error) => {
            let (digest, body) = crate::types::split_digest(bytes)?;
            match config.fork_of_digest(digest) {
                Some(fork) => Bootstrap::from_ssz(body, fork, config),
                None => Err(bare_error),
            }
        }
    }
}

/// Updates: a JSON array or object, a framed SSZ `light_client/updates` response, or one bare
/// SSZ update.
pub fn updates(bytes: &[u8], config: &ChainConfig) -> Result<Vec<Update>, DecodeError> {
    if is_json(bytes) {
        return json::updates_from_json(utf8(bytes, "light-client update")?, config);
    }
    match decode_updates_response(bytes, config) {
        Ok(updates) => Ok(updates),
        Err(framed_error) => match Update::from_ssz_any_fork(bytes, config) {
            Ok(update) => Ok(vec![update]),
            Err(_) => Err(framed_error),
        },
    }
}

/// A finality (`kind` = [`Kind::Finality`]) or optimistic update: JSON, bare SSZ or
/// fork-digest-prefixed SSZ.
pub fn single(bytes: &[u8], kind: Kind, config: &ChainConfig) -> Result<Update, DecodeError> {
    let what = match kind {
        Kind::Update => "light-client update",
        Kind::Finality => "light-client finality update",
        Kind::Optimistic => "light-client optimistic update",
    };
    if is_json(bytes) {
        let mut updates = json::updates_from_json(utf8(bytes, what)?, config)?;
        if updates.len() != 1 {
            return Err(DecodeError::Json {
                what,
                reason: format!("expected one object, got {}", updates.len()),
            });
        }
        return Ok(updates.remove(0));
    }
    let slot = bytes
        .get(..4)
        .and_then(|raw| raw.try_into().ok())
        .map(u32::from_le_bytes)
        .and_then(|offset| bytes.get(offset as usize..offset as usize + 8))
        .and_then(|raw| raw.try_into().ok())
        .map(u64::from_le_bytes);
    let bare = slot
        .map(|slot| config.fork_at_slot(slot))
        .map(|fork| match kind {
            Kind::Update => Update::from_ssz(bytes, fork, config),
            Kind::Finality => Update::from_finality_ssz(bytes, fork, config),
            Kind::Optimistic => Update::from_optimistic_ssz(bytes, fork, config),
        });
    match bare {
        Some(Ok(update)) => Ok(update),
        Some(Err(bare_error)) => decode_with_digest(bytes, kind, config).map_err(|_| bare_error),
        None => decode_with_digest(bytes, kind, config),
    }
}
