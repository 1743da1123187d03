//! A small SDP model for WebRTC offers and answers (RFC 8866 syntax, the JSEP subset).
//!
//! Owns parsing ([`Sdp::parse`], bounded by [`MAX_SDP_BYTES`], [`MAX_MEDIA_SECTIONS`],
//! [`MAX_ATTRIBUTES`]), canonical CRLF serialization ([`Sdp`]'s `Display`), typed read-only
//! accessors on a [`MediaSection`], and the ICE candidate line codec ([`Candidate`]). It keeps
//! attributes as raw name/value pairs and interprets them only on demand; it does not know about
//! Jingle (that is `sdp_jingle`) and never negotiates anything.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt;

/// Largest SDP text [`Sdp::parse`] accepts, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most `m=` sections one SDP may have.
pub const MAX_MEDIA_SECTIONS: usize = 16;
/// Most `a=` lines one SDP may have, session and media levels together.
pub const MAX_ATTRIBUTES: usize = 512;
/// Most formats (payload types) one `m=` line may list.
pub const MAX_FORMATS: usize = 64;
/// Longest candidate line [`Candidate::parse`] accepts, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// Why an SDP (or a candidate line) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The text is larger than [`MAX_SDP_BYTES`].
    #[error("SDP larger than {MAX_SDP_BYTES} bytes")]
    TooLarge,
    /// More than [`MAX_MEDIA_SECTIONS`] `m=` lines.
    #[error("more than {MAX_MEDIA_SECTIONS} media sections")]
    TooManyMediaSections,
    /// More than [`MAX_ATTRIBUTES`] `a=` lines.
    #[error("more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    /// An `m=` line lists more than [`MAX_FORMATS`] formats.
    #[error("m= line {line} lists more than {MAX_FORMATS} formats")]
    TooManyFormats {
        /// 1-based line number.
        line: usize,
    },
    /// The first line is not `v=`.
    #[error("SDP does not start with v=")]
    MissingVersion,
    /// `v=` is not `0`.
    #[error("unsupported SDP version")]
    UnsupportedVersion,
    /// The second line is not `o=`.
    #[error("SDP has no o= line after v=")]
    MissingOrigin,
    /// The `o=` line does not have six fields with numeric session id and version.
    #[error("malformed o= line")]
    BadOrigin,
    /// An `m=` line without media, port and protocol.
    #[error("malformed m= line {line}")]
    BadMediaLine {
        /// 1-based line number.
        line: usize,
    },
    /// The port of an `m=` line is not a number in 0..=65535.
    #[error("bad port on m= line {line}")]
    BadPort {
        /// 1-based line number.
        line: usize,
    },
    /// A line that is not `<letter>=<value>`, or an empty `a=`.
    #[error("malformed SDP line {line}")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// A candidate line with a missing or malformed field (the field is named).
    #[error("malformed candidate ({0})")]
    BadCandidate(&'static str),
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` in browsers).
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version.
    pub session_version: u64,
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4`/`IP6`).
    pub addr_type: String,
    /// Unicast address.
    pub address: String,
}

impl Origin {
    fn parse(value: &str) -> Option<Origin> {
        let mut it = value.split_ascii_whitespace();
        let o = Origin {
            username: it.next()?.to_string(),
            session_id: it.next()?.parse().ok()?,
            session_version: it.next()?.parse().ok()?,
            net_type: it.next()?.to_string(),
            addr_type: it.next()?.to_string(),
            address: it.next()?.to_string(),
        };
        it.next().is_none().then_some(o)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// One `a=` line: `a=name` (a flag) or `a=name:value`.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name (before the first `:`).
    pub name: String,
    /// Everything after the first `:`; `None` for a flag.
    pub value: Option<String>,
}

impl Attribute {
    /// `a=name:value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// `a=name`.
    pub fn flag(name: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    fn parse(text: &str) -> Option<Attribute> {
        let attr = match text.split_once(':') {
            Some((n, v)) => Attribute::new(n, v),
            None => Attribute::flag(text),
        };
        (!attr.name.is_empty()).then_some(attr)
    }
}

/// The ICE password is a credential: `Debug` leaves its value out.
impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: Option<&str> = if self.name == "ice-pwd" {
            self.value.as_ref().map(|_| "{redacted}")
        } else {
            self.value.as_deref()
        };
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("value", &value)
            .finish()
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "a={}:{}", self.name, v),
            None => write!(f, "a={}", self.name),
        }
    }
}

/// Media direction (`a=sendrecv` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `sendrecv` (the default when no direction attribute is present).
    #[default]
    SendRecv,
    /// `sendonly`
    SendOnly,
    /// `recvonly`
    RecvOnly,
    /// `inactive`
    Inactive,
}

