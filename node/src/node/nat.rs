//! What the node knows of its NAT and its relays, and how it reaches a peer found through one:
//! pure logic, no I/O, tested on its own (the event loop in [`super`] acts on it).
//!
//! - [`Reachability`] as AutoNAT last found, and AutoNAT's settings ([`autonat_config`]);
//! - which addresses count ([`relay_addr_usable`], [`is_dialable`], [`is_quic`],
//!   [`is_relayed`]);
//! - the relays listened through ([`RelaySlot`]: reservations asked again with backoff) and the
//!   ones to pick next ([`relays_to_add`]: relays that carry transfers before limited ones,
//!   [`is_limited`]), and the relay service's limits ([`RelayService`], [`relay_config`]);
//! - per peer, whether a transfer stream goes now, waits for a dial back or a hole punch,
//!   closes relayed connections first, or cannot go (a limited relay only) ([`Links::route`]).

use std::collections::{BTreeMap, HashMap};
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
        self.picked.or_else(|| relay_of(&self.addr))
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
/// announced, usable ones only), those not `in_use`, in peer id order, each as the
/// `/p2p-circuit` address on its first address. Relays that carry transfers (or not known yet
/// not to, in `kinds`: none is until a reservation on it says so) come first: while there is
/// one in use or to pick, only those are picked, up to `wanted` of them, and the limited ones
/// in use make way for them (see [`limited_to_drop`]); with none, limited ones are, up to
/// `wanted` with those in use. A limited relay still lets peers punch a hole to this node.
pub(super) fn relays_to_add(
    known: &BTreeMap<PeerId, Vec<Multiaddr>>,
    in_use: &[PeerId],
    wanted: usize,
    kinds: &RelayKinds,
) -> Vec<(PeerId, Multiaddr)> {
    let (full, limited_ones): (Vec<_>, Vec<_>) = known
        .iter()
        .filter(|(relay, _)| !in_use.contains(relay))
        .filter_map(|(relay, addrs)| {
            let addr = without_peer(addrs.first()?);
            Some((
                *relay,
                addr.with(Protocol::P2p(*relay)).with(Protocol::P2pCircuit),
            ))
        })
        .partition(|(relay, _)| !kinds.limited(relay));
    let full_in_use = in_use.iter().filter(|relay| !kinds.limited(relay)).count();
    if full_in_use > 0 || !full.is_empty() {
        full.into_iter()
            .take(wanted.saturating_sub(full_in_use))
            .collect()
    } else {
        limited_ones
            .into_iter()
            .take(wanted.saturating_sub(in_use.len()))
            .collect()
    }
}

/// The relays this node picked that it stops listening through: the limited ones, once a
/// relay known to carry transfers gave it a reservation (a peer reaching it through a limited
/// relay could not transfer anything should no hole open). Relays named by hand are kept.
pub(super) fn limited_to_drop(slots: &[RelaySlot], kinds: &RelayKinds) -> Vec<Multiaddr> {
    let full_up = slots
        .iter()
        .any(|slot| slot.reserved && slot.relay().is_some_and(|r| kinds.full(&r)));
    if !full_up {
        return Vec::new();
    }
    slots
        .iter()
        .filter(|slot| slot.picked.is_some_and(|relay| kinds.limited(&relay)))
        .map(|slot| slot.addr.clone())
        .collect()
}

/// What this node learnt of relays' kinds from the limits their reservations and circuits came
/// with (see [`is_limited`]); a relay it has not learnt of yet is neither.
#[derive(Debug, Default)]
pub(super) struct RelayKinds(HashMap<PeerId, bool>);

impl RelayKinds {
    /// `relay` sent limits that make it a limited relay, or not; whether that is news.
    pub(super) fn learn(&mut self, relay: PeerId, limited: bool) -> bool {
        self.0.insert(relay, limited) != Some(limited)
    }

    /// Known to be a limited relay.
    pub(super) fn limited(&self, relay: &PeerId) -> bool {
        self.0.get(relay) == Some(&true)
    }

