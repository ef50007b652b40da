//! What every `cli` integration test starts from: the `cairn` binary under test, and how long
//! it may take to come up and to finish a command.
#![allow(dead_code, reason = "each test crate uses some of these")]

use std::time::Duration;

/// The `cairn` binary cargo built for these tests.
pub(crate) const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
/// Building nothing, a node or the daemon is up in well under a second (a relay's reservation
/// too); a loaded CI box gets slack.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on any whole CLI command.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
