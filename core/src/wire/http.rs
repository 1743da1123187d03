//! HTTP/1.1 message codecs, client side ([`ResponseDecoder`], [`HttpRequest::encode`]) and server
//! side ([`RequestDecoder`], [`HttpResponse::encode`]).
//!
//! Owns the framing of one HTTP/1.1 message: the head (parsed with `httparse`) and the body
//! (`Content-Length`, `chunked`, or read-until-close). It is sans-IO: callers push bytes in and get
//! values out. It does not open sockets, follow redirects, handle cookies or decode content codings.
//! Every length read from the wire is checked against [`MAX_HEAD_BYTES`], [`MAX_HEADERS`] or
//! [`MAX_BODY_BYTES`] before anything is allocated for it, and no input makes these codecs panic.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;
use std::str::FromStr;

/// Largest accepted message head (start line plus header fields), and the largest accepted
/// trailer section of a chunked body.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest number of header fields accepted in one message head.
pub const MAX_HEADERS: usize = 64;
/// Largest accepted message body; for chunked bodies this bounds the sum of all chunks.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest accepted chunk-size line (size, extensions and CRLF) in a chunked body.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// Errors from the HTTP codecs. Descriptions never echo header values from the peer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The message head is larger than [`MAX_HEAD_BYTES`].
    #[error("HTTP head exceeds {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// The message head has more than [`MAX_HEADERS`] header fields.
    #[error("HTTP head has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// The body (or the sum of its chunks) is larger than [`MAX_BODY_BYTES`].
    #[error("HTTP body exceeds {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// The message does not follow HTTP/1.1 syntax; the text is a short, fixed description.
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    /// A request used a method this codec does not support.
    #[error("unsupported HTTP method")]
    UnsupportedMethod,
    /// The stream ended before the message was complete.
    #[error("HTTP message truncated")]
    Truncated,
    /// [`ResponseDecoder::finish`] was called after the response had already been returned.
    #[error("HTTP response already complete")]
    AlreadyComplete,
}

impl HttpError {
    fn malformed(what: &str) -> Self {
        HttpError::Malformed(what.to_owned())
    }
}

/// The request methods this SDK sends (and its fake server accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method token as sent on the wire, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses a method token. Method names are case-sensitive (RFC 9110 §9.1).
    pub fn parse(token: &str) -> Option<Method> {
        match token {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    /// Whether requests with this method carry a body, so an empty one is sent as
    /// `Content-Length: 0`.
    fn expects_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

impl FromStr for Method {
    type Err = HttpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::parse(s).ok_or(HttpError::UnsupportedMethod)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP/1.1 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The request method.
    pub method: Method,
    /// The `Host` header value, including `:port` when the port is not the scheme's default.
    pub host: String,
    /// The request target in origin form: path plus optional query, starting with `/`.
    pub target: String,
    /// Header fields other than `Host`, in order. Decoded requests have their `Content-Length`
    /// and `Transfer-Encoding` fields removed: `body` holds the decoded bytes and
    /// [`HttpRequest::encode`] recomputes the framing.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Serialises the request: request line, `Host`, the header fields, then `Content-Length`
    /// when the body is non-empty or the method is POST/PUT/PATCH (unless `headers` already has a
    /// `Content-Length` or `Transfer-Encoding` field), an empty line and the body.
    ///
    /// The caller supplies any `Connection` header. CR, LF and NUL are dropped from the target,
    /// host and header fields so that no value can inject extra header lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        push_clean(&mut out, &self.target);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        push_clean(&mut out, &self.host);
        out.extend_from_slice(b"\r\n");
        push_headers(&mut out, &self.headers);
        let framed = has_header(&self.headers, "content-length")
            || has_header(&self.headers, "transfer-encoding");
        if !framed && (!self.body.is_empty() || self.method.expects_body()) {
            push_content_length(&mut out, self.body.len());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The first header field named `name` (ASCII case-insensitive). `"Host"` returns
    /// [`HttpRequest::host`].
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("host") {
            return Some(&self.host);
        }
        find_header(&self.headers, name)
    }
}

/// An HTTP/1.1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code, e.g. `101` or `200`.
    pub status: u16,
    /// The reason phrase (empty if the peer sent none or sent non-text bytes).
    pub reason: String,
    /// Header fields, in order. Decoded responses that have a body have their `Content-Length`
    /// and `Transfer-Encoding` fields removed: `body` holds the decoded bytes and
    /// [`HttpResponse::encode`] recomputes the framing. (1xx, 204 and 304 keep them.)
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Serialises the response (server side). Adds `Content-Length` unless the status has no body
    /// (1xx, 204, 304) or `headers` already has a `Content-Length` or `Transfer-Encoding` field.
    /// The body is not written for 1xx, 204 and 304. CR, LF and NUL are dropped from the reason
    /// and header fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        push_clean(&mut out, &self.reason);
        out.extend_from_slice(b"\r\n");
        push_headers(&mut out, &self.headers);
        let bodyless = status_has_no_body(self.status);
        let framed = has_header(&self.headers, "content-length")
            || has_header(&self.headers, "transfer-encoding");
        if !bodyless && !framed {
            push_content_length(&mut out, self.body.len());
        }
        out.extend_from_slice(b"\r\n");
        if !bodyless {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

fn push_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | 0)));
}

