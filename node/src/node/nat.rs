//! What the node knows of its NAT and its relays, and how it reaches a peer found through one:
//! pure logic, no I/O, tested on its own (the event loop in [`super`] acts on it).
//!
//! - [`Reachability`] as AutoNAT last found, and AutoNAT's settings ([`autonat_config`]);
//! - which addresses count ([`relay_addr_usable`], [`is_dialable`], [`is_quic`],
//!   [`is_relayed`]);
//! - the relays listened through ([`RelaySlot`]: reservations asked again with backoff) and the
//!   ones to pick next ([`relays_to_add`]), and a relay server's limits ([`relay_config`]);
//! - per peer, whether a transfer stream goes now, waits for a dial back or a hole punch, or
//!   closes relayed connections first ([`Links::route`]).

use std::time::Duration;

use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::ListenerId;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, autonat, relay};

use super::OFFER_INTERVAL;

/// A relay listened through, and when to reserve a slot on it again once the reservation
/// ended (the relay restarted, or the connection to it broke).
#[derive(Debug)]
pub(super) struct RelaySlot {
    /// The `/p2p-circuit` address listened on.
    pub(super) addr: Multiaddr,
    /// The relay, when this node picked it itself (see [`Options::auto_relay`](super::Options::auto_relay)); `None` for a
    /// relay named in [`Options::listen`](super::Options::listen).
    pub(super) picked: Option<PeerId>,
    /// Its listener while it has one.
    pub(super) listener: Option<ListenerId>,
    /// Whether that listener has its reservation (its address came up).
    pub(super) reserved: bool,
    /// When that listener was asked for.
    pub(super) asked_at: tokio::time::Instant,
    /// Reservations lost or refused in a row.
    pub(super) failures: u32,
    /// When to try again.
    pub(super) retry_at: tokio::time::Instant,
}

impl RelaySlot {
    /// A slot for `addr`, its listener `id` asked for at `now`.
    pub(super) fn new(addr: Multiaddr, id: ListenerId, now: tokio::time::Instant) -> Self {
        Self {
            addr,
            picked: None,
            listener: Some(id),
            reserved: false,
            asked_at: now,
            failures: 0,
            retry_at: now,
        }
    }

    /// Its listener `id` was asked for at `now` (again, after a failure: the count is kept).
    pub(super) fn asked(&mut self, id: ListenerId, now: tokio::time::Instant) {
        self.listener = Some(id);
        self.reserved = false;
        self.asked_at = now;
    }

    /// The relay: the peer id before `/p2p-circuit` (a relay named by an address without one
    /// has none).
    pub(super) fn relay(&self) -> Option<PeerId> {
        self.picked.or_else(|| {
            let mut last = None;
            for p in self.addr.iter() {
                match p {
                    Protocol::P2p(peer) => last = Some(peer),
                    Protocol::P2pCircuit => return last,
                    _ => {}
                }
            }
            None
        })
    }

    /// The slot of listener `id` among `slots`.
    pub(super) fn of(slots: &mut [Self], id: ListenerId) -> Option<&mut Self> {
        slots.iter_mut().find(|slot| slot.listener == Some(id))
    }

    /// Its listener came up: the reservation is made.
    pub(super) fn up(&mut self) {
        self.reserved = true;
        self.failures = 0;
    }

    /// Its listener is gone (closed, or dropped for never coming up): tried again later.
    pub(super) fn lost(&mut self, now: tokio::time::Instant) {
        self.listener = None;
        self.failed(now);
    }

    /// Once more without a reservation: the next try waits twice as long as the last (from
    /// one [`OFFER_INTERVAL`] tick, up to [`RELAY_RETRY_MAX`]).
    pub(super) fn failed(&mut self, now: tokio::time::Instant) {
        self.failures = self.failures.saturating_add(1);
        let wait = OFFER_INTERVAL
            .saturating_mul(1 << self.failures.min(8).saturating_sub(1))
            .min(RELAY_RETRY_MAX);
        self.retry_at = now + wait;
    }
}

