//! The SDP ⇄ Jingle mapping of PROTOCOL.md §8.5 (the StanzaJS rules the Genesys server is
//! built against).
//!
//! Owns [`sdp_to_jingle`] (our answer → `session-accept` contents), [`jingle_to_sdp`] /
//! [`contents_to_sdp`] (the server's `session-initiate` → an offer for the WebRTC engine), and
//! the candidate conversions used for trickle. It is pure and does not decide roles, filter
//! candidates (§7.4) or track sessions.
//!
//! # What does not survive SDP → Jingle → SDP
//!
//! * `a=ssrc`: only the first `cname` SSRC is carried (as `<source>` and `description@ssrc`),
//!   plus one FID group when an `rtx` codec exists; other SSRC attributes (`msid`, `label`,
//!   `mslabel`), simulcast groups and other SSRCs are dropped (§16 item 19).
//! * `a=msid`: only the first; when absent the way back synthesizes `a=msid:legacy {kind}`.
//! * Media-level `a=ptime`, `a=maxptime`, wildcard `a=rtcp-fb:*`, extmap attributes,
//!   `a=extmap-allow-mixed`, `a=ice-options`, `a=end-of-candidates`, `b=`, session name and
//!   origin, `a=max-message-size`, `a=msid-semantic` (always written as `WMS *`).
//! * Codecs listed on the m-line without an `a=rtpmap` (static payload types) are dropped;
//!   `channels` is written as 1 in Jingle when the rtpmap has none, and left out of the rtpmap
//!   on the way back when it is 1.
//! * Candidates: `generation`, `ufrag`, `network-id` and other extensions are dropped; the
//!   protocol comes back upper case; `raddr`/`rport` only survive on non-host candidates that
//!   have both, `tcptype` only on TCP candidates.
//! * Session-level ICE/DTLS attributes (Firefox style) move into each media section.
//! * A rejected section (port 0) loses its ICE and DTLS parameters; an RTP section without
//!   codecs or ICE/DTLS parameters comes back with port 0; SCTP sections always come back
//!   with port 9 and `UDP/DTLS/SCTP`.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use super::jingle::{
    Creator, Fingerprint, Group, IceUdpTransport, Jingle, JingleCandidate, JingleContent,
    Parameter, PayloadType, RtcpFb, RtpDescription, RtpHdrExt, SctpMap, Senders, Source, SsrcGroup,
    Stream, MAX_CANDIDATES, MAX_CONTENTS, MAX_GROUPS, MAX_ITEMS, MAX_PAYLOAD_TYPES,
};
use super::sdp::{
    parse_fmtp_params, write_fmtp_params, Attribute, Candidate, Direction, MediaSection, Origin,
    Sdp, SdpError,
};
use crate::redact::Secret;

/// The RTP profile of every RTP section we write.
pub const RTP_PROFILE: &str = "UDP/TLS/RTP/SAVPF";
/// The SCTP profile of every data-channel section we write.
pub const SCTP_PROFILE: &str = "UDP/DTLS/SCTP";

/// The Jingle role of the side that wrote the SDP; `senders` is computed relative to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalRole {
    /// The session initiator (the Genesys server, §8.2).
    Initiator,
    /// The responder (the client, for its `session-accept`).
    Responder,
}

/// Why a description could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Jingle values that cannot be written as SDP (line breaks, spaces or other characters
    /// that would change the SDP's lines); the whole description is refused.
    #[error("Jingle values that SDP cannot carry")]
    Unrepresentable,
    /// A media section without `a=mid` (index of the section).
    #[error("media section {index} has no a=mid")]
    MissingMid {
        /// 0-based index.
        index: usize,
    },
    /// An RTP description without `media`.
    #[error("content {name} has no media kind")]
    MissingMedia {
        /// Content name.
        name: String,
    },
    /// A content that is neither RTP nor SCTP; it has no SDP form.
    #[error("content {name} is neither RTP nor SCTP")]
    UnsupportedContent {
        /// Content name.
        name: String,
    },
    /// A malformed `a=candidate`.
    #[error("bad candidate in media section {mid}: {source}")]
    BadCandidate {
        /// The section's mid.
        mid: String,
        /// The parse error.
        source: SdpError,
    },
    /// More items than the Jingle limits allow.
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// `directionToSenders`: an SDP direction written by `role` as Jingle `senders`.
pub fn direction_to_senders(role: LocalRole, direction: Direction) -> Senders {
    match (direction, role) {
        (Direction::SendRecv, _) => Senders::Both,
        (Direction::Inactive, _) => Senders::None,
        (Direction::SendOnly, LocalRole::Initiator)
        | (Direction::RecvOnly, LocalRole::Responder) => Senders::Initiator,
        (Direction::SendOnly, LocalRole::Responder)
        | (Direction::RecvOnly, LocalRole::Initiator) => Senders::Responder,
    }
}

/// `sendersToDirection`: Jingle `senders` as the SDP direction of the side with `role`.
pub fn senders_to_direction(role: LocalRole, senders: Senders) -> Direction {
    match (senders, role) {
        (Senders::Both, _) => Direction::SendRecv,
        (Senders::None, _) => Direction::Inactive,
        (Senders::Initiator, LocalRole::Initiator) | (Senders::Responder, LocalRole::Responder) => {
            Direction::SendOnly
        }
        (Senders::Initiator, LocalRole::Responder) | (Senders::Responder, LocalRole::Initiator) => {
            Direction::RecvOnly
        }
    }
}

/// An SDP candidate as a Jingle `<candidate>`: protocol lower-cased; `generation`, `network`
/// and `id` are not emitted (§8.5).
pub fn candidate_to_jingle(c: &Candidate) -> JingleCandidate {
    JingleCandidate {
        component: c.component,
        foundation: c.foundation.clone(),
        generation: None,
        id: None,
        ip: c.ip.clone(),
        network: None,
        port: c.port,
        priority: c.priority,
        protocol: c.protocol.to_ascii_lowercase(),
        rel_addr: c.raddr.clone(),
        rel_port: c.rport,
        tcptype: c.tcptype.clone(),
        typ: c.typ.clone(),
    }
}