fn push_headers(out: &mut Vec<u8>, headers: &[(String, String)]) {
    for (name, value) in headers {
        push_clean(out, name);
        out.extend_from_slice(b": ");
        push_clean(out, value);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_content_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Position of the first CRLF in `buf`.
fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Converts httparse header fields into owned pairs. Header names are tokens (ASCII); values
/// that are not UTF-8 (obs-text) are converted lossily.
fn own_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn map_parse_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        // httparse's descriptions are fixed strings; they never contain peer bytes.
        other => HttpError::Malformed(other.to_string()),
    }
}

/// The window of `buf` that may hold a head; anything past [`MAX_HEAD_BYTES`] is never parsed.
fn head_window(buf: &[u8]) -> &[u8] {
    buf.get(..MAX_HEAD_BYTES).unwrap_or(buf)
}

/// How a message body is delimited, decided from the head.
#[derive(Debug)]
enum BodyFraming {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (already checked against [`MAX_BODY_BYTES`]).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
    /// Everything until the peer closes the stream (responses only).
    UntilClose,
}

impl BodyFraming {
    /// Moves body bytes from the front of `buf` into `body`. Returns `true` once the body is
    /// complete; bytes after the body stay in `buf`.
    fn advance(&mut self, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, HttpError> {
        match self {
            BodyFraming::Empty => Ok(true),
            BodyFraming::Length(total) => {
                let wanted = total.saturating_sub(body.len());
                let take = wanted.min(buf.len());
                body.extend(buf.drain(..take));
                Ok(body.len() >= *total)
            }
            BodyFraming::Chunked(chunked) => chunked.advance(buf, body),
            BodyFraming::UntilClose => {
                if body.len().saturating_add(buf.len()) > MAX_BODY_BYTES {
                    return Err(HttpError::BodyTooLarge);
                }
                body.append(buf);
                Ok(false)
            }
        }
    }
}

/// Incremental decoder for a `chunked` body (RFC 9112 §7.1).
#[derive(Debug, Default)]
struct ChunkedDecoder {
    state: ChunkState,
    /// Bytes of trailer section seen so far.
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting `chunk-size [ chunk-ext ] CRLF`.
    #[default]
    Size,
    /// Inside chunk data; this many bytes remain.
    Data(usize),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// Inside the trailer section, expecting a field line or the final empty line.
    Trailer,
    /// The final CRLF has been read.
    Done,
}

impl ChunkedDecoder {
    fn advance(&mut self, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, HttpError> {
        let mut pos = 0usize;
        let result = self.advance_from(buf, &mut pos, body);
        buf.drain(..pos.min(buf.len()));
        result
    }

    fn advance_from(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        body: &mut Vec<u8>,
    ) -> Result<bool, HttpError> {
        loop {
            let rest = buf.get(*pos..).unwrap_or_default();
            match self.state {
                ChunkState::Done => return Ok(true),
                ChunkState::Size => {
                    let Some(line_len) = find_crlf(rest) else {
                        if rest.len() >= MAX_CHUNK_LINE_BYTES {
                            return Err(HttpError::malformed("chunk size line too long"));
                        }
                        return Ok(false);
                    };
                    if line_len + 2 > MAX_CHUNK_LINE_BYTES {
                        return Err(HttpError::malformed("chunk size line too long"));
                    }
                    let line = rest.get(..line_len).unwrap_or_default();
                    let size = parse_chunk_size_line(line)?;
                    if size > MAX_BODY_BYTES.saturating_sub(body.len()) {
                        return Err(HttpError::BodyTooLarge);
                    }
                    *pos += line_len + 2;
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(false);
                    }
                    let take = remaining.min(rest.len());
                    body.extend_from_slice(rest.get(..take).unwrap_or_default());
                    *pos += take;
                    self.state = if take == remaining {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - take)
                    };
                }
                ChunkState::DataEnd => match rest.get(..2) {
                    None if rest.first().is_none_or(|b| *b == b'\r') => return Ok(false),
                    Some(b"\r\n") => {
                        *pos += 2;
                        self.state = ChunkState::Size;
                    }
                    _ => return Err(HttpError::malformed("chunk data not followed by CRLF")),
                },
                ChunkState::Trailer => {
                    let Some(line_len) = find_crlf(rest) else {
                        if self.trailer_bytes.saturating_add(rest.len()) > MAX_HEAD_BYTES {
                            return Err(HttpError::HeadTooLarge);
                        }
                        return Ok(false);
                    };
                    self.trailer_bytes = self.trailer_bytes.saturating_add(line_len + 2);
                    if self.trailer_bytes > MAX_HEAD_BYTES {
                        return Err(HttpError::HeadTooLarge);
                    }
                    *pos += line_len + 2;
                    if line_len == 0 {
                        self.state = ChunkState::Done;
                    } else {
                        // Trailer fields are read for framing only and then discarded.
                        let line = rest.get(..line_len).unwrap_or_default();
                        validate_trailer_line(line)?;
                    }
                }
            }
        }
    }
}