/// Longest wait between two tries at reserving a slot on a relay again.
const RELAY_RETRY_MAX: Duration = Duration::from_secs(60);

/// Most relays a node behind a NAT picks by itself (two: one restarting leaves the other).
pub const AUTO_RELAYS: usize = 2;

/// Reservations lost or refused in a row after which a relay the node picked itself is given
/// up for another (it is picked again once it is met again).
pub(super) const AUTO_RELAY_GIVE_UP: u32 = 3;

/// Whether other nodes can dial this one, as AutoNAT last found (other nodes try to dial it
/// back at the addresses it listens on).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reachability {
    /// Not known yet (no peer has tried, or the last try was inconclusive).
    Unknown,
    /// A peer dialled it back at `addr`.
    Public {
        /// The address it was reached at.
        addr: Multiaddr,
    },
    /// No peer could dial it back: it is behind a NAT or a firewall, reached through relays.
    Private,
}

impl From<autonat::NatStatus> for Reachability {
    fn from(status: autonat::NatStatus) -> Self {
        match status {
            autonat::NatStatus::Public(addr) => Self::Public { addr },
            autonat::NatStatus::Private => Self::Private,
            autonat::NatStatus::Unknown => Self::Unknown,
        }
    }
}

/// Whether a relay's address `addr` (as it announced it) can be listened through by others:
/// not a circuit itself, and a public IP (or, on a `private_network`, any IP but loopback), or a
/// DNS name.
pub(super) fn relay_addr_usable(addr: &Multiaddr, private_network: bool) -> bool {
    if is_relayed(addr) || !is_dialable(addr) {
        return false;
    }
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => !ip.is_loopback() && (private_network || ipv4_is_global(ip)),
        Some(Protocol::Ip6(ip)) => !ip.is_loopback() && (private_network || ipv6_is_global(ip)),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)) => {
            true
        }
        _ => false,
    }
}

/// An IPv4 address routed on the internet (`Ipv4Addr::is_global` is not stable yet).
fn ipv4_is_global(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b & 0xfe) == 18)
        // Reserved, 240.0.0.0/4.
        || a >= 240
        || a == 0)
}

/// An IPv6 address routed on the internet: not loopback, unspecified, unique local
/// (fc00::/7), link-local (fe80::/10) or documentation (2001:db8::/32).
fn ipv6_is_global(ip: std::net::Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8))
}

/// Whether `addr` goes over QUIC.
pub(super) fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::QuicV1))
}

/// Whether `addr` goes through a relay.
pub(super) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The relays to listen through next: of those `known` (met, with the addresses they
/// announced, usable ones only), those not `in_use`, in peer id order, so that `in_use` and
/// these make at most `wanted`; each as the `/p2p-circuit` address on its first address.
pub(super) fn relays_to_add(
    known: &std::collections::BTreeMap<PeerId, Vec<Multiaddr>>,
    in_use: &[PeerId],
    wanted: usize,
) -> Vec<(PeerId, Multiaddr)> {
    known
        .iter()
        .filter(|(relay, _)| !in_use.contains(relay))
        .filter_map(|(relay, addrs)| {
            let addr = without_peer(addrs.first()?);
            Some((
                *relay,
                addr.with(Protocol::P2p(*relay)).with(Protocol::P2pCircuit),
            ))
        })
        .take(wanted.saturating_sub(in_use.len()))
        .collect()
}

/// The relay server's limits: libp2p's defaults (16 circuits at once, 4 per peer), but for how
/// much and how long one circuit may carry: a whole transfer, with no byte limit, for a day
/// (libp2p's 128 KiB and 2 minutes suit hole punching only, and a provider behind a NAT that
/// no hole punch passes is reached through its relay alone).
pub(super) fn relay_config() -> relay::Config {
    relay::Config {
        max_circuit_duration: Duration::from_secs(24 * 3600),
        max_circuit_bytes: 0,
        ..relay::Config::default()
    }
}

/// AutoNAT as a Cairn node runs it: its first probe 5 s after start (libp2p's 15 s leaves a
/// home node unreachable longer), tried again every 10 s until sure (libp2p's 90 s: a node
/// whose first peer comes after its first probe would wait that long; each server is still
/// asked at most every 90 s); private addresses dialled back only on a `private_network`.
pub(super) fn autonat_config(private_network: bool) -> autonat::Config {
    autonat::Config {
        boot_delay: Duration::from_secs(5),
        retry_interval: Duration::from_secs(10),
        only_global_ips: !private_network,
        ..autonat::Config::default()
    }
}

/// How long a transfer stream to a peer reached through a relay only waits for a direct
/// connection to it, so the transfer does not go through the relay: the peer, behind a NAT,
/// dials this node back once it learnt its addresses, or the two punch a hole through their
/// NATs (DCUtR): a round trip or three, and one QUIC retransmission (1 s) when the first packet
/// reached the other NAT before the hole was open.
pub const DIRECT_GRACE: Duration = Duration::from_secs(2);

/// Most addresses a peer reached through a relay is dialled back at.
pub(super) const MAX_DIAL_BACK_ADDRS: usize = 4;

/// How to open a transfer stream to a peer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not connected: dial it first.
    NotConnected,
    /// Ask again shortly: reached through a relay only, a direct connection may come soon; or
    /// relayed connections are being closed for a direct one.
    Wait,
    /// Open it (on a direct connection if there is one: relayed ones that carry no stream of
    /// this node were closed).
    Go,
}

