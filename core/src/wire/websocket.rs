//! WebSocket framing and opening handshake (RFC 6455), for both client and server roles.
//!
//! Owns frame encoding/decoding, message reassembly, masking and the `Sec-WebSocket-*` handshake
//! checks. It is sans-IO and takes no randomness: mask keys and `Sec-WebSocket-Key` bytes come from
//! the caller. It does not send automatic Pong/Close replies, negotiate extensions or carry the
//! HTTP exchange itself (that is [`crate::wire::http`]). Frame and message sizes are bounded by
//! [`MAX_FRAME_PAYLOAD`] and [`MAX_MESSAGE_BYTES`], checked from the frame header before payload
//! bytes are buffered, and no input makes the decoder panic.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::wire::http::{HttpRequest, HttpResponse, Method};

/// Largest accepted payload of a single frame.
pub const MAX_FRAME_PAYLOAD: usize = 1024 * 1024;
/// Largest accepted reassembled message.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Largest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask key.
pub const MAX_FRAME_HEADER: usize = 14;
/// Largest payload of a control frame (Close, Ping, Pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The GUID appended to `Sec-WebSocket-Key` to derive `Sec-WebSocket-Accept` (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Which end of the connection we are; decides masking (clients mask, servers do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection; we mask what we send and expect unmasked frames.
    Client,
    /// We accepted the connection; we send unmasked frames and expect masked ones.
    Server,
}

/// A frame opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// `0x0`: continues a fragmented Text or Binary message.
    Continuation,
    /// `0x1`: UTF-8 text.
    Text,
    /// `0x2`: binary data.
    Binary,
    /// `0x8`: connection close.
    Close,
    /// `0x9`: ping.
    Ping,
    /// `0xA`: pong.
    Pong,
}

impl Opcode {
    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// The opcode for a 4-bit wire value, `None` for reserved values.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        match value {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// Whether this is a control opcode (Close, Ping, Pong).
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A complete WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A (possibly reassembled) text message.
    Text(String),
    /// A (possibly reassembled) binary message.
    Binary(Vec<u8>),
    /// A ping with its application data.
    Ping(Vec<u8>),
    /// A pong with its application data.
    Pong(Vec<u8>),
    /// A close frame, with a status code and reason if the peer sent one.
    Close(Option<CloseFrame>),
}

/// The body of a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close status code (RFC 6455 §7.4).
    pub code: u16,
    /// The UTF-8 reason text.
    pub reason: String,
}

/// Errors from WebSocket framing and the handshake. None of them carries peer bytes.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// A frame declared a payload larger than the decoder's frame limit.
    #[error("WebSocket frame payload too large")]
    FrameTooLarge,
    /// A reassembled message would exceed the decoder's message limit.
    #[error("WebSocket message too large")]
    MessageTooLarge,
    /// The caller pushed more bytes than the decoder may buffer without draining messages.
    #[error("WebSocket receive buffer full")]
    BufferFull,
    /// A client received a masked frame (servers must not mask).
    #[error("masked frame from server")]
    MaskedFrameFromServer,
    /// A server received an unmasked frame (clients must mask).
    #[error("unmasked frame from client")]
    UnmaskedFrameFromClient,
    /// RSV1-3 were set, but no extension was negotiated.
    #[error("reserved bits set")]
    ReservedBits,
    /// A reserved opcode.
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 payload bytes.
    #[error("control frame payload longer than 125 bytes")]
    ControlTooLong,
    /// A continuation frame without a fragmented message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message was in progress.
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A text message or close reason was not valid UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame with a 1-byte payload.
    #[error("invalid close frame payload")]
    InvalidClosePayload,
    /// A close frame with a code that must not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// The handshake response had a status other than 101.
    #[error("WebSocket handshake failed with HTTP status {0}")]
    HandshakeStatus(u16),
    /// The upgrade request used a method other than GET.
    #[error("WebSocket upgrade request is not GET")]
    HandshakeMethod,
    /// A handshake header was missing or wrong; names the header.
    #[error("WebSocket handshake header {0} missing or invalid")]
    HandshakeHeader(&'static str),
    /// The client did not offer the subprotocol the server requires.
    #[error("WebSocket subprotocol not offered")]
    ProtocolNotOffered,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    opcode: Opcode,
    data: Vec<u8>,
}

