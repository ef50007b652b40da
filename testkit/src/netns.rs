//! A home network behind a NAT, made of Linux network namespaces for one test.
//!
//! Three namespaces, named after this process and a counter so tests running at once never
//! share one: `public` (the internet: 10.99.0.2/24), `home` (192.168.99.2/24) and `router`
//! between them (10.99.0.1 and 192.168.99.1), which forwards and masquerades what leaves home
//! (nftables), as a home router does. A process in `public` cannot open a connection to
//! `home`; one in `home` reaches `public`, seen as coming from 10.99.0.1. The router's firewall
//! refuses what comes in unasked for the router itself (a TCP reset, or ICMP "port
//! unreachable"), as OpenWrt's does by default: such a packet leaves no trace in its connection
//! table, so a peer's hole-punching packet that comes before home's own packet out does not
//! spoil the port mapping home's packet then gets (a router without a firewall keeps a
//! connection entry for it, and then maps home's packet to another port). Nothing touches the
//! host's own namespace but the namespaces' names; all are deleted when the [`NatLab`] drops.
//!
//! [`NatLab::internet`] puts the public side on globally routed addresses
//! ([`GLOBAL_PUBLIC_IP`]), as on the internet, where nodes trust only public addresses (a
//! private one says nothing of who can reach it); [`NatLab::with_upnp`] adds a router that
//! maps ports on request (miniupnpd, UPnP IGD and NAT-PMP; UPnP clients refuse a gateway whose
//! external address is private). The namespaces have no route out, so those addresses are only
//! ever the lab's.
//!
//! [`NatLab::two_homes`] adds a second home behind a router of its own ([`OTHER_ROUTER_IP`]),
//! on the same private addresses as the first (as two homes' routers both hand out
//! 192.168.99.x): `public` routes between the two routers, as the internet does. Neither home
//! can open a connection to the other unless both punch a hole through their NATs.
//! [`NatLab::received_from`] counts the bytes a home receives from an address, TCP and UDP
//! alike; [`NatLab::block_udp`] lets no UDP out of a home, and [`NatLab::drop_unasked`] has a
//! router drop what comes in unasked instead of refusing it.
//!
//! [`NatLab::two_homes_far_apart`] puts the homes at internet distances: each router's link
//! to `public` delays every packet (a TUN device at each end and a Python process carrying
//! packets between them, `wire.py`: the kernel here has no netem).
//!
//! Needs root, `ip` (iproute2), `nft` (nftables), `python3` and, for UPnP, `miniupnpd`
//! (miniupnpd-nftables), which `cargo xtask setup` installs.

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::{Error, Result};

/// The public host's address: where a relay (and a buyer) listen.
pub const PUBLIC_IP: &str = "10.99.0.2";
/// The home host's address, private: not reachable from `public`.
pub const HOME_IP: &str = "192.168.99.2";
/// The router's public address: what `public` sees home connections come from.
pub const ROUTER_PUBLIC_IP: &str = "10.99.0.1";
/// [`PUBLIC_IP`] in a lab made by [`NatLab::internet`] or [`NatLab::with_upnp`].
pub const GLOBAL_PUBLIC_IP: &str = "11.99.0.2";
/// [`ROUTER_PUBLIC_IP`] in a lab made by [`NatLab::internet`] or [`NatLab::with_upnp`]: where
/// the ports it maps are.
pub const GLOBAL_ROUTER_IP: &str = "11.99.0.1";

/// The second home's router's public address ([`NatLab::two_homes`]).
pub const OTHER_ROUTER_IP: &str = "11.98.0.1";
/// `public`'s address on the second home's router's link.
const OTHER_LINK_IP: &str = "11.98.0.2";

/// A router's NAT (home's connections leave from the router's public address), its firewall
/// (what comes in for the router itself unasked is refused: a TCP reset, or ICMP "port
/// unreachable"), and the table [`NatLab::received_from`] adds its byte counters to.
const ROUTER_NFT: &str = "add table ip nat
add chain ip nat post { type nat hook postrouting priority 100; }
add rule ip nat post oifname r-pub masquerade
add table ip wall
add chain ip wall input { type filter hook input priority 0; policy accept; }
add rule ip wall input iifname r-pub ct state established,related accept
add rule ip wall input iifname r-pub meta l4proto tcp reject with tcp reset
add rule ip wall input iifname r-pub reject
add table ip tally
add chain ip tally seen { type filter hook forward priority -10; }
";

/// The router's nftables for miniupnpd: its forward and NAT chains (empty until it maps a
/// port), forwarding everything else as before.
const MINIUPNPD_NFT: &str = "table inet filter {
    chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
    chain miniupnpd { }
    chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
    chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
    chain prerouting_miniupnpd { }
    chain postrouting_miniupnpd { }
}
";