    /// Known to carry transfers.
    pub(super) fn full(&self, relay: &PeerId) -> bool {
        self.0.get(relay) == Some(&false)
    }
}

/// Whether a relay whose reservation or circuit came with these limits (as the relay sent
/// them: how long and how many bytes one circuit may carry) is a limited one: one for hole
/// punching, as every reachable node serves by default ([`RelayService::Limited`], libp2p's
/// 2 minutes and 128 KiB), not one that carries transfers (less than an hour, or a byte limit
/// under 1 GiB; 0 bytes is no limit, as libp2p's relay counts it).
pub(crate) fn is_limited(duration: Option<Duration>, bytes: Option<u64>) -> bool {
    duration.is_some_and(|d| d < FULL_RELAY_DURATION)
        || bytes.is_some_and(|b| b > 0 && b < FULL_RELAY_BYTES)
}

/// The shortest circuit a relay that carries transfers allows.
const FULL_RELAY_DURATION: Duration = Duration::from_secs(3600);

/// The smallest byte limit per circuit of a relay that carries transfers.
const FULL_RELAY_BYTES: u64 = 1 << 30;

/// The circuit relay (v2) service a node offers others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayService {
    /// None.
    Off,
    /// For hole punching: once peers confirmed it reachable (AutoNAT dialled it back, or the
    /// router mapped it a port with UPnP), it lets nodes behind NATs listen through it, and
    /// relays each circuit for 2 minutes and 128 KiB (libp2p's limits, as go-libp2p and
    /// kubo serve by default): enough for two nodes to punch a hole through their NATs, not
    /// for a transfer. A node behind a NAT advertises none.
    #[default]
    Limited,
    /// A relay that carries whole transfers (no byte limit, a day per circuit), from the
    /// start, at the addresses it listens on: for a peer that no hole punch passes.
    Full,
}

/// The relay service's limits. [`RelayService::Full`]: libp2p's defaults (16 circuits at
/// once, 4 per peer), but for how much and how long one circuit may carry: a whole transfer,
/// with no byte limit, for a day (libp2p's 128 KiB and 2 minutes suit hole punching only, and
/// a provider behind a NAT that no hole punch passes is reached through its relay alone).
/// [`RelayService::Limited`]: libp2p's defaults. None for [`RelayService::Off`].
pub(super) fn relay_config(service: RelayService) -> Option<relay::Config> {
    match service {
        RelayService::Off => None,
        RelayService::Limited => Some(relay::Config::default()),
        RelayService::Full => Some(relay::Config {
            max_circuit_duration: Duration::from_secs(24 * 3600),
            max_circuit_bytes: 0,
            ..relay::Config::default()
        }),
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

/// How long a transfer stream to a peer reached through limited relays only (for hole
/// punching, [`RelayService::Limited`]) waits for a direct connection before it gives up:
/// such a relay cannot carry the transfer, so a hole punch that needs a second try (DCUtR
/// tries up to three times) is worth waiting for.
pub const LIMITED_GRACE: Duration = Duration::from_secs(8);

/// Round trips of the relayed connection (its latest ping) that [`DIRECT_GRACE`] and
/// [`LIMITED_GRACE`] are extended by: a hole punch takes a few of them (identify, DCUtR's
/// CONNECT and SYNC and half a round trip's wait, then the direct handshake): the graces alone,
/// ample between peers near each other, ran out between homes 600 ms apart (in the NAT lab),
/// and the transfer went through the relay a moment before the hole opened.
pub const PUNCH_ROUND_TRIPS: u32 = 4;

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
    /// It cannot go: the peer is reached only through limited relays (for hole punching, see
    /// [`is_limited`]), and no direct connection came.
    Limited,
}

/// One open connection to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) id: ConnectionId,
    /// Whether it goes through a relay.
    pub(super) relayed: bool,
    /// The relay it goes through, when its address names it.
    pub(super) relay: Option<PeerId>,
    /// Its round trip, as its latest ping measured it.
    pub(super) rtt: Option<Duration>,
}

