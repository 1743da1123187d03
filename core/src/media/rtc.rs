//! Per-call WebRTC media: one str0m [`Rtc`] answering the server's audio offer, ICE candidate
//! gathering (host + STUN server-reflexive), and audio/DTMF RTP in and out.
//!
//! Owns the ICE/DTLS/SRTP session of one call and its outgoing RTP sequence numbers. Does not
//! own sockets, clocks, codecs or the jitter buffer: datagrams come in through
//! [`CallMedia::handle_input`], go out as [`MediaOutput::Transmit`], and audio travels as
//! already-encoded RTP payloads.
//!
//! # Run loop
//!
//! The same shape as str0m's (its crate docs, "Run loop"): every mutation (an input or a method
//! taking `&mut self`) is followed by draining [`CallMedia::poll_output`] until it returns
//! [`MediaOutput::Timeout`]. Internally every mutation of the `Rtc` is immediately followed by a
//! full drain of str0m into a queue, so str0m's single-mutation invariant holds even if the
//! caller writes several packets before polling (str0m rejects writes after about 512 without a
//! poll); the queue is what [`CallMedia::poll_output`] hands out. The timeout is the earlier of
//! str0m's deadline, the STUN client's and the ICE failure deadline.
//!
//! # str0m findings (0.25)
//!
//! * **RTP mode.** The `Rtc` runs with `RtcConfig::set_rtp_mode(true)`. In frame mode str0m
//!   reorders audio itself, holding packets after a gap until 15 later packets or 1 s have passed
//!   and dropping late ones, which is the jitter buffer's job here. RTP mode gives every packet
//!   as `Event::RtpPacket` with its header (sequence number, timestamp, marker, SSRC), so
//!   [`MediaEvent::AudioReceived`] carries `seq`. (Frame mode would also expose it through
//!   `MediaData::seq_range`, but only after the reordering above.) Sending uses
//!   `StreamTx::write_rtp`; this module numbers the packets (random 15-bit start, RFC 3550).
//! * **DTMF.** str0m 0.25 supports RFC 4733 `telephone-event` (`Codec::Tele`): one payload
//!   type per clock rate must be configured (we configure 8 kHz and 48 kHz), and negotiation
//!   keeps the offer's PTs. Frame mode has `Writer::telephone_event`, which generates the whole
//!   packet series; in RTP mode we send the caller's RFC 4733 payloads as-is on the negotiated
//!   PT whose clock rate matches the audio codec in use ([`CallMedia::write_telephone_event`]).
//!   Received events arrive like audio, with [`AudioCodec::TelephoneEvent`].
//! * **Stats.** With `set_stats_interval` str0m emits `PeerStats`, `MediaIngressStats` (jitter in
//!   RTP units) and `MediaEgressStats` (packets sent, RTT and loss from RTCP receiver reports).
//!   They are folded into one [`MediaEvent::Stats`] every [`STATS_INTERVAL`]; received and lost
//!   packet counts are computed here from the sequence numbers actually seen.
//! * **DTLS role.** str0m answers an `actpass` offer as DTLS server (`passive`), and so do we. As a
//!   DTLS 1.2 server, dimpl reports the handshake done once it has *sent* its last flight
//!   (ChangeCipherSpec + Finished). When every copy of that flight is lost until the client gives
//!   up (a dimpl client: four retransmissions from 1 s, about 30 s, fewer when str0m's stale clock
//!   makes it resend a new flight at once), the far end never completes while this side believes it
//!   is connected, and DTLS never tells it otherwise. Likewise when the far end's ClientHellos are
//!   all lost until it gives up: this side, a server that never saw one, waits with ICE connected.
//!   Only ICE could notice, and only if the far end stops answering it (a str0m far end does,
//!   closing its `Rtc`; str0m's agent then took tens of seconds to report it, then
//!   [`ICE_FAILED_AFTER`] more to fail); a far end whose ICE outlives its DTLS leaves this side
//!   connected without media for ever. The far end sends SRTP or SRTCP as soon as its DTLS is up,
//!   so [`NO_MEDIA_FAILED_AFTER`] after ICE first connected without a single RTP/RTCP datagram from
//!   it (while it is supposed to send) this is reported: [`MediaError::NoMediaFromPeer`], then
//!   `Failed`. (The client role is no cure in str0m 0.25: its dimpl client arms its retransmission
//!   timers when the `Rtc` is built, while str0m holds the datagrams until ICE has a pair, so the
//!   handshake budget runs out about 30 s after the answer however late ICE connects.)
//! * **ICE states.** str0m's agent has no `failed`/`closed` (trickle never ends). `Connected`
//!   is reported once ICE is connected *and* DTLS is up (as the JS `connectionState`); before
//!   DTLS is up a connected ICE reads `Checking`. `Failed` is reported here after
//!   [`ICE_FAILED_AFTER`] without an ICE connection, when str0m gives up (a DTLS handshake
//!   that timed out), or after [`NO_MEDIA_FAILED_AFTER`] (above); `Closed` on
//!   [`CallMedia::close`] or when the peer closes DTLS, then `Failed` [`PEER_CLOSED_GRACE`] after a
//!   peer close (the session should have ended by signaling). There is no end-of-remote-candidates API,
//!   so [`CallMedia::end_of_remote_candidates`] only records it.
//!
//! # Candidates, STUN and TURN
//!
//! Host candidates (one per [`MediaConfig::local_addrs`]) are added before the answer is built,
//! so the answer SDP carries them; they are not repeated as events. Server-reflexive candidates
//! come from an RFC 5389 Binding request sent from each local socket to each `stun:` server
//! whose host is an IP literal (this crate does no DNS: resolve names before building the
//! config); each new one is a [`MediaEvent::LocalCandidate`] to trickle, and
//! [`MediaEvent::EndOfLocalCandidates`] follows when every server answered (and every TURN
//! allocation succeeded or failed) or after [`RELAY_GATHER_TIMEOUT`].
//!
//! Relay candidates come from TURN over UDP (`rtc/turn.rs`, on the sans-IO
//! `turn-client-proto` crate): for each `turn:` server with an IP literal, UDP transport and
//! credentials (at most [`MAX_RELAYS`]), an allocation is made from the first local socket of
//! the same family. str0m gets the relayed address as a `Candidate::relayed`; its datagrams
//! whose source is that address are wrapped into ChannelData (or Send indications until the
//! channel is bound) to the TURN server, and Data indications / ChannelData from the server are
//! unwrapped and given to str0m as received on the relayed address. Every remote candidate's IP
//! gets a permission; the allocation is refreshed before it expires and deleted on
//! [`CallMedia::close`]. `turns:` and TURN over TCP are not implemented (ignored).
//!
//! With [`MediaConfig::relay_only`] (ICE transport policy `relay`) there are no host or
//! server-reflexive candidates, only relayed ones. If no TURN server is usable, or every
//! allocation fails, [`MediaEvent::Error`]`(`[`MediaError::RelayUnavailable`]`)` is emitted and
//! the state goes to [`ConnectionState::Failed`] at once (no candidate could ever connect). A
//! failed allocation is reported as [`MediaError::TurnAllocationFailed`] in both policies.
//!
//! # Untrusted input
//!
//! The offer is size-checked ([`MAX_OFFER_BYTES`]) and parsed by str0m; datagrams are routed by
//! the STUN client's bounded parser (`rtc/stun.rs`) or str0m's demultiplexer, and anything
//! unrecognised is dropped. Outputs are queued until polled; a caller that never polls grows
//! the queue.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

mod stun;
mod turn;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};

use crate::options::IceServer;