/// The link with latency ([`NatLab::two_homes_far_apart`]): see the script's own comment.
const WIRE_PY: &str = include_str!("wire.py");

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
    /// The second home ([`NatLab::two_homes`]), behind a router of its own.
    pub other_home: Option<String>,
    /// The second home's router.
    other_router: Option<String>,
    /// The router's miniupnpd ([`NatLab::with_upnp`]), killed on drop.
    upnp: Option<std::process::Child>,
    /// Its configuration.
    upnp_dir: Option<tempfile::TempDir>,
    /// The processes carrying the links with latency ([`NatLab::two_homes_far_apart`]),
    /// killed on drop.
    wires: Vec<std::process::Child>,
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

/// `run`s `args` inside namespace `ns` (`ip netns exec`).
fn run_in(what: &str, ns: &str, args: &[&str]) -> Result<()> {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    run(what, "ip", &all)
}

impl NatLab {
    /// Makes the three namespaces, their links, routes and the router's NAT.
    pub fn new() -> Result<Self> {
        Self::make(ROUTER_PUBLIC_IP, PUBLIC_IP, None)
    }

    /// [`NatLab::new`] on an internet of public addresses: [`GLOBAL_PUBLIC_IP`] and
    /// [`GLOBAL_ROUTER_IP`].
    pub fn internet() -> Result<Self> {
        Self::make(GLOBAL_ROUTER_IP, GLOBAL_PUBLIC_IP, None)
    }