/// The connections to one peer, as far as opening transfer streams to it goes.
#[derive(Debug, Default)]
pub(super) struct Links {
    /// Open connections, and whether each goes through a relay.
    pub(super) connections: Vec<(ConnectionId, bool)>,
    /// A transfer stream was opened to it since it connected: a relayed connection may carry
    /// one, so none is closed.
    pub(super) streamed: bool,
    /// Until when a stream waits for a direct connection, once the peer was found reached
    /// through a relay only.
    pub(super) wait_until: Option<tokio::time::Instant>,
    /// Dialled back directly since it connected through a relay.
    pub(super) reversed: bool,
    /// Hole punching (DCUtR) to it failed since it connected: no direct connection will come
    /// that way.
    pub(super) punch_failed: bool,
    /// The address of a connection this node dialled through a relay before any peer saw its
    /// UDP mapping: hole punching on that connection offered no QUIC address (see
    /// [`EventLoop::punch_again`](super::EventLoop::punch_again)).
    pub(super) punched_without_quic: Option<Multiaddr>,
    /// Relayed connections being closed for a direct one, and since when: a stream waits
    /// until they are gone (libp2p-stream could put it on one, and it would fail).
    pub(super) closing: (Vec<ConnectionId>, Option<tokio::time::Instant>),
}

impl Links {
    /// Whether only relays reach the peer.
    pub(super) fn relayed_only(&self) -> bool {
        !self.connections.is_empty() && self.connections.iter().all(|(_, relayed)| *relayed)
    }

    /// How to open a transfer stream now, and the relayed connections to close. With a direct
    /// connection, relayed ones that carry no transfer stream yet are closed (a stream goes on
    /// any of the peer's connections), and it waits until they are gone (at most
    /// [`DIRECT_GRACE`]). Reached through relays only, it waits (until [`DIRECT_GRACE`] after
    /// first asked) when the peer `may_dial_back`, or while hole punching to it has not failed.
    pub(super) fn route(
        &mut self,
        now: tokio::time::Instant,
        may_dial_back: bool,
    ) -> (Route, Vec<ConnectionId>) {
        if self.connections.is_empty() {
            return (Route::NotConnected, Vec::new());
        }
        let connections = &self.connections;
        self.closing
            .0
            .retain(|id| connections.iter().any(|(open, _)| open == id));
        if let (false, Some(since)) = (self.closing.0.is_empty(), self.closing.1)
            && now < since + DIRECT_GRACE
        {
            return (Route::Wait, Vec::new());
        }
        if self.relayed_only() && (may_dial_back || !self.punch_failed) {
            let until = *self.wait_until.get_or_insert(now + DIRECT_GRACE);
            if now < until {
                return (Route::Wait, Vec::new());
            }
        }
        if !self.streamed && self.closing.1.is_none() && !self.relayed_only() {
            let close: Vec<ConnectionId> = self
                .connections
                .iter()
                .filter(|(_, relayed)| *relayed)
                .map(|(id, _)| *id)
                .collect();
            if !close.is_empty() {
                self.closing = (close.clone(), Some(now));
                return (Route::Wait, close);
            }
        }
        self.streamed = true;
        (Route::Go, Vec::new())
    }
}