/// Largest SDP offer accepted; checked before parsing.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// Largest audio payload [`CallMedia::write_audio`] sends (an Opus frame is far smaller).
pub const MAX_AUDIO_PAYLOAD: usize = 1200;
/// Largest RFC 4733 payload (16 event reports of 4 bytes).
pub const MAX_TELEPHONE_EVENT_PAYLOAD: usize = 64;
/// Time without an ICE connection (from the offer, or from losing it) after which
/// [`ConnectionState::Failed`] is reported.
pub const ICE_FAILED_AFTER: Duration = Duration::from_secs(30);
/// After the peer closed the connection (DTLS close) while the session is still up, how long
/// the signaling (its terminate) gets before [`ConnectionState::Failed`] is reported: the 2 s
/// watchdog of PROTOCOL.md §7.5. A terminate lost in a WebSocket drop must not leave a dead
/// session behind.
pub const PEER_CLOSED_GRACE: Duration = Duration::from_secs(2);
/// ICE connected this long without one RTP or RTCP datagram from a peer that is supposed to
/// send: a DTLS handshake never finished (module docs, "DTLS role"), and
/// [`MediaError::NoMediaFromPeer`] then [`ConnectionState::Failed`] are reported.
pub const NO_MEDIA_FAILED_AFTER: Duration = Duration::from_secs(30);
/// Interval of [`MediaEvent::Stats`].
pub const STATS_INTERVAL: Duration = Duration::from_secs(5);
/// Most TURN allocations per call (one per usable `turn:` server, in discovery order).
pub const MAX_RELAYS: usize = 2;
/// DTLS datagrams kept while ICE has not yet validated their source (the far end's ClientHello
/// can arrive before our own connectivity check succeeds); replayed once str0m accepts them.
pub const MAX_EARLY_DTLS: usize = 4;
/// How long an early DTLS datagram is kept before it is dropped.
pub const EARLY_DTLS_KEPT_FOR: Duration = Duration::from_secs(2);
/// Longest the end of local candidates waits for TURN allocations.
pub const RELAY_GATHER_TIMEOUT: Duration = Duration::from_secs(3);
/// Default STUN port when the URL has none.
const STUN_DEFAULT_PORT: u16 = 3478;
/// After an internal str0m error while polling, wait this long before polling it again.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Local payload types for telephone-event; negotiation replaces them with the offer's.
const PT_TELE_48K: u8 = 110;
const PT_TELE_8K: u8 = 126;

/// How to build the media session of one call.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local addresses of the call's own bound UDP sockets, one host candidate each.
    pub local_addrs: Vec<SocketAddr>,
    /// STUN/TURN servers from discovery (PROTOCOL 5). `stun:` and `turn:` (UDP, with
    /// credentials) with an IP literal are used; see the module docs.
    pub ice_servers: Vec<IceServer>,
    /// ICE transport policy `relay` (no STUN services were discovered): only TURN relay
    /// candidates are gathered.
    pub relay_only: bool,
    /// Whether we send audio. `false` answers `recvonly` (or `inactive`).
    pub send_audio: bool,
    /// Seed for the STUN transaction ids and the first RTP sequence number.
    pub rng_seed: u64,
}

impl MediaConfig {
    /// Host candidates on `local_addrs`, no ICE servers, sending audio, seed 0.
    pub fn new(local_addrs: Vec<SocketAddr>) -> Self {
        MediaConfig {
            local_addrs,
            ice_servers: Vec::new(),
            relay_only: false,
            send_audio: true,
            rng_seed: 0,
        }
    }
}

/// Input to [`CallMedia::handle_input`].
#[derive(Debug)]
pub enum MediaInput<'a> {
    /// Time has advanced to this instant (a timeout fired).
    Timeout(Instant),
    /// A UDP datagram arrived on one of the local sockets.
    Receive {
        /// Arrival time.
        now: Instant,
        /// Sender.
        source: SocketAddr,
        /// The local socket it arrived on.
        destination: SocketAddr,
        /// Datagram contents.
        data: &'a [u8],
    },
}

/// Output of [`CallMedia::poll_output`].
#[derive(Debug)]
pub enum MediaOutput {
    /// Send `data` from the local socket `source` to `destination`.
    Transmit {
        /// Local socket to send from.
        source: SocketAddr,
        /// Remote address.
        destination: SocketAddr,
        /// Datagram contents.
        data: Vec<u8>,
    },
    /// Something happened.
    Event(MediaEvent),
    /// Nothing more to do until this instant (or until new input).
    Timeout(Instant),
}

/// Connection state, as the JS `RTCPeerConnection.connectionState` the SDK mirrors (PROTOCOL
/// 13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No checks yet.
    New,
    /// ICE connectivity checks in progress.
    Checking,
    /// A working candidate pair (ICE connected or completed).
    Connected,
    /// The connection was lost; it may come back.
    Disconnected,
    /// No connection for [`ICE_FAILED_AFTER`].
    Failed,
    /// Closed locally or by the peer.
    Closed,
}

/// An audio payload format negotiated for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioCodec {
    /// Opus at 48 kHz.
    Opus {
        /// Channels from the `rtpmap` (2 in WebRTC SDP).
        channels: u8,
    },
    /// G.711 µ-law at 8 kHz.
    Pcmu,
    /// G.711 A-law at 8 kHz.
    Pcma,
    /// RFC 4733 telephone events (DTMF).
    TelephoneEvent {
        /// RTP clock rate of this payload type (8000 or 48000).
        clock_rate: u32,
    },
}

impl AudioCodec {
    /// RTP clock rate in Hz.
    pub fn clock_rate(&self) -> u32 {
        match self {
            AudioCodec::Opus { .. } => 48_000,
            AudioCodec::Pcmu | AudioCodec::Pcma => 8_000,
            AudioCodec::TelephoneEvent { clock_rate } => *clock_rate,
        }
    }

    /// True for the telephone-event format.
    pub fn is_telephone_event(&self) -> bool {
        matches!(self, AudioCodec::TelephoneEvent { .. })
    }
}

/// A payload type and its format, as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// RTP payload type (the offer's number).
    pub pt: u8,
    /// Its format.
    pub codec: AudioCodec,
}

/// Periodic media statistics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MediaStats {
    /// Round-trip time from RTCP receiver reports (or ICE when there are none yet).
    pub rtt: Option<Duration>,
    /// Interarrival jitter of the received audio (RFC 3550), as reported in our last RTCP RR.
    pub jitter: Option<Duration>,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Received-side loss: packets expected from the sequence numbers minus packets received.
    pub lost: u64,
    /// Packets of ours the peer reports lost (RTCP receiver reports), if it reported.
    pub remote_lost: Option<u64>,
}

/// The candidate pair ICE selected: media flows between these two addresses, through a TURN
/// relay when `relayed` (then `local` is the relayed address on the TURN server). A
/// server-reflexive local candidate shares its socket with the host one, so it shows as that
/// host address with `relayed: false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedPath {
    /// Our side: a local socket, or the relayed address.
    pub local: SocketAddr,
    /// The peer's side.
    pub remote: SocketAddr,
    /// Through a TURN relay.
    pub relayed: bool,
}

