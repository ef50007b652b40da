//! A home network behind a NAT, made of Linux network namespaces for one test.
//!
//! Three namespaces, named after this process and a counter so tests running at once never
//! share one: `public` (the internet: 10.99.0.2/24), `home` (192.168.99.2/24) and `router`
//! between them (10.99.0.1 and 192.168.99.1), which forwards and masquerades what leaves home
//! (nftables), as a home router does. A process in `public` cannot open a connection to
//! `home`; one in `home` reaches `public`, seen as coming from 10.99.0.1. Nothing touches the
//! host's own namespace but the namespaces' names; all are deleted when the [`NatLab`] drops.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables), which `cargo xtask setup` installs.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Error, Result};

/// The public host's address: where a relay (and a buyer) listen.
pub const PUBLIC_IP: &str = "10.99.0.2";
/// The home host's address, private: not reachable from `public`.
pub const HOME_IP: &str = "192.168.99.2";
/// The router's public address: what `public` sees home connections come from.
pub const ROUTER_PUBLIC_IP: &str = "10.99.0.1";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The namespaces of one home network behind a NAT; deleted on drop.
#[derive(Debug)]
pub struct NatLab {
    /// The internet side.
    pub public: String,
    /// The home side, behind the router's NAT.
    pub home: String,
    /// The router.
    pub router: String,
}

fn run(what: &str, program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Error::MissingTool {
                tool: program.to_owned(),
                hint: "iproute2 and nftables".to_owned(),
            },
            _ => Error::Io {
                what: what.to_owned(),
                source,
            },
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Io {
        what: format!("{what}: {program} {}", args.join(" ")),
        source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    })
}

impl NatLab {
    /// Makes the three namespaces, their links, routes and the router's NAT.
    pub fn new() -> Result<Self> {
        let tag = format!(
            "cairn{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Self {
            public: format!("{tag}-pub"),
            home: format!("{tag}-home"),
            router: format!("{tag}-rtr"),
        };
        // Dropped on any failure below: whatever was made is deleted.
        for ns in [&lab.public, &lab.home, &lab.router] {
            run("making a network namespace", "ip", &["netns", "add", ns])?;
        }
        let (public, home, router) = (&lab.public, &lab.home, &lab.router);
        let ip = |what: &str, args: &[&str]| run(what, "ip", args);
        ip(
            "linking router and public",
            &[
                "link", "add", "r-pub", "netns", router, "type", "veth", "peer", "name", "p0",
                "netns", public,
            ],
        )?;
        ip(
            "linking router and home",
            &[
                "link", "add", "r-home", "netns", router, "type", "veth", "peer", "name", "h0",
                "netns", home,
            ],
        )?;
        let public_net = format!("{ROUTER_PUBLIC_IP}/24");
        let public_host = format!("{PUBLIC_IP}/24");
        let home_host = format!("{HOME_IP}/24");
        for (ns, dev, addr) in [
            (router.as_str(), "r-pub", public_net.as_str()),
            (router, "r-home", "192.168.99.1/24"),
            (public, "p0", public_host.as_str()),
            (home, "h0", home_host.as_str()),
        ] {
            ip("addressing", &["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip("bringing a link up", &["-n", ns, "link", "set", dev, "up"])?;
        }
        for ns in [public, home, router] {
            ip(
                "bringing loopback up",
                &["-n", ns, "link", "set", "lo", "up"],
            )?;
        }
        ip(
            "routing home through the router",
            &["-n", home, "route", "add", "default", "via", "192.168.99.1"],
        )?;
        let in_router = |what: &str, args: &[&str]| {
            let mut all = vec!["netns", "exec", router.as_str()];
            all.extend_from_slice(args);
            run(what, "ip", &all)
        };
        in_router(
            "forwarding in the router",
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        )?;
        in_router(
            "the router's NAT table",
            &["nft", "add", "table", "ip", "nat"],
        )?;
        in_router(
            "the router's NAT chain",
            &[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            ],
        )?;
        in_router(
            "masquerading home",
            &[
                "nft",
                "add",
                "rule",
                "ip",
                "nat",
                "post",
                "oifname",
                "r-pub",
                "masquerade",
            ],
        )?;
        Ok(lab)
    }

    /// `program` with `args`, to run inside namespace `ns` (`ip netns exec`).
    pub fn command(ns: &str, program: &std::path::Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// Whether a TCP connection from namespace `from` to `addr` (`ip:port`) opens within two
    /// seconds (Python's socket module, run inside the namespace).
    pub fn connects(from: &str, addr: &str) -> Result<bool> {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| Error::Io {
            what: format!("{addr} is no ip:port"),
            source: std::io::Error::other("bad address"),
        })?;
        let script = format!(
            "import socket,sys\ntry:\n socket.create_connection(('{host}',{port}),timeout=2)\nexcept OSError:\n sys.exit(1)"
        );
        let status = Command::new("ip")
            .args(["netns", "exec", from, "python3", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|source| Error::Io {
                what: "running python3 in a namespace".to_owned(),
                source,
            })?;
        Ok(status.success())
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its links (and their peers) and rules.
        for ns in [&self.public, &self.home, &self.router] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