/// Incremental frame decoder and message reassembler.
///
/// Push bytes with [`FrameDecoder::push`], then call [`FrameDecoder::next_message`] until it
/// returns `Ok(None)`. Buffered bytes never exceed `max_frame + max_message + 14`: a push that
/// would go past that is dropped and reported as [`WsError::BufferFull`] once the messages
/// before it have been drained. After an error, the decoder returns that error forever. After a
/// Close message, later bytes are ignored.
#[derive(Debug)]
pub struct FrameDecoder {
    role: Role,
    max_frame: usize,
    max_message: usize,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    start: usize,
    partial: Option<Partial>,
    /// Bytes were dropped by `push`; decoding past the buffered ones is impossible.
    overflowed: bool,
    closed: bool,
    failed: Option<WsError>,
}

impl FrameDecoder {
    /// A decoder with the default limits. `role` is OUR role: a Client decoder rejects masked
    /// frames (server frames must be unmasked), a Server decoder requires masked frames and
    /// unmasks them.
    pub fn new(role: Role) -> Self {
        Self::with_limits(role, MAX_FRAME_PAYLOAD, MAX_MESSAGE_BYTES)
    }

    /// A decoder with custom frame and message payload limits.
    pub fn with_limits(role: Role, max_frame: usize, max_message: usize) -> Self {
        FrameDecoder {
            role,
            max_frame,
            max_message,
            buf: Vec::new(),
            start: 0,
            partial: None,
            overflowed: false,
            closed: false,
            failed: None,
        }
    }

    /// The most bytes [`FrameDecoder::buffered`] can report.
    pub fn buffer_limit(&self) -> usize {
        self.max_frame
            .saturating_add(self.max_message)
            .saturating_add(MAX_FRAME_HEADER)
    }

    /// Buffers bytes from the peer. Bytes that would take [`FrameDecoder::buffered`] past
    /// [`FrameDecoder::buffer_limit`] are dropped and later reported by
    /// [`FrameDecoder::next_message`] as [`WsError::BufferFull`].
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() || self.closed || self.overflowed {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start.min(self.buf.len()));
            self.start = 0;
        }
        if self.buffered().saturating_add(data.len()) > self.buffer_limit() {
            self.overflowed = true;
            return;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes currently buffered: unread frame bytes plus a partly reassembled message.
    pub fn buffered(&self) -> usize {
        let unread = self.buf.len().saturating_sub(self.start);
        unread.saturating_add(self.partial.as_ref().map_or(0, |p| p.data.len()))
    }

    /// The next complete message, or `Ok(None)` if more bytes are needed.
    ///
    /// Reassembles fragmented Text/Binary messages (control frames may interleave), validates
    /// UTF-8 for Text, requires control frames to be FIN and at most 125 bytes, rejects reserved
    /// bits (no extensions), unknown opcodes, a continuation without a start, a 1-byte close
    /// payload and close codes that must not be sent.
    pub fn next_message(&mut self) -> Result<Option<Message>, WsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode() {
            Ok(m) => Ok(m),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                self.start = 0;
                self.partial = None;
                Err(e)
            }
        }
    }

    fn decode(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            if self.closed {
                return Ok(None);
            }
            let unread = self.buf.get(self.start..).unwrap_or_default();
            let Some(header) = self.parse_header(unread)? else {
                return self.need_more();
            };
            let frame_end = header.header_len.saturating_add(header.payload_len);
            let Some(frame) = unread.get(..frame_end) else {
                return self.need_more();
            };
            let mut payload = frame.get(header.header_len..).unwrap_or_default().to_vec();
            self.start = self.start.saturating_add(frame_end);
            if let Some(mask) = header.mask {
                apply_mask(&mut payload, mask);
            }
            if let Some(message) = self.on_frame(header.fin, header.opcode, payload)? {
                if matches!(message, Message::Close(_)) {
                    self.closed = true;
                    self.buf = Vec::new();
                    self.start = 0;
                }
                return Ok(Some(message));
            }
        }
    }

    fn need_more(&self) -> Result<Option<Message>, WsError> {
        if self.overflowed {
            Err(WsError::BufferFull)
        } else {
            Ok(None)
        }
    }

    /// Parses and validates a frame header from the front of `buf`; `None` if incomplete.
    /// All limits are checked here, before any payload is buffered or copied.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(WsError::ReservedBits);
        }
        let fin = b0 & 0x80 != 0;
        let raw_opcode = b0 & 0x0F;
        let opcode = Opcode::from_u8(raw_opcode).ok_or(WsError::UnknownOpcode(raw_opcode))?;
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Client, true) => return Err(WsError::MaskedFrameFromServer),
            (Role::Server, false) => return Err(WsError::UnmaskedFrameFromClient),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(WsError::FragmentedControl);
            }
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Err(WsError::ControlTooLong);
            }
        }
        match (opcode, &self.partial) {
            (Opcode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(WsError::ExpectedContinuation),
            _ => {}
        }
        let (payload_len, mut pos) = match len7 {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let mut be = [0u8; 2];
                be.copy_from_slice(bytes);
                (u64::from(u16::from_be_bytes(be)), 4usize)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                (u64::from_be_bytes(be), 10usize)
            }
            n => (u64::from(n), 2usize),
        };
        // Checked before the payload arrives, so a huge declared length allocates nothing.
        let payload_len = usize::try_from(payload_len)
            .ok()
            .filter(|&n| n <= self.max_frame)
            .ok_or(WsError::FrameTooLarge)?;
        if !opcode.is_control() {
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len());
            if so_far.saturating_add(payload_len) > self.max_message {
                return Err(WsError::MessageTooLarge);
            }
        }
        let mask = if masked {
            let Some(bytes) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            let mut key = [0u8; 4];
            key.copy_from_slice(bytes);
            pos += 4;
            Some(key)
        } else {
            None
        };
        Ok(Some(FrameHeader {
            fin,
            opcode,
            mask,
            header_len: pos,
            payload_len,
        }))
    }

    /// Applies one complete (unmasked) frame; returns a message when one is complete.
    fn on_frame(
        &mut self,
        fin: bool,
        opcode: Opcode,
        payload: Vec<u8>,
    ) -> Result<Option<Message>, WsError> {
        match opcode {
            Opcode::Ping => Ok(Some(Message::Ping(payload))),
            Opcode::Pong => Ok(Some(Message::Pong(payload))),
            Opcode::Close => parse_close_payload(&payload).map(|c| Some(Message::Close(c))),
            Opcode::Text | Opcode::Binary if fin => data_message(opcode, payload).map(Some),
            Opcode::Text | Opcode::Binary => {
                self.partial = Some(Partial {
                    opcode,
                    data: payload,
                });
                Ok(None)
            }
            Opcode::Continuation => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(WsError::UnexpectedContinuation);
                };
                partial.data.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                match self.partial.take() {
                    Some(p) => data_message(p.opcode, p.data).map(Some),
                    None => Err(WsError::UnexpectedContinuation),
                }
            }
        }
    }
}