/// Events from [`CallMedia`].
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A new local candidate (`candidate:…` attribute value, without `a=`) to trickle.
    LocalCandidate(String),
    /// Gathering finished: send `a=end-of-candidates`.
    EndOfLocalCandidates,
    /// The connection state changed.
    ConnectionState(ConnectionState),
    /// ICE and DTLS are up; media can flow.
    Connected,
    /// One received RTP packet of audio or telephone events, not reordered.
    AudioReceived {
        /// Payload type.
        pt: u8,
        /// Its negotiated format.
        codec: AudioCodec,
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        rtp_timestamp: u32,
        /// RTP marker bit (start of a talkspurt, or of a telephone event).
        marker: bool,
        /// Sender SSRC; a change means a new stream (reset the jitter buffer).
        ssrc: u32,
        /// Encoded payload.
        payload: Vec<u8>,
        /// When the datagram arrived.
        received_at: Instant,
    },
    /// Statistics, every [`STATS_INTERVAL`] once connected.
    Stats(MediaStats),
    /// The selected candidate pair, when first known (with the first statistics) and when it
    /// changes.
    SelectedPath(SelectedPath),
    /// A non-fatal problem (e.g. [`MediaError::RelayUnavailable`]).
    Error(MediaError),
}

/// Media session errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The offer is larger than [`MAX_OFFER_BYTES`].
    #[error("SDP offer larger than {MAX_OFFER_BYTES} bytes")]
    OfferTooLarge,
    /// The offer could not be parsed or applied.
    #[error("SDP offer rejected")]
    BadOffer(#[source] RtcError),
    /// The offer has no audio m-line.
    #[error("SDP offer has no audio")]
    NoAudio,
    /// The offer's `a=ice-ufrag`/`a=ice-pwd` are outside RFC 8839's syntax or too long.
    #[error("SDP offer has unusable ICE credentials")]
    BadIceCredentials,
    /// The offer's audio has none of Opus, PCMU, PCMA.
    #[error("no common audio codec in the offer")]
    NoCommonCodec,
    /// A remote candidate line could not be parsed.
    #[error("bad ICE candidate: {0}")]
    BadCandidate(&'static str),
    /// Relay-only policy, but no TURN relay candidate could be had (no usable `turn:` server,
    /// or every allocation failed).
    #[error("relay-only ICE policy requested but no TURN relay candidate is available")]
    RelayUnavailable,
    /// A TURN server refused or did not answer the allocation. `code` is its STUN error code
    /// when it answered with one (401: rejected credentials, 437: allocation mismatch).
    #[error("TURN allocation on {server} failed{}", match code { Some(c) => format!(" (error {c})"), None => String::new() })]
    TurnAllocationFailed {
        /// The TURN server.
        server: SocketAddr,
        /// Its STUN error code, if it answered with one.
        code: Option<u16>,
    },
    /// The payload type is not a negotiated audio codec.
    #[error("payload type {0} is not a negotiated audio codec")]
    UnknownPayloadType(u8),
    /// The offer had no usable telephone-event.
    #[error("telephone-event was not negotiated")]
    TelephoneEventNotNegotiated,
    /// The telephone-event payload is not a sequence of 4-byte RFC 4733 reports.
    #[error("invalid telephone-event payload")]
    InvalidTelephoneEvent,
    /// Payload over the limit.
    #[error("payload of {len} bytes exceeds {max}")]
    PayloadTooLarge {
        /// Given length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The negotiated direction does not send audio.
    #[error("negotiated audio direction does not send")]
    NotSending,
    /// [`CallMedia::close`] was called or the peer closed.
    #[error("media session closed")]
    Closed,
    /// ICE connected for [`NO_MEDIA_FAILED_AFTER`] without any RTP or RTCP from the peer: a
    /// DTLS handshake (the peer's, or both) never finished.
    #[error("no media from the peer {0:?} after ICE connected")]
    NoMediaFromPeer(Duration),
    /// An error inside str0m.
    #[error("WebRTC stack error")]
    Rtc(#[source] RtcError),
}

/// Outgoing RTP state of the audio stream.
#[derive(Debug)]
struct TxState {
    /// Next extended sequence number.
    next_seq: u64,
    /// Set the marker bit on the next audio packet (first after connect or unmute).
    mark_next: bool,
    /// Payload type of the last audio packet, to pick the telephone-event clock rate.
    last_audio_pt: Option<u8>,
    muted: bool,
}

/// Received-side counters for [`MediaStats`].
#[derive(Debug, Default)]
struct RxCounters {
    ssrc: Option<u32>,
    first_seq: u64,
    max_seq: u64,
    received: u64,
    /// Folded-in counts of earlier SSRCs.
    earlier_expected: u64,
    earlier_received: u64,
    clock_rate: u32,
}

impl RxCounters {
    fn on_packet(&mut self, ssrc: u32, seq: u64) {
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.earlier_expected += self.expected();
                self.earlier_received += self.received;
            }
            self.ssrc = Some(ssrc);
            self.first_seq = seq;
            self.max_seq = seq;
            self.received = 0;
        }
        self.first_seq = self.first_seq.min(seq);
        self.max_seq = self.max_seq.max(seq);
        self.received += 1;
    }

    fn expected(&self) -> u64 {
        if self.ssrc.is_none() {
            return 0;
        }
        self.max_seq
            .saturating_sub(self.first_seq)
            .saturating_add(1)
    }

    fn received_total(&self) -> u64 {
        self.earlier_received + self.received
    }

    fn lost_total(&self) -> u64 {
        (self.earlier_expected + self.expected()).saturating_sub(self.received_total())
    }
}

/// The media side of one call session: a str0m `Rtc` that answered the server's offer.
pub struct CallMedia {
    rtc: Rtc,
    audio_mid: Option<Mid>,
    codecs: Vec<NegotiatedCodec>,
    can_send: bool,
    tx: TxState,
    rx: RxCounters,
    stats: MediaStats,
    stats_dirty: bool,
    gatherer: Option<stun::Gatherer>,
    /// TURN allocations.
    relays: Vec<turn::Relay>,
    /// Earliest timeout the relays asked for.
    relay_timeout: Option<Instant>,
    relay_only: bool,
    /// `EndOfLocalCandidates` is still to be sent (at the latest at this instant).
    candidates_pending: Option<Instant>,
    outputs: VecDeque<MediaOutput>,
    rtc_timeout: Instant,
    now: Instant,
    state: ConnectionState,
    /// The last [`MediaEvent::SelectedPath`] reported.
    selected_path: Option<SelectedPath>,
    /// Since when we have been without an ICE connection (for `Failed`).
    unconnected_since: Option<Instant>,
    /// ICE is connected (or completed).
    ice_connected: bool,
    /// When ICE first connected (the no-media watchdog runs from there).
    ice_first_connected_at: Option<Instant>,
    /// DTLS is up (str0m's `Event::Connected`).
    dtls_connected: bool,
    /// An RTP or RTCP datagram came from the peer.
    peer_media_seen: bool,
    /// DTLS datagrams that came before ICE accepted their source (at most
    /// [`MAX_EARLY_DTLS`]): when, from, to, the bytes.
    early_dtls: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    remote_candidates_done: bool,
    closed: bool,
    /// When the peer closed the connection (not set by our own [`CallMedia::close`]).
    peer_closed_at: Option<Instant>,
}

impl std::fmt::Debug for CallMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMedia")
            .field("audio_mid", &self.audio_mid)
            .field("codecs", &self.codecs)
            .field("state", &self.state)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Longest remote ICE user fragment accepted: str0m builds the STUN USERNAME
/// (`remote:local`) from it and refuses (panics on) long ones; RFC 8839 allows up to 256, real
/// stacks use 4–32.
pub const MAX_ICE_UFRAG: usize = 64;
/// Longest remote ICE password accepted (RFC 8839: 22–256).
pub const MAX_ICE_PWD: usize = 256;

/// Checks every `a=ice-ufrag`/`a=ice-pwd` of an offer: RFC 8839 ice-chars
/// (`ALPHA / DIGIT / "+" / "/"`), ufrag 4–[`MAX_ICE_UFRAG`], pwd 22–[`MAX_ICE_PWD`].
fn check_ice_credentials(sdp: &str) -> Result<(), MediaError> {
    let ice_chars = |v: &str| {
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
            if !(4..=MAX_ICE_UFRAG).contains(&v.len()) || !ice_chars(v) {
                return Err(MediaError::BadIceCredentials);
            }
        } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
            if !(22..=MAX_ICE_PWD).contains(&v.len()) || !ice_chars(v) {
                return Err(MediaError::BadIceCredentials);
            }
        }
    }
    Ok(())
}