    /// [`NatLab::internet`] with a router that maps ports on request (UPnP IGD and NAT-PMP,
    /// by miniupnpd, for home's addresses only).
    pub fn with_upnp() -> Result<Self> {
        let mut lab = Self::internet()?;
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "a directory for miniupnpd".to_owned(),
            source,
        })?;
        let nft = dir.path().join("miniupnpd.nft");
        let conf = dir.path().join("miniupnpd.conf");
        let write = |path: &std::path::Path, text: &str| {
            std::fs::write(path, text).map_err(|source| Error::Io {
                what: format!("writing {}", path.display()),
                source,
            })
        };
        write(&nft, MINIUPNPD_NFT)?;
        // Maps ports above 1023 for home's addresses only, to the same port outside.
        write(
            &conf,
            "ext_ifname=r-pub\nlistening_ip=r-home\nport=0\nenable_upnp=yes\n\
             enable_natpmp=yes\nsecure_mode=yes\nsystem_uptime=yes\n\
             uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b\n\
             allow 1024-65535 192.168.99.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
        )?;
        run_in(
            "the router's UPnP chains",
            &lab.router,
            &["nft", "-f", &nft.to_string_lossy()],
        )?;
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.router, "miniupnpd", "-d", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Io {
                what: "starting miniupnpd in the router (cargo xtask setup installs it)".to_owned(),
                source,
            })?;
        lab.upnp = Some(child);
        lab.upnp_dir = Some(dir);
        Ok(lab)
    }

    /// The lab, with `latency` on the router's link to `public` (each way) if given.
    fn make(router_public_ip: &str, public_ip: &str, latency: Option<Duration>) -> Result<Self> {
        let tag = format!(
            "cairn{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Self {
            public: format!("{tag}-pub"),
            home: format!("{tag}-home"),
            router: format!("{tag}-rtr"),
            other_home: None,
            other_router: None,
            upnp: None,
            upnp_dir: None,
            wires: Vec::new(),
        };
        // Dropped on any failure below: whatever was made is deleted.
        for ns in [&lab.public, &lab.home, &lab.router] {
            run("making a network namespace", "ip", &["netns", "add", ns])?;
        }
        run(
            "bringing loopback up",
            "ip",
            &["-n", &lab.public, "link", "set", "lo", "up"],
        )?;
        let (router, home) = (lab.router.clone(), lab.home.clone());
        lab.connect_home(
            (&router, &home, "p0"),
            (router_public_ip, public_ip),
            latency,
        )?;
        Ok(lab)
    }

    /// Links `home` to `router` and `router` to `public` (on `public`'s device `public_dev`),
    /// with the router at `router_ip` and `public` at `link_ip` on that link (a /24), which
    /// delays every packet by `latency` each way if given; home at [`HOME_IP`] behind the
    /// router's NAT and firewall.
    fn connect_home(
        &mut self,
        (router, home, public_dev): (&str, &str, &str),
        (router_ip, link_ip): (&str, &str),
        latency: Option<Duration>,
    ) -> Result<()> {
        let public = self.public.clone();
        let public = public.as_str();
        let ip = |what: &str, args: &[&str]| run(what, "ip", args);
        match latency {
            None => ip(
                "linking router and public",
                &[
                    "link", "add", "r-pub", "netns", router, "type", "veth", "peer", "name",
                    public_dev, "netns", public,
                ],
            )?,
            Some(latency) => self.wire((router, "r-pub"), (public, public_dev), latency)?,
        }
        ip(
            "linking router and home",
            &[
                "link", "add", "r-home", "netns", router, "type", "veth", "peer", "name", "h0",
                "netns", home,
            ],
        )?;
        let router_net = format!("{router_ip}/24");
        let link_net = format!("{link_ip}/24");
        let home_host = format!("{HOME_IP}/24");
        for (ns, dev, addr) in [
            (router, "r-pub", router_net.as_str()),
            (router, "r-home", "192.168.99.1/24"),
            (public, public_dev, link_net.as_str()),
            (home, "h0", home_host.as_str()),
        ] {
            ip("addressing", &["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip("bringing a link up", &["-n", ns, "link", "set", dev, "up"])?;
        }
        for ns in [home, router] {
            ip(
                "bringing loopback up",
                &["-n", ns, "link", "set", "lo", "up"],
            )?;
        }
        ip(
            "routing home through the router",
            &["-n", home, "route", "add", "default", "via", "192.168.99.1"],
        )?;
        ip(
            "routing the router through public",
            &["-n", router, "route", "add", "default", "via", link_ip],
        )?;
        run_in(
            "forwarding in the router",
            router,
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        )?;
        run_in(
            "the router's NAT and firewall",
            router,
            &["nft", ROUTER_NFT],
        )
    }

    /// Links device `a_dev` in namespace `a` to `b_dev` in `b` through a wire that delays
    /// every packet by `latency` each way (`wire.py`, killed when the lab drops).
    fn wire(
        &mut self,
        (a, a_dev): (&str, &str),
        (b, b_dev): (&str, &str),
        latency: Duration,
    ) -> Result<()> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Made in this namespace, then moved: at most 15 bytes, unique to this link.
        let made = [
            format!("cw{}w{n}a", std::process::id()),
            format!("cw{}w{n}b", std::process::id()),
        ];
        let ms = (latency.as_secs_f64() * 1000.0).to_string();
        let mut child = Command::new("python3")
            .args(["-c", WIRE_PY, &made[0], &made[1], &ms])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| Error::Io {
                what: "starting python3 to carry a link with latency".to_owned(),
                source,
            })?;
        let stdout = child.stdout.take();
        // Killed on drop from here on, whatever fails below.
        self.wires.push(child);
        let mut line = String::new();
        if let Some(stdout) = stdout {
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map_err(|source| Error::Io {
                    what: "reading the wire's first line".to_owned(),
                    source,
                })?;
        }
        if line.trim() != "ready" {
            return Err(Error::Io {
                what: "making a link with latency (two TUN devices, /dev/net/tun)".to_owned(),
                source: std::io::Error::other(format!(
                    "wire.py said {line:?} instead of \"ready\" (its error is on stderr)"
                )),
            });
        }
        for (made, ns, dev) in [(&made[0], a, a_dev), (&made[1], b, b_dev)] {
            run(
                "moving a wire's end into its namespace",
                "ip",
                &["link", "set", "dev", made, "netns", ns, "name", dev],
            )?;
        }
        Ok(())
    }

    /// [`NatLab::internet`] with a second home ([`NatLab::other_home`]), behind a router of its
    /// own at [`OTHER_ROUTER_IP`], on the same private addresses as the first.
    pub fn two_homes() -> Result<Self> {
        Self::two_homes_with(None)
    }

    /// [`NatLab::two_homes`] at internet distances: each router's link to `public` delays
    /// every packet by `latency` each way, so a home is two `latency` from `public` and back,
    /// and four from the other home and back (40 ms: 80 and 160 ms, a continent and an ocean).
    pub fn two_homes_far_apart(latency: Duration) -> Result<Self> {
        Self::two_homes_with(Some(latency))
    }

    fn two_homes_with(latency: Option<Duration>) -> Result<Self> {
        let mut lab = Self::make(GLOBAL_ROUTER_IP, GLOBAL_PUBLIC_IP, latency)?;
        let (home, router) = (
            format!("{}-home2", lab.public.trim_end_matches("-pub")),
            format!("{}-rtr2", lab.public.trim_end_matches("-pub")),
        );
        for ns in [&home, &router] {
            run("making a network namespace", "ip", &["netns", "add", ns])?;
        }
        lab.other_home = Some(home.clone());
        lab.other_router = Some(router.clone());
        lab.connect_home(
            (&router, &home, "p1"),
            (OTHER_ROUTER_IP, OTHER_LINK_IP),
            latency,
        )?;
        run_in(
            "routing between the homes' routers",
            &lab.public,
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        )?;
        Ok(lab)
    }

    /// Bytes that `home` (the lab's [`NatLab::home`] or [`NatLab::other_home`]) received from
    /// `from` (an IPv4 address) since the first call for that pair, which starts the count and
    /// returns 0: what its router forwarded to it, TCP and UDP alike, headers included.
    pub fn received_from(&self, home: &str, from: &str) -> Result<u64> {
        let router = self.router_of(home)?;
        let name = format!("from_{}", from.replace(['.', ':'], "_"));
        let list = || {
            Command::new("ip")
                .args(["netns", "exec", router, "nft", "list", "counter", "ip"])
                .args(["tally", &name])
                .stdin(Stdio::null())
                .output()
                .map_err(|source| Error::Io {
                    what: "reading a byte counter".to_owned(),
                    source,
                })
        };
        let mut out = list()?;
        if !out.status.success() {
            let make = format!(
                "add counter ip tally {name}\n\
                 add rule ip tally seen ip saddr {from} oifname r-home counter name {name}"
            );
            run_in("making a byte counter", router, &["nft", &make])?;
            out = list()?;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|word| *word != "bytes")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Io {
                what: format!("reading byte counter {name}"),
                source: std::io::Error::other(format!("no byte count in: {text}")),
            })
    }

    /// Makes `home`'s router let no UDP out, as some office and hotel networks do: QUIC cannot
    /// leave `home`, TCP still does.
    pub fn block_udp(&self, home: &str) -> Result<()> {
        let router = self.router_of(home)?;
        run_in(
            "blocking UDP out of home",
            router,
            &[
                "nft",
                "add chain ip wall out { type filter hook forward priority 0; }\n\
                 add rule ip wall out iifname r-home meta l4proto udp drop",
            ],
        )
    }

    /// `home`'s router drops what comes in unasked for it, silently, instead of refusing it
    /// (many home routers' "stealth" firewall): no TCP reset ends the other side's attempt.
    pub fn drop_unasked(&self, home: &str) -> Result<()> {
        let router = self.router_of(home)?;
        run_in(
            "dropping what comes in unasked",
            router,
            &[
                "nft",
                "flush chain ip wall input\n\
                 add rule ip wall input iifname r-pub ct state established,related accept\n\
                 add rule ip wall input iifname r-pub drop",
            ],
        )
    }

    /// The router in front of `home` (the lab's [`NatLab::home`] or [`NatLab::other_home`]).
    fn router_of(&self, home: &str) -> Result<&str> {
        if home == self.home {
            Ok(&self.router)
        } else if let (Some(other), Some(router)) = (&self.other_home, &self.other_router)
            && other == home
        {
            Ok(router)
        } else {
            Err(Error::Io {
                what: format!("finding the router of {home}"),
                source: std::io::Error::other("no home of this lab"),
            })
        }
    }

    /// `program` with `args`, to run inside namespace `ns` (`ip netns exec`).
    pub fn command(ns: &str, program: &std::path::Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// How long a TCP connection from namespace `from` to `addr` (`ip:port`) takes to open or
    /// be refused (a port nothing listens on answers with a reset): one round trip, or `None`
    /// if neither came within two seconds.
    pub fn round_trip(from: &str, addr: &str) -> Result<Option<Duration>> {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| Error::Io {
            what: format!("{addr} is no ip:port"),
            source: std::io::Error::other("bad address"),
        })?;
        let script = format!(
            "import socket,time\nstart=time.monotonic()\ntry:\n \
             socket.create_connection(('{host}',{port}),timeout=2)\n\
             except ConnectionRefusedError:\n pass\nexcept OSError:\n \
             print('none')\n raise SystemExit\nprint(time.monotonic()-start)"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", from, "python3", "-c", &script])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Io {
                what: "running python3 in a namespace".to_owned(),
                source,
            })?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if said == "none" {
            return Ok(None);
        }
        said.parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .map(Some)
            .ok_or_else(|| Error::Io {
                what: format!("timing a connection from {from} to {addr}"),
                source: std::io::Error::other(format!(
                    "python3 said {said:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            })
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
        if let Some(mut upnp) = self.upnp.take() {
            let _ = upnp.kill();
            let _ = upnp.wait();
        }
        for mut wire in self.wires.drain(..) {
            let _ = wire.kill();
            let _ = wire.wait();
        }
        // Deleting a namespace deletes its links (and their peers) and rules.
        let others = [&self.other_home, &self.other_router];
        for ns in [&self.public, &self.home, &self.router]
            .into_iter()
            .chain(others.into_iter().flatten())
        {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