impl Link {
    /// Connection `id` at `addr` (the peer's address for a dialled connection, this node's
    /// for one it accepted: a relay's circuit names the relay either way).
    pub(super) fn at(id: ConnectionId, addr: &Multiaddr) -> Self {
        Self {
            id,
            relayed: is_relayed(addr),
            relay: relay_of(addr),
            rtt: None,
        }
    }

    /// Whether it goes through a relay known to be limited.
    fn limited(&self, kinds: &RelayKinds) -> bool {
        self.relayed && self.relay.is_some_and(|relay| kinds.limited(&relay))
    }
}

/// The connections to one peer, as far as opening transfer streams to it goes.
#[derive(Debug, Default)]
pub(super) struct Links {
    /// Open connections.
    pub(super) connections: Vec<Link>,
    /// A transfer stream was opened to it since it connected: a relayed connection may carry
    /// one, so none is closed.
    pub(super) streamed: bool,
    /// When a stream first waited for a direct connection, once the peer was found reached
    /// through a relay only.
    pub(super) waiting_since: Option<tokio::time::Instant>,
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
    /// Records connection `id`'s round trip, as a ping measured it.
    pub(super) fn pinged(&mut self, id: ConnectionId, rtt: Duration) {
        if let Some(link) = self.connections.iter_mut().find(|link| link.id == id) {
            link.rtt = Some(rtt);
        }
    }

    /// Whether only relays reach the peer.
    pub(super) fn relayed_only(&self) -> bool {
        !self.connections.is_empty() && self.connections.iter().all(|link| link.relayed)
    }

    /// How to open a transfer stream now, and the relayed connections to close. With a direct
    /// connection, relayed ones that carry no transfer stream yet are closed (a stream goes on
    /// any of the peer's connections), and it waits until they are gone (at most
    /// [`DIRECT_GRACE`]). Reached through relays only, it waits (until [`DIRECT_GRACE`] after
    /// first asked) when the peer `may_dial_back`, or while hole punching to it has not failed.
    /// Reached through relays known to be limited only (`kinds`), it waits so until
    /// [`LIMITED_GRACE`], and then, or at once should no direct connection be coming, cannot go.
    /// Either grace is extended by [`PUNCH_ROUND_TRIPS`] of the slowest relayed connection's
    /// round trip, once pinged.
    pub(super) fn route(
        &mut self,
        now: tokio::time::Instant,
        may_dial_back: bool,
        kinds: &RelayKinds,
    ) -> (Route, Vec<ConnectionId>) {
        if self.connections.is_empty() {
            return (Route::NotConnected, Vec::new());
        }
        let connections = &self.connections;
        self.closing
            .0
            .retain(|id| connections.iter().any(|link| link.id == *id));
        if let (false, Some(since)) = (self.closing.0.is_empty(), self.closing.1)
            && now < since + DIRECT_GRACE
        {
            return (Route::Wait, Vec::new());
        }
        if self.relayed_only() {
            let only_limited = self.connections.iter().all(|link| link.limited(kinds));
            if may_dial_back || !self.punch_failed {
                let base = if only_limited {
                    LIMITED_GRACE
                } else {
                    DIRECT_GRACE
                };
                let rtt = self
                    .connections
                    .iter()
                    .filter_map(|link| link.rtt)
                    .max()
                    .unwrap_or_default();
                let grace = base + rtt * PUNCH_ROUND_TRIPS;
                if now < *self.waiting_since.get_or_insert(now) + grace {
                    return (Route::Wait, Vec::new());
                }
            }
            if only_limited {
                return (Route::Limited, Vec::new());
            }
        }
        if !self.streamed && self.closing.1.is_none() && !self.relayed_only() {
            let close: Vec<ConnectionId> = self
                .connections
                .iter()
                .filter(|link| link.relayed)
                .map(|link| link.id)
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

/// The relay a `/p2p-circuit` address goes through: the peer id before `/p2p-circuit` (none
/// for an address without one, or not through a relay).
pub(super) fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut last = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => last = Some(peer),
            Protocol::P2pCircuit => return last,
            _ => {}
        }
    }
    None
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