impl CallMedia {
    /// Answers the server's SDP offer. Returns the session and the answer SDP (which carries
    /// the host candidates). Drain [`CallMedia::poll_output`] next: STUN requests and
    /// candidate events are waiting.
    pub fn accept_offer(
        now: Instant,
        offer_sdp: &str,
        config: &MediaConfig,
    ) -> Result<(CallMedia, String), MediaError> {
        if offer_sdp.len() > MAX_OFFER_BYTES {
            return Err(MediaError::OfferTooLarge);
        }
        check_ice_credentials(offer_sdp)?;
        let offer_text = if config.send_audio {
            Cow::Borrowed(offer_sdp)
        } else {
            Cow::Owned(receive_only_offer(offer_sdp))
        };
        let offer = SdpOffer::from_sdp_string(&offer_text)
            .map_err(|e| MediaError::BadOffer(RtcError::from(e)))?;

        let mut rng = fastrand::Rng::with_seed(config.rng_seed);
        let mut media = CallMedia {
            rtc: build_rtc(now),
            audio_mid: None,
            codecs: Vec::new(),
            can_send: false,
            tx: TxState {
                next_seq: u64::from(rng.u16(..0x8000)),
                mark_next: true,
                last_audio_pt: None,
                muted: false,
            },
            rx: RxCounters::default(),
            stats: MediaStats::default(),
            stats_dirty: false,
            gatherer: None,
            relays: Vec::new(),
            relay_timeout: None,
            relay_only: config.relay_only,
            candidates_pending: None,
            outputs: VecDeque::new(),
            rtc_timeout: now,
            now,
            state: ConnectionState::New,
            selected_path: None,
            unconnected_since: Some(now),
            ice_connected: false,
            ice_first_connected_at: None,
            dtls_connected: false,
            peer_media_seen: false,
            early_dtls: Vec::new(),
            remote_candidates_done: false,
            closed: false,
            peer_closed_at: None,
        };

        if !config.relay_only {
            for addr in &config.local_addrs {
                match Candidate::host(*addr, "udp") {
                    Ok(c) => {
                        media.rtc.add_local_candidate(c);
                        media.drain(now);
                    }
                    Err(_) => tracing::warn!("local address not usable as a host candidate"),
                }
            }
        }

        let answer = media
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(MediaError::BadOffer)?;
        media.drain(now);

        // str0m's `MediaAdded` only comes once SRTP is up, so the audio mid is taken from the
        // offer: the first audio section that negotiated a codec.
        let audio_mids = audio_section_mids(&offer_text);
        if audio_mids.is_empty() {
            return Err(MediaError::NoAudio);
        }
        let (mid, codecs) = audio_mids
            .into_iter()
            .find_map(|mid| {
                let codecs = media.negotiated_codecs(mid);
                codecs
                    .iter()
                    .any(|c| !c.codec.is_telephone_event())
                    .then_some((mid, codecs))
            })
            .ok_or(MediaError::NoCommonCodec)?;
        media.audio_mid = Some(mid);
        media.codecs = codecs;
        media.can_send = media
            .rtc
            .media(mid)
            .is_some_and(|m| m.direction().is_sending());

        media.relays = relays_for(now, config);
        // Permissions for the offer's own candidates (trickled ones get theirs on arrival).
        for ip in offer_candidate_ips(&offer_text) {
            media.permit_peer(now, ip);
        }
        if config.relay_only {
            if media.relays.is_empty() {
                tracing::warn!("relay-only ICE policy, but no usable TURN server");
                media.push_event(MediaEvent::Error(MediaError::RelayUnavailable));
                media.set_state(ConnectionState::Failed);
            }
        } else {
            let servers: Vec<SocketAddr> = config
                .ice_servers
                .iter()
                .filter_map(|s| stun_server_addr(&s.url))
                .collect();
            let pairs: Vec<(SocketAddr, SocketAddr)> = config
                .local_addrs
                .iter()
                .flat_map(|l| servers.iter().map(move |s| (*l, *s)))
                .collect();
            let gatherer = stun::Gatherer::new(now, pairs, &mut rng);
            if !gatherer.is_finished(now) {
                media.gatherer = Some(gatherer);
            }
        }
        media.candidates_pending = Some(now + RELAY_GATHER_TIMEOUT);
        media.drain(now);

        Ok((media, answer.to_sdp_string()))
    }