/// A Jingle `<candidate>` as an SDP candidate (`writeCandidate`): protocol upper-cased,
/// `raddr`/`rport` only for non-host candidates that have both, `tcptype` only for TCP.
pub fn jingle_to_candidate(c: &JingleCandidate) -> Candidate {
    let related = match (&c.rel_addr, c.rel_port) {
        (Some(a), Some(p)) if c.typ != "host" => Some((a.clone(), p)),
        _ => None,
    };
    Candidate {
        foundation: c.foundation.clone(),
        component: c.component,
        protocol: c.protocol.to_ascii_uppercase(),
        priority: c.priority,
        ip: c.ip.clone(),
        port: c.port,
        typ: c.typ.clone(),
        raddr: related.as_ref().map(|(a, _)| a.clone()),
        rport: related.map(|(_, p)| p),
        tcptype: c
            .tcptype
            .clone()
            .filter(|_| c.protocol.eq_ignore_ascii_case("tcp")),
        generation: None,
        ufrag: None,
        network_id: None,
        extensions: Vec::new(),
    }
}

fn session_direction(sdp: &Sdp) -> Option<Direction> {
    sdp.session_attrs
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_name(&a.name))
}

fn bounded<T>(v: &mut Vec<T>, item: T, max: usize, what: &'static str) -> Result<(), MapError> {
    if v.len() >= max {
        return Err(MapError::TooMany(what));
    }
    v.push(item);
    Ok(())
}

/// Maps an SDP written by `role` (our answer: [`LocalRole::Responder`]) to Jingle contents, all
/// with `creator="initiator"`, and groups.
pub fn sdp_to_jingle(
    sdp: &Sdp,
    role: LocalRole,
) -> Result<(Vec<JingleContent>, Vec<Group>), MapError> {
    let mut contents = Vec::new();
    for (index, m) in sdp.media.iter().enumerate() {
        let name = m.mid().ok_or(MapError::MissingMid { index })?.to_string();
        let direction = m
            .explicit_direction()
            .or_else(|| session_direction(sdp))
            .unwrap_or_default();
        let description = match m.kind.as_str() {
            "audio" | "video" => Some(rtp_description(m, role)?),
            _ => None,
        };
        let transport = transport(sdp, m, &name)?;
        let content = JingleContent {
            creator: Creator::Initiator,
            name,
            senders: direction_to_senders(role, direction),
            disposition: None,
            description,
            other_description: None,
            transport: Some(transport),
            other_transport: None,
        };
        bounded(&mut contents, content, MAX_CONTENTS, "contents")?;
    }
    let mut groups = Vec::new();
    for g in sdp.groups() {
        if g.mids.len() > MAX_CONTENTS {
            return Err(MapError::TooMany("group contents"));
        }
        let group = Group {
            semantics: g.semantics,
            contents: g.mids,
        };
        bounded(&mut groups, group, MAX_GROUPS, "groups")?;
    }
    Ok((contents, groups))
}

fn rtp_description(m: &MediaSection, role: LocalRole) -> Result<RtpDescription, MapError> {
    let maps = m.rtpmaps();
    let mut d = RtpDescription {
        media: m.kind.clone(),
        rtcp_mux: m.rtcp_mux(),
        rtcp_reduced_size: m.rtcp_rsize(),
        ..RtpDescription::default()
    };
    // Codecs in m-line order, only those with an rtpmap (as `parseRtpParameters`).
    for pt in m.formats.iter().filter_map(|f| f.parse::<u8>().ok()) {
        let Some(map) = maps.iter().find(|r| r.pt == pt) else {
            continue;
        };
        let params = m.fmtp(pt).map(parse_fmtp_params).unwrap_or_default();
        if params.len() > MAX_ITEMS {
            return Err(MapError::TooMany("fmtp parameters"));
        }
        let ptime = params
            .iter()
            .find(|(k, _)| k == "ptime")
            .and_then(|(_, v)| v.as_deref()?.parse().ok());
        let rtcp_fbs: Vec<RtcpFb> = m
            .rtcp_fbs(pt)
            .into_iter()
            .map(|fb| RtcpFb {
                typ: fb.typ,
                subtype: fb.subtype,
            })
            .collect();
        if rtcp_fbs.len() > MAX_ITEMS {
            return Err(MapError::TooMany("rtcp-fb"));
        }
        let payload = PayloadType {
            id: pt,
            name: Some(map.name.clone()),
            clockrate: Some(map.clock),
            channels: map.channels.unwrap_or(1),
            ptime,
            maxptime: None,
            parameters: params
                .into_iter()
                .map(|(name, value)| Parameter { name, value })
                .collect(),
            rtcp_fbs,
            rtcp_fb_trr_int: None,
        };
        bounded(
            &mut d.payload_types,
            payload,
            MAX_PAYLOAD_TYPES,
            "payload types",
        )?;
    }
    for ext in m.extmaps() {
        let h = RtpHdrExt {
            id: ext.id,
            uri: ext.uri,
            senders: ext
                .direction
                .filter(|d| *d != Direction::SendRecv)
                .map(|d| direction_to_senders(role, d)),
        };
        bounded(&mut d.hdrexts, h, MAX_ITEMS, "header extensions")?;
    }
    // Lossy on purpose (§8.5, §16 item 19): the first cname SSRC only, plus one FID group.
    let ssrcs = m.ssrcs();
    if let Some(primary) = ssrcs.iter().find(|s| s.name == "cname") {
        d.ssrc = Some(primary.ssrc);
        d.sources.push(Source {
            ssrc: primary.ssrc,
            parameters: vec![Parameter {
                name: "cname".into(),
                value: primary.value.clone(),
            }],
        });
        let has_rtx = maps.iter().any(|r| r.name.eq_ignore_ascii_case("rtx"));
        let fid = m.ssrc_groups().into_iter().find(|g| g.semantics == "FID");
        if let Some(fid) = fid.filter(|_| has_rtx) {
            if let (Some(&first), Some(&rtx)) = (fid.ssrcs.first(), fid.ssrcs.get(1)) {
                if first == primary.ssrc {
                    d.ssrc_groups.push(SsrcGroup {
                        semantics: "FID".into(),
                        sources: vec![first, rtx],
                    });
                }
            }
        }
    }
    let msid = m.msid().map(|ms| (ms.stream, ms.track)).or_else(|| {
        let v = ssrcs.iter().find(|s| s.name == "msid")?.value.as_deref()?;
        let mut it = v.split_ascii_whitespace();
        Some((it.next()?.to_string(), it.next().map(str::to_string)))
    });
    if let Some((id, track)) = msid {
        d.streams.push(Stream { id, track });
    }
    Ok(d)
}

