//! Starting anvil for `run` and for the browser tests, and probing an RPC endpoint with no
//! dependencies (a raw HTTP/1.1 POST on a loopback socket).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{self, Result};

/// A running anvil, killed on drop.
pub(crate) struct Anvil {
    child: Child,
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts anvil on `port` (0 = any free port), with a block every `block_time` seconds if given
/// (otherwise anvil mines only on transactions).
pub(crate) fn start(port: u16, block_time: Option<u64>) -> Result<Anvil> {
    let anvil = util::root().join("node_modules/.bin/anvil");
    if !anvil.is_file() {
        return Err(format!(
            "{} is missing; run `cargo xtask setup`",
            anvil.display()
        ));
    }
    let mut command = Command::new(&anvil);
    command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
    if let Some(seconds) = block_time {
        command.args(["--block-time", &seconds.to_string()]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("cannot start anvil: {err}"))?;
    let stdout = child.stdout.take().ok_or("anvil stdout not captured")?;
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(address) = line.trim().strip_prefix("Listening on ") {
                    break address.trim().to_owned();
                }
            }
            _ => {
                let _ = child.kill();
                return Err(format!(
                    "anvil exited before listening (is port {port} taken by something that is not a devnet?)"
                ));
            }
        }
    };
    // Keep draining anvil's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let rpc_url = format!("http://{address}");
    let chain_id = chain_id(&address).ok_or("anvil does not answer eth_chainId")?;
    Ok(Anvil {
        child,
        rpc_url,
        chain_id,
    })
}

/// `eth_chainId` of the endpoint at `address` (`host:port`), if it answers one.
pub(crate) fn chain_id(address: &str) -> Option<u64> {
    let addr: SocketAddr = address.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let json = response.split("\r\n\r\n").nth(1)?;
    let value: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let hex = value["result"].as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(hex, 16).ok()
}

/// Anvil's account #1: a well-known development key (anvil prints it at every start), funded
/// on every fresh devnet. `run` makes it the node's chain key, so the node sells storage there.
pub(crate) const PROVIDER_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// A devnet with Cairn's contracts, run by `cairn devnet`; stopped on drop with SIGTERM, so
/// `cairn devnet` stops its anvil too.
pub(crate) struct ContractsDevnet {
    child: Child,
    /// The deployment file `cairn devnet` wrote.
    pub(crate) deployment_file: std::path::PathBuf,
}

impl Drop for ContractsDevnet {
    fn drop(&mut self) {
        #[cfg(unix)]
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        #[cfg(not(unix))]
        let stopped = false;
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts `cairn` (the binary at `cairn`) as `cairn devnet` on `port`, a block every
/// `block_time` seconds, writing its deployment to `deployment_file`; returns once the
/// contracts are deployed.
pub(crate) fn start_with_contracts(
    cairn: &std::path::Path,
    port: u16,
    block_time: u64,
    deployment_file: std::path::PathBuf,
) -> Result<ContractsDevnet> {
    let mut child = Command::new(cairn)
        .args(["devnet", "--port", &port.to_string()])
        .args(["--block-time", &block_time.to_string()])
        .arg("--deployment-file")
        .arg(&deployment_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", cairn.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("cairn devnet's stdout not captured")?;
    let mut lines = BufReader::new(stdout).lines();
    let devnet = ContractsDevnet {
        child,
        deployment_file,
    };
    match lines.next() {
        Some(Ok(line)) if line.trim_start().starts_with('{') => {
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|err| format!("cairn devnet printed {line:?}: {err}"))?;
            println!(
                "devnet up at http://127.0.0.1:{port} (chain id {}), contracts deployed: registry {}, market {}",
                value["chainId"], value["registry"], value["market"]
            );
        }
        _ => {
            return Err(format!(
                "cairn devnet did not deploy the contracts (is port {port} taken?); see its log above"
            ));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(devnet)
}