    /// Applies a new offer from the same peer on this connection (sdp-over-xmpp
    /// renegotiation: same ICE credentials, PROTOCOL.md §7.3 step 3) and returns the new answer.
    /// The transport stays up; the negotiated codecs are read again.
    pub fn renegotiate(&mut self, now: Instant, offer_sdp: &str) -> Result<String, MediaError> {
        if offer_sdp.len() > MAX_OFFER_BYTES {
            return Err(MediaError::OfferTooLarge);
        }
        if self.closed {
            return Err(MediaError::Closed);
        }
        check_ice_credentials(offer_sdp)?;
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| MediaError::BadOffer(RtcError::from(e)))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(MediaError::BadOffer)?;
        let now = self.now.max(now);
        for ip in offer_candidate_ips(offer_sdp) {
            self.permit_peer(now, ip);
        }
        self.drain(now);
        if let Some(mid) = audio_section_mids(offer_sdp).into_iter().find(|m| {
            self.negotiated_codecs(*m)
                .iter()
                .any(|c| !c.codec.is_telephone_event())
        }) {
            self.audio_mid = Some(mid);
            self.codecs = self.negotiated_codecs(mid);
            self.can_send = self
                .rtc
                .media(mid)
                .is_some_and(|m| m.direction().is_sending());
        }
        Ok(answer.to_sdp_string())
    }

    /// Asks every TURN relay for a permission for the peer address `ip` (a remote candidate's).
    fn permit_peer(&mut self, now: Instant, ip: IpAddr) {
        for r in &mut self.relays {
            r.add_permission(now, ip);
        }
    }

    /// Adds a trickled remote candidate (`candidate:…`, with or without `a=`). TCP and RTCP
    /// (component 2) candidates are ignored.
    pub fn add_remote_candidate(&mut self, line: &str) -> Result<(), MediaError> {
        if self.closed {
            return Err(MediaError::Closed);
        }
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.len() > 512 {
            return Err(MediaError::BadCandidate("too long"));
        }
        if !line.starts_with("candidate:") {
            return Err(MediaError::BadCandidate("missing candidate: prefix"));
        }
        let mut fields = line.split_whitespace();
        let _foundation = fields.next();
        let component = fields.next();
        let transport = fields.next();
        if !transport.is_some_and(|t| t.eq_ignore_ascii_case("udp")) {
            tracing::debug!("non-UDP remote candidate ignored");
            return Ok(());
        }
        if component != Some("1") {
            tracing::debug!("remote candidate for a component other than RTP ignored");
            return Ok(());
        }
        let candidate =
            Candidate::from_sdp_string(line).map_err(|_| MediaError::BadCandidate("unparsable"))?;
        self.permit_peer(self.now, candidate.addr().ip());
        self.rtc.add_remote_candidate(candidate);
        self.drain(self.now);
        Ok(())
    }

    /// The peer has no more candidates. str0m has no such notion (trickle never ends), so this
    /// is only recorded.
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_candidates_done = true;
    }

    /// True once [`CallMedia::end_of_remote_candidates`] was called.
    pub fn remote_candidates_done(&self) -> bool {
        self.remote_candidates_done
    }

    /// Feeds time or a datagram. STUN responses to our Binding requests are consumed here;
    /// datagrams str0m does not accept (`Rtc::accepts`) and garbage are dropped.
    pub fn handle_input(&mut self, input: MediaInput<'_>) {
        if self.closed && !self.rtc.is_alive() {
            // Only the peer-closed watchdog and the TURN deallocations run now.
            match input {
                MediaInput::Timeout(now) => {
                    self.now = self.now.max(now);
                    self.drain_relays(self.now);
                    if self.failure_deadline().is_some_and(|d| self.now >= d) {
                        self.set_state(ConnectionState::Failed);
                    }
                }
                MediaInput::Receive {
                    now,
                    source,
                    destination,
                    data,
                } => {
                    self.now = self.now.max(now);
                    let now = self.now;
                    if let Some(r) = self
                        .relays
                        .iter_mut()
                        .find(|r| r.owns(source, destination, data))
                    {
                        r.handle_receive(now, source, destination, data);
                        self.drain_relays(now);
                    }
                }
            }
            return;
        }
        match input {
            MediaInput::Timeout(now) => {
                let now = self.now.max(now);
                if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                    tracing::warn!(error = %e, "str0m timeout handling failed");
                }
                self.drain(now);
            }
            MediaInput::Receive {
                now,
                source,
                destination,
                data,
            } => {
                let now = self.now.max(now);
                if let Some(r) = self
                    .relays
                    .iter_mut()
                    .find(|r| r.owns(source, destination, data))
                {
                    let mut received = vec![r.handle_receive(now, source, destination, data)];
                    while let Some(more) = r.poll_recv(now) {
                        received.push(more);
                    }
                    for got in received {
                        if let turn::RelayReceived::Peer {
                            peer,
                            relayed,
                            data,
                        } = got
                        {
                            self.receive_into_rtc(now, peer, relayed, &data);
                        }
                    }
                    self.drain(now);
                    return;
                }
                if let Some(g) = &mut self.gatherer {
                    match g.handle_receive(source, destination, data) {
                        stun::Received::NotOurs => {}
                        stun::Received::Ignored => return,
                        stun::Received::Mapped { base, mapped } => {
                            self.add_server_reflexive(mapped, base);
                            self.drain(now);
                            return;
                        }
                    }
                }
                self.receive_into_rtc(now, source, destination, data);
                self.drain(now);
            }
        }
    }

    /// Gives a datagram to str0m if it accepts it.
    /// Hands str0m the early DTLS datagrams whose source it now accepts; drops those kept
    /// longer than [`EARLY_DTLS_KEPT_FOR`].
    fn replay_early_dtls(&mut self, now: Instant) {
        if self.early_dtls.is_empty() {
            return;
        }
        let mut kept = std::mem::take(&mut self.early_dtls);
        kept.retain(|(at, source, destination, data)| {
            if now.saturating_duration_since(*at) > EARLY_DTLS_KEPT_FOR {
                return false;
            }
            let Ok(receive) = Receive::new(Protocol::Udp, *source, *destination, data) else {
                return false;
            };
            let input = Input::Receive(now, receive);
            if !self.rtc.accepts(&input) {
                return true;
            }
            tracing::trace!(len = data.len(), "early DTLS datagram replayed");
            if let Err(e) = self.rtc.handle_input(input) {
                tracing::debug!(error = %e, "early DTLS datagram rejected");
            }
            false
        });
        self.early_dtls = kept;
    }

    fn receive_into_rtc(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            tracing::trace!(len = data.len(), "unrecognised datagram dropped");
            return;
        };
        let input = Input::Receive(now, receive);
        if !self.rtc.accepts(&input) {
            // The far end may start DTLS as soon as its own check succeeds, before ours has
            // validated its address: keep its first flight instead of waiting a whole DTLS
            // retransmission (1 s) for the next copy.
            let dtls = data.first().is_some_and(|b| (20..=63).contains(b));
            if dtls && !self.ice_connected && self.early_dtls.len() < MAX_EARLY_DTLS {
                tracing::trace!(len = data.len(), "early DTLS datagram kept");
                self.early_dtls
                    .push((now, source, destination, data.to_vec()));
            } else {
                tracing::trace!(len = data.len(), "datagram from an unknown peer dropped");
            }
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(error = %e, "received datagram rejected");
        }
        // RTP and RTCP by their first byte (RFC 7983): the peer's DTLS is up.
        if data.first().is_some_and(|b| (128..=191).contains(b)) {
            self.peer_media_seen = true;
        }
    }

    /// Whether `input` belongs to this call: a response to one of our STUN transactions, or
    /// what str0m's `Rtc::accepts` recognises (the nominated peer, ICE credentials, a known
    /// remote candidate). Timeouts are always accepted. Only needed to share one socket between
    /// calls; the engine gives each call sockets of its own and routes by socket, and
    /// [`CallMedia::handle_input`] drops what this would refuse.
    pub fn accepts(&self, input: &MediaInput<'_>) -> bool {
        let MediaInput::Receive {
            now,
            source,
            destination,
            data,
        } = *input
        else {
            return true;
        };
        if self.gatherer.as_ref().is_some_and(|g| g.owns(data))
            || self
                .relays
                .iter()
                .any(|r| r.owns(source, destination, data))
        {
            return true;
        }
        Receive::new(Protocol::Udp, source, destination, data)
            .is_ok_and(|r| self.rtc.accepts(&Input::Receive(now, r)))
    }

    /// Next output. Call until it returns [`MediaOutput::Timeout`].
    pub fn poll_output(&mut self) -> MediaOutput {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        let mut at = self.rtc_timeout;
        if let Some(g) = &self.gatherer {
            at = at.min(g.poll_timeout());
        }
        for t in [self.relay_timeout, self.candidates_pending]
            .into_iter()
            .flatten()
        {
            at = at.min(t);
        }
        for deadline in [self.failure_deadline(), self.no_media_deadline()]
            .into_iter()
            .flatten()
        {
            at = at.min(deadline);
        }
        MediaOutput::Timeout(at)
    }

    /// Sends one encoded audio frame as one RTP packet with payload type `codec_pt` (one of
    /// [`CallMedia::codecs`]) and the caller's RTP timestamp (in that codec's clock rate).
    ///
    /// Returns `Ok` without sending while muted ([`CallMedia::set_send_muted`]) or before the
    /// connection is up; no sequence number is used then, and the next packet sent carries the
    /// marker bit.
    pub fn write_audio(
        &mut self,
        now: Instant,
        codec_pt: u8,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> Result<(), MediaError> {
        self.check_can_write()?;
        if !self
            .codecs
            .iter()
            .any(|c| c.pt == codec_pt && !c.codec.is_telephone_event())
        {
            return Err(MediaError::UnknownPayloadType(codec_pt));
        }
        if payload.len() > MAX_AUDIO_PAYLOAD {
            return Err(MediaError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_AUDIO_PAYLOAD,
            });
        }
        self.tx.last_audio_pt = Some(codec_pt);
        if self.tx.muted || !self.rtc.is_connected() {
            self.tx.mark_next = true;
            return Ok(());
        }
        let marker = std::mem::take(&mut self.tx.mark_next);
        self.send_rtp(now, codec_pt, rtp_timestamp, payload, marker)
    }

    /// Sends one RFC 4733 telephone-event packet (`payload`: one or more 4-byte reports, built
    /// by the caller, e.g. `media::dtmf`) on the negotiated telephone-event payload type
    /// ([`CallMedia::telephone_event_codec`]); `rtp_timestamp` is in its clock rate. The caller
    /// sends the RFC 4733 series itself (start with `marker`, updates, three end packets).
    /// Telephone events are sent while muted; before the connection is up they are dropped.
    pub fn write_telephone_event(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
        payload: &[u8],
        marker: bool,
    ) -> Result<(), MediaError> {
        self.check_can_write()?;
        let tele = self
            .telephone_event_codec()
            .ok_or(MediaError::TelephoneEventNotNegotiated)?;
        if payload.len() > MAX_TELEPHONE_EVENT_PAYLOAD {
            return Err(MediaError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_TELEPHONE_EVENT_PAYLOAD,
            });
        }
        if payload.is_empty() || !payload.len().is_multiple_of(4) {
            return Err(MediaError::InvalidTelephoneEvent);
        }
        if !self.rtc.is_connected() {
            return Ok(());
        }
        self.send_rtp(now, tele.pt, rtp_timestamp, payload, marker)
    }

    /// Mutes or unmutes sending. Muted means **no audio RTP at all** (not encoded silence):
    /// [`CallMedia::write_audio`] drops packets without using sequence numbers, RTCP keeps
    /// flowing, telephone events are still sent, and the first packet after unmuting carries
    /// the marker bit (a new talkspurt, RFC 3551).
    pub fn set_send_muted(&mut self, muted: bool) {
        if self.tx.muted && !muted {
            self.tx.mark_next = true;
        }
        self.tx.muted = muted;
    }

    /// True while muted.
    pub fn is_send_muted(&self) -> bool {
        self.tx.muted
    }

    /// Closes the session: RTCP BYE and DTLS close_notify are queued (drain
    /// [`CallMedia::poll_output`] to send them) and [`ConnectionState::Closed`] is reported.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.gatherer = None;
        self.candidates_pending = None;
        if let Err(e) = self.rtc.close() {
            tracing::debug!(error = %e, "str0m close failed");
        }
        let now = self.now;
        // str0m's last datagrams (DTLS close) still go through the relays; then they go.
        self.drain(now);
        for r in &mut self.relays {
            r.close(now);
        }
        self.drain(now);
        self.set_state(ConnectionState::Closed);
    }

    /// True after [`CallMedia::close`] while a TURN deallocation is unanswered: a driver that
    /// keeps the closed media a few seconds longer (feeding it timeouts and datagrams, sending
    /// the datagrams for [`CallMedia::is_turn_server`]) gets it retransmitted until the server
    /// answers.
    pub fn is_deallocating(&self) -> bool {
        self.relays.iter().any(|r| r.is_deallocating())
    }

    /// Whether `addr` is one of this call's TURN servers. After [`CallMedia::close`] a driver
    /// that sends nothing else of the closed session should still send these datagrams: they
    /// delete the allocations.
    pub fn is_turn_server(&self, addr: SocketAddr) -> bool {
        self.relays.iter().any(|r| r.server() == addr)
    }

    /// Negotiated payload types, in the offer's order of preference (audio codecs and
    /// telephone-event).
    pub fn codecs(&self) -> &[NegotiatedCodec] {
        &self.codecs
    }

    /// The telephone-event payload type [`CallMedia::write_telephone_event`] uses: the one with
    /// the clock rate of the last audio codec written (or of the preferred codec), else the
    /// first one negotiated.
    pub fn telephone_event_codec(&self) -> Option<NegotiatedCodec> {
        let audio_rate = self
            .tx
            .last_audio_pt
            .and_then(|pt| self.codecs.iter().find(|c| c.pt == pt))
            .or_else(|| self.codecs.iter().find(|c| !c.codec.is_telephone_event()))
            .map(|c| c.codec.clock_rate());
        let mut tele = self.codecs.iter().filter(|c| c.codec.is_telephone_event());
        tele.clone()
            .find(|c| Some(c.codec.clock_rate()) == audio_rate)
            .or_else(|| tele.next())
            .copied()
    }

    /// Whether the negotiated direction lets us send audio.
    pub fn can_send(&self) -> bool {
        self.can_send
    }

    /// ICE + DTLS + SRTP are up.
    pub fn is_connected(&self) -> bool {
        self.rtc.is_connected()
    }

    /// The last reported connection state.
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// The audio payload types negotiated on `mid`, in the order of the offer.
    fn negotiated_codecs(&self, mid: Mid) -> Vec<NegotiatedCodec> {
        let Some(m) = self.rtc.media(mid) else {
            return Vec::new();
        };
        if m.kind() != MediaKind::Audio {
            return Vec::new();
        }
        let params = self.rtc.codec_config().params();
        m.remote_pts()
            .iter()
            .filter_map(|pt| {
                let spec = params.iter().find(|p| p.pt() == *pt)?.spec();
                let codec = match spec.codec {
                    Codec::Opus => AudioCodec::Opus {
                        channels: spec.channels.unwrap_or(2),
                    },
                    Codec::PCMU => AudioCodec::Pcmu,
                    Codec::PCMA => AudioCodec::Pcma,
                    Codec::Tele => AudioCodec::TelephoneEvent {
                        clock_rate: spec.clock_rate.get(),
                    },
                    _ => return None,
                };
                Some(NegotiatedCodec { pt: **pt, codec })
            })
            .collect()
    }

    fn check_can_write(&self) -> Result<(), MediaError> {
        if self.closed || !self.rtc.is_alive() {
            return Err(MediaError::Closed);
        }
        if !self.can_send {
            return Err(MediaError::NotSending);
        }
        Ok(())
    }

    /// Writes one RTP packet, then drains, then advances str0m to `now` so the packet leaves
    /// immediately (RTP-mode writes are sent on the next timeout), then drains again.
    fn send_rtp(
        &mut self,
        now: Instant,
        pt: u8,
        rtp_timestamp: u32,
        payload: &[u8],
        marker: bool,
    ) -> Result<(), MediaError> {
        let Some(mid) = self.audio_mid else {
            return Err(MediaError::NotSending);
        };
        let now = self.now.max(now);
        let seq = self.tx.next_seq;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return Err(MediaError::NotSending);
        };
        stream.write_rtp(
            RtpWrite::new(
                pt.into(),
                SeqNo::from(seq),
                rtp_timestamp,
                now,
                payload.to_vec(),
            )
            .marker(marker),
        );
        self.tx.next_seq = seq.wrapping_add(1);
        self.drain(now);
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::warn!(error = %e, "str0m timeout handling failed");
        }
        self.drain(now);
        Ok(())
    }

    fn add_server_reflexive(&mut self, mapped: SocketAddr, base: SocketAddr) {
        if mapped == base {
            // Not behind a NAT: the host candidate already covers it.
            return;
        }
        let Ok(c) = Candidate::server_reflexive(mapped, base, "udp") else {
            tracing::debug!("unusable server-reflexive address ignored");
            return;
        };
        if let Some(added) = self.rtc.add_local_candidate(c) {
            let line = added.to_sdp_string();
            self.push_event(MediaEvent::LocalCandidate(line));
        }
    }

    fn push_event(&mut self, e: MediaEvent) {
        self.outputs.push_back(MediaOutput::Event(e));
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.push_event(MediaEvent::ConnectionState(state));
        }
    }

    /// When a connection that never heard from the peer is reported failed (module docs,
    /// "DTLS role"): only while the peer is supposed to send audio.
    fn no_media_deadline(&self) -> Option<Instant> {
        if self.peer_media_seen || self.closed || self.state == ConnectionState::Failed {
            return None;
        }
        let connected_at = self.ice_first_connected_at?;
        let peer_sends = self
            .audio_mid
            .and_then(|mid| self.rtc.media(mid))
            .is_some_and(|m| m.direction().is_receiving());
        peer_sends.then_some(connected_at + NO_MEDIA_FAILED_AFTER)
    }

    fn failure_deadline(&self) -> Option<Instant> {
        if self.state == ConnectionState::Failed {
            return None;
        }
        if let Some(t) = self.peer_closed_at {
            return Some(t + PEER_CLOSED_GRACE);
        }
        if self.closed {
            return None;
        }
        self.unconnected_since.map(|t| t + ICE_FAILED_AFTER)
    }

    /// Runs the STUN client and drains str0m to its `Timeout`, queueing outputs.
    fn drain(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        self.replay_early_dtls(now);

        if let Some(g) = &mut self.gatherer {
            while let Some((source, destination, data)) = g.poll_transmit(now) {
                self.outputs.push_back(MediaOutput::Transmit {
                    source,
                    destination,
                    data,
                });
            }
            if g.is_finished(now) {
                self.gatherer = None;
            }
        }
        self.drain_relays(now);
        if self.candidates_pending.is_some_and(|at| {
            now >= at || (self.gatherer.is_none() && !self.relays.iter().any(|r| r.is_pending()))
        }) {
            self.candidates_pending = None;
            self.push_event(MediaEvent::EndOfLocalCandidates);
        }

        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    let data: Vec<u8> = t.contents.into();
                    if let Some(r) = self
                        .relays
                        .iter_mut()
                        .find(|r| r.relayed() == Some(t.source))
                    {
                        if let Some((source, destination, data)) = r.send(now, t.destination, &data)
                        {
                            self.outputs.push_back(MediaOutput::Transmit {
                                source,
                                destination,
                                data,
                            });
                        }
                    } else {
                        self.outputs.push_back(MediaOutput::Transmit {
                            source: t.source,
                            destination: t.destination,
                            data,
                        });
                    }
                }
                Ok(Output::Event(e)) => self.on_rtc_event(e),
                Err(e) => {
                    tracing::warn!(error = %e, "str0m poll failed");
                    self.push_event(MediaEvent::Error(MediaError::Rtc(e)));
                    self.rtc_timeout = now + ERROR_BACKOFF;
                    if !self.rtc.is_alive() && !self.closed {
                        // str0m gave up (e.g. the DTLS handshake timed out) and closed the
                        // `Rtc`: nothing more will come from this connection.
                        self.set_state(ConnectionState::Failed);
                    }
                    break;
                }
            }
        }

        // Datagrams str0m just sent may have asked for permissions or channels.
        self.drain_relays(now);

        if self.failure_deadline().is_some_and(|d| now >= d) {
            self.set_state(ConnectionState::Failed);
        }
        if self.no_media_deadline().is_some_and(|d| now >= d) {
            tracing::warn!("no RTP or RTCP from the peer since the connection came up");
            self.push_event(MediaEvent::Error(MediaError::NoMediaFromPeer(
                NO_MEDIA_FAILED_AFTER,
            )));
            self.set_state(ConnectionState::Failed);
        }

        if self.stats_dirty {
            self.stats_dirty = false;
            let mut stats = self.stats.clone();
            stats.packets_received = self.rx.received_total();
            stats.lost = self.rx.lost_total();
            self.push_event(MediaEvent::Stats(stats));
        }
    }

    /// Runs the TURN clients: their events, datagrams and next timeout.
    fn drain_relays(&mut self, now: Instant) {
        if self.relays.is_empty() {
            return;
        }
        let mut timeout: Option<Instant> = None;
        let mut events = Vec::new();
        for r in &mut self.relays {
            let t = r.poll_timeout(now);
            timeout = match (timeout, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            while let Some(e) = r.poll_event() {
                if let turn::RelayEvent::Allocated { .. } = e {
                    r.request_pending_permissions(now);
                }
                events.push((r.server(), e));
            }
            while let Some((source, destination, data)) = r.poll_transmit(now) {
                self.outputs.push_back(MediaOutput::Transmit {
                    source,
                    destination,
                    data,
                });
            }
        }
        self.relay_timeout = timeout;
        for (server, e) in events {
            match e {
                turn::RelayEvent::Allocated { relayed, local } => {
                    tracing::debug!(relayed = %relayed, "TURN allocation made");
                    match Candidate::relayed(relayed, local, "udp") {
                        Ok(c) if !self.closed => {
                            if let Some(added) = self.rtc.add_local_candidate(c) {
                                let line = added.to_sdp_string();
                                self.push_event(MediaEvent::LocalCandidate(line));
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tracing::debug!("unusable relayed address ignored"),
                    }
                }
                turn::RelayEvent::Failed { code } => {
                    tracing::warn!(server = %server, code = ?code, "TURN allocation failed");
                    self.push_event(MediaEvent::Error(MediaError::TurnAllocationFailed {
                        server,
                        code,
                    }));
                    let relay_left = self
                        .relays
                        .iter()
                        .any(|r| r.is_pending() || r.relayed().is_some());
                    if self.relay_only && !relay_left && !self.closed {
                        self.push_event(MediaEvent::Error(MediaError::RelayUnavailable));
                        self.set_state(ConnectionState::Failed);
                    }
                }
            }
        }
    }

    fn on_rtc_event(&mut self, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                let state = match s {
                    IceConnectionState::New => ConnectionState::New,
                    IceConnectionState::Checking => ConnectionState::Checking,
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        ConnectionState::Connected
                    }
                    IceConnectionState::Disconnected => ConnectionState::Disconnected,
                };
                self.ice_connected = state == ConnectionState::Connected;
                if self.ice_connected {
                    self.unconnected_since = None;
                    self.ice_first_connected_at.get_or_insert(self.now);
                } else if self.unconnected_since.is_none() {
                    self.unconnected_since = Some(self.now);
                }
                let state = if self.ice_connected && !self.dtls_connected {
                    ConnectionState::Checking
                } else {
                    state
                };
                if !self.closed {
                    self.set_state(state);
                }
            }
            Event::Connected => {
                self.tx.mark_next = true;
                self.dtls_connected = true;
                self.push_event(MediaEvent::Connected);
                if self.ice_connected && !self.closed {
                    self.set_state(ConnectionState::Connected);
                }
            }
            Event::RtpPacket(p) => self.on_rtp(p),
            Event::PeerStats(s) => {
                if self.stats.rtt.is_none() {
                    self.stats.rtt = s.rtt;
                }
                if let Some(pair) = s.selected_candidate_pair {
                    let local = pair.local.addr;
                    let path = SelectedPath {
                        local,
                        remote: pair.remote.addr,
                        relayed: self.relays.iter().any(|r| r.relayed() == Some(local)),
                    };
                    if self.selected_path != Some(path) {
                        self.selected_path = Some(path);
                        self.push_event(MediaEvent::SelectedPath(path));
                    }
                }
                self.stats_dirty = true;
            }
            Event::MediaEgressStats(s) if Some(s.mid) == self.audio_mid => {
                self.stats.packets_sent = s.packets;
                if s.rtt.is_some() {
                    self.stats.rtt = s.rtt;
                }
                if let Some(r) = s.remote {
                    self.stats.remote_lost = Some(r.packets_lost);
                }
                self.stats_dirty = true;
            }
            Event::MediaIngressStats(s)
                if Some(s.mid) == self.audio_mid && self.rx.clock_rate > 0 =>
            {
                let secs = f64::from(s.jitter) / f64::from(self.rx.clock_rate);
                self.stats.jitter = Some(Duration::from_secs_f64(secs));
                self.stats_dirty = true;
            }
            Event::Closed => {
                if !self.closed {
                    self.peer_closed_at = Some(self.now);
                }
                self.closed = true;
                self.gatherer = None;
                self.candidates_pending = None;
                let now = self.now;
                for r in &mut self.relays {
                    r.close(now);
                }
                self.set_state(ConnectionState::Closed);
            }
            _ => {}
        }
    }

    fn on_rtp(&mut self, p: RtpPacket) {
        let pt = *p.header.payload_type;
        let Some(codec) = self.codecs.iter().find(|c| c.pt == pt).map(|c| c.codec) else {
            tracing::trace!(pt, "RTP with a payload type not negotiated dropped");
            return;
        };
        let ssrc = *p.header.ssrc;
        self.rx.on_packet(ssrc, *p.seq_no);
        if !codec.is_telephone_event() {
            self.rx.clock_rate = codec.clock_rate();
        }
        self.push_event(MediaEvent::AudioReceived {
            pt,
            codec,
            seq: p.header.sequence_number,
            rtp_timestamp: p.header.timestamp,
            marker: p.header.marker,
            ssrc,
            payload: p.payload.to_vec(),
            received_at: p.timestamp,
        });
    }
}

