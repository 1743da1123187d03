//! Media UDP sockets, one set per call: bound through the driver when the call is answered,
//! closed when its media is dropped for good.
//!
//! Every call's media has its own sockets, one per media address ([`Engine::set_media_ips`]),
//! as the JS SDK's RTCPeerConnections each have their own ports. Besides isolating calls, this is
//! what lets several calls be relayed at once: a TURN server keys allocations by 5-tuple, so two
//! calls on one socket could not both hold an allocation (coturn answers the second Allocate
//! with 437 Allocation Mismatch).
//!
//! Sans-IO exchange: answering a call with no sockets emits one [`Transmit::BindUdp`] per
//! address (port 0) and waits; the driver answers each with [`Input::UdpBound`] (the local
//! address it got) or [`Input::UdpBindFailed`]. Once every bind is settled the answer is built
//! on the bound addresses (`calls.rs`, `answer`). A failed bind is reported as
//! [`SessionEvent::MediaSocketFailed`] and an `sdkError` of kind `media`; when no socket could be
//! bound the session ends with `failed-transport`. In the simulator a bind is answered at the
//! same virtual instant, so the extra step costs no time; a real driver binds in microseconds.
//!
//! Datagrams name their socket by its bound local address, unique among open sockets. A call's
//! sockets are closed ([`Transmit::CloseUdp`]) when its session ends, or, when the media is kept
//! for its TURN deallocation (`closing_media`), when that media is dropped. A bind answered after
//! its session is gone is closed at once.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use genesys_webrtc_hal::ErrorKind;

use super::{Engine, Transmit, UdpSocketId};
use crate::events::{SdkErrorKind, SdkEvent};
use crate::session::events::{MediaSocketError, SessionEvent, TerminateReason};

/// Where one media socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketState {
    /// [`Transmit::BindUdp`] sent, no answer yet.
    Binding,
    /// Bound to this local address.
    Bound(SocketAddr),
    /// The bind failed; there is no socket.
    Failed,
}

/// One media socket of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MediaSocket {
    pub(crate) id: UdpSocketId,
    /// The address asked for (IP, port 0).
    pub(crate) addr: SocketAddr,
    pub(crate) state: SocketState,
}

/// The media sockets of one call (empty until the call is answered).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallSockets {
    pub(crate) list: Vec<MediaSocket>,
}

impl CallSockets {
    /// Whether binds were asked for.
    pub(crate) fn requested(&self) -> bool {
        !self.list.is_empty()
    }

    /// Whether every bind was answered.
    pub(crate) fn settled(&self) -> bool {
        self.list.iter().all(|s| s.state != SocketState::Binding)
    }

    /// The local addresses of the bound sockets.
    pub(crate) fn bound(&self) -> Vec<SocketAddr> {
        self.list
            .iter()
            .filter_map(|s| match s.state {
                SocketState::Bound(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// Whether one of these sockets is bound to `local`.
    pub(crate) fn has(&self, local: SocketAddr) -> bool {
        self.list
            .iter()
            .any(|s| s.state == SocketState::Bound(local))
    }

    fn get_mut(&mut self, id: UdpSocketId) -> Option<&mut MediaSocket> {
        self.list.iter_mut().find(|s| s.id == id)
    }

    /// Sockets that are open (bound, or binding and to be closed once bound).
    pub(crate) fn open(&self) -> usize {
        self.list
            .iter()
            .filter(|s| s.state != SocketState::Failed)
            .count()
    }
}

impl Engine {
    /// Tells the engine the IP addresses each call's media binds a UDP socket on (the
    /// configured `media_bind_addresses`, else the platform's local addresses). With none,
    /// calls are answered without host sockets (and cannot connect).
    pub fn set_media_ips(&mut self, ips: Vec<IpAddr>) {
        self.media_ips = ips;
    }

    /// Media sockets the engine holds open: bound (or being bound) and not closed yet, over the
    /// live sessions and the media kept for TURN deallocation.
    pub fn open_udp_sockets(&self) -> usize {
        self.sessions
            .values()
            .map(|c| c.sockets.open())
            .chain(self.closing_media.iter().map(|c| c.sockets.open()))
            .sum()
    }

    /// Asks the driver for the sockets of session `sid`, one per media IP. Returns whether the
    /// answer must wait for them (false when there is no media IP).
    pub(crate) fn bind_call_sockets(&mut self, sid: &str) -> bool {
        if self.media_ips.is_empty() {
            return false;
        }
        let mut list = Vec::with_capacity(self.media_ips.len());
        for ip in self.media_ips.clone() {
            let id = UdpSocketId(self.next_udp);
            self.next_udp += 1;
            let addr = SocketAddr::new(ip, 0);
            list.push(MediaSocket {
                id,
                addr,
                state: SocketState::Binding,
            });
            self.transmit(Transmit::BindUdp { socket: id, addr });
        }
        if let Some(call) = self.sessions.get_mut(sid) {
            call.sockets = CallSockets { list };
        }
        true
    }

    /// Closes every open socket of `sockets` (a socket still binding is closed when its bind is
    /// answered, as its owner is then gone).
    pub(crate) fn close_sockets(&mut self, sockets: &CallSockets) {
        for s in &sockets.list {
            if let SocketState::Bound(_) = s.state {
                self.transmit(Transmit::CloseUdp { socket: s.id });
            }
        }
    }

    /// The session waiting for socket `id`.
    fn session_of_socket(&self, id: UdpSocketId) -> Option<String> {
        self.sessions
            .iter()
            .find(|(_, c)| {
                c.sockets
                    .list
                    .iter()
                    .any(|s| s.id == id && s.state == SocketState::Binding)
            })
            .map(|(k, _)| k.clone())
    }

    pub(crate) fn on_udp_bound(&mut self, now: Instant, id: UdpSocketId, local: SocketAddr) {
        let Some(sid) = self.session_of_socket(id) else {
            tracing::debug!(
                socket = id.0,
                "media socket bound for no session; closing it"
            );
            self.transmit(Transmit::CloseUdp { socket: id });
            return;
        };
        if let Some(s) = self
            .sessions
            .get_mut(&sid)
            .and_then(|c| c.sockets.get_mut(id))
        {
            s.state = SocketState::Bound(local);
        }
        tracing::debug!(session_id = %sid, %local, "media socket bound");
        self.sockets_settled(now, &sid);
    }

    pub(crate) fn on_udp_bind_failed(&mut self, now: Instant, id: UdpSocketId, kind: ErrorKind) {
        let Some(sid) = self.session_of_socket(id) else {
            return;
        };
        let Some(s) = self
            .sessions
            .get_mut(&sid)
            .and_then(|c| c.sockets.get_mut(id))
        else {
            return;
        };
        s.state = SocketState::Failed;
        let error = MediaSocketError { addr: s.addr, kind };
        self.error(SdkErrorKind::Media, format!("session {sid}: {error}"));
        self.emit(SdkEvent::Session {
            session_id: sid.clone(),
            event: SessionEvent::MediaSocketFailed(error),
        });
        self.sockets_settled(now, &sid);
    }

    /// Once every bind of `sid` is answered: answers the offer on the bound sockets, or fails
    /// the session if none could be bound.
    fn sockets_settled(&mut self, now: Instant, sid: &str) {
        let Some(call) = self.sessions.get(sid) else {
            return;
        };
        if !call.sockets.settled() || call.media.is_some() || call.ending.is_some() {
            return;
        }
        if call.sockets.bound().is_empty() {
            self.terminate_session(now, sid, TerminateReason::FailedTransport, true);
        } else {
            self.answer(now, sid);
        }
    }
}