fn transport(sdp: &Sdp, m: &MediaSection, mid: &str) -> Result<IceUdpTransport, MapError> {
    let mut t = IceUdpTransport::default();
    if m.port != 0 {
        t.ufrag = m.ice_ufrag().or(sdp.attr("ice-ufrag")).map(str::to_string);
        t.pwd = m.ice_pwd().or(sdp.attr("ice-pwd")).map(Secret::from);
        t.ice_lite = sdp.ice_lite();
        let setup = m.setup().or(sdp.attr("setup")).map(str::to_string);
        let mut fps = m.fingerprints();
        if fps.is_empty() {
            fps = sdp.fingerprints();
        }
        for (hash, value) in fps {
            let f = Fingerprint {
                hash: hash.to_string(),
                setup: setup.clone(),
                value: value.to_string(),
            };
            bounded(&mut t.fingerprints, f, MAX_ITEMS, "fingerprints")?;
        }
    }
    if m.kind == "application" {
        t.sctpmap = sctpmap(m);
    }
    for v in m.attr_values("candidate") {
        let c = Candidate::parse_value(v).map_err(|source| MapError::BadCandidate {
            mid: mid.to_string(),
            source,
        })?;
        bounded(
            &mut t.candidates,
            candidate_to_jingle(&c),
            MAX_CANDIDATES,
            "candidates",
        )?;
    }
    Ok(t)
}

fn sctpmap(m: &MediaSection) -> Option<SctpMap> {
    if let Some(port) = m.attr("sctp-port") {
        return Some(SctpMap {
            number: port.trim().parse().ok()?,
            protocol: m
                .formats
                .first()
                .cloned()
                .unwrap_or_else(|| "webrtc-datachannel".into()),
            streams: None,
        });
    }
    let mut it = m.attr("sctpmap")?.split_ascii_whitespace();
    Some(SctpMap {
        number: it.next()?.parse().ok()?,
        protocol: it.next()?.to_string(),
        streams: it.next().and_then(|s| s.parse().ok()),
    })
}

/// Maps a `session-initiate` (an offer written by the initiator) to SDP, with
/// `o=thisisadapterortc {session_id} 2 IN IP4 127.0.0.1`.
pub fn jingle_to_sdp(j: &Jingle, session_id: u64) -> Result<Sdp, MapError> {
    contents_to_sdp(&j.contents, &j.groups, LocalRole::Initiator, session_id)
}

/// Maps contents and groups to SDP as written by the side with role `author` (`exportToSDP`).
pub fn contents_to_sdp(
    contents: &[JingleContent],
    groups: &[Group],
    author: LocalRole,
    session_id: u64,
) -> Result<Sdp, MapError> {
    let sdp = contents_to_sdp_unchecked(contents, groups, author, session_id)?;
    // Peer values go into SDP lines verbatim; only a description that reads back as itself is
    // safe to hand on (no injected or broken lines).
    match Sdp::parse(&sdp.to_string()) {
        Ok(back) if back == sdp => Ok(sdp),
        _ => Err(MapError::Unrepresentable),
    }
}

fn contents_to_sdp_unchecked(
    contents: &[JingleContent],
    groups: &[Group],
    author: LocalRole,
    session_id: u64,
) -> Result<Sdp, MapError> {
    let mut sdp = Sdp {
        origin: Origin {
            username: "thisisadapterortc".into(),
            session_id,
            session_version: 2,
            net_type: "IN".into(),
            addr_type: "IP4".into(),
            address: "127.0.0.1".into(),
        },
        session_name: "-".into(),
        connection: None,
        timing: "0 0".into(),
        session_attrs: vec![Attribute::new("msid-semantic", "WMS *")],
        media: Vec::new(),
    };
    let ice_lite = contents
        .iter()
        .any(|c| c.transport.as_ref().is_some_and(|t| t.ice_lite));
    if ice_lite {
        sdp.session_attrs.push(Attribute::flag("ice-lite"));
    }
    for g in groups {
        let mut v = g.semantics.clone();
        for c in &g.contents {
            v.push(' ');
            v.push_str(c);
        }
        sdp.session_attrs.push(Attribute::new("group", v));
    }
    for content in contents {
        sdp.media.push(content_to_media(content, author)?);
    }
    Ok(sdp)
}

fn content_to_media(content: &JingleContent, author: LocalRole) -> Result<MediaSection, MapError> {
    let default_transport = IceUdpTransport::default();
    let t = content.transport.as_ref().unwrap_or(&default_transport);
    let ice = match (&t.ufrag, &t.pwd) {
        (Some(u), Some(p)) => Some((u, p)),
        _ => None,
    };
    let mut m = if let Some(d) = &content.description {
        if d.media.is_empty() {
            return Err(MapError::MissingMedia {
                name: content.name.clone(),
            });
        }
        let rejected = ice.is_none() || t.fingerprints.is_empty() || d.payload_types.is_empty();
        let mut m = MediaSection::new(d.media.clone(), if rejected { 0 } else { 9 }, RTP_PROFILE);
        rtp_attributes(&mut m, d, content.senders, author);
        m
    } else if let Some(s) = &t.sctpmap {
        let mut m = MediaSection::new("application", 9, SCTP_PROFILE);
        m.formats.push(s.protocol.clone());
        m.connection = Some("IN IP4 0.0.0.0".into());
        m.attrs
            .push(Attribute::new("sctp-port", s.number.to_string()));
        m
    } else {
        return Err(MapError::UnsupportedContent {
            name: content.name.clone(),
        });
    };
    m.attrs.push(Attribute::new("mid", content.name.clone()));
    if let Some((ufrag, pwd)) = ice {
        m.attrs.push(Attribute::new("ice-ufrag", ufrag.clone()));
        m.attrs.push(Attribute::new("ice-pwd", pwd.expose()));
    }
    for f in &t.fingerprints {
        m.attrs.push(Attribute::new(
            "fingerprint",
            format!("{} {}", f.hash, f.value),
        ));
    }
    if let Some(setup) = t.fingerprints.first().and_then(|f| f.setup.clone()) {
        m.attrs.push(Attribute::new("setup", setup));
    }
    for c in &t.candidates {
        m.attrs.push(jingle_to_candidate(c).to_attribute());
    }
    Ok(m)
}