impl Direction {
    /// Every direction.
    pub const ALL: [Direction; 4] = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name.
    pub fn from_name(name: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// `a=rtpmap:PT name/clock[/channels]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written (`opus`, `PCMU`, `telephone-event`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock: u32,
    /// Channel count when written.
    pub channels: Option<u16>,
}

/// `a=rtcp-fb:PT type [subtype]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFbLine {
    /// Feedback type (`nack`, `transport-cc`, `ccm`, …).
    pub typ: String,
    /// Optional parameter (`pli`, `fir`, …).
    pub subtype: Option<String>,
}

/// `a=extmap:id[/direction] uri [attributes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtMap {
    /// Extension id.
    pub id: u16,
    /// Direction, when written.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: String,
    /// Extension attributes after the URI, when present.
    pub attributes: Option<String>,
}

/// `a=ssrc:SSRC name[:value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcAttr {
    /// SSRC.
    pub ssrc: u32,
    /// Source attribute name (`cname`, `msid`, `label`, …).
    pub name: String,
    /// Its value.
    pub value: Option<String>,
}

/// `a=ssrc-group:semantics ssrc…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroupLine {
    /// `FID`, `SIM`, …
    pub semantics: String,
    /// SSRCs in order.
    pub ssrcs: Vec<u32>,
}

/// `a=msid:stream [track]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msid {
    /// Stream id.
    pub stream: String,
    /// Track id.
    pub track: Option<String>,
}