/// A validated frame header.
#[derive(Debug)]
struct FrameHeader {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

fn data_message(opcode: Opcode, data: Vec<u8>) -> Result<Message, WsError> {
    if opcode == Opcode::Text {
        String::from_utf8(data)
            .map(Message::Text)
            .map_err(|_| WsError::InvalidUtf8)
    } else {
        Ok(Message::Binary(data))
    }
}

fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// Whether a close code may appear in a Close frame (RFC 6455 §7.4, IANA registry).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    let Some((code, reason)) = payload.split_at_checked(2) else {
        return if payload.is_empty() {
            Ok(None)
        } else {
            Err(WsError::InvalidClosePayload)
        };
    };
    let code = match code {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => return Err(WsError::InvalidClosePayload),
    };
    if !is_valid_close_code(code) {
        return Err(WsError::InvalidCloseCode(code));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

/// Encodes one FIN frame. [`Role::Client`] masks with `mask` (required by RFC 6455 for clients);
/// [`Role::Server`] ignores `mask` and sends unmasked.
///
/// The caller keeps control payloads within 125 bytes; this function encodes what it is given.
pub fn encode_frame(role: Role, opcode: Opcode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().saturating_add(MAX_FRAME_HEADER));
    out.push(0x80 | opcode.as_u8());
    let mask_bit = if role == Role::Client { 0x80 } else { 0x00 };
    let len = payload.len();
    if len < 126 {
        // Fits in 7 bits.
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if role == Role::Client {
        out.extend_from_slice(&mask);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(body) = out.get_mut(start..) {
            apply_mask(body, mask);
        }
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Encodes a Close frame. The reason is cut at a character boundary so the payload stays within
/// 125 bytes.
pub fn encode_close(role: Role, close: Option<&CloseFrame>, mask: [u8; 4]) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(close) = close {
        payload.extend_from_slice(&close.code.to_be_bytes());
        let mut end = close.reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !close.reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(close.reason.get(..end).unwrap_or_default().as_bytes());
    }
    encode_frame(role, Opcode::Close, &payload, mask)
}

/// `Sec-WebSocket-Accept` for a key: `base64(sha1(key + GUID))`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Builds the client's upgrade request. `key_bytes` are 16 random bytes from the caller; returns
/// `(request, key_b64)`. The request is `GET target` with `Host`, `Upgrade: websocket`,
/// `Connection: Upgrade`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`,
/// `Sec-WebSocket-Protocol: protocol` (left out when `protocol` is empty; the XMPP subprotocol is
/// `"xmpp"`), then `extra_headers`.
pub fn client_handshake(
    host: &str,
    target: &str,
    protocol: &str,
    key_bytes: [u8; 16],
    extra_headers: &[(String, String)],
) -> (HttpRequest, String) {
    let key = BASE64.encode(key_bytes);
    let mut headers = vec![
        ("Upgrade".to_owned(), "websocket".to_owned()),
        ("Connection".to_owned(), "Upgrade".to_owned()),
        ("Sec-WebSocket-Key".to_owned(), key.clone()),
        ("Sec-WebSocket-Version".to_owned(), "13".to_owned()),
    ];
    if !protocol.is_empty() {
        headers.push(("Sec-WebSocket-Protocol".to_owned(), protocol.to_owned()));
    }
    headers.extend(extra_headers.iter().cloned());
    let request = HttpRequest {
        method: Method::Get,
        host: host.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    (request, key)
}

/// All values of the header fields named `name`, split as comma-separated token lists.
fn header_tokens<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Checks a server's reply: status 101, `Upgrade: websocket`, `Connection` containing `upgrade`
/// (case-insensitive, token list), a matching `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol`
/// equal to `protocol` (absent when `protocol` is empty) and no `Sec-WebSocket-Extensions`
/// (none were offered).
pub fn verify_server_handshake(
    resp: &HttpResponse,
    key_b64: &str,
    protocol: &str,
) -> Result<(), WsError> {
    if resp.status != 101 {
        return Err(WsError::HandshakeStatus(resp.status));
    }
    let upgrade_ok = resp
        .header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok {
        return Err(WsError::HandshakeHeader("Upgrade"));
    }
    if !has_token(&resp.headers, "connection", "upgrade") {
        return Err(WsError::HandshakeHeader("Connection"));
    }
    let accept_ok = resp
        .header("sec-websocket-accept")
        .is_some_and(|v| v.trim() == accept_key(key_b64));
    if !accept_ok {
        return Err(WsError::HandshakeHeader("Sec-WebSocket-Accept"));
    }
    let mut protocols = resp
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .map(|(_, v)| v.trim());
    let protocol_ok = match (protocols.next(), protocols.next()) {
        (None, None) => protocol.is_empty(),
        (Some(p), None) => !protocol.is_empty() && p == protocol,
        _ => false,
    };
    if !protocol_ok {
        return Err(WsError::HandshakeHeader("Sec-WebSocket-Protocol"));
    }
    if resp.header("sec-websocket-extensions").is_some() {
        return Err(WsError::HandshakeHeader("Sec-WebSocket-Extensions"));
    }
    Ok(())
}

/// Server side: validates an upgrade request (GET, `Upgrade: websocket`, `Connection: upgrade`,
/// `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key` of 16 base64 bytes) and builds the `101`
/// response, selecting `protocol` only if the client offered it (else
/// [`WsError::ProtocolNotOffered`]). An empty `protocol` selects none.
pub fn server_handshake(req: &HttpRequest, protocol: &str) -> Result<HttpResponse, WsError> {
    if req.method != Method::Get {
        return Err(WsError::HandshakeMethod);
    }
    if !has_token(&req.headers, "upgrade", "websocket") {
        return Err(WsError::HandshakeHeader("Upgrade"));
    }
    if !has_token(&req.headers, "connection", "upgrade") {
        return Err(WsError::HandshakeHeader("Connection"));
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(WsError::HandshakeHeader("Sec-WebSocket-Version"));
    }
    let key = req
        .header("sec-websocket-key")
        .map(str::trim)
        .filter(|k| k.len() == 24 && BASE64.decode(k).is_ok_and(|b| b.len() == 16))
        .ok_or(WsError::HandshakeHeader("Sec-WebSocket-Key"))?;
    let mut headers = vec![
        ("Upgrade".to_owned(), "websocket".to_owned()),
        ("Connection".to_owned(), "Upgrade".to_owned()),
        ("Sec-WebSocket-Accept".to_owned(), accept_key(key)),
    ];
    if !protocol.is_empty() {
        if !header_tokens(&req.headers, "sec-websocket-protocol").any(|p| p == protocol) {
            return Err(WsError::ProtocolNotOffered);
        }
        headers.push(("Sec-WebSocket-Protocol".to_owned(), protocol.to_owned()));
    }
    Ok(HttpResponse {
        status: 101,
        reason: "Switching Protocols".to_owned(),
        headers,
        body: Vec::new(),
    })
}

/// Fuzz entry point: feeds `data` to a client and a server frame decoder, in chunks whose size
/// the first byte picks. Not part of the stable API.
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(*first).max(1);
    for role in [Role::Client, Role::Server] {
        let mut decoder = FrameDecoder::with_limits(role, 4096, 8192);
        for chunk in rest.chunks(size) {
            decoder.push(chunk);
            while let Ok(Some(_)) = decoder.next_message() {}
            assert!(decoder.buffered() <= decoder.buffer_limit());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::http::ResponseDecoder;
    use proptest::prelude::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn decode_all(role: Role, wire: &[u8]) -> Vec<Message> {
        let mut dec = FrameDecoder::new(role);
        dec.push(wire);
        let mut out = Vec::new();
        while let Some(m) = dec.next_message().unwrap() {
            out.push(m);
        }
        assert_eq!(dec.buffered(), 0);
        out
    }

    fn peer(role: Role) -> Role {
        match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }

    #[test]
    fn rfc6455_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc6455_frame_examples() {
        // §5.7: unmasked and masked "Hello".
        assert_eq!(
            encode_frame(Role::Server, Opcode::Text, b"Hello", MASK),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_frame(Role::Client, Opcode::Text, b"Hello", MASK),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // Fragmented unmasked text.
        let msgs = decode_all(
            Role::Client,
            &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        );
        assert_eq!(msgs, vec![Message::Text("Hello".into())]);
        // 256 and 64 KiB binary headers.
        let f = encode_frame(Role::Server, Opcode::Binary, &[0; 256], MASK);
        assert_eq!(&f[..4], &[0x82, 0x7E, 0x01, 0x00]);
        let f = encode_frame(Role::Server, Opcode::Binary, &[0; 65536], MASK);
        assert_eq!(
            &f[..10],
            &[0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn round_trip_every_opcode_and_length() {
        for sender in [Role::Client, Role::Server] {
            for len in [0usize, 1, 125, 126, 65535, 65536] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let text = "a".repeat(len);
                let mut cases = vec![
                    (
                        Opcode::Text,
                        text.as_bytes().to_vec(),
                        Message::Text(text.clone()),
                    ),
                    (Opcode::Binary, data.clone(), Message::Binary(data.clone())),
                ];
                if len <= MAX_CONTROL_PAYLOAD {
                    cases.push((Opcode::Ping, data.clone(), Message::Ping(data.clone())));
                    cases.push((Opcode::Pong, data.clone(), Message::Pong(data.clone())));
                }
                for (op, payload, want) in cases {
                    let wire = encode_frame(sender, op, &payload, MASK);
                    assert_eq!(decode_all(peer(sender), &wire), vec![want]);
                }
            }
            for close in [
                None,
                Some(CloseFrame {
                    code: 1000,
                    reason: String::new(),
                }),
                Some(CloseFrame {
                    code: 4000,
                    reason: "bye ü".into(),
                }),
            ] {
                let wire = encode_close(sender, close.as_ref(), MASK);
                assert_eq!(decode_all(peer(sender), &wire), vec![Message::Close(close)]);
            }
        }
    }

    #[test]
    fn close_reason_truncated_to_control_limit() {
        let close = CloseFrame {
            code: 1001,
            reason: "é".repeat(100),
        };
        let wire = encode_close(Role::Server, Some(&close), MASK);
        assert!(wire.len() <= 2 + MAX_CONTROL_PAYLOAD);
        let msgs = decode_all(Role::Client, &wire);
        let Message::Close(Some(got)) = &msgs[0] else {
            panic!("not a close")
        };
        assert_eq!(got.code, 1001);
        assert_eq!(got.reason, "é".repeat(61));
    }

    fn fragment(role: Role, first: Opcode, parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let mut f = encode_frame(
                role,
                if i == 0 { first } else { Opcode::Continuation },
                p,
                MASK,
            );
            if i + 1 < parts.len() {
                f[0] &= 0x7F; // clear FIN
            }
            out.extend_from_slice(&f);
        }
        out
    }

    #[test]
    fn fragmentation_with_interleaved_ping() {
        for sender in [Role::Client, Role::Server] {
            let frames = fragment(sender, Opcode::Text, &[b"Hel", b"lo ", "wörld".as_bytes()]);
            // Insert a ping after the first fragment.
            let first_len = encode_frame(sender, Opcode::Text, b"Hel", MASK).len();
            let mut wire = frames[..first_len].to_vec();
            wire.extend_from_slice(&encode_frame(sender, Opcode::Ping, b"p", MASK));
            wire.extend_from_slice(&frames[first_len..]);
            wire.extend_from_slice(&encode_frame(sender, Opcode::Binary, b"\x00\x01", MASK));
            for split in [1, 2, 5, wire.len()] {
                let mut dec = FrameDecoder::new(peer(sender));
                let mut got = Vec::new();
                for c in wire.chunks(split) {
                    dec.push(c);
                    while let Some(m) = dec.next_message().unwrap() {
                        got.push(m);
                    }
                }
                assert_eq!(
                    got,
                    vec![
                        Message::Ping(b"p".to_vec()),
                        Message::Text("Hello wörld".into()),
                        Message::Binary(vec![0, 1]),
                    ]
                );
            }
        }
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for sender in [Role::Client, Role::Server] {
            for len in [0usize, 5, 125, 126, 300, 65536] {
                let wire = encode_frame(sender, Opcode::Binary, &vec![7u8; len], MASK);
                // Checking each prefix of the 64 KiB frame is slow; sample its tail.
                let cuts: Vec<usize> = if len > 1000 {
                    (0..20).chain(wire.len() - 20..wire.len()).collect()
                } else {
                    (0..wire.len()).collect()
                };
                for cut in cuts {
                    let mut dec = FrameDecoder::new(peer(sender));
                    dec.push(&wire[..cut]);
                    assert_eq!(dec.next_message(), Ok(None), "len {len} cut {cut}");
                    dec.push(&wire[cut..]);
                    assert_eq!(
                        dec.next_message(),
                        Ok(Some(Message::Binary(vec![7u8; len])))
                    );
                }
            }
        }
    }

    #[test]
    fn huge_declared_length_rejected_without_allocation() {
        let mut dec = FrameDecoder::new(Role::Client);
        dec.push(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dec.next_message(), Err(WsError::FrameTooLarge));
        assert_eq!(dec.buffered(), 0);
        let mut dec = FrameDecoder::new(Role::Client);
        dec.push(&[0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(dec.next_message(), Err(WsError::FrameTooLarge));
        let mut dec = FrameDecoder::with_limits(Role::Client, 100, 150);
        dec.push(&[0x82, 0x7E, 0x00, 101]);
        assert_eq!(dec.next_message(), Err(WsError::FrameTooLarge));
        // Message limit across fragments.
        let mut dec = FrameDecoder::with_limits(Role::Client, 100, 150);
        dec.push(&fragment(
            Role::Server,
            Opcode::Binary,
            &[&[0; 100], &[0; 51]],
        ));
        assert_eq!(dec.next_message(), Err(WsError::MessageTooLarge));
        // Errors are sticky.
        assert_eq!(dec.next_message(), Err(WsError::MessageTooLarge));
    }

    #[test]
    fn protocol_violations() {
        let server_frame = |b: &[u8]| {
            let mut dec = FrameDecoder::new(Role::Client);
            dec.push(b);
            dec.next_message()
        };
        assert_eq!(
            server_frame(&encode_frame(Role::Client, Opcode::Text, b"x", MASK)),
            Err(WsError::MaskedFrameFromServer)
        );
        let mut dec = FrameDecoder::new(Role::Server);
        dec.push(&encode_frame(Role::Server, Opcode::Text, b"x", MASK));
        assert_eq!(dec.next_message(), Err(WsError::UnmaskedFrameFromClient));

        assert_eq!(server_frame(&[0xC1, 0x00]), Err(WsError::ReservedBits));
        assert_eq!(server_frame(&[0x83, 0x00]), Err(WsError::UnknownOpcode(3)));
        assert_eq!(
            server_frame(&[0x8B, 0x00]),
            Err(WsError::UnknownOpcode(0xB))
        );
        assert_eq!(server_frame(&[0x09, 0x00]), Err(WsError::FragmentedControl));
        assert_eq!(
            server_frame(&[0x89, 0x7E, 0x00, 0x7E]),
            Err(WsError::ControlTooLong)
        );
        assert_eq!(
            server_frame(&[0x80, 0x00]),
            Err(WsError::UnexpectedContinuation)
        );
        assert_eq!(
            server_frame(&[0x01, 0x01, b'a', 0x81, 0x01, b'b']),
            Err(WsError::ExpectedContinuation)
        );
        assert_eq!(
            server_frame(&[0x81, 0x02, 0xC3, 0x28]),
            Err(WsError::InvalidUtf8)
        );
        // Invalid UTF-8 split across fragments is caught when the message completes.
        assert_eq!(
            server_frame(&[0x01, 0x01, 0xC3, 0x80, 0x01, 0x28]),
            Err(WsError::InvalidUtf8)
        );
        assert_eq!(
            server_frame(&[0x88, 0x01, 0x03]),
            Err(WsError::InvalidClosePayload)
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535] {
            let [hi, lo] = code.to_be_bytes();
            assert_eq!(
                server_frame(&[0x88, 0x02, hi, lo]),
                Err(WsError::InvalidCloseCode(code))
            );
        }
        assert_eq!(
            server_frame(&[0x88, 0x04, 0x03, 0xE8, 0xC3, 0x28]),
            Err(WsError::InvalidUtf8)
        );
    }

    #[test]
    fn bytes_after_close_ignored() {
        let mut wire = encode_close(Role::Server, None, MASK);
        wire.extend_from_slice(&encode_frame(Role::Server, Opcode::Text, b"late", MASK));
        let mut dec = FrameDecoder::new(Role::Client);
        dec.push(&wire);
        assert_eq!(dec.next_message(), Ok(Some(Message::Close(None))));
        assert_eq!(dec.next_message(), Ok(None));
        dec.push(b"\xff\xff");
        assert_eq!(dec.next_message(), Ok(None));
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut dec = FrameDecoder::with_limits(Role::Client, 10, 20);
        let frame = encode_frame(Role::Server, Opcode::Binary, b"0123456789", MASK);
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.extend_from_slice(&frame);
        }
        // 60 bytes at once exceeds 10 + 20 + 14; the push is dropped.
        dec.push(&frame);
        dec.push(&wire);
        assert!(dec.buffered() <= dec.buffer_limit());
        assert_eq!(
            dec.next_message(),
            Ok(Some(Message::Binary(b"0123456789".to_vec())))
        );
        assert_eq!(dec.next_message(), Err(WsError::BufferFull));
    }

    fn handshake_pair() -> (HttpRequest, String, HttpResponse) {
        let (req, key) = client_handshake(
            "realtime.example.com",
            "/xmpp?x=1",
            "xmpp",
            *b"0123456789abcdef",
            &[("Authorization".to_owned(), "Bearer t".to_owned())],
        );
        let resp = server_handshake(&req, "xmpp").unwrap();
        (req, key, resp)
    }

    #[test]
    fn handshake_round_trip_over_http_codec() {
        let (req, key, resp) = handshake_pair();
        assert_eq!(key, "MDEyMzQ1Njc4OWFiY2RlZg==");
        let wire = String::from_utf8(req.encode()).unwrap();
        assert!(wire.starts_with("GET /xmpp?x=1 HTTP/1.1\r\nHost: realtime.example.com\r\n"));
        assert!(wire.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(wire.contains("Sec-WebSocket-Protocol: xmpp\r\n"));
        assert!(wire.contains("Authorization: Bearer t\r\n"));
        assert!(!wire.contains("Content-Length"));

        // Decode the server's reply followed by a first frame.
        let mut bytes = resp.encode();
        assert!(!String::from_utf8_lossy(&bytes).contains("Content-Length"));
        let frame = encode_frame(Role::Server, Opcode::Text, b"<open/>", MASK);
        bytes.extend_from_slice(&frame);
        let mut dec = ResponseDecoder::new(Method::Get);
        let got = dec.push(&bytes).unwrap().unwrap();
        verify_server_handshake(&got, &key, "xmpp").unwrap();
        let mut frames = FrameDecoder::new(Role::Client);
        frames.push(&dec.take_remaining());
        assert_eq!(
            frames.next_message(),
            Ok(Some(Message::Text("<open/>".into())))
        );
    }

    #[test]
    fn verify_negative_cases() {
        let (_, key, resp) = handshake_pair();
        let with = |f: &dyn Fn(&mut HttpResponse)| {
            let mut r = resp.clone();
            f(&mut r);
            verify_server_handshake(&r, &key, "xmpp")
        };
        let set = |name: &'static str, value: &'static str| {
            move |r: &mut HttpResponse| {
                for (n, v) in &mut r.headers {
                    if n.eq_ignore_ascii_case(name) {
                        *v = value.to_owned();
                    }
                }
            }
        };
        let remove = |name: &'static str| {
            move |r: &mut HttpResponse| r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name))
        };
        assert_eq!(with(&|_| {}), Ok(()));
        assert_eq!(
            with(&|r| r.status = 200),
            Err(WsError::HandshakeStatus(200))
        );
        assert_eq!(
            with(&set("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")),
            Err(WsError::HandshakeHeader("Sec-WebSocket-Accept"))
        );
        assert_eq!(
            with(&remove("Sec-WebSocket-Accept")),
            Err(WsError::HandshakeHeader("Sec-WebSocket-Accept"))
        );
        assert_eq!(
            with(&remove("Sec-WebSocket-Protocol")),
            Err(WsError::HandshakeHeader("Sec-WebSocket-Protocol"))
        );
        assert_eq!(
            with(&set("Sec-WebSocket-Protocol", "chat")),
            Err(WsError::HandshakeHeader("Sec-WebSocket-Protocol"))
        );
        assert_eq!(
            with(&set("Upgrade", "h2c")),
            Err(WsError::HandshakeHeader("Upgrade"))
        );
        assert_eq!(
            with(&set("Connection", "keep-alive")),
            Err(WsError::HandshakeHeader("Connection"))
        );
        assert_eq!(with(&set("Connection", "keep-alive, UPGRADE")), Ok(()));
        assert_eq!(
            with(&|r| r.headers.push((
                "Sec-WebSocket-Extensions".into(),
                "permessage-deflate".into()
            ))),
            Err(WsError::HandshakeHeader("Sec-WebSocket-Extensions"))
        );
    }

    #[test]
    fn server_handshake_negative_cases() {
        let (req, _, _) = handshake_pair();
        assert_eq!(
            server_handshake(&req, "chat"),
            Err(WsError::ProtocolNotOffered)
        );
        let no_proto = server_handshake(&req, "").unwrap();
        assert!(no_proto.header("sec-websocket-protocol").is_none());
        let mut post = req.clone();
        post.method = Method::Post;
        assert_eq!(
            server_handshake(&post, "xmpp"),
            Err(WsError::HandshakeMethod)
        );
        for (name, want) in [
            ("Upgrade", "Upgrade"),
            ("Connection", "Connection"),
            ("Sec-WebSocket-Version", "Sec-WebSocket-Version"),
            ("Sec-WebSocket-Key", "Sec-WebSocket-Key"),
        ] {
            let mut r = req.clone();
            r.headers.retain(|(n, _)| n != name);
            assert_eq!(
                server_handshake(&r, "xmpp"),
                Err(WsError::HandshakeHeader(want))
            );
        }
        let mut r = req.clone();
        for (n, v) in &mut r.headers {
            if n == "Sec-WebSocket-Protocol" {
                *v = "chat, xmpp".into();
            }
        }
        assert!(server_handshake(&r, "xmpp").is_ok());
    }

    /// Pushes `data` in `sizes`-sized chunks, draining after each; checks the memory bound.
    fn exercise(role: Role, max_frame: usize, max_message: usize, data: &[u8], sizes: &[usize]) {
        let mut dec = FrameDecoder::with_limits(role, max_frame, max_message);
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            i += 1;
            dec.push(chunk);
            assert!(dec.buffered() <= max_frame + max_message + MAX_FRAME_HEADER);
            while let Ok(Some(_)) = dec.next_message() {}
            assert!(dec.buffered() <= max_frame + max_message + MAX_FRAME_HEADER);
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            sizes in proptest::collection::vec(1usize..200, 1..20),
            client in any::<bool>(),
        ) {
            let role = if client { Role::Client } else { Role::Server };
            exercise(role, MAX_FRAME_PAYLOAD, MAX_MESSAGE_BYTES, &data, &sizes);
            exercise(role, 64, 100, &data, &sizes);
        }

        #[test]
        fn frame_like_bytes_never_panic(
            frames in proptest::collection::vec(
                (0u8..16, any::<bool>(), 0usize..140, any::<[u8; 4]>(), any::<bool>()), 0..20),
            sizes in proptest::collection::vec(1usize..50, 1..10),
        ) {
            // Mostly well-formed frame headers with random opcodes/FIN, so deeper states are hit.
            let mut data = Vec::new();
            for (op, fin, len, mask, masked) in frames {
                let payload = vec![b'a'; len];
                let role = if masked { Role::Client } else { Role::Server };
                let mut f = encode_frame(role, Opcode::Binary, &payload, mask);
                f[0] = if fin { 0x80 | op } else { op };
                data.extend_from_slice(&f);
            }
            exercise(Role::Client, 100, 200, &data, &sizes);
            exercise(Role::Server, 100, 200, &data, &sizes);
        }

        #[test]
        fn fragmented_round_trip(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            sizes in proptest::collection::vec(1usize..100, 1..10),
        ) {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let wire = fragment(Role::Client, Opcode::Binary, &refs);
            let mut dec = FrameDecoder::new(Role::Server);
            let mut got = Vec::new();
            let mut rest = &wire[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                i += 1;
                dec.push(chunk);
                while let Some(m) = dec.next_message().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, vec![Message::Binary(parts.concat())]);
        }
    }
}