/// The str0m configuration for a softphone call: RTP mode, audio only, Opus/PCMU/PCMA and
/// telephone-event at 48 and 8 kHz, stats on.
fn build_rtc(now: Instant) -> Rtc {
    let mut config = Rtc::builder()
        .clear_codecs()
        .set_rtp_mode(true)
        .set_stats_interval(Some(STATS_INTERVAL));
    let codecs = config.codec_config();
    codecs.enable_opus(true, false);
    codecs.enable_pcmu(true, false);
    codecs.enable_pcma(true, false);
    for (pt, rate) in [
        (PT_TELE_48K, Frequency::FORTY_EIGHT_KHZ),
        (PT_TELE_8K, Frequency::EIGHT_KHZ),
    ] {
        codecs.add_config(
            pt.into(),
            None,
            Codec::Tele,
            rate,
            None,
            FormatParams::default(),
        );
    }
    config.build(now)
}

/// Rewrites the direction of the offer's audio sections so that our answer does not send:
/// `sendrecv` (or none) becomes `sendonly`, `recvonly` becomes `inactive`.
fn receive_only_offer(offer: &str) -> String {
    let mut out = String::with_capacity(offer.len() + 16);
    let mut in_audio = false;
    let mut direction_seen = false;
    let finish_section = |out: &mut String, in_audio: bool, seen: bool| {
        if in_audio && !seen {
            out.push_str("a=sendonly\r\n");
        }
    };
    for line in offer.lines() {
        if line.starts_with("m=") {
            finish_section(&mut out, in_audio, direction_seen);
            in_audio = line.starts_with("m=audio");
            direction_seen = false;
        }
        let line = if in_audio {
            match line.trim_end() {
                "a=sendrecv" => {
                    direction_seen = true;
                    "a=sendonly"
                }
                "a=recvonly" => {
                    direction_seen = true;
                    "a=inactive"
                }
                "a=sendonly" | "a=inactive" => {
                    direction_seen = true;
                    line
                }
                _ => line,
            }
        } else {
            line
        };
        out.push_str(line);
        out.push_str("\r\n");
    }
    finish_section(&mut out, in_audio, direction_seen);
    out
}