/// `a=group:semantics mid…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLine {
    /// `BUNDLE`, `LS`, …
    pub semantics: String,
    /// Media ids.
    pub mids: Vec<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// `audio`, `video` or `application`.
    pub kind: String,
    /// Port (`9` when ICE is used, `0` when rejected).
    pub port: u16,
    /// Transport protocol (`UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`).
    pub proto: String,
    /// Formats: payload types for RTP, `webrtc-datachannel` for SCTP.
    pub formats: Vec<String>,
    /// The value of the section's `c=` line.
    pub connection: Option<String>,
    /// `a=` lines in order.
    pub attrs: Vec<Attribute>,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=`
    pub origin: Origin,
    /// `s=` (`-` when absent).
    pub session_name: String,
    /// Session-level `c=`, if any.
    pub connection: Option<String>,
    /// `t=` (`0 0` when absent).
    pub timing: String,
    /// Session-level `a=` lines.
    pub session_attrs: Vec<Attribute>,
    /// `m=` sections.
    pub media: Vec<MediaSection>,
}

fn first_value<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.value.as_deref())
}

fn values<'a>(attrs: &'a [Attribute], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    attrs
        .iter()
        .filter(move |a| a.name == name)
        .filter_map(|a| a.value.as_deref())
}

/// Splits `PT rest` and returns `rest` when `PT` equals `pt`.
fn for_pt(value: &str, pt: u8) -> Option<&str> {
    let (p, rest) = value.split_once(' ').unwrap_or((value, ""));
    (p.parse::<u8>().ok()? == pt).then_some(rest)
}

/// Splits an `a=fmtp` parameter string into `key[=value]` pairs, separated by `;`.
pub fn parse_fmtp_params(params: &str) -> Vec<(String, Option<String>)> {
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (p.to_string(), None),
        })
        .collect()
}

/// Joins parameters back into an `a=fmtp` parameter string.
pub fn write_fmtp_params<'a>(
    params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> String {
    let parts: Vec<String> = params
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.to_string(),
        })
        .collect();
    parts.join(";")
}

impl MediaSection {
    /// A section without attributes.
    pub fn new(kind: impl Into<String>, port: u16, proto: impl Into<String>) -> Self {
        MediaSection {
            kind: kind.into(),
            port,
            proto: proto.into(),
            formats: Vec::new(),
            connection: None,
            attrs: Vec::new(),
        }
    }

    /// The value of the first attribute called `name` that has a value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        first_value(&self.attrs, name)
    }

    /// The values of every attribute called `name`.
    pub fn attr_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        values(&self.attrs, name)
    }

    /// Whether an attribute called `name` is present (flag or not).
    pub fn has_attr(&self, name: &str) -> bool {
        self.attrs.iter().any(|a| a.name == name)
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        self.attr("mid")
    }

    /// The direction attribute, if the section has one.
    pub fn explicit_direction(&self) -> Option<Direction> {
        self.attrs
            .iter()
            .filter(|a| a.value.is_none())
            .find_map(|a| Direction::from_name(&a.name))
    }

    /// The direction (`sendrecv` when none is written).
    pub fn direction(&self) -> Direction {
        self.explicit_direction().unwrap_or_default()
    }

    /// Every well-formed `a=rtpmap`, in attribute order.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        self.attr_values("rtpmap")
            .filter_map(|v| {
                let (pt, enc) = v.split_once(' ')?;
                let mut parts = enc.trim().split('/');
                let name = parts.next()?.to_string();
                let clock = parts.next()?.parse().ok()?;
                let channels = match parts.next() {
                    Some(c) => Some(c.parse().ok()?),
                    None => None,
                };
                Some(RtpMap {
                    pt: pt.parse().ok()?,
                    name,
                    clock,
                    channels,
                })
            })
            .collect()
    }

    /// The `a=rtpmap` of payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps().into_iter().find(|r| r.pt == pt)
    }

    /// The parameter string of the first `a=fmtp` for `pt` (`minptime=10;useinbandfec=1`).
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attr_values("fmtp").find_map(|v| for_pt(v, pt))
    }

    /// The `a=rtcp-fb` lines for `pt` (wildcard `*` lines are not included).
    pub fn rtcp_fbs(&self, pt: u8) -> Vec<RtcpFbLine> {
        self.attr_values("rtcp-fb")
            .filter_map(|v| for_pt(v, pt))
            .filter_map(|rest| {
                let mut it = rest.split_ascii_whitespace();
                let typ = it.next()?.to_string();
                let sub: Vec<&str> = it.collect();
                Some(RtcpFbLine {
                    typ,
                    subtype: (!sub.is_empty()).then(|| sub.join(" ")),
                })
            })
            .collect()
    }

    /// Every well-formed `a=extmap`.
    pub fn extmaps(&self) -> Vec<ExtMap> {
        self.attr_values("extmap")
            .filter_map(|v| {
                let mut it = v.split_ascii_whitespace();
                let idd = it.next()?;
                let uri = it.next()?.to_string();
                let rest: Vec<&str> = it.collect();
                let (id, direction) = match idd.split_once('/') {
                    Some((id, d)) => (id, Some(Direction::from_name(d)?)),
                    None => (idd, None),
                };
                Some(ExtMap {
                    id: id.parse().ok()?,
                    direction,
                    uri,
                    attributes: (!rest.is_empty()).then(|| rest.join(" ")),
                })
            })
            .collect()
    }

    /// Every well-formed `a=ssrc`, in order.
    pub fn ssrcs(&self) -> Vec<SsrcAttr> {
        self.attr_values("ssrc")
            .filter_map(|v| {
                let (ssrc, rest) = v.split_once(' ')?;
                let (name, value) = match rest.split_once(':') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (rest, None),
                };
                Some(SsrcAttr {
                    ssrc: ssrc.parse().ok()?,
                    name: name.to_string(),
                    value,
                })
            })
            .collect()
    }

    /// Every well-formed `a=ssrc-group`.
    pub fn ssrc_groups(&self) -> Vec<SsrcGroupLine> {
        self.attr_values("ssrc-group")
            .filter_map(|v| {
                let mut it = v.split_ascii_whitespace();
                let semantics = it.next()?.to_string();
                let ssrcs = it.map(|s| s.parse().ok()).collect::<Option<Vec<u32>>>()?;
                Some(SsrcGroupLine { semantics, ssrcs })
            })
            .collect()
    }

    /// `a=ice-ufrag` (media level only).
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.attr("ice-ufrag")
    }

    /// `a=ice-pwd` (media level only). A credential: do not log it.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.attr("ice-pwd")
    }

    /// The first `a=fingerprint` as `(hash, value)` (media level only).
    pub fn fingerprint(&self) -> Option<(&str, &str)> {
        self.fingerprints().into_iter().next()
    }

    /// Every `a=fingerprint` as `(hash, value)` (media level only).
    pub fn fingerprints(&self) -> Vec<(&str, &str)> {
        fingerprints(&self.attrs)
    }

    /// `a=setup` (media level only).
    pub fn setup(&self) -> Option<&str> {
        self.attr("setup")
    }

    /// Every well-formed `a=candidate`.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.attr_values("candidate")
            .filter_map(|v| Candidate::parse_value(v).ok())
            .collect()
    }

    /// `a=msid`.
    pub fn msid(&self) -> Option<Msid> {
        let v = self.attr("msid")?;
        let mut it = v.split_ascii_whitespace();
        Some(Msid {
            stream: it.next()?.to_string(),
            track: it.next().map(str::to_string),
        })
    }

    /// `a=rtcp-mux`.
    pub fn rtcp_mux(&self) -> bool {
        self.has_attr("rtcp-mux")
    }

    /// `a=rtcp-rsize`.
    pub fn rtcp_rsize(&self) -> bool {
        self.has_attr("rtcp-rsize")
    }

    /// `a=end-of-candidates`.
    pub fn end_of_candidates(&self) -> bool {
        self.has_attr("end-of-candidates")
    }

    /// The SCTP port: `a=sctp-port`, or the number of an old-style `a=sctpmap`.
    pub fn sctp_port(&self) -> Option<u16> {
        if let Some(p) = self.attr("sctp-port") {
            return p.trim().parse().ok();
        }
        self.attr("sctpmap")?
            .split_ascii_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn write(&self, out: &mut String) {
        out.push_str(&format!("m={} {} {} ", self.kind, self.port, self.proto));
        out.push_str(&self.formats.join(" "));
        out.push_str("\r\n");
        if let Some(c) = &self.connection {
            out.push_str(&format!("c={c}\r\n"));
        }
        for a in &self.attrs {
            out.push_str(&format!("{a}\r\n"));
        }
    }
}

fn fingerprints(attrs: &[Attribute]) -> Vec<(&str, &str)> {
    values(attrs, "fingerprint")
        .filter_map(|v| v.trim().split_once(' '))
        .map(|(h, v)| (h, v.trim()))
        .collect()
}

impl Sdp {
    /// Parses an SDP, with CRLF or LF line ends. Unknown line types (`i=`, `b=`, `z=` …) are
    /// ignored; unknown attributes are kept.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        if text.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge);
        }
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            .filter(|(_, l)| !l.trim().is_empty());

        match lines.next() {
            Some((_, l)) if l.trim_end() == "v=0" => {}
            Some((_, l)) if l.starts_with("v=") => return Err(SdpError::UnsupportedVersion),
            _ => return Err(SdpError::MissingVersion),
        }
        let origin = match lines.next() {
            Some((_, l)) => match l.strip_prefix("o=") {
                Some(v) => Origin::parse(v).ok_or(SdpError::BadOrigin)?,
                None => return Err(SdpError::MissingOrigin),
            },
            None => return Err(SdpError::MissingOrigin),
        };
        let mut sdp = Sdp {
            origin,
            session_name: "-".into(),
            connection: None,
            timing: "0 0".into(),
            session_attrs: Vec::new(),
            media: Vec::new(),
        };
        let mut attr_count = 0usize;
        for (n, line) in lines {
            let (typ, value) = match line.split_once('=') {
                Some((t, v)) if t.len() == 1 && t.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    (t, v)
                }
                _ => return Err(SdpError::MalformedLine { line: n }),
            };
            match (typ, sdp.media.last_mut()) {
                ("m", _) => {
                    if sdp.media.len() >= MAX_MEDIA_SECTIONS {
                        return Err(SdpError::TooManyMediaSections);
                    }
                    sdp.media.push(parse_m_line(value, n)?);
                }
                ("a", section) => {
                    attr_count += 1;
                    if attr_count > MAX_ATTRIBUTES {
                        return Err(SdpError::TooManyAttributes);
                    }
                    let attr =
                        Attribute::parse(value).ok_or(SdpError::MalformedLine { line: n })?;
                    match section {
                        Some(m) => m.attrs.push(attr),
                        None => sdp.session_attrs.push(attr),
                    }
                }
                ("c", Some(m)) => m.connection = Some(value.to_string()),
                ("c", None) => sdp.connection = Some(value.to_string()),
                ("s", None) => sdp.session_name = value.to_string(),
                ("t", None) => sdp.timing = value.to_string(),
                _ => {}
            }
        }
        Ok(sdp)
    }

    /// The value of the first session-level attribute called `name` that has a value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        first_value(&self.session_attrs, name)
    }

    /// Whether a session-level attribute called `name` is present.
    pub fn has_attr(&self, name: &str) -> bool {
        self.session_attrs.iter().any(|a| a.name == name)
    }

    /// Every `a=group` line.
    pub fn groups(&self) -> Vec<GroupLine> {
        values(&self.session_attrs, "group")
            .filter_map(|v| {
                let mut it = v.split_ascii_whitespace();
                Some(GroupLine {
                    semantics: it.next()?.to_string(),
                    mids: it.map(str::to_string).collect(),
                })
            })
            .collect()
    }

    /// The mids of `a=group:BUNDLE`.
    pub fn group_bundle(&self) -> Option<Vec<String>> {
        self.groups()
            .into_iter()
            .find(|g| g.semantics == "BUNDLE")
            .map(|g| g.mids)
    }

    /// `a=ice-lite` at session level.
    pub fn ice_lite(&self) -> bool {
        self.has_attr("ice-lite")
    }

    /// Session-level `a=fingerprint`s as `(hash, value)`.
    pub fn fingerprints(&self) -> Vec<(&str, &str)> {
        fingerprints(&self.session_attrs)
    }

    /// The media section whose `a=mid` is `mid`.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaSection> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }
}

/// Canonical CRLF form: `v`, `o`, `s`, session `c`, `t`, session attributes, then per section
/// `m`, `c`, attributes.
impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(1024);
        out.push_str("v=0\r\n");
        out.push_str(&format!("o={}\r\n", self.origin));
        out.push_str(&format!("s={}\r\n", self.session_name));
        if let Some(c) = &self.connection {
            out.push_str(&format!("c={c}\r\n"));
        }
        out.push_str(&format!("t={}\r\n", self.timing));
        for a in &self.session_attrs {
            out.push_str(&format!("{a}\r\n"));
        }
        for m in &self.media {
            m.write(&mut out);
        }
        f.write_str(&out)
    }
}

fn parse_m_line(value: &str, line: usize) -> Result<MediaSection, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
        return Err(SdpError::BadMediaLine { line });
    };
    // `port/count` is legal syntax; the count is not used by WebRTC.
    let port = port.split('/').next().unwrap_or(port);
    let port = port.parse().map_err(|_| SdpError::BadPort { line })?;
    let mut formats = Vec::new();
    for f in it {
        if formats.len() >= MAX_FORMATS {
            return Err(SdpError::TooManyFormats { line });
        }
        formats.push(f.to_string());
    }
    Ok(MediaSection {
        kind: kind.to_string(),
        port,
        proto: proto.to_string(),
        formats,
        connection: None,
        attrs: Vec::new(),
    })
}

/// One ICE candidate line (RFC 8839 §5.1 plus the browser extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation.
    pub foundation: String,
    /// Component (1 = RTP, 2 = RTCP).
    pub component: u16,
    /// Transport protocol as written (`udp`, `UDP`, `tcp`).
    pub protocol: String,
    /// Priority.
    pub priority: u32,
    /// Connection address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Candidate type (`host`, `srflx`, `prflx`, `relay`).
    pub typ: String,
    /// `raddr`.
    pub raddr: Option<String>,
    /// `rport`.
    pub rport: Option<u16>,
    /// `tcptype` (`active`, `passive`, `so`).
    pub tcptype: Option<String>,
    /// `generation`.
    pub generation: Option<u32>,
    /// `ufrag`.
    pub ufrag: Option<String>,
    /// `network-id`.
    pub network_id: Option<u32>,
    /// Other extension pairs (`network-cost 999` …), in order.
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// Parses `candidate:…` or `a=candidate:…` (a trailing CRLF is ignored).
    ///
    /// Only ASCII whitespace (what [`Candidate::parse_value`] splits fields on) is trimmed, so
    /// a field ending in other Unicode whitespace (U+00A0 …) is kept whole and the line
    /// round-trips through [`Candidate::to_sdp_attribute`]. The length limit applies to the
    /// value after `candidate:`, as in [`Candidate::parse_value`].
    pub fn parse(line: &str) -> Result<Candidate, SdpError> {
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        let line = line.strip_prefix("a=").unwrap_or(line);
        let value = line
            .strip_prefix("candidate:")
            .ok_or(SdpError::BadCandidate("prefix"))?;
        Candidate::parse_value(value)
    }

    /// Parses the value of an `a=candidate` attribute (after `candidate:`).
    ///
    /// Fields are separated by ASCII whitespace. Any other control character (U+000B, NUL,
    /// DEL, C1 …) is rejected: RFC 8839 fields are visible characters, and such a character
    /// could neither be trimmed consistently nor be written into a Jingle XML attribute.
    /// Values longer than [`MAX_CANDIDATE_BYTES`] without the surrounding whitespace are
    /// rejected; what [`Candidate::to_sdp_attribute`] writes for a parsed value is never longer
    /// (single spaces, each field once, numbers without leading zeros or `+`).
    pub fn parse_value(value: &str) -> Result<Candidate, SdpError> {
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
        if value.len() > MAX_CANDIDATE_BYTES {
            return Err(SdpError::BadCandidate("too long"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !c.is_ascii_whitespace())
        {
            return Err(SdpError::BadCandidate("control character"));
        }
        fn field<'a>(
            it: &mut impl Iterator<Item = &'a str>,
            name: &'static str,
        ) -> Result<&'a str, SdpError> {
            it.next().ok_or(SdpError::BadCandidate(name))
        }
        fn num<T: std::str::FromStr>(s: &str, name: &'static str) -> Result<T, SdpError> {
            s.parse().map_err(|_| SdpError::BadCandidate(name))
        }
        let mut it = value.split_ascii_whitespace();
        let foundation = field(&mut it, "foundation")?.to_string();
        let component = num(field(&mut it, "component")?, "component")?;
        let protocol = field(&mut it, "protocol")?.to_string();
        let priority = num(field(&mut it, "priority")?, "priority")?;
        let ip = field(&mut it, "address")?.to_string();
        let port = num(field(&mut it, "port")?, "port")?;
        if field(&mut it, "typ")? != "typ" {
            return Err(SdpError::BadCandidate("typ"));
        }
        let typ = field(&mut it, "type")?.to_string();
        let mut c = Candidate {
            foundation,
            component,
            protocol,
            priority,
            ip,
            port,
            typ,
            raddr: None,
            rport: None,
            tcptype: None,
            generation: None,
            ufrag: None,
            network_id: None,
            extensions: Vec::new(),
        };
        while let Some(key) = it.next() {
            let v = field(&mut it, "extension value")?;
            match key {
                "raddr" => c.raddr = Some(v.to_string()),
                "rport" => c.rport = Some(num(v, "rport")?),
                "tcptype" => c.tcptype = Some(v.to_string()),
                "generation" => c.generation = Some(num(v, "generation")?),
                "ufrag" => c.ufrag = Some(v.to_string()),
                "network-id" => c.network_id = Some(num(v, "network-id")?),
                _ => {
                    if c.extensions.len() >= 16 {
                        return Err(SdpError::BadCandidate("too many extensions"));
                    }
                    c.extensions.push((key.to_string(), v.to_string()))
                }
            }
        }
        Ok(c)
    }

    /// The attribute value, `candidate:…` (no `a=`, no line end), fields written as stored.
    pub fn to_sdp_attribute(&self) -> String {
        let mut s = format!(
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.protocol,
            self.priority,
            self.ip,
            self.port,
            self.typ
        );
        if let Some(r) = &self.raddr {
            s.push_str(&format!(" raddr {r}"));
        }
        if let Some(r) = self.rport {
            s.push_str(&format!(" rport {r}"));
        }
        if let Some(t) = &self.tcptype {
            s.push_str(&format!(" tcptype {t}"));
        }
        if let Some(g) = self.generation {
            s.push_str(&format!(" generation {g}"));
        }
        if let Some(u) = &self.ufrag {
            s.push_str(&format!(" ufrag {u}"));
        }
        if let Some(n) = self.network_id {
            s.push_str(&format!(" network-id {n}"));
        }
        for (k, v) in &self.extensions {
            s.push_str(&format!(" {k} {v}"));
        }
        s
    }

    /// The same as an [`Attribute`].
    pub fn to_attribute(&self) -> Attribute {
        let line = self.to_sdp_attribute();
        let value = line.strip_prefix("candidate:").unwrap_or(&line);
        Attribute::new("candidate", value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const CHROME_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS stream-a\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1\r\n\
a=candidate:435653019 1 tcp 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype active generation 0 ufrag Zq3r network-id 1 network-cost 10\r\n\
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
a=rtcp-fb:111 nack\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ssrc:3735928559 cname:kq8Zp0aB\r\n\
a=ssrc:3735928559 msid:stream-a track-a\r\n\
a=ssrc:3735928559 mslabel:stream-a\r\n\
a=ssrc:3735928559 label:track-a\r\n";

    #[test]
    fn parses_chrome_offer() {
        let sdp = Sdp::parse(CHROME_OFFER).unwrap();
        assert_eq!(sdp.origin.session_id, 4611731400430051336);
        assert_eq!(sdp.group_bundle(), Some(vec!["0".to_string()]));
        assert_eq!(sdp.media.len(), 1);
        let m = &sdp.media[0];
        assert_eq!(m.kind, "audio");
        assert_eq!(m.port, 9);
        assert_eq!(m.formats, ["111", "0", "101"]);
        assert_eq!(m.connection.as_deref(), Some("IN IP4 0.0.0.0"));
        assert_eq!(m.mid(), Some("0"));
        assert_eq!(m.direction(), Direction::SendRecv);
        let maps = m.rtpmaps();
        assert_eq!(
            maps[0],
            RtpMap {
                pt: 111,
                name: "opus".into(),
                clock: 48000,
                channels: Some(2)
            }
        );
        assert_eq!(maps[1].channels, None);
        assert_eq!(m.fmtp(111), Some("minptime=10;useinbandfec=1"));
        assert_eq!(m.fmtp(101), Some("0-16"));
        assert_eq!(m.fmtp(0), None);
        assert_eq!(m.rtcp_fbs(111).len(), 2);
        assert_eq!(m.rtcp_fbs(0).len(), 0);
        let ext = m.extmaps();
        assert_eq!(ext.len(), 3);
        assert_eq!(ext[2].direction, Some(Direction::RecvOnly));
        assert_eq!(m.ssrcs().len(), 4);
        assert_eq!(m.ice_ufrag(), Some("Zq3r"));
        assert_eq!(m.ice_pwd(), Some("pA55w0rdpA55w0rdpA55w0rd"));
        assert_eq!(m.fingerprint().unwrap().0, "sha-256");
        assert_eq!(m.setup(), Some("actpass"));
        assert_eq!(m.candidates().len(), 2);
        assert_eq!(
            m.msid(),
            Some(Msid {
                stream: "stream-a".into(),
                track: Some("track-a".into())
            })
        );
        assert!(m.rtcp_mux() && m.rtcp_rsize());
        // Canonical output reparses to the same model, and is a fixed point.
        let text = sdp.to_string();
        assert_eq!(text, CHROME_OFFER);
        assert_eq!(Sdp::parse(&text).unwrap(), sdp);
        assert!(!format!("{sdp:?}").contains("pA55w0rd"));
    }

    #[test]
    fn lf_only_and_errors() {
        let lf = CHROME_OFFER.replace("\r\n", "\n");
        assert_eq!(Sdp::parse(&lf).unwrap(), Sdp::parse(CHROME_OFFER).unwrap());
        assert_eq!(Sdp::parse(""), Err(SdpError::MissingVersion));
        assert_eq!(Sdp::parse("v=1\r\n"), Err(SdpError::UnsupportedVersion));
        assert_eq!(Sdp::parse("v=0\r\ns=-\r\n"), Err(SdpError::MissingOrigin));
        assert_eq!(
            Sdp::parse("v=0\r\no=- x 2 IN IP4 1.2.3.4\r\n"),
            Err(SdpError::BadOrigin)
        );
        let base = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
        assert_eq!(
            Sdp::parse(&format!("{base}m=audio\r\n")),
            Err(SdpError::BadMediaLine { line: 5 })
        );
        assert_eq!(
            Sdp::parse(&format!("{base}m=audio 70000 RTP/AVP 0\r\n")),
            Err(SdpError::BadPort { line: 5 })
        );
        assert_eq!(
            Sdp::parse(&format!("{base}garbage\r\n")),
            Err(SdpError::MalformedLine { line: 5 })
        );
        assert_eq!(
            Sdp::parse(&format!("{base}a=\r\n")),
            Err(SdpError::MalformedLine { line: 5 })
        );
        let many_m = format!("{base}{}", "m=audio 9 RTP/AVP 0\r\n".repeat(17));
        assert_eq!(Sdp::parse(&many_m), Err(SdpError::TooManyMediaSections));
        let many_a = format!("{base}{}", "a=x\r\n".repeat(513));
        assert_eq!(Sdp::parse(&many_a), Err(SdpError::TooManyAttributes));
        let big = format!("{base}{}", "i=x\r\n".repeat(20_000));
        assert_eq!(Sdp::parse(&big), Err(SdpError::TooLarge));
        // Ignored line types, port/count, empty format list.
        let ok = Sdp::parse(&format!(
            "{base}i=info\r\nb=AS:30\r\nm=application 9/2 UDP/DTLS/SCTP \r\n"
        ))
        .unwrap();
        assert_eq!(ok.media[0].port, 9);
        assert!(ok.media[0].formats.is_empty());
    }

    #[test]
    fn candidate_round_trip() {
        let line = "candidate:435653019 1 tcp 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype active generation 0 ufrag Zq3r network-id 1 network-cost 10";
        let c = Candidate::parse(&format!("a={line}\r\n")).unwrap();
        assert_eq!(c.raddr.as_deref(), Some("192.0.2.10"));
        assert_eq!(c.rport, Some(46243));
        assert_eq!(c.tcptype.as_deref(), Some("active"));
        assert_eq!(c.generation, Some(0));
        assert_eq!(c.network_id, Some(1));
        assert_eq!(c.extensions, vec![("network-cost".into(), "10".into())]);
        assert_eq!(c.to_sdp_attribute(), line);
        assert_eq!(Candidate::parse(&c.to_sdp_attribute()).unwrap(), c);
        assert!(Candidate::parse("candidate:1 1 udp 1 1.2.3.4 5 host").is_err());
        assert!(Candidate::parse("candidate:1 1 udp 1 1.2.3.4 99999 typ host").is_err());
        assert!(Candidate::parse("candidate:1 1 udp 1 1.2.3.4 5 typ host raddr").is_err());
        assert!(Candidate::parse("1 1 udp 1 1.2.3.4 5 typ host").is_err());
    }

    /// Fuzz finding (fuzz/regressions/candidate/): `parse` trimmed Unicode whitespace while
    /// fields are split on ASCII whitespace only, so a last field ending in U+000B or U+00A0
    /// lost that character on the way through `parse`, but not through `parse_value`.
    #[test]
    fn candidate_parse_and_parse_value_agree_on_odd_whitespace() {
        let base = "1467250027 1 udp 2122260223 192.0.2.10 46243 typ host";
        // A control character inside or at the end of a field is rejected by both.
        for value in [
            format!("{base} generation 0\u{b}"),
            format!("{base}\u{b} network-id 1"),
            format!("{base} network-cost 1\u{0}0"),
            format!("{base} x\u{7f} y"),
            format!("{base} x \u{85}"),
        ] {
            assert_eq!(
                Candidate::parse_value(&value),
                Err(SdpError::BadCandidate("control character")),
                "{value:?}"
            );
            assert_eq!(
                Candidate::parse(&format!("candidate:{value}")),
                Err(SdpError::BadCandidate("control character")),
                "{value:?}"
            );
        }
        // Non-ASCII whitespace is part of a field, and is kept by `parse` as by `parse_value`.
        let value = format!("{base} network-cost 10\u{a0}");
        let c = Candidate::parse_value(&value).unwrap();
        assert_eq!(
            c.extensions,
            vec![("network-cost".into(), "10\u{a0}".into())]
        );
        assert_eq!(
            Candidate::parse(&format!("candidate:{value}")),
            Ok(c.clone())
        );
        assert_eq!(Candidate::parse(&c.to_sdp_attribute()), Ok(c.clone()));
        let attr = c.to_attribute();
        assert_eq!(
            Candidate::parse_value(attr.value.as_deref().unwrap()),
            Ok(c)
        );
        // ASCII whitespace around and between fields (CRLF, tab, form feed) is still fine.
        let c = Candidate::parse(&format!("\t a=candidate:\x0c{base}\tgeneration 0 \r\n")).unwrap();
        assert_eq!(c.generation, Some(0));
        assert_eq!(Candidate::parse(&c.to_sdp_attribute()), Ok(c));
    }

    /// Fuzz finding (fuzz/regressions/candidate/value_at_limit_line_too_long): `parse_value`
    /// limited the value but `parse` the whole line, so the `candidate:…` line written for a
    /// value just under the limit was rejected by `parse`.
    #[test]
    fn candidate_limit_applies_to_the_value() {
        let base = "1 1 udp 1 192.0.2.10 46243 typ host x ";
        let value = format!("{base}{}", "y".repeat(MAX_CANDIDATE_BYTES - base.len()));
        assert_eq!(value.len(), MAX_CANDIDATE_BYTES);
        let c = Candidate::parse_value(&value).unwrap();
        let line = c.to_sdp_attribute();
        assert!(line.len() > MAX_CANDIDATE_BYTES);
        assert_eq!(Candidate::parse(&line), Ok(c.clone()));
        assert_eq!(Candidate::parse(&format!(" a={line}\r\n")), Ok(c.clone()));
        // Surrounding whitespace does not count; one more byte of value does.
        assert_eq!(Candidate::parse_value(&format!("\t{value}  \r\n")), Ok(c));
        let long = format!("{value}y");
        assert_eq!(
            Candidate::parse_value(&long),
            Err(SdpError::BadCandidate("too long"))
        );
        assert_eq!(
            Candidate::parse(&format!("candidate:{long}")),
            Err(SdpError::BadCandidate("too long"))
        );
        // Written numbers are never longer than read ones.
        let c = Candidate::parse_value("1 +01 udp 0007 h 09 typ host generation +0").unwrap();
        assert_eq!(
            c.to_sdp_attribute(),
            "candidate:1 1 udp 7 h 9 typ host generation 0"
        );
    }

    #[test]
    fn every_truncation_is_handled() {
        for end in 0..=CHROME_OFFER.len() {
            if let Some(prefix) = CHROME_OFFER.get(..end) {
                if let Ok(sdp) = Sdp::parse(prefix) {
                    for m in &sdp.media {
                        let _ = (m.rtpmaps(), m.extmaps(), m.ssrcs(), m.candidates());
                        let _ = (m.msid(), m.fingerprints(), m.ssrc_groups(), m.sctp_port());
                    }
                    let _ = sdp.to_string();
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_text_never_panics(s in "\\PC{0,400}") {
            let _ = Sdp::parse(&s);
            let _ = Candidate::parse(&s);
        }

        #[test]
        fn random_lines_never_panic(lines in proptest::collection::vec(
            "[vosctma]=[ -~]{0,40}", 0..40)) {
            let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n{}", lines.join("\r\n"));
            if let Ok(sdp) = Sdp::parse(&text) {
                for m in &sdp.media {
                    let _ = (m.rtpmaps(), m.extmaps(), m.ssrcs(), m.candidates(), m.msid());
                    let _ = (m.rtcp_fbs(0), m.fmtp(0), m.ssrc_groups(), m.sctp_port());
                }
                let _ = sdp.groups();
                prop_assert_eq!(Sdp::parse(&sdp.to_string()).ok(), Some(sdp));
            }
        }
    }
}