fn rtp_attributes(m: &mut MediaSection, d: &RtpDescription, senders: Senders, author: LocalRole) {
    m.connection = Some("IN IP4 0.0.0.0".into());
    m.formats = d.payload_types.iter().map(|pt| pt.id.to_string()).collect();
    let a = &mut m.attrs;
    a.push(Attribute::new("rtcp", "9 IN IP4 0.0.0.0"));
    let mut maxptime = 0;
    for pt in &d.payload_types {
        if let (Some(name), Some(clock)) = (&pt.name, pt.clockrate) {
            let mut v = format!("{} {}/{}", pt.id, name, clock);
            if pt.channels != 1 {
                v.push_str(&format!("/{}", pt.channels));
            }
            a.push(Attribute::new("rtpmap", v));
        }
        if !pt.parameters.is_empty() {
            let params = write_fmtp_params(
                pt.parameters
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_deref())),
            );
            a.push(Attribute::new("fmtp", format!("{} {}", pt.id, params)));
        }
        for fb in &pt.rtcp_fbs {
            let v = match &fb.subtype {
                Some(s) => format!("{} {} {}", pt.id, fb.typ, s),
                None => format!("{} {}", pt.id, fb.typ),
            };
            a.push(Attribute::new("rtcp-fb", v));
        }
        maxptime = maxptime.max(pt.maxptime.unwrap_or(0));
    }
    if maxptime > 0 {
        a.push(Attribute::new("maxptime", maxptime.to_string()));
    }
    for h in &d.hdrexts {
        let dir = senders_to_direction(author, h.senders.unwrap_or_default());
        let v = if dir == Direction::SendRecv {
            format!("{} {}", h.id, h.uri)
        } else {
            format!("{}/{} {}", h.id, dir.as_str(), h.uri)
        };
        a.push(Attribute::new("extmap", v));
    }
    a.push(Attribute::flag(
        senders_to_direction(author, senders).as_str(),
    ));
    if d.streams.is_empty() {
        a.push(Attribute::new("msid", format!("legacy {}", d.media)));
    }
    for s in &d.streams {
        let v = match &s.track {
            Some(t) => format!("{} {}", s.id, t),
            None => s.id.clone(),
        };
        a.push(Attribute::new("msid", v));
    }
    if d.rtcp_reduced_size {
        a.push(Attribute::flag("rtcp-rsize"));
    }
    if d.rtcp_mux {
        a.push(Attribute::flag("rtcp-mux"));
    }
    if let Some((src, cname)) = d
        .sources
        .first()
        .and_then(|s| s.cname().map(|c| (s.ssrc, c)))
    {
        a.push(Attribute::new("ssrc", format!("{src} cname:{cname}")));
        let rtx = d
            .ssrc_groups
            .iter()
            .find(|g| g.semantics == "FID")
            .and_then(|g| g.sources.get(1));
        if let (Some(primary), Some(rtx)) = (d.ssrc, rtx) {
            a.push(Attribute::new("ssrc-group", format!("FID {primary} {rtx}")));
            a.push(Attribute::new("ssrc", format!("{rtx} cname:{cname}")));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::signaling::jingle::{Action, NS_JINGLE};
    use crate::wire::xml::{parse, XmlLimits};
    use proptest::prelude::*;

    /// A Chrome-like offer: Opus/PCMU/telephone-event audio, VP8+RTX video with a FID group,
    /// a data channel, candidates, ssrc lines with msid/label, extmaps, rtcp-fb, BUNDLE.
    const OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1 2\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS stream-a\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1\r\n\
a=candidate:435653019 1 tcp 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype active generation 0 ufrag Zq3r network-id 1 network-cost 10\r\n\
a=candidate:9 1 udp 41885439 203.0.113.5 3478 typ relay raddr 198.51.100.7 rport 5000\r\n\
a=ice-ufrag:Zq3r\r\n\
a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:1F\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:3/recvonly http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=sendrecv\r\n\
a=msid:stream-a track-a\r\n\
a=rtcp-mux\r\n\
a=rtcp-rsize\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ssrc:3735928559 cname:kq8Zp0aB\r\n\
a=ssrc:3735928559 msid:stream-a track-a\r\n\
a=ssrc:3735928559 mslabel:stream-a\r\n\
a=ssrc:3735928559 label:track-a\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Zq3r\r\n\
a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:1F\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n\
a=sendonly\r\n\
a=msid:stream-a track-v\r\n\
a=rtcp-mux\r\n\
a=rtcp-rsize\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 goog-remb\r\n\
a=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtcp-fb:96 ccm fir\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 1111 2222\r\n\
a=ssrc:1111 cname:kq8Zp0aB\r\n\
a=ssrc:1111 msid:stream-a track-v\r\n\
a=ssrc:2222 cname:kq8Zp0aB\r\n\
a=ssrc:2222 msid:stream-a track-v\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Zq3r\r\n\
a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:1F\r\n\
a=setup:actpass\r\n\
a=mid:2\r\n\
a=sctp-port:5000\r\n\
a=max-message-size:262144\r\n";

    const ACCEPT_EXAMPLE: &str = r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-accept" sid="9b8e2a10-…">
  <content creator="initiator" name="0">
   <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio" ssrc="3735928559">
    <payload-type id="111" name="opus" clockrate="48000" channels="2">
     <parameter name="minptime" value="10"/>
     <parameter name="useinbandfec" value="1"/>
     <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/>
    </payload-type>
    <payload-type id="0" name="PCMU" clockrate="8000" channels="1"/>
    <payload-type id="101" name="telephone-event" clockrate="8000" channels="1"/>
    <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
    <rtcp-mux/>
    <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3735928559">
     <parameter name="cname" value="kq8Zp0aB"/>
    </source>
    <stream xmlns="urn:xmpp:jingle:apps:rtp:msid:0" id="s-1" track="t-1"/>
   </description>
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r" pwd="pA55w0rdpA55w0rdpA55w0rd">
    <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">6B:8B:…:1F</fingerprint>
   </transport>
  </content>
  <group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE"><content name="0"/></group>
 </jingle>"#;

    /// `(pt, name, clock, channels, fmtp parameters, rtcp-fb)`.
    type CarriedCodec = (u8, String, u32, u16, Params, Params);
    type Params = Vec<(String, Option<String>)>;
    /// Sections, groups, ice-lite.
    type CarriedSdp = (Vec<Carried>, Vec<(String, Vec<String>)>, bool);

    /// Everything the mapping carries for one section, normalized as §8.5 defines it.
    #[derive(Debug, PartialEq)]
    struct Carried {
        kind: String,
        mid: Option<String>,
        port_zero: bool,
        direction: Option<Direction>,
        codecs: Vec<CarriedCodec>,
        extmaps: Vec<(u16, Direction, String)>,
        rtcp_mux: bool,
        rsize: bool,
        cname: Option<(u32, String)>,
        fid: Option<(u32, u32)>,
        msid: Option<(String, Option<String>)>,
        ice: Option<(String, String)>,
        fingerprints: Vec<(String, String)>,
        setup: Option<String>,
        candidates: Vec<Candidate>,
        sctp_port: Option<u16>,
    }

    fn normalize_candidate(c: Candidate) -> Candidate {
        jingle_to_candidate(&candidate_to_jingle(&c))
    }

    fn carried(sdp: &Sdp) -> CarriedSdp {
        let mut out = Vec::new();
        for m in &sdp.media {
            let rtp = m.kind == "audio" || m.kind == "video";
            let maps = m.rtpmaps();
            let codecs: Vec<_> = m
                .formats
                .iter()
                .filter_map(|f| f.parse::<u8>().ok())
                .filter_map(|pt| maps.iter().find(|r| r.pt == pt))
                .map(|r| {
                    let fbs = m
                        .rtcp_fbs(r.pt)
                        .into_iter()
                        .map(|f| (f.typ, f.subtype))
                        .collect();
                    let params = m.fmtp(r.pt).map(parse_fmtp_params).unwrap_or_default();
                    (
                        r.pt,
                        r.name.clone(),
                        r.clock,
                        r.channels.unwrap_or(1),
                        params,
                        fbs,
                    )
                })
                .collect();
            let has_rtx = maps.iter().any(|r| r.name.eq_ignore_ascii_case("rtx"));
            let ssrcs = m.ssrcs();
            let cname = ssrcs
                .iter()
                .find(|s| s.name == "cname")
                .map(|s| (s.ssrc, s.value.clone().unwrap_or_default()));
            let fid = m
                .ssrc_groups()
                .into_iter()
                .find(|g| g.semantics == "FID")
                .filter(|g| {
                    has_rtx && g.ssrcs.len() > 1 && Some(g.ssrcs[0]) == cname.as_ref().map(|c| c.0)
                })
                .map(|g| (g.ssrcs[0], g.ssrcs[1]));
            let msid = m
                .msid()
                .map(|ms| (ms.stream, ms.track))
                .or_else(|| {
                    let v = ssrcs.iter().find(|s| s.name == "msid")?.value.clone()?;
                    let mut it = v.split_ascii_whitespace();
                    Some((it.next()?.to_string(), it.next().map(str::to_string)))
                })
                .filter(|ms| *ms != ("legacy".to_string(), Some(m.kind.clone())));
            let live = m.port != 0;
            let mut ice = match (
                m.ice_ufrag().or(sdp.attr("ice-ufrag")),
                m.ice_pwd().or(sdp.attr("ice-pwd")),
            ) {
                (Some(u), Some(p)) if live => Some((u.to_string(), p.to_string())),
                _ => None,
            };
            let mut fps = m.fingerprints();
            if fps.is_empty() {
                fps = sdp.fingerprints();
            }
            let mut fingerprints: Vec<(String, String)> = if live {
                fps.iter()
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            } else {
                Vec::new()
            };
            let mut setup = m
                .setup()
                .or(sdp.attr("setup"))
                .filter(|_| live && !fingerprints.is_empty());
            // An RTP section without ICE, DTLS or codecs comes back rejected, and a rejected
            // section carries no ICE/DTLS parameters.
            let port_zero =
                rtp && (!live || ice.is_none() || fingerprints.is_empty() || codecs.is_empty());
            if port_zero {
                ice = None;
                fingerprints.clear();
                setup = None;
            }
            out.push(Carried {
                kind: m.kind.clone(),
                mid: m.mid().map(str::to_string),
                port_zero,
                direction: rtp.then(|| m.direction()),
                extmaps: if rtp {
                    m.extmaps()
                        .into_iter()
                        .map(|e| (e.id, e.direction.unwrap_or_default(), e.uri))
                        .collect()
                } else {
                    Vec::new()
                },
                codecs: if rtp { codecs } else { Vec::new() },
                rtcp_mux: rtp && m.rtcp_mux(),
                rsize: rtp && m.rtcp_rsize(),
                cname: cname.filter(|_| rtp),
                fid: fid.filter(|_| rtp),
                msid: msid.filter(|_| rtp),
                ice,
                fingerprints,
                setup: setup.map(str::to_string),
                candidates: m
                    .candidates()
                    .into_iter()
                    .map(normalize_candidate)
                    .collect(),
                sctp_port: (!rtp).then(|| m.sctp_port()).flatten(),
            });
        }
        let groups = sdp
            .groups()
            .into_iter()
            .map(|g| (g.semantics, g.mids))
            .collect();
        (out, groups, sdp.ice_lite())
    }

    /// SDP → Jingle → XML → Jingle → SDP, the SDP written by `role` both times.
    fn round_trip(sdp: &Sdp, role: LocalRole) -> Sdp {
        let (contents, groups) = sdp_to_jingle(sdp, role).unwrap();
        let j = Jingle {
            contents,
            groups,
            ..Jingle::new(Action::SessionAccept, "sid")
        };
        let xml = j.to_element().to_xml();
        let back = Jingle::from_element(&parse(&xml, &XmlLimits::default()).unwrap()).unwrap();
        assert_eq!(back, j);
        let out = contents_to_sdp(&back.contents, &back.groups, role, 42).unwrap();
        // What we produce is itself parseable SDP.
        assert_eq!(Sdp::parse(&out.to_string()).unwrap(), out);
        out
    }

    #[test]
    fn chrome_offer_round_trip() {
        let sdp = Sdp::parse(OFFER).unwrap();
        for role in [LocalRole::Initiator, LocalRole::Responder] {
            let out = round_trip(&sdp, role);
            assert_eq!(carried(&out), carried(&sdp), "{role:?}");
        }
        let out = round_trip(&sdp, LocalRole::Initiator);
        let text = out.to_string();
        assert!(text.starts_with("v=0\r\no=thisisadapterortc 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=msid-semantic:WMS *\r\na=group:BUNDLE 0 1 2\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"), "{text}");
        assert!(text.contains(
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        ));
        assert!(text.contains("a=candidate:435653019 1 TCP 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype active\r\n"));
        assert!(text.contains("a=ssrc-group:FID 1111 2222\r\na=ssrc:2222 cname:kq8Zp0aB\r\n"));
        assert!(text.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=sctp-port:5000\r\na=mid:2\r\n"));
        // Lossy by design: ssrc msid/label lines are gone.
        assert!(!text.contains("label:") && !text.contains("ssrc:3735928559 msid"));
    }

    #[test]
    fn answer_to_jingle_matches_protocol_rules() {
        let sdp = Sdp::parse(OFFER).unwrap();
        let (contents, groups) = sdp_to_jingle(&sdp, LocalRole::Responder).unwrap();
        assert_eq!(
            groups,
            vec![Group {
                semantics: "BUNDLE".into(),
                contents: vec!["0".into(), "1".into(), "2".into()]
            }]
        );
        assert!(contents.iter().all(|c| c.creator == Creator::Initiator));
        let audio = contents[0].description.as_ref().unwrap();
        assert_eq!(audio.ssrc, Some(3735928559));
        assert_eq!(audio.sources.len(), 1);
        assert_eq!(audio.payload_types[1].channels, 1);
        assert_eq!(
            audio.payload_types[2].parameters,
            vec![Parameter {
                name: "0-16".into(),
                value: None
            }]
        );
        assert_eq!(audio.hdrexts[0].senders, None);
        assert_eq!(audio.hdrexts[2].senders, Some(Senders::Initiator));
        assert_eq!(
            audio.streams,
            vec![Stream {
                id: "stream-a".into(),
                track: Some("track-a".into())
            }]
        );
        // sendonly written by the responder: the responder sends.
        assert_eq!(contents[1].senders, Senders::Responder);
        let video = contents[1].description.as_ref().unwrap();
        assert_eq!(
            video.ssrc_groups,
            vec![SsrcGroup {
                semantics: "FID".into(),
                sources: vec![1111, 2222]
            }]
        );
        let t = contents[0].transport.as_ref().unwrap();
        assert_eq!(t.candidates[1].protocol, "tcp");
        assert_eq!(t.candidates[1].generation, None);
        assert_eq!(t.fingerprints[0].setup.as_deref(), Some("actpass"));
        assert_eq!(contents[2].description, None);
        assert_eq!(
            contents[2].transport.as_ref().unwrap().sctpmap,
            Some(SctpMap {
                number: 5000,
                protocol: "webrtc-datachannel".into(),
                streams: None
            })
        );
        let (c2, _) = sdp_to_jingle(&sdp, LocalRole::Initiator).unwrap();
        assert_eq!(c2[1].senders, Senders::Initiator);
    }

    #[test]
    fn session_accept_example_to_sdp() {
        let el = parse(ACCEPT_EXAMPLE, &XmlLimits::default()).unwrap();
        let j = Jingle::from_element(&el).unwrap();
        let sdp = contents_to_sdp(&j.contents, &j.groups, LocalRole::Responder, 7).unwrap();
        let expected = "v=0\r\n\
o=thisisadapterortc 7 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=msid-semantic:WMS *\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=sendrecv\r\n\
a=msid:s-1 t-1\r\n\
a=rtcp-mux\r\n\
a=ssrc:3735928559 cname:kq8Zp0aB\r\n\
a=mid:0\r\n\
a=ice-ufrag:Zq3r\r\n\
a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd\r\n\
a=fingerprint:sha-256 6B:8B:…:1F\r\n\
a=setup:active\r\n";
        assert_eq!(sdp.to_string(), expected);
        // And back: the same Jingle contents.
        let (contents, groups) = sdp_to_jingle(&sdp, LocalRole::Responder).unwrap();
        assert_eq!((contents, groups), (j.contents.clone(), j.groups.clone()));
    }

    #[test]
    fn offer_mapping_details() {
        // No ICE/DTLS → port 0; no stream → msid legacy; senders relative to the initiator.
        let xml = format!(
            r#"<jingle xmlns="{NS_JINGLE}" action="session-initiate" sid="s"><content creator="initiator" name="a" senders="initiator"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000" maxptime="60"/><payload-type id="8" name="PCMA" clockrate="8000" maxptime="40"/></description><transport xmlns="urn:xmpp:jingle:transports:ice:0"><ice-lite/></transport></content></jingle>"#
        );
        let j = Jingle::from_element(&parse(&xml, &XmlLimits::default()).unwrap()).unwrap();
        let sdp = jingle_to_sdp(&j, 1).unwrap();
        let m = &sdp.media[0];
        assert_eq!(m.port, 0);
        assert_eq!(m.direction(), Direction::SendOnly);
        assert_eq!(m.attr("msid"), Some("legacy audio"));
        assert_eq!(m.attr("maxptime"), Some("60"));
        assert!(sdp.ice_lite());
        // A content with neither RTP nor SCTP has no SDP form.
        let bad = JingleContent {
            name: "x".into(),
            ..JingleContent::default()
        };
        assert_eq!(
            contents_to_sdp(&[bad], &[], LocalRole::Initiator, 1),
            Err(MapError::UnsupportedContent { name: "x".into() })
        );
        // Missing mid.
        let no_mid =
            Sdp::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 RTP/AVP 0\r\n").unwrap();
        assert_eq!(
            sdp_to_jingle(&no_mid, LocalRole::Responder),
            Err(MapError::MissingMid { index: 0 })
        );
    }

    #[test]
    fn candidate_conversions() {
        let c = Candidate::parse("candidate:435653019 1 tcp 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype passive generation 0 network-id 3").unwrap();
        let j = candidate_to_jingle(&c);
        assert_eq!(
            (
                j.protocol.as_str(),
                j.rel_addr.as_deref(),
                j.rel_port,
                j.tcptype.as_deref()
            ),
            ("tcp", Some("192.0.2.10"), Some(46243), Some("passive"))
        );
        let xml = j.to_element().to_xml();
        assert!(!xml.contains("generation") && !xml.contains("network"));
        let back = jingle_to_candidate(&j);
        assert_eq!(back.to_sdp_attribute(), "candidate:435653019 1 TCP 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype passive");
        assert_eq!(Candidate::parse(&back.to_sdp_attribute()).unwrap(), back);
        let host = JingleCandidate {
            typ: "host".into(),
            protocol: "udp".into(),
            rel_addr: Some("1.1.1.1".into()),
            rel_port: Some(1),
            tcptype: Some("so".into()),
            ..JingleCandidate::default()
        };
        let h = jingle_to_candidate(&host);
        assert_eq!(
            (h.raddr, h.rport, h.tcptype, h.protocol.as_str()),
            (None, None, None, "UDP")
        );
    }

    #[test]
    fn every_truncation_never_panics() {
        for end in 0..=OFFER.len() {
            let Some(prefix) = OFFER.get(..end) else {
                continue;
            };
            if let Ok(sdp) = Sdp::parse(prefix) {
                for role in [LocalRole::Initiator, LocalRole::Responder] {
                    if let Ok((contents, groups)) = sdp_to_jingle(&sdp, role) {
                        let _ = contents_to_sdp(&contents, &groups, role, 1);
                    }
                }
            }
        }
        for end in 0..=ACCEPT_EXAMPLE.len() {
            let Some(prefix) = ACCEPT_EXAMPLE.get(..end) else {
                continue;
            };
            if let Ok(el) = parse(prefix, &XmlLimits::default()) {
                if let Ok(j) = Jingle::from_element(&el) {
                    let _ = jingle_to_sdp(&j, 1);
                }
            }
        }
    }

    // ------------------------------------------------------------------ property tests

    fn candidate_strategy() -> impl Strategy<Value = String> {
        (
            "[0-9]{1,10}",
            1u16..=2,
            prop::sample::select(vec!["udp", "UDP", "tcp", "TCP"]),
            any::<u32>(),
            (0u8..=255, any::<u16>()),
            prop::sample::select(vec!["host", "srflx", "prflx", "relay"]),
            prop::option::of((0u8..=255, any::<u16>())),
            prop::option::of(prop::sample::select(vec!["active", "passive", "so"])),
            prop::option::of(0u32..4),
            prop::option::of("[a-zA-Z0-9+/]{4,8}"),
        )
            .prop_map(
                |(f, comp, proto, prio, (ip, port), typ, rel, tcp, generation, ufrag)| {
                    let mut s = format!(
                        "candidate:{f} {comp} {proto} {prio} 192.0.2.{ip} {port} typ {typ}"
                    );
                    if let Some((ip, port)) = rel {
                        s.push_str(&format!(" raddr 198.51.100.{ip} rport {port}"));
                    }
                    if let Some(t) = tcp {
                        s.push_str(&format!(" tcptype {t}"));
                    }
                    if let Some(g) = generation {
                        s.push_str(&format!(" generation {g}"));
                    }
                    if let Some(u) = ufrag {
                        s.push_str(&format!(" ufrag {u}"));
                    }
                    s
                },
            )
    }

    #[derive(Debug, Clone)]
    struct Codec {
        name: &'static str,
        clock: u32,
        channels: Option<u16>,
        params: Vec<(String, Option<String>)>,
        fbs: Vec<(&'static str, Option<&'static str>)>,
    }

    fn codec_strategy() -> impl Strategy<Value = Codec> {
        (
            prop::sample::select(vec![
                "opus",
                "PCMU",
                "PCMA",
                "telephone-event",
                "VP8",
                "H264",
                "rtx",
                "red",
            ]),
            prop::sample::select(vec![8000u32, 16000, 48000, 90000]),
            prop::option::of(1u16..=2),
            prop::collection::vec(
                ("[a-z][a-z-]{0,8}", prop::option::of("[a-zA-Z0-9.-]{1,6}")),
                0..3,
            ),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["nack", "transport-cc", "goog-remb", "ccm"]),
                    prop::option::of(prop::sample::select(vec!["pli", "fir"])),
                ),
                0..3,
            ),
        )
            .prop_map(|(name, clock, channels, params, fbs)| Codec {
                name,
                clock,
                channels,
                params,
                fbs,
            })
    }

    fn section_strategy() -> impl Strategy<Value = (bool, Vec<String>)> {
        (
            any::<bool>(),
            prop::sample::subsequence((96u8..=127).collect::<Vec<_>>(), 1..5),
            prop::collection::vec(codec_strategy(), 5),
            prop::option::of(prop::sample::select(Direction::ALL.to_vec())),
            prop::sample::subsequence((1u16..=14).collect::<Vec<_>>(), 0..4),
            prop::option::of(prop::sample::select(Direction::ALL.to_vec())),
            (any::<bool>(), any::<bool>(), any::<bool>()),
            (
                prop::option::of((any::<u32>(), "[a-zA-Z0-9]{4,16}")),
                prop::option::of(any::<u32>()),
            ),
            prop::option::of(("[a-zA-Z0-9-]{1,12}", prop::option::of("[a-zA-Z0-9-]{1,12}"))),
            prop::collection::vec(candidate_strategy(), 0..4),
            (
                any::<bool>(),
                prop::sample::select(vec!["actpass", "active", "passive"]),
            ),
        )
            .prop_map(
                |(
                    video,
                    pts,
                    codecs,
                    dir,
                    ext_ids,
                    ext_dir,
                    (mux, rsize, port0),
                    (ssrc, rtx),
                    msid,
                    cands,
                    (dtls, setup),
                )| {
                    let mut a = Vec::new();
                    a.push("a=rtcp:9 IN IP4 0.0.0.0".to_string());
                    for c in &cands {
                        a.push(format!("a={c}"));
                    }
                    a.push("a=ice-ufrag:Zq3r".into());
                    a.push("a=ice-pwd:pA55w0rdpA55w0rdpA55w0rd".into());
                    if dtls {
                        a.push("a=fingerprint:sha-256 6B:8B:F0:65".into());
                        a.push(format!("a=setup:{setup}"));
                    }
                    a.push("a=mid:MID".into());
                    for (i, id) in ext_ids.iter().enumerate() {
                        let d = if i == 0 {
                            ext_dir
                                .map(|d| format!("/{}", d.as_str()))
                                .unwrap_or_default()
                        } else {
                            String::new()
                        };
                        a.push(format!("a=extmap:{id}{d} urn:example:ext-{id}"));
                    }
                    if let Some(d) = dir {
                        a.push(format!("a={}", d.as_str()));
                    }
                    if let Some((s, t)) = &msid {
                        a.push(match t {
                            Some(t) => format!("a=msid:{s} {t}"),
                            None => format!("a=msid:{s}"),
                        });
                    }
                    if mux {
                        a.push("a=rtcp-mux".into());
                    }
                    if rsize {
                        a.push("a=rtcp-rsize".into());
                    }
                    for (pt, c) in pts.iter().zip(&codecs) {
                        let ch = c.channels.map(|n| format!("/{n}")).unwrap_or_default();
                        a.push(format!("a=rtpmap:{pt} {}/{}{ch}", c.name, c.clock));
                        for (t, s) in &c.fbs {
                            a.push(match s {
                                Some(s) => format!("a=rtcp-fb:{pt} {t} {s}"),
                                None => format!("a=rtcp-fb:{pt} {t}"),
                            });
                        }
                        if !c.params.is_empty() {
                            let p = write_fmtp_params(
                                c.params.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
                            );
                            a.push(format!("a=fmtp:{pt} {p}"));
                        }
                    }
                    if let Some((s, cname)) = &ssrc {
                        if let Some(r) = rtx {
                            a.push(format!("a=ssrc-group:FID {s} {r}"));
                        }
                        a.push(format!("a=ssrc:{s} cname:{cname}"));
                        a.push(format!("a=ssrc:{s} msid:x y"));
                        a.push(format!("a=ssrc:{s} label:y"));
                        if let Some(r) = rtx {
                            a.push(format!("a=ssrc:{r} cname:{cname}"));
                        }
                    }
                    let kind = if video { "video" } else { "audio" };
                    let fmts: Vec<String> = pts.iter().map(|p| p.to_string()).collect();
                    let mut lines = vec![
                        format!(
                            "m={kind} {} UDP/TLS/RTP/SAVPF {}",
                            if port0 { 0 } else { 9 },
                            fmts.join(" ")
                        ),
                        "c=IN IP4 0.0.0.0".to_string(),
                    ];
                    lines.extend(a);
                    (video, lines)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_sections_round_trip(sections in prop::collection::vec(section_strategy(), 1..4), bundle in any::<bool>()) {
            let mut text = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
            let mids: Vec<String> = (0..sections.len()).map(|i| i.to_string()).collect();
            if bundle {
                text.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
            }
            for (i, (_, lines)) in sections.iter().enumerate() {
                for l in lines {
                    text.push_str(&l.replace("a=mid:MID", &format!("a=mid:{i}")));
                    text.push_str("\r\n");
                }
            }
            let sdp = Sdp::parse(&text).unwrap();
            for role in [LocalRole::Initiator, LocalRole::Responder] {
                let out = round_trip(&sdp, role);
                prop_assert_eq!(carried(&out), carried(&sdp));
            }
        }

        #[test]
        fn random_sdp_text_never_panics(s in "\\PC{0,300}") {
            if let Ok(sdp) = Sdp::parse(&s) {
                let _ = sdp_to_jingle(&sdp, LocalRole::Responder);
            }
        }

        #[test]
        fn random_media_lines_never_panic(lines in prop::collection::vec("(m=(audio|video|application) [0-9]{1,5} [A-Z/]{3,12}( [0-9a-z-]{1,4}){0,3}|a=(mid|rtpmap|fmtp|rtcp-fb|extmap|ssrc|ssrc-group|msid|candidate|sctp-port|sctpmap|fingerprint|setup|ice-ufrag|ice-pwd):[ -~]{0,30}|a=(sendonly|rtcp-mux))", 0..30)) {
            let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{}", lines.join("\r\n"));
            if let Ok(sdp) = Sdp::parse(&text) {
                for role in [LocalRole::Initiator, LocalRole::Responder] {
                    if let Ok((contents, groups)) = sdp_to_jingle(&sdp, role) {
                        let j = Jingle { contents, groups, ..Jingle::new(Action::SessionAccept, "s") };
                        let el = parse(&j.to_element().to_xml(), &XmlLimits::default()).unwrap();
                        let back = Jingle::from_element(&el).unwrap();
                        let _ = contents_to_sdp(&back.contents, &back.groups, role, 1);
                    }
                }
            }
        }
    }
}