/// Fuzzing entry point: the STUN Binding response parser must reject or accept any bytes
/// without panicking.
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub fn fuzz_stun_response(data: &[u8]) {
    let _ = stun::transaction_id(data);
    let _ = stun::parse_binding_response(data);
}

/// Fuzzing entry point: the TURN client fed server datagrams (input format on the function
/// in `rtc/turn.rs`); it must never panic nor give peer data before an allocation.
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub fn fuzz_turn_client(data: &[u8]) {
    turn::fuzz(data);
}

/// The `a=mid:` values of the `m=audio` sections of an SDP, in order.
fn audio_section_mids(sdp: &str) -> Vec<Mid> {
    let mut mids = Vec::new();
    let mut in_audio = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio ");
        } else if in_audio {
            if let Some(mid) = line.trim_end().strip_prefix("a=mid:") {
                mids.push(Mid::from(mid));
            }
        }
    }
    mids
}

/// The address of a `stun:` URL whose host is an IP literal (`stun:192.0.2.1:3478`,
/// `stun:[2001:db8::1]:3478`, or unbracketed IPv6 as discovery writes it). Host names, `stuns:`
/// and `turn:` give `None`.
pub(crate) fn stun_server_addr(url: &str) -> Option<SocketAddr> {
    let scheme_len = "stun:".len();
    let scheme = url.get(..scheme_len)?;
    if !scheme.eq_ignore_ascii_case("stun:") {
        return None;
    }
    let rest = url.get(scheme_len..)?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let addr = ip_literal_addr(rest);
    if addr.is_none() {
        tracing::warn!("STUN server host is not an IP literal; resolve it before the call");
    }
    addr
}