/// `addr` without its `/p2p/<peer id>` ending, if it has one.
pub(super) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

pub(crate) fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| {
        matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
            || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot for `addr` named by hand, with no listener, asked for at `now`.
    fn idle_slot(addr: &str, now: tokio::time::Instant) -> RelaySlot {
        RelaySlot {
            addr: addr.parse().unwrap(),
            picked: None,
            listener: None,
            reserved: false,
            asked_at: now,
            failures: 0,
            retry_at: now,
        }
    }

    #[test]
    fn a_lost_relay_reservation_is_tried_again_after_longer_and_longer_waits() {
        let now = tokio::time::Instant::now();
        let mut slot = idle_slot("/ip4/10.0.0.1/tcp/4001/p2p-circuit", now);
        let waits: Vec<u64> = (0..8)
            .map(|_| {
                slot.failed(now);
                (slot.retry_at - now).as_secs()
            })
            .collect();
        assert_eq!(waits, [3, 6, 12, 24, 48, 60, 60, 60]);
        slot.failures = u32::MAX;
        slot.failed(now);
        assert_eq!(slot.retry_at - now, RELAY_RETRY_MAX);
    }

    #[test]
    fn a_relay_is_listened_through_at_a_public_address_or_on_a_private_network_at_any_but_loopback()
    {
        let usable = |addr: &str, private| relay_addr_usable(&addr.parse().unwrap(), private);
        assert!(
            !usable("/ip4/203.0.113.9/tcp/4001", false),
            "documentation range"
        );
        assert!(usable("/ip4/8.8.8.8/tcp/4001", false));
        assert!(usable("/ip4/8.8.8.8/udp/4001/quic-v1", false));
        assert!(usable("/ip6/2a00:1450::1/tcp/4001", false));
        assert!(usable("/dns4/relay.example.org/tcp/4001", false));
        for private in [
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.1.2/tcp/1",
            "/ip4/172.16.0.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/169.254.0.1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
        ] {
            assert!(!usable(private, false), "{private} is not public");
            assert!(
                usable(private, true),
                "{private} is usable on a private network"
            );
        }
        for never in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip4/0.0.0.0/tcp/1",
            "/ip4/8.8.8.8/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
        ] {
            assert!(!usable(never, true), "{never}");
        }
    }

    #[test]
    fn relays_are_picked_among_those_met_up_to_the_number_wanted_skipping_those_in_use() {
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let known: std::collections::BTreeMap<PeerId, Vec<Multiaddr>> = peers
            .iter()
            .enumerate()
            .map(|(i, peer)| {
                let addr: Multiaddr = format!("/ip4/8.8.8.{i}/tcp/4001").parse().unwrap();
                // An announced address may end in the relay's peer id: not repeated.
                (*peer, vec![addr.with(Protocol::P2p(*peer))])
            })
            .collect();
        let sorted: Vec<PeerId> = known.keys().copied().collect();
        let picked = relays_to_add(&known, &[], 2);
        assert_eq!(
            picked.iter().map(|(peer, _)| *peer).collect::<Vec<_>>(),
            sorted[..2]
        );
        for (peer, addr) in &picked {
            let i = peers.iter().position(|p| p == peer).unwrap();
            assert_eq!(
                addr.to_string(),
                format!("/ip4/8.8.8.{i}/tcp/4001/p2p/{peer}/p2p-circuit")
            );
        }
        // One in use: one more, another.
        let more = relays_to_add(&known, &[sorted[0]], 2);
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].0, sorted[1]);
        // As many in use as wanted, or more: none.
        assert!(relays_to_add(&known, &sorted[..2], 2).is_empty());
        assert!(relays_to_add(&known, &sorted[..3], 2).is_empty());
        // None met: none.
        assert!(relays_to_add(&Default::default(), &[], 2).is_empty());
    }

    #[test]
    fn a_stream_to_a_peer_reached_through_a_relay_waits_a_while_for_a_direct_connection() {
        let now = tokio::time::Instant::now();
        let (relayed, direct, other) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        let mut links = Links::default();
        assert_eq!(links.route(now, true), (Route::NotConnected, vec![]));
        links.connections.push((relayed, true));
        // Through the relay only: waits, until the grace is over, however often asked.
        assert_eq!(links.route(now, true), (Route::Wait, vec![]));
        let later = now + DIRECT_GRACE / 2;
        assert_eq!(links.route(later, true), (Route::Wait, vec![]));
        // The peer dialled back: the relayed connection, which carries no stream yet, is
        // closed, and the stream waits until it is gone, then goes.
        links.connections.push((direct, false));
        assert_eq!(links.route(later, true), (Route::Wait, vec![relayed]));
        assert_eq!(links.route(later, true), (Route::Wait, vec![]));
        links.connections.retain(|(id, _)| *id != relayed);
        assert_eq!(links.route(later, true), (Route::Go, vec![]));
        // Once a stream went, a relayed connection that comes later is kept (it may carry one).
        links.connections.push((other, true));
        assert_eq!(links.route(later, true), (Route::Go, vec![]));
        // A relayed connection that does not close within the grace is not waited on longer.
        let mut links = Links::default();
        links.connections.extend([(relayed, true), (direct, false)]);
        assert_eq!(links.route(now, true), (Route::Wait, vec![relayed]));
        assert_eq!(links.route(now + DIRECT_GRACE, true), (Route::Go, vec![]));

        // No dial back to wait for (this node is behind a NAT, or listens on loopback only):
        // waits for a hole punch, until it failed; then at once, through the relay.
        let mut links = Links::default();
        links.connections.push((relayed, true));
        assert_eq!(links.route(now, false), (Route::Wait, vec![]));
        links.punch_failed = true;
        assert_eq!(links.route(now, false), (Route::Go, vec![]));
        // A hole punched: the relayed connection is closed, as for a dial back.
        let mut links = Links::default();
        links.connections.push((relayed, true));
        assert_eq!(links.route(now, false), (Route::Wait, vec![]));
        links.connections.push((direct, false));
        assert_eq!(links.route(now, false), (Route::Wait, vec![relayed]));
        // The grace over with no direct connection: through the relay, and not again waited.
        let mut links = Links::default();
        links.connections.push((relayed, true));
        assert_eq!(links.route(now, true), (Route::Wait, vec![]));
        assert_eq!(links.route(now + DIRECT_GRACE, true), (Route::Go, vec![]));
        assert_eq!(links.route(now + DIRECT_GRACE, true), (Route::Go, vec![]));
        // A direct connection coming after a stream went through the relay closes nothing.
        links.connections.push((direct, false));
        assert_eq!(
            links.route(now + DIRECT_GRACE * 2, true),
            (Route::Go, vec![])
        );
    }

    #[test]
    fn a_relay_named_by_hand_is_known_by_the_peer_id_before_its_circuit() {
        let relay = PeerId::random();
        let now = tokio::time::Instant::now();
        let slot = |addr: String| idle_slot(&addr, now);
        let home = PeerId::random();
        assert_eq!(
            slot(format!(
                "/ip4/8.8.8.8/tcp/1/p2p/{relay}/p2p-circuit/p2p/{home}"
            ))
            .relay(),
            Some(relay)
        );
        assert_eq!(slot("/ip4/8.8.8.8/tcp/1/p2p-circuit".into()).relay(), None);
        let mut picked = slot("/ip4/8.8.8.8/tcp/1/p2p-circuit".into());
        picked.picked = Some(relay);
        assert_eq!(picked.relay(), Some(relay));
    }
}