/// Parses `chunk-size [ BWS ; chunk-ext ]` (without CRLF) into a size.
fn parse_chunk_size_line(line: &[u8]) -> Result<usize, HttpError> {
    let (size_part, ext) = match line.iter().position(|b| *b == b';') {
        Some(i) => line.split_at_checked(i).unwrap_or((line, &[])),
        None => (line, &[][..]),
    };
    if ext
        .iter()
        .any(|b| (b.is_ascii_control() && *b != b'\t') || *b == 0x7f)
    {
        return Err(HttpError::malformed("invalid chunk extension"));
    }
    let digits = trim_trailing_ws(size_part);
    if digits.is_empty() || digits.len() > 16 {
        return Err(HttpError::malformed("invalid chunk size"));
    }
    let mut size: usize = 0;
    for b in digits {
        let digit = char::from(*b)
            .to_digit(16)
            .ok_or_else(|| HttpError::malformed("invalid chunk size"))?;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit as usize))
            .ok_or(HttpError::BodyTooLarge)?;
        if size > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
    }
    Ok(size)
}

fn trim_trailing_ws(mut s: &[u8]) -> &[u8] {
    while let Some((last, rest)) = s.split_last() {
        if *last == b' ' || *last == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn validate_trailer_line(line: &[u8]) -> Result<(), HttpError> {
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| HttpError::malformed("invalid trailer field"))?;
    let name = line.get(..colon).unwrap_or_default();
    if name.is_empty() || !name.iter().all(|b| is_token_byte(*b)) {
        return Err(HttpError::malformed("invalid trailer field"));
    }
    if line
        .iter()
        .any(|b| (b.is_ascii_control() && *b != b'\t') || *b == 0x7f)
    {
        return Err(HttpError::malformed("invalid trailer field"));
    }
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether a request or response is being decoded (the framing rules differ slightly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// Decides the body framing from the header fields (RFC 9112 §6.3) and removes the fields that
/// no longer describe the decoded body.
fn body_framing(headers: &mut Vec<(String, String)>, side: Side) -> Result<BodyFraming, HttpError> {
    let mut chunked = false;
    let mut has_te = false;
    for (name, value) in headers.iter() {
        if !name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        has_te = true;
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if chunked || !coding.eq_ignore_ascii_case("chunked") {
                // Only a single `chunked` coding is supported (we never offer others via TE).
                return Err(HttpError::malformed("unsupported transfer-coding"));
            }
            chunked = true;
        }
    }
    if has_te && !chunked {
        return Err(HttpError::malformed("unsupported transfer-coding"));
    }

    let mut length: Option<usize> = None;
    for (name, value) in headers.iter() {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for item in value.split(',') {
            let n = parse_content_length(item.trim())?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::malformed("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }

    if chunked && side == Side::Request && length.is_some() {
        return Err(HttpError::malformed(
            "both Transfer-Encoding and Content-Length",
        ));
    }
    // The framing fields now describe nothing: `body` holds the decoded bytes, and encoding the
    // message again recomputes them.
    headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("transfer-encoding") && !n.eq_ignore_ascii_case("content-length")
    });
    if chunked {
        return Ok(BodyFraming::Chunked(ChunkedDecoder::default()));
    }
    match (length, side) {
        (Some(0), _) | (None, Side::Request) => Ok(BodyFraming::Empty),
        (Some(n), _) => Ok(BodyFraming::Length(n)),
        (None, Side::Response) => Ok(BodyFraming::UntilClose),
    }
}

/// Parses a Content-Length value, rejecting it before any allocation when it exceeds
/// [`MAX_BODY_BYTES`].
fn parse_content_length(s: &str) -> Result<usize, HttpError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::malformed("invalid Content-Length"));
    }
    let mut n: usize = 0;
    for b in s.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(b - b'0')))
            .ok_or(HttpError::BodyTooLarge)?;
        if n > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
    }
    Ok(n)
}

/// A parsed response head waiting for its body.
#[derive(Debug)]
struct PendingResponse {
    response: HttpResponse,
    framing: BodyFraming,
}