    /// Connection `id`, through a relay (always the same one) or not.
    fn link(id: ConnectionId, relayed: bool) -> Link {
        Link {
            id,
            relayed,
            relay: relayed.then_some(relay_peer()),
            rtt: None,
        }
    }

    /// The relay [`link`] goes through.
    fn relay_peer() -> PeerId {
        static RELAY: std::sync::OnceLock<PeerId> = std::sync::OnceLock::new();
        *RELAY.get_or_init(PeerId::random)
    }

    /// Relays known to be `limited`, and known to carry transfers (`full`).
    fn kinds(limited: &[PeerId], full: &[PeerId]) -> RelayKinds {
        let mut kinds = RelayKinds::default();
        for relay in limited {
            kinds.learn(*relay, true);
        }
        for relay in full {
            kinds.learn(*relay, false);
        }
        kinds
    }

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
        let none = RelayKinds::default();
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
        let picked = relays_to_add(&known, &[], 2, &none);
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
        let more = relays_to_add(&known, &[sorted[0]], 2, &none);
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].0, sorted[1]);
        // As many in use as wanted, or more: none.
        assert!(relays_to_add(&known, &sorted[..2], 2, &none).is_empty());
        assert!(relays_to_add(&known, &sorted[..3], 2, &none).is_empty());
        // None met: none.
        assert!(relays_to_add(&Default::default(), &[], 2, &none).is_empty());
    }

    #[test]
    fn a_stream_to_a_peer_reached_through_a_relay_waits_a_while_for_a_direct_connection() {
        let none = RelayKinds::default();
        let now = tokio::time::Instant::now();
        let (relayed, direct, other) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        let mut links = Links::default();
        assert_eq!(links.route(now, true, &none), (Route::NotConnected, vec![]));
        links.connections.push(link(relayed, true));
        // Through the relay only: waits, until the grace is over, however often asked.
        assert_eq!(links.route(now, true, &none), (Route::Wait, vec![]));
        let later = now + DIRECT_GRACE / 2;
        assert_eq!(links.route(later, true, &none), (Route::Wait, vec![]));
        // The peer dialled back: the relayed connection, which carries no stream yet, is
        // closed, and the stream waits until it is gone, then goes.
        links.connections.push(link(direct, false));
        assert_eq!(
            links.route(later, true, &none),
            (Route::Wait, vec![relayed])
        );
        assert_eq!(links.route(later, true, &none), (Route::Wait, vec![]));
        links.connections.retain(|link| link.id != relayed);
        assert_eq!(links.route(later, true, &none), (Route::Go, vec![]));
        // Once a stream went, a relayed connection that comes later is kept (it may carry one).
        links.connections.push(link(other, true));
        assert_eq!(links.route(later, true, &none), (Route::Go, vec![]));
        // A relayed connection that does not close within the grace is not waited on longer.
        let mut links = Links::default();
        links
            .connections
            .extend([link(relayed, true), link(direct, false)]);
        assert_eq!(links.route(now, true, &none), (Route::Wait, vec![relayed]));
        assert_eq!(
            links.route(now + DIRECT_GRACE, true, &none),
            (Route::Go, vec![])
        );

        // No dial back to wait for (this node is behind a NAT, or listens on loopback only):
        // waits for a hole punch, until it failed; then at once, through the relay.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        assert_eq!(links.route(now, false, &none), (Route::Wait, vec![]));
        links.punch_failed = true;
        assert_eq!(links.route(now, false, &none), (Route::Go, vec![]));
        // A hole punched: the relayed connection is closed, as for a dial back.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        assert_eq!(links.route(now, false, &none), (Route::Wait, vec![]));
        links.connections.push(link(direct, false));
        assert_eq!(links.route(now, false, &none), (Route::Wait, vec![relayed]));
        // The grace over with no direct connection: through the relay, and not again waited.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        assert_eq!(links.route(now, true, &none), (Route::Wait, vec![]));
        assert_eq!(
            links.route(now + DIRECT_GRACE, true, &none),
            (Route::Go, vec![])
        );
        assert_eq!(
            links.route(now + DIRECT_GRACE, true, &none),
            (Route::Go, vec![])
        );
        // A direct connection coming after a stream went through the relay closes nothing.
        links.connections.push(link(direct, false));
        assert_eq!(
            links.route(now + DIRECT_GRACE * 2, true, &none),
            (Route::Go, vec![])
        );
    }

    #[test]
    fn the_wait_for_a_hole_grows_with_the_relayed_connections_round_trip() {
        let now = tokio::time::Instant::now();
        let relayed = ConnectionId::new_unchecked(1);
        let far = Duration::from_millis(600);
        for (known, base, after) in [
            (RelayKinds::default(), DIRECT_GRACE, Route::Go),
            (kinds(&[relay_peer()], &[]), LIMITED_GRACE, Route::Limited),
        ] {
            let mut links = Links::default();
            links.connections.push(link(relayed, true));
            assert_eq!(links.route(now, false, &known), (Route::Wait, vec![]));
            // Pinged at 600 ms: four more of them, 2.4 s, beyond the grace.
            links.pinged(relayed, far);
            let longer = now + base + far * PUNCH_ROUND_TRIPS;
            assert_eq!(
                links.route(now + base, false, &known),
                (Route::Wait, vec![])
            );
            assert_eq!(
                links.route(longer - Duration::from_millis(1), false, &known),
                (Route::Wait, vec![])
            );
            assert_eq!(links.route(longer, false, &known), (after, vec![]));
            // A ping of another connection changes nothing.
            let mut links = Links::default();
            links.connections.push(link(relayed, true));
            links.pinged(ConnectionId::new_unchecked(9), far);
            assert_eq!(links.route(now, false, &known), (Route::Wait, vec![]));
            assert_eq!(links.route(now + base, false, &known), (after, vec![]));
        }
    }

    #[test]
    fn a_relay_for_hole_punching_is_limited_and_one_that_carries_transfers_is_not() {
        let secs = |s| Some(Duration::from_secs(s));
        // libp2p's defaults, as every reachable node serves (and go-libp2p, kubo).
        assert!(is_limited(secs(120), Some(128 * 1024)));
        // `--relay-server`: a day, no byte limit (0).
        assert!(!is_limited(secs(24 * 3600), Some(0)));
        // No limit sent at all.
        assert!(!is_limited(None, None));
        // Either limit is enough to make it limited.
        assert!(is_limited(secs(3599), None));
        assert!(is_limited(None, Some((1 << 30) - 1)));
        assert!(!is_limited(secs(3600), Some(1 << 30)));
        let config = |service| {
            let config: relay::Config = relay_config(service).unwrap();
            is_limited(
                Some(config.max_circuit_duration),
                Some(config.max_circuit_bytes),
            )
        };
        assert!(config(RelayService::Limited));
        assert!(!config(RelayService::Full));
        assert!(relay_config(RelayService::Off).is_none());
    }

    #[test]
    fn relays_that_carry_transfers_are_picked_before_limited_ones_which_then_make_way() {
        let known: BTreeMap<PeerId, Vec<Multiaddr>> = (0..4)
            .map(|i| {
                let addr: Multiaddr = format!("/ip4/8.8.8.{i}/tcp/4001").parse().unwrap();
                (PeerId::random(), vec![addr])
            })
            .collect();
        let sorted: Vec<PeerId> = known.keys().copied().collect();
        let picked = |in_use: &[PeerId], kinds: &RelayKinds| -> Vec<PeerId> {
            relays_to_add(&known, in_use, 2, kinds)
                .into_iter()
                .map(|(peer, _)| peer)
                .collect()
        };
        // The first two are limited: the other two are picked.
        let limited = kinds(&sorted[..2], &[]);
        assert_eq!(picked(&[], &limited), sorted[2..]);
        // Limited ones in use make way: two more, that carry transfers.
        assert_eq!(picked(&sorted[..2], &limited), sorted[2..]);
        // One that carries transfers in use, one limited: one more, not limited.
        assert_eq!(picked(&[sorted[0], sorted[2]], &limited), [sorted[3]]);
        // Both that carry transfers in use: none.
        assert!(picked(&sorted[2..], &limited).is_empty());
        // All limited: limited ones are taken, up to two with those in use.
        let all = kinds(&sorted, &[]);
        assert_eq!(picked(&[], &all), sorted[..2]);
        assert_eq!(picked(&[sorted[0]], &all), [sorted[1]]);
        assert!(picked(&sorted[..2], &all).is_empty());

        // Once one that carries transfers has its reservation, the limited ones this node
        // picked are dropped (not one named by hand).
        let now = tokio::time::Instant::now();
        let slot = |relay: PeerId, picked: bool, reserved: bool| {
            let mut slot = idle_slot(&format!("/ip4/8.8.8.8/tcp/1/p2p/{relay}/p2p-circuit"), now);
            slot.picked = picked.then_some(relay);
            slot.reserved = reserved;
            slot
        };
        let mut slots = vec![
            slot(sorted[0], true, true),
            slot(sorted[1], false, true),
            slot(sorted[2], true, false),
        ];
        let known_full = kinds(&sorted[..2], &sorted[2..]);
        assert!(limited_to_drop(&slots, &known_full).is_empty());
        slots[2].reserved = true;
        assert_eq!(
            limited_to_drop(&slots, &known_full),
            [slots[0].addr.clone()]
        );
        // Not before its limits are known (its address may come up before they do).
        assert!(limited_to_drop(&slots, &limited).is_empty());
        assert!(limited_to_drop(&slots, &all).is_empty());
    }

    #[test]
    fn a_stream_to_a_peer_reached_through_limited_relays_only_waits_longer_then_cannot_go() {
        let now = tokio::time::Instant::now();
        let (relayed, direct, full) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        let limited = kinds(&[relay_peer()], &[]);
        // Waits for a hole punch (or a dial back) until LIMITED_GRACE, then cannot go.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        assert_eq!(links.route(now, true, &limited), (Route::Wait, vec![]));
        let later = now + DIRECT_GRACE;
        assert_eq!(links.route(later, true, &limited), (Route::Wait, vec![]));
        let over = now + LIMITED_GRACE;
        assert_eq!(links.route(over, true, &limited), (Route::Limited, vec![]));
        assert_eq!(links.route(over, false, &limited), (Route::Limited, vec![]));
        // A direct connection comes after all: the relayed one is closed, and it goes.
        links.connections.push(link(direct, false));
        assert_eq!(
            links.route(over, false, &limited),
            (Route::Wait, vec![relayed])
        );
        links.connections.retain(|link| link.id != relayed);
        assert_eq!(links.route(over, false, &limited), (Route::Go, vec![]));
        // The hole punch failed and no dial back will come: at once.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        links.punch_failed = true;
        assert_eq!(links.route(now, false, &limited), (Route::Limited, vec![]));
        // Also through a relay that carries transfers: through that one, once the grace is over.
        links.connections.push(Link {
            id: full,
            relayed: true,
            relay: Some(PeerId::random()),
            rtt: None,
        });
        assert_eq!(links.route(now, false, &limited), (Route::Go, vec![]));
        // A relay whose limits are not known yet counts as one that carries transfers.
        let mut links = Links::default();
        links.connections.push(link(relayed, true));
        links.punch_failed = true;
        assert_eq!(
            links.route(now, false, &RelayKinds::default()),
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