/// `host[:port]` of a STUN/TURN URL as an address, when the host is an IP literal (IPv6
/// bracketed, or unbracketed as discovery writes it); the port defaults to 3478.
fn ip_literal_addr(hostport: &str) -> Option<SocketAddr> {
    if let Ok(addr) = hostport.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Some((host, port)) = hostport.rsplit_once(':') {
        if let (Ok(ip), Ok(port)) = (host.parse::<IpAddr>(), port.parse::<u16>()) {
            return Some(SocketAddr::new(ip, port));
        }
    }
    let host = hostport.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, STUN_DEFAULT_PORT))
}

/// The connection addresses of the `a=candidate:` lines of an SDP (IP literals only).
fn offer_candidate_ips(sdp: &str) -> Vec<IpAddr> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=candidate:"))
        .filter_map(|c| c.split_ascii_whitespace().nth(4)?.parse::<IpAddr>().ok())
        .collect()
}

/// One TURN allocation per usable `turn:` server (UDP, IP literal, user name and password), at
/// most [`MAX_RELAYS`], each from the first local socket of the server's family.
fn relays_for(now: Instant, config: &MediaConfig) -> Vec<turn::Relay> {
    let mut relays = Vec::new();
    for s in &config.ice_servers {
        if relays.len() >= MAX_RELAYS {
            break;
        }
        let Some(server) = turn::turn_udp_server_addr(&s.url) else {
            continue;
        };
        let (Some(username), Some(password)) = (s.username.as_deref(), s.credential.as_ref())
        else {
            tracing::debug!("TURN server without credentials ignored");
            continue;
        };
        let Some(local) = config
            .local_addrs
            .iter()
            .find(|l| l.is_ipv4() == server.is_ipv4())
        else {
            continue;
        };
        if relays
            .iter()
            .any(|r: &turn::Relay| r.server() == server && r.local() == *local)
        {
            continue;
        }
        relays.push(turn::Relay::new(
            now,
            *local,
            server,
            username,
            password.expose(),
        ));
    }
    relays
}

#[cfg(test)]
mod tests;