#[derive(Debug)]
enum ResponseState {
    Head,
    Body(PendingResponse),
    Done,
    Failed(HttpError),
}

/// Client-side decoder for one HTTP/1.1 response.
///
/// Push bytes as they arrive; [`ResponseDecoder::push`] returns the response once it is complete.
/// Interim `1xx` responses other than `101 Switching Protocols` (e.g. `100 Continue`) are
/// skipped. Bytes after the response are kept for [`ResponseDecoder::take_remaining`].
#[derive(Debug)]
pub struct ResponseDecoder {
    request_method: Method,
    buf: Vec<u8>,
    state: ResponseState,
}

impl ResponseDecoder {
    /// A decoder for the response to a request sent with `request_method`.
    pub fn new(request_method: Method) -> Self {
        ResponseDecoder {
            request_method,
            buf: Vec::new(),
            state: ResponseState::Head,
        }
    }

    /// The method of the request this response answers.
    pub fn request_method(&self) -> Method {
        self.request_method
    }

    /// Feeds bytes. Returns `Ok(Some(resp))` once a whole response is available.
    ///
    /// Body framing: status 1xx/204/304 has no body (so a `101 Switching Protocols` completes
    /// right after the head); `Transfer-Encoding: chunked` (trailers and chunk extensions are
    /// accepted and discarded); `Content-Length`; otherwise the body runs until
    /// [`ResponseDecoder::finish`]. Bytes after the end of the response are kept for
    /// [`ResponseDecoder::take_remaining`]; pushes after completion only add to them.
    /// After an error, every later call returns the same error.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<HttpResponse>, HttpError> {
        if let ResponseState::Failed(e) = &self.state {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(data);
        match self.advance() {
            Ok(r) => Ok(r),
            Err(e) => {
                self.state = ResponseState::Failed(e.clone());
                self.buf = Vec::new();
                Err(e)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<HttpResponse>, HttpError> {
        loop {
            match &mut self.state {
                ResponseState::Done => return Ok(None),
                ResponseState::Failed(e) => return Err(e.clone()),
                ResponseState::Head => {
                    let Some((len, mut response)) = parse_response_head(&self.buf)? else {
                        return Ok(None);
                    };
                    self.buf.drain(..len.min(self.buf.len()));
                    if (100..200).contains(&response.status) && response.status != 101 {
                        // Interim response: the final one follows.
                        continue;
                    }
                    let framing = if status_has_no_body(response.status) {
                        BodyFraming::Empty
                    } else {
                        body_framing(&mut response.headers, Side::Response)?
                    };
                    self.state = ResponseState::Body(PendingResponse { response, framing });
                }
                ResponseState::Body(pending) => {
                    if !pending
                        .framing
                        .advance(&mut self.buf, &mut pending.response.body)?
                    {
                        return Ok(None);
                    }
                    let done = std::mem::replace(&mut self.state, ResponseState::Done);
                    if let ResponseState::Body(p) = done {
                        return Ok(Some(p.response));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The peer closed the stream: completes a read-until-close body, else
    /// `Err(HttpError::Truncated)` (or [`HttpError::AlreadyComplete`] if the response was
    /// already returned by [`ResponseDecoder::push`]).
    pub fn finish(&mut self) -> Result<HttpResponse, HttpError> {
        match std::mem::replace(&mut self.state, ResponseState::Done) {
            ResponseState::Body(PendingResponse {
                response,
                framing: BodyFraming::UntilClose,
            }) => Ok(response),
            ResponseState::Body(_) | ResponseState::Head => {
                self.state = ResponseState::Failed(HttpError::Truncated);
                Err(HttpError::Truncated)
            }
            ResponseState::Done => Err(HttpError::AlreadyComplete),
            ResponseState::Failed(e) => {
                self.state = ResponseState::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Bytes received after the response (e.g. the first WebSocket frames after a `101`).
    /// Empty while the response is still incomplete.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        match self.state {
            ResponseState::Done => std::mem::take(&mut self.buf),
            _ => Vec::new(),
        }
    }
}

/// Parses a response head from the front of `buf`; returns its length and the response
/// (with an empty body), or `None` if more bytes are needed.
fn parse_response_head(buf: &[u8]) -> Result<Option<(usize, HttpResponse)>, HttpError> {
    let window = head_window(buf);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(window).map_err(map_parse_error)? {
        httparse::Status::Partial => {
            if buf.len() >= MAX_HEAD_BYTES {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(None)
            }
        }
        httparse::Status::Complete(len) => {
            let status = parsed
                .code
                .ok_or_else(|| HttpError::malformed("missing status code"))?;
            let response = HttpResponse {
                status,
                reason: parsed.reason.unwrap_or_default().to_owned(),
                headers: own_headers(parsed.headers),
                body: Vec::new(),
            };
            Ok(Some((len, response)))
        }
    }
}

/// A parsed request head waiting for its body.
#[derive(Debug)]
struct PendingRequest {
    request: HttpRequest,
    framing: BodyFraming,
}

/// Server-side decoder for HTTP/1.1 requests on a keep-alive connection (used by the fake cloud).
///
/// Push bytes with [`RequestDecoder::push`] and take requests with
/// [`RequestDecoder::next_request`] until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    buf: Vec<u8>,
    pending: Option<PendingRequest>,
    failed: Option<HttpError>,
}

impl RequestDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers bytes from the client. Nothing is parsed until [`RequestDecoder::next_request`].
    /// After an error the bytes are dropped.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete request, `Ok(None)` if more bytes are needed.
    ///
    /// Bodies are framed by `Content-Length` or `Transfer-Encoding: chunked` (a request with
    /// neither has no body). The `Host` header is moved into [`HttpRequest::host`]. Only
    /// origin-form targets (starting with `/`) are accepted, and HTTP/1.1 requests must carry
    /// `Host`. After an error, every later call returns the same error.
    pub fn next_request(&mut self) -> Result<Option<HttpRequest>, HttpError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(r) => Ok(r),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                self.pending = None;
                Err(e)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<HttpRequest>, HttpError> {
        let mut pending = match self.pending.take() {
            Some(p) => p,
            None => {
                let Some((len, mut request)) = parse_request_head(&self.buf)? else {
                    return Ok(None);
                };
                self.buf.drain(..len.min(self.buf.len()));
                let framing = body_framing(&mut request.headers, Side::Request)?;
                PendingRequest { request, framing }
            }
        };
        if pending
            .framing
            .advance(&mut self.buf, &mut pending.request.body)?
        {
            Ok(Some(pending.request))
        } else {
            self.pending = Some(pending);
            Ok(None)
        }
    }

    /// Takes the bytes not consumed by returned requests (e.g. WebSocket frames after an upgrade
    /// request). A partially decoded request is abandoned.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        self.pending = None;
        std::mem::take(&mut self.buf)
    }
}

/// Parses a request head from the front of `buf`; returns its length and the request
/// (with an empty body), or `None` if more bytes are needed.
fn parse_request_head(buf: &[u8]) -> Result<Option<(usize, HttpRequest)>, HttpError> {
    let window = head_window(buf);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(window).map_err(map_parse_error)? {
        httparse::Status::Partial => {
            if buf.len() >= MAX_HEAD_BYTES {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(None)
            }
        }
        httparse::Status::Complete(len) => {
            let method = parsed
                .method
                .and_then(Method::parse)
                .ok_or(HttpError::UnsupportedMethod)?;
            let target = parsed
                .path
                .filter(|p| p.starts_with('/'))
                .ok_or_else(|| HttpError::malformed("request target not in origin form"))?
                .to_owned();
            let mut fields = own_headers(parsed.headers);
            let mut host = None;
            let mut duplicate_host = false;
            fields.retain(|(n, v)| {
                if n.eq_ignore_ascii_case("host") {
                    duplicate_host |= host.is_some();
                    host = Some(v.clone());
                    false
                } else {
                    true
                }
            });
            if duplicate_host {
                return Err(HttpError::malformed("duplicate Host header"));
            }
            let host = match (host, parsed.version) {
                (Some(h), _) => h,
                (None, Some(0)) => String::new(),
                (None, _) => return Err(HttpError::malformed("missing Host header")),
            };
            let request = HttpRequest {
                method,
                host,
                target,
                headers: fields,
                body: Vec::new(),
            };
            Ok(Some((len, request)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn push_all(dec: &mut ResponseDecoder, data: &[u8]) -> Option<HttpResponse> {
        dec.push(data).unwrap()
    }

    #[test]
    fn method_round_trip() {
        for m in [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
        }
        assert_eq!(Method::parse("get"), None);
        assert_eq!("HEAD".parse::<Method>(), Err(HttpError::UnsupportedMethod));
    }

    #[test]
    fn request_encode_layout() {
        let req = HttpRequest {
            method: Method::Post,
            host: "api.example.com:8443".into(),
            target: "/api/v2/x?y=1".into(),
            headers: vec![h("Content-Type", "application/json")],
            body: b"{}".to_vec(),
        };
        assert_eq!(
            req.encode(),
            b"POST /api/v2/x?y=1 HTTP/1.1\r\nHost: api.example.com:8443\r\n\
              Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                .to_vec()
        );
        let get = HttpRequest {
            method: Method::Get,
            host: "h".into(),
            target: "/".into(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(get.encode(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec());
        let put = HttpRequest {
            method: Method::Put,
            ..get.clone()
        };
        assert_eq!(
            put.encode(),
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n".to_vec()
        );
        assert_eq!(put.header("HOST"), Some("h"));
    }

    #[test]
    fn encode_drops_injected_line_breaks() {
        let req = HttpRequest {
            method: Method::Get,
            host: "h".into(),
            target: "/".into(),
            headers: vec![h("X-A", "1\r\nEvil: yes")],
            body: vec![],
        };
        let mut dec = RequestDecoder::new();
        dec.push(&req.encode());
        let got = dec.next_request().unwrap().unwrap();
        assert_eq!(got.headers, vec![h("X-A", "1Evil: yes")]);
    }

    #[test]
    fn request_round_trip_keep_alive() {
        let reqs = vec![
            HttpRequest {
                method: Method::Post,
                host: "a.example".into(),
                target: "/p".into(),
                headers: vec![
                    h("Content-Type", "text/plain"),
                    h("Connection", "keep-alive"),
                ],
                body: b"hello".to_vec(),
            },
            HttpRequest {
                method: Method::Get,
                host: "a.example".into(),
                target: "/q?x=1".into(),
                headers: vec![h("Accept", "*/*")],
                body: vec![],
            },
            HttpRequest {
                method: Method::Delete,
                host: "a.example:8080".into(),
                target: "/r".into(),
                headers: vec![],
                body: vec![],
            },
        ];
        let wire: Vec<u8> = reqs.iter().flat_map(|r| r.encode()).collect();
        for split in [1usize, 3, 7, wire.len()] {
            let mut dec = RequestDecoder::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(split) {
                dec.push(chunk);
                while let Some(r) = dec.next_request().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got.len(), reqs.len());
            for (g, want) in got.iter().zip(&reqs) {
                assert_eq!(g.method, want.method);
                assert_eq!(g.host, want.host);
                assert_eq!(g.target, want.target);
                assert_eq!(g.body, want.body);
                assert_eq!(g, want);
                assert_eq!(g.encode(), want.encode());
            }
            assert!(dec.take_remaining().is_empty());
        }
    }

    #[test]
    fn chunked_request_body() {
        let wire = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut dec = RequestDecoder::new();
        dec.push(wire);
        let r = dec.next_request().unwrap().unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(r.header("transfer-encoding").is_none());
        let r2 = dec.next_request().unwrap().unwrap();
        assert_eq!(r2.method, Method::Get);
        assert_eq!(dec.next_request().unwrap(), None);
    }

    #[test]
    fn request_errors() {
        let cases: &[(&[u8], HttpError)] = &[
            (
                b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
                HttpError::UnsupportedMethod,
            ),
            (
                b"GET / HTTP/1.1\r\n\r\n",
                HttpError::malformed("missing Host header"),
            ),
            (
                b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
                HttpError::malformed("request target not in origin form"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                HttpError::malformed("both Transfer-Encoding and Content-Length"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
                HttpError::BodyTooLarge,
            ),
        ];
        for (wire, want) in cases {
            let mut dec = RequestDecoder::new();
            dec.push(wire);
            assert_eq!(dec.next_request().as_ref(), Err(want));
            // Errors are sticky.
            assert_eq!(dec.next_request().as_ref(), Err(want));
        }
    }

    #[test]
    fn request_upgrade_leaves_remaining() {
        let mut dec = RequestDecoder::new();
        dec.push(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n\x81\x80abcd");
        let r = dec.next_request().unwrap().unwrap();
        assert_eq!(r.target, "/ws");
        assert_eq!(dec.take_remaining(), b"\x81\x80abcd");
    }

    #[test]
    fn response_encode_and_round_trip() {
        let resp = HttpResponse {
            status: 200,
            reason: "OK".into(),
            headers: vec![h("Content-Type", "application/json")],
            body: b"{\"a\":1}".to_vec(),
        };
        let wire = resp.encode();
        assert_eq!(
            wire,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
                .to_vec()
        );
        let mut dec = ResponseDecoder::new(Method::Get);
        let got = push_all(&mut dec, &wire).unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(got.reason, "OK");
        assert_eq!(got.body, resp.body);
        assert!(got.header("content-length").is_none());
        assert_eq!(got, resp);
        assert_eq!(got.encode(), wire);

        let no_content = HttpResponse {
            status: 204,
            reason: "No Content".into(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(
            no_content.encode(),
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn content_length_split_everywhere() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        for cut in 0..=wire.len() {
            let mut dec = ResponseDecoder::new(Method::Get);
            let (a, b) = wire.split_at(cut);
            let first = dec.push(a).unwrap();
            let resp = match first {
                Some(r) => {
                    assert!(cut >= wire.len() - 5);
                    dec.push(b).unwrap();
                    r
                }
                None => dec.push(b).unwrap().unwrap(),
            };
            assert_eq!(resp.body, b"hello");
            assert_eq!(dec.take_remaining(), b"EXTRA");
        }
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n\
        4;name=value\r\nWiki\r\n5\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";

    #[test]
    fn chunked_split_at_every_boundary() {
        for cut in 0..=CHUNKED.len() {
            let mut dec = ResponseDecoder::new(Method::Get);
            let (a, b) = CHUNKED.split_at(cut);
            let resp = match dec.push(a).unwrap() {
                Some(r) => {
                    assert_eq!(cut, CHUNKED.len());
                    r
                }
                None => dec.push(b).unwrap().expect("complete"),
            };
            assert_eq!(resp.body, b"Wikipedia in\r\n\r\nchunks.");
            assert_eq!(resp.header("x-a"), Some("b"));
            assert!(resp.header("transfer-encoding").is_none());
        }
        // Byte by byte.
        let mut dec = ResponseDecoder::new(Method::Get);
        let mut out = None;
        for (i, b) in CHUNKED.iter().enumerate() {
            let r = dec.push(&[*b]).unwrap();
            if i + 1 < CHUNKED.len() {
                assert!(r.is_none());
            } else {
                out = r;
            }
        }
        assert_eq!(out.unwrap().body, b"Wikipedia in\r\n\r\nchunks.");
    }

    #[test]
    fn chunked_errors() {
        let cases: &[(&[u8], HttpError)] = &[
            (b"zz\r\n", HttpError::malformed("invalid chunk size")),
            (b"\r\n", HttpError::malformed("invalid chunk size")),
            (
                b"2\r\nabX",
                HttpError::malformed("chunk data not followed by CRLF"),
            ),
            (b"100001\r\n", HttpError::BodyTooLarge),
            (
                b"ffffffffffffffffff\r\n",
                HttpError::malformed("invalid chunk size"),
            ),
            (
                b"0\r\nno colon\r\n\r\n",
                HttpError::malformed("invalid trailer field"),
            ),
        ];
        for (body, want) in cases {
            let mut dec = ResponseDecoder::new(Method::Get);
            let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            wire.extend_from_slice(body);
            assert_eq!(dec.push(&wire).as_ref(), Err(want), "{body:?}");
        }
        // Chunks summing past the body limit.
        let mut dec = ResponseDecoder::new(Method::Get);
        dec.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let chunk = vec![b'a'; 0x10000];
        let mut result = Ok(None);
        for _ in 0..17 {
            let mut c = b"10000\r\n".to_vec();
            c.extend_from_slice(&chunk);
            c.extend_from_slice(b"\r\n");
            result = dec.push(&c);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn read_until_close() {
        let wire = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
        let mut dec = ResponseDecoder::new(Method::Get);
        assert_eq!(dec.push(wire).unwrap(), None);
        let resp = dec.finish().unwrap();
        assert_eq!(resp.body, b"all of it");
        assert_eq!(dec.finish(), Err(HttpError::AlreadyComplete));
    }

    #[test]
    fn read_until_close_limit() {
        let mut dec = ResponseDecoder::new(Method::Get);
        dec.push(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut result = Ok(None);
        for _ in 0..17 {
            result = dec.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn truncation_at_every_prefix() {
        let samples: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            CHUNKED,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ];
        for sample in samples {
            for cut in 0..sample.len() {
                let mut dec = ResponseDecoder::new(Method::Post);
                assert_eq!(dec.push(&sample[..cut]), Ok(None), "cut {cut}");
                assert_eq!(dec.finish(), Err(HttpError::Truncated), "cut {cut}");
            }
            let mut dec = ResponseDecoder::new(Method::Post);
            assert!(dec.push(sample).unwrap().is_some());
        }
        // A read-until-close body is complete at any cut after its head.
        let sample = b"HTTP/1.1 200 OK\r\n\r\nbody";
        let head_len = sample.len() - 4;
        for cut in 0..=sample.len() {
            let mut dec = ResponseDecoder::new(Method::Get);
            assert_eq!(dec.push(&sample[..cut]), Ok(None));
            if cut < head_len {
                assert_eq!(dec.finish(), Err(HttpError::Truncated));
            } else {
                assert_eq!(dec.finish().unwrap().body, &sample[head_len..cut]);
            }
        }
    }

    #[test]
    fn interim_response_skipped() {
        let mut dec = ResponseDecoder::new(Method::Post);
        let r = dec
            .push(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.status, 201);
    }

    #[test]
    fn switching_protocols_keeps_remaining() {
        let mut wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\n\r\n"
            .to_vec();
        wire.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let mut dec = ResponseDecoder::new(Method::Get);
        let r = dec.push(&wire).unwrap().unwrap();
        assert_eq!(r.status, 101);
        assert!(r.body.is_empty());
        dec.push(&[0x89, 0x00]).unwrap();
        assert_eq!(
            dec.take_remaining(),
            vec![0x81, 0x02, b'h', b'i', 0x89, 0x00]
        );
        assert!(dec.take_remaining().is_empty());
    }

    #[test]
    fn oversized_head_rejected() {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        let pad = format!("X-Pad: {}\r\n", "a".repeat(1000));
        while wire.len() <= MAX_HEAD_BYTES {
            wire.extend_from_slice(pad.as_bytes());
        }
        let mut dec = ResponseDecoder::new(Method::Get);
        assert_eq!(dec.push(&wire), Err(HttpError::HeadTooLarge));

        let mut dec = RequestDecoder::new();
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ".to_vec();
        req.resize(MAX_HEAD_BYTES + 10, b'a');
        dec.push(&req);
        assert_eq!(dec.next_request(), Err(HttpError::HeadTooLarge));

        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let mut dec = ResponseDecoder::new(Method::Get);
        assert_eq!(dec.push(&many), Err(HttpError::TooManyHeaders));
    }

    #[test]
    fn oversized_body_rejected_before_allocation() {
        for cl in [
            "1048577",
            "18446744073709551616",
            "99999999999999999999999999",
        ] {
            let mut dec = ResponseDecoder::new(Method::Get);
            let wire = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(dec.push(wire.as_bytes()), Err(HttpError::BodyTooLarge));
        }
        let mut dec = ResponseDecoder::new(Method::Get);
        let wire = format!("HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\n");
        assert_eq!(dec.push(wire.as_bytes()), Ok(None));
    }

    #[test]
    fn content_length_validation() {
        let bad: &[&str] = &[
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ];
        for wire in bad {
            let mut dec = ResponseDecoder::new(Method::Get);
            assert!(
                matches!(dec.push(wire.as_bytes()), Err(HttpError::Malformed(_))),
                "{wire}"
            );
        }
        let mut dec = ResponseDecoder::new(Method::Get);
        let r = dec
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"ok");
        // Transfer-Encoding wins over Content-Length in a response.
        let mut dec = ResponseDecoder::new(Method::Get);
        let r = dec
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"ok");
        assert!(r.header("content-length").is_none());
    }

    #[test]
    fn error_text_does_not_echo_values() {
        let mut dec = ResponseDecoder::new(Method::Get);
        let err = dec
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: secret-token\r\n\r\n")
            .unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }

    fn split_points() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
        (
            proptest::collection::vec(any::<u8>(), 0..2048),
            proptest::collection::vec(1usize..300, 1..40),
        )
    }

    fn chunks<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
            i += 1;
        }
        out
    }

    /// Encoding a decoded request and decoding it again gives the same request.
    fn assert_request_round_trips(request: HttpRequest) {
        let mut again = RequestDecoder::new();
        again.push(&request.encode());
        assert_eq!(again.next_request(), Ok(Some(request)));
    }

    proptest! {
        #[test]
        fn garbage_never_panics((data, sizes) in split_points()) {
            let mut resp = ResponseDecoder::new(Method::Get);
            let mut req = RequestDecoder::new();
            for c in chunks(&data, &sizes) {
                let _ = resp.push(c);
                req.push(c);
                while let Ok(Some(r)) = req.next_request() {
                    assert_request_round_trips(r);
                }
            }
            let _ = resp.finish();
            let _ = resp.take_remaining();
            let _ = req.take_remaining();
        }

        #[test]
        fn near_valid_never_panics(
            prefix in prop::sample::select(vec![
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"[..],
                &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            ]),
            tail in proptest::collection::vec(
                prop::sample::select(b"0123456789abcdefABCDEF;=:\r\n \tx".to_vec()), 0..256),
            sizes in proptest::collection::vec(1usize..16, 1..8),
        ) {
            let mut data = prefix.to_vec();
            data.extend_from_slice(&tail);
            let mut resp = ResponseDecoder::new(Method::Post);
            let mut req = RequestDecoder::new();
            for c in chunks(&data, &sizes) {
                let _ = resp.push(c);
                req.push(c);
                while let Ok(Some(r)) = req.next_request() {
                    assert_request_round_trips(r);
                }
            }
            let _ = resp.finish();
        }

        #[test]
        fn chunked_round_trip(
            body_chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 0..8),
            sizes in proptest::collection::vec(1usize..32, 1..8),
        ) {
            let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut want = Vec::new();
            for c in &body_chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
                want.extend_from_slice(c);
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut dec = ResponseDecoder::new(Method::Get);
            let mut got = None;
            for c in chunks(&wire, &sizes) {
                if let Some(r) = dec.push(c).unwrap() {
                    got = Some(r);
                }
            }
            prop_assert_eq!(got.unwrap().body, want);
        }
    }
}
