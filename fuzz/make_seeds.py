#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere; overwrites seed files).

The seeds come from PROTOCOL.md examples and the stanzas in core's unit tests. The input formats
of the engine targets are documented on genesys_webrtc::fuzz::{fuzz_engine_stream,
fuzz_engine_session}.
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

OPEN = f'<open xmlns="{FRAMING}" from="example.orgspan.com" id="s1" version="1.0" xml:lang="en"/>'
FEATURES_SASL = (
    '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
    f'<mechanisms xmlns="{SASL}"><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms>'
    "</stream:features>"
)
FEATURES_BIND = (
    '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
    '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'
    '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>'
    "</stream:features>"
)
FEATURES_BIND_SESSION = (
    '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
    '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'
    '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/>'
    "</stream:features>"
)
SUCCESS = f'<success xmlns="{SASL}"/>'
FAILURE = f'<failure xmlns="{SASL}"><credentials-expired/><text>x</text></failure>'
FAILURE_RETRY = f'<failure xmlns="{SASL}"><malformed-request/></failure>'
AUTH_PLAIN = (
    f'<auth xmlns="{SASL}" mechanism="PLAIN">'
    "AGFsaWNlQGV4YW1wbGUub3Jnc3Bhbi5jb20AYXV0aEtleTpFWEFNUExFLVRPS0VO</auth>"
)
AUTH_ANON = f'<auth xmlns="{SASL}" mechanism="ANONYMOUS">=</auth>'


def bind_result(jid, id_ref="$0"):
    return (
        f'<iq xmlns="jabber:client" type="result" id="{id_ref}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{jid}</jid></bind></iq>'
    )


def session_result(id_ref="$0"):
    return f'<iq xmlns="jabber:client" type="result" id="{id_ref}"/>'


def turn_result(id_ref):
    return (
        f'<iq xmlns="jabber:client" type="result" from="example.orgspan.com" id="{id_ref}">'
        '<services xmlns="urn:xmpp:extdisco:1">'
        '<service type="turn" host="turn1.example.net" port="3478" transport="udp" '
        'username="1700000000:alice" password="c2VjcmV0" expires="2024-01-01T12:00:00Z"/>'
        '<service type="turn" host="turn1.example.net" port="443" transport="tcp" '
        'username="1700000000:alice" password="c2VjcmV0"/>'
        "</services></iq>"
    )


def stun_result(id_ref):
    return (
        f'<iq xmlns="jabber:client" type="result" id="{id_ref}">'
        '<services xmlns="urn:xmpp:extdisco:1">'
        '<service type="stun" host="2001:db8::1" port="3478"/></services></iq>'
    )


def empty_services(id_ref):
    return (
        f'<iq xmlns="jabber:client" type="result" id="{id_ref}">'
        '<services xmlns="urn:xmpp:extdisco:1"/></iq>'
    )


def disco_error(id_ref):
    return (
        f'<iq xmlns="jabber:client" type="error" id="{id_ref}">'
        '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></iq>"
    )


def pubsub_event(node, body):
    return (
        '<message xmlns="jabber:client" from="notifications.example.test" '
        'to="alice@example.orgspan.com/r1">'
        '<event xmlns="http://jabber.org/protocol/pubsub#event">'
        f'<items node="{node}"><item id="i1"><json xmlns="urn:xmpp:json:0">{body}</json>'
        "</item></items></event></message>"
    )


CONVERSATION_EVENT = pubsub_event(
    "v2.users.user-1.conversations",
    json.dumps(
        {
            "topicName": "v2.users.user-1.conversations",
            "eventBody": {"id": "c1", "participants": []},
            "metadata": {"action": "update"},
        },
        separators=(",", ":"),
    ),
)
STATION_EVENT = pubsub_event(
    "v2.users.user-1.station",
    '{"topicName":"v2.users.user-1.station","eventBody":{"associatedStation":{"id":"station-2"}},'
    '"metadata":{"action":"Associated"}}',
)
EXPIRING_EVENT = pubsub_event("streaming-subscriptions-expiring", "{}")
NO_LONGER_EVENT = pubsub_event("v2.system.no_longer_subscribed", "{}")
SERVER_PING = (
    '<iq xmlns="jabber:client" type="get" id="sp1" from="example.orgspan.com">'
    '<ping xmlns="urn:xmpp:ping"/></iq>'
)
DISCO_INFO = (
    '<iq xmlns="jabber:client" type="get" id="di1" from="example.orgspan.com">'
    '<query xmlns="http://jabber.org/protocol/disco#info"/></iq>'
)
UNKNOWN_IQ = (
    '<iq xmlns="jabber:client" type="set" id="u1" from="example.orgspan.com">'
    '<query xmlns="jabber:iq:roster"/></iq>'
)
CXFR = (
    '<iq xmlns="jabber:client" type="set" id="cx1" to="alice@example.orgspan.com/r1">'
    '<query xmlns="urn:xmpp:cxfr"><domain>example.orgspan.com</domain></query></iq>'
)
SUBSCRIBE = (
    '<iq xmlns="jabber:client" type="set" to="notifications.mypurecloud.com" id="sub1">'
    '<pubsub xmlns="http://jabber.org/protocol/pubsub">'
    '<subscribe node="v2.users.6a1d.conversations" jid="alice@example.orgspan.com"/>'
    "</pubsub></iq>"
)
STREAM_ERROR = (
    '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
    '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>'
    '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Replaced by new connection</text>'
    "</stream:error>"
)
CLOSE = f'<close xmlns="{FRAMING}"/>'
ENTITIES = (
    '<message xmlns="jabber:client" to="a&amp;b" xml:lang="en">'
    "<body>1 &lt; 2 &#x263A; &#65; <![CDATA[<raw>]]></body><!-- c --></message>"
)
EXTDISCO_REQUEST = (
    '<iq xmlns="jabber:client" type="get" to="example.orgspan.com" id="d1">'
    '<services xmlns="urn:xmpp:extdisco:1" type="turn"/></iq>'
)
PREFIXED = '<p:a xmlns:p="urn:x" xmlns="urn:y"><b p:attr="1"/><p:c/></p:a>'
BAD_BIND = (
    '<iq xmlns="jabber:client" type="error" id="b1"><error type="cancel">'
    '<not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
)


def guest_jwt(jid="acd-5e1f@conference.example.orgspan.com"):
    payload = json.dumps(
        {"data": {"jid": jid, "uid": "guest-1"}, "org": "org-1", "iss": "urn:purecloud:conversations"},
        separators=(",", ":"),
    ).encode()
    b64 = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{b64}.c2lnbmF0dXJl"


def http_response(status, reason, body, headers=()):
    head = f"HTTP/1.1 {status} {reason}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


ORG_JSON = b'{"id":"org-1","name":"Example"}'
USER_JSON = (
    b'{"id":"user-1","name":"Alice","chat":{"jabberId":"alice@example.orgspan.com"},'
    b'"station":{"effectiveStation":{"id":"station-1"}}}'
)
STATION_JSON = (
    b'{"id":"station-1","name":"Alice WebRTC","userId":"user-1","type":"inin_webrtc_softphone",'
    b'"webRtcPersistentEnabled":true,"webRtcForceTurn":false,"webRtcCallAppearances":2}'
)
CUSTOMER_JSON = json.dumps(
    {"conversation": {"id": "conv-1"}, "sourceCommunicationId": "src-1", "jwt": guest_jwt()},
    separators=(",", ":"),
).encode()
CHANNEL_JSON = b'{"id":"channel-1","connectUri":"wss://streaming.example.test/channels/channel-1"}'


def ws_server_frame(payload, opcode=1):
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def ws_client_frame(payload, opcode=1, mask=b"\x37\xfa\x21\x3d", fin=True):
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes([first, 0x80 | n])
    else:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def write(target, name, data, root=CORPUS):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def session(guest, steps):
    out = bytes([1 if guest else 0])
    parts = [s.encode() if isinstance(s, str) else s for s in steps]
    return out + b"\xff".join(parts)


def stream_ops(*ops):
    """engine_stream input. ops: ('recv', conn_index, bytes) | ('close', i) | ('wait', secs) | ('deadline',)."""
    out = bytearray()
    for op in ops:
        if op[0] == "recv":
            data = op[2]
            for i in range(0, len(data), 256):
                chunk = data[i : i + 256]
                out += bytes([op[1] * 8 + 0, len(chunk) - 1]) + chunk
        elif op[0] == "close":
            out += bytes([op[1] * 8 + 5])
        elif op[0] == "wait":
            out += bytes([6, op[1]])
        else:
            out += bytes([7])
    return bytes(out)

CORE_SRC = os.path.join(HERE, "..", "core", "src")


def _rust_string(src, start):
    """Decodes the Rust string literal (plain or raw) starting at src[start]; returns (text, end)."""
    if src.startswith("r", start):
        hashes = 0
        i = start + 1
        while src[i] == "#":
            hashes += 1
            i += 1
        assert src[i] == '"'
        close = '"' + "#" * hashes
        end = src.index(close, i + 1)
        return src[i + 1 : end], end + len(close)
    assert src[start] == '"'
    out = []
    i = start + 1
    escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while src[i] != '"':
        c = src[i]
        if c == "\\":
            n = src[i + 1]
            if n == "\n":
                i += 2
                while src[i] in " \t\n\r":
                    i += 1
                continue
            if n == "u":
                close = src.index("}", i)
                out.append(chr(int(src[i + 3 : close], 16)))
                i = close + 1
                continue
            if n == "x":
                out.append(chr(int(src[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(escapes[n])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), i + 1


def rust_const(path, name):
    """The value of `const NAME: &str = "...";` in core/src/<path> (test modules included), or
    None when it is gone (the seed is then skipped with a warning)."""
    with open(os.path.join(CORE_SRC, path), encoding="utf-8") as f:
        src = f.read()
    marker = f"const {name}: &str = "
    at = src.find(marker)
    if at < 0:
        print(f"warning: {path}: no const {name}; seed skipped")
        return None
    text, _ = _rust_string(src, at + len(marker))
    return text


def write_const(target, name, path, const):
    text = rust_const(path, const)
    if text is not None:
        write(target, name, text)


def stun_message(msg_type, txid, attrs, fingerprint=False):
    import struct
    import zlib

    body = b""
    for t, v in attrs:
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)
    length = len(body) + (8 if fingerprint else 0)
    msg = struct.pack("!HHI", msg_type, length, 0x2112A442) + txid + body
    if fingerprint:
        crc = (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF
        msg += struct.pack("!HHI", 0x8028, 4, crc)
    return msg


def xor_mapped_v4(ip, port):
    import struct

    a = bytes(int(x) for x in ip.split("."))
    cookie = struct.pack("!I", 0x2112A442)
    return b"\0\x01" + struct.pack("!H", port ^ 0x2112) + bytes(x ^ y for x, y in zip(a, cookie))


def call_script(guest, steps):
    """engine_call input: mode byte, then steps separated by 0xFF (see fuzz_engine_call)."""
    for st in steps:
        assert b"\xff" not in st, st
    return bytes([1 if guest else 0]) + b"\xff".join(steps)


def sdp_edit(line_index, action, text=b""):
    """One patch_lines edit: action 0 replace, 1 insert before, 2 delete, 3 append."""
    return bytes([(action << 6) | line_index]) + text



def main():
    # ---- xml and stanza: the same stanzas feed both.
    stanzas = {
        "open": OPEN,
        "features_sasl": FEATURES_SASL,
        "features_bind": FEATURES_BIND,
        "auth_plain": AUTH_PLAIN,
        "auth_anonymous": AUTH_ANON,
        "sasl_failure": FAILURE,
        "bind_result": bind_result("alice@example.orgspan.com/r1", "b1"),
        "extdisco_request": EXTDISCO_REQUEST,
        "extdisco_turn": turn_result("d1"),
        "extdisco_stun": stun_result("d2"),
        "extdisco_error": disco_error("d1"),
        "pubsub_subscribe": SUBSCRIBE,
        "pubsub_event": CONVERSATION_EVENT,
        "cxfr": CXFR,
        "stream_error": STREAM_ERROR,
        "entities": ENTITIES,
        "iq_error": BAD_BIND,
    }
    for name, s in stanzas.items():
        write("xml", name, s)
    for name in [
        "features_sasl", "features_bind", "sasl_failure", "bind_result", "extdisco_turn",
        "extdisco_stun", "extdisco_error", "pubsub_event", "cxfr", "stream_error", "iq_error",
    ]:
        write("stanza", name, stanzas[name])
    write("stanza", "disco_info", DISCO_INFO)

    # ---- extdisco: the §5.2 answers, both requests, and host names the driver resolves.
    write("extdisco", "turn_result", turn_result("d1"))
    write("extdisco", "stun_result", stun_result("d2"))
    write("extdisco", "empty_services", empty_services("d2"))
    write("extdisco", "error", disco_error("d1"))
    write("extdisco", "requests", "<r>" + EXTDISCO_REQUEST + EXTDISCO_REQUEST.replace('"turn"', '"stun"') + "</r>")
    write("extdisco", "named_hosts", (
        '<iq xmlns="jabber:client" type="result" id="d2"><services xmlns="urn:xmpp:extdisco:1">'
        '<service type="stun" host="stun.example.net" port="3478"/>'
        '<service type="stun" host="192.0.2.1"/>'
        '<service type="stuns" host="stun.example.net"/>'
        '<service type="turns" host="turn1.example.net" port="443" transport="tcp" '
        'username="1700000000:alice" password="c2VjcmV0" restricted="1" name="relay"/>'
        '<service type="turn" host="2001:db8::1" port="3478" transport="udp"/>'
        "</services></iq>"
    ))
    # Once a round-trip failure (prefixed attribute lost its namespace declaration), now fixed.
    write("xml", "prefixed", PREFIXED, root=os.path.join(HERE, "regressions"))

    # ---- http_response: method byte (0 GET, 1 POST, 2 PUT), chunk size byte, then bytes.
    write("http_response", "org_200", b"\x00\x07" + http_response(200, "OK", ORG_JSON, [("Content-Type", "application/json"), ("inin-correlation-id", "abc")]))
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"id\"\r\n9\r\n:\"ch-1\"}\r\n0\r\nX-Trailer: y\r\n\r\n"
    write("http_response", "channel_chunked", b"\x01\x03" + chunked)
    upgrade = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
    ) + ws_server_frame(OPEN.encode())
    write("http_response", "upgrade_101", b"\x00\x20" + upgrade)
    write("http_response", "retry_429", b"\x00\xff" + http_response(429, "Too Many Requests", b"{}", [("Retry-After", "3")]))
    write("http_response", "continue_then_close", b"\x02\x05HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody until close")
    request = (
        b"GET /stream/channels/channel-1 HTTP/1.1\r\nHost: streaming.example.test\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
        b"POST /api/v2/notifications/channels?connectionType=streaming HTTP/1.1\r\nHost: api.example.test\r\n"
        b"Authorization: Bearer t\r\ncontent-type: application/json\r\nContent-Length: 0\r\n\r\n"
    )
    write("http_response", "requests", b"\x00\x11" + request)

    # ---- websocket: chunk size byte, then frames (server→client and client→server).
    write("websocket", "rfc_hello", b"\x03" + bytes([0x81, 0x05]) + b"Hello" + bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]))
    write("websocket", "fragmented", b"\x02" + bytes([0x01, 0x03, 0x48, 0x65, 0x6C, 0x89, 0x00, 0x80, 0x02, 0x6C, 0x6F]))
    write("websocket", "server_stanzas", b"\x40" + ws_server_frame(OPEN.encode()) + ws_server_frame(FEATURES_SASL.encode()) + ws_server_frame(b"\x03\xe8bye", 8))
    write("websocket", "client_stanzas", b"\x10" + ws_client_frame(AUTH_PLAIN.encode()) + ws_client_frame(b"", 9) + ws_client_frame(CLOSE.encode()))
    write("websocket", "long_header", b"\xff" + ws_server_frame(b"x" * 300, 2))
    # Fragmented text with a ping between the fragments, a pong, then a close with a reason.
    frag = (
        ws_client_frame(b"<open ", 1, fin=False) + ws_client_frame(b"hi", 9)
        + ws_client_frame(b'xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>', 0)
        + ws_client_frame(b"", 10) + ws_client_frame(b"\x03\xe8bye", 8)
    )
    write("websocket", "client_control", b"\x05" + frag)
    write("websocket", "server_close_1001", b"\x02" + ws_server_frame(b"\x00", 10) + ws_server_frame(b"\x03\xe9going away", 8) + ws_server_frame(b"ignored"))
    # The RFC 6455 §1.3 upgrade request and reply (the handshake checks read the input as both).
    write("websocket", "upgrade_request", b"\x00" + (
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Protocol: chat, xmpp\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ))
    write("websocket", "upgrade_reply", b"\x00" + (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: CdXSYUsvsaMthlEXWDNURGWA/1o=\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
    ))

    # ---- jwt
    write("jwt", "guest", guest_jwt())
    write("jwt", "padded", guest_jwt() + "==")
    write("jwt", "no_jid", "eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(b'{"data":{}}').rstrip(b"=").decode() + ".x")
    write("jwt", "two_parts", "abc.def")

    # ---- rest_bodies
    write("rest_bodies", "organization", ORG_JSON)
    write("rest_bodies", "user", USER_JSON)
    write("rest_bodies", "station", STATION_JSON)
    write("rest_bodies", "customer_data", CUSTOMER_JSON)
    write("rest_bodies", "channel", CHANNEL_JSON)
    write("rest_bodies", "retry_after", b"120")

    # ---- engine_stream: REST connections 0 (org) and 1 (user) are live after initialize.
    org = http_response(200, "OK", ORG_JSON, [("Content-Type", "application/json")])
    user = http_response(200, "OK", USER_JSON, [("Content-Type", "application/json")])
    write("engine_stream", "org_and_user", stream_ops(("recv", 0, org), ("recv", 0, user), ("recv", 0, b"HTTP/1.1 101 Switching Protocols\r\n\r\n")))
    write("engine_stream", "errors_and_retry", stream_ops(("recv", 0, http_response(503, "Unavailable", b"", [("Retry-After", "1")])), ("recv", 1, http_response(401, "Unauthorized", b"{}")), ("wait", 2), ("deadline",)))
    write("engine_stream", "close_and_timeouts", stream_ops(("recv", 1, b"HTTP/1.1 200 OK\r\n\r\n" + USER_JSON), ("close", 1), ("deadline",), ("wait", 31), ("deadline",)))
    write("engine_stream", "garbage", b"\x00\x08\x00\xffjunk\r\n\r\n\x05\x07\x06\xff")

    # ---- engine_session: scripted cloud (see fuzz_engine_session).
    user_login = [OPEN, FEATURES_SASL, SUCCESS, OPEN, FEATURES_BIND, bind_result("alice@example.orgspan.com/r1"), turn_result("$1"), stun_result("$0")]
    write("engine_session", "user_login", session(False, user_login))
    write("engine_session", "user_connected_traffic", session(False, user_login + [
        # After link-up the engine sent: refresh turn ($2), refresh stun ($1), subscribe ($0).
        '<iq xmlns="jabber:client" type="result" from="notifications.example.test" id="$0"/>',
        turn_result("$2"), empty_services("$1"),
        CONVERSATION_EVENT, STATION_EVENT, EXPIRING_EVENT, SERVER_PING, DISCO_INFO, UNKNOWN_IQ,
        b"\x05ping", b"\x04", b"\x04", '<iq xmlns="jabber:client" type="result" id="$0"/>',
        NO_LONGER_EVENT, CXFR,
    ]))
    write("engine_session", "user_session_and_close", session(False, [
        OPEN, FEATURES_SASL, SUCCESS, OPEN, FEATURES_BIND_SESSION,
        bind_result("alice@example.orgspan.com/r1"), session_result(), disco_error("$1"),
        b"\x02\x03", b"\x04", OPEN, FEATURES_SASL, SUCCESS, OPEN, FEATURES_BIND,
        bind_result("alice@example.orgspan.com/r2"), turn_result("$1"), stun_result("$0"),
        STREAM_ERROR, b"\x04", b"\x07",
    ]))
    write("engine_session", "sasl_failures", session(False, [OPEN, FEATURES_SASL, FAILURE_RETRY, b"\x04", OPEN, FEATURES_SASL, FAILURE]))
    write("engine_session", "guest_login", session(True, [
        OPEN, FEATURES_SASL, SUCCESS, OPEN, FEATURES_BIND,
        bind_result("acd-5e1f@example.orgspan.com/g1"), turn_result("$1"), stun_result("$0"),
        SERVER_PING, CLOSE,
    ]))
    write("engine_session", "rest_override", session(False, [b"\x06HTTP/1.1 500 Oops\r\nRetry-After: 2\r\n\r\n", b"\x04", b"\x04", OPEN, b"\x01\x81\x05hello"]))


    # ---- jmi: PROTOCOL.md §6 examples, the jmi module tests, and raw JIDs (§6.3).
    write_const("jmi", "propose_tests", "signaling/jmi.rs", "PROPOSE")
    write("jmi", "propose_protocol", (
        '<message from="7d2c…@gjoll.example.orgspan.com/gjoll-1" to="alice@example.orgspan.com">\n'
        '  <propose xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c-4e7a-9d1b-3a2c1f0e8d7c"\n'
        '           inin-cid="c0a8017e-1111-2222-3333-444455556666"\n'
        '           inin-persistent-cid="c0a8017e-aaaa-bbbb-cccc-ddddeeeeffff"\n'
        '           inin-sdp-over-xmpp="true" inin-autoanswer="false"\n'
        '           inin-user-id="6a1d…b2" inin-ofrom="7d2c…@gjoll.example.orgspan.com"/>\n'
        "</message>"))
    write("jmi", "propose_priv_auto", '<message from="room@conference.x/y"><propose xmlns="urn:xmpp:jingle-message:0" id="s1" inin-priv-answer-mode="Auto" inin-meeting-id="m1" inin-autoanswer="1"/></message>')
    write("jmi", "proceed", '<message to="7d2c…@gjoll.example.orgspan.com/gjoll-1"><proceed xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-…"/></message>')
    write("jmi", "reject", '<message to="alice@example.orgspan.com"><reject xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-…"/></message>')
    write("jmi", "accept", '<message xmlns="jabber:client" to="alice@example.orgspan.com"><accept xmlns="urn:xmpp:jingle-message:0" id="9b8e2a10-5f4c"/></message>')
    write("jmi", "retract", '<message from="a@b/c" to="d@e"><retract xmlns="urn:xmpp:jingle-message:0" id="x1"/></message>')
    write("jmi", "bounce", '<message type="error"><reject xmlns="urn:xmpp:jingle-message:0" id="a"/></message>')
    write("jmi", "ringing_then_retract", '<message><ringing xmlns="urn:xmpp:jingle-message:0"/><retract xmlns="urn:xmpp:jingle-message:0" id="r"/></message>')
    write("jmi", "wrapped", '<forwarded xmlns="urn:xmpp:forward:0"><message from="acd-5e1f@conference.example.orgspan.com/g"><propose xmlns="urn:xmpp:jingle-message:0" id="p" inin-cid="c"/></message></forwarded>')
    for name, jid in [
        ("jid_softphone", "7d2c01@gjoll.example.orgspan.com/gjoll-1"),
        ("jid_video", "room-1@conference.example.orgspan.com/p1"),
        ("jid_peer_video", "peer-6a1d@conference.example.orgspan.com/x"),
        ("jid_acd", "acd-5e1f@conference.example.orgspan.com/g1"),
        ("jid_screenrecording", "screenrecording-1@example.orgspan.com/r"),
        ("jid_livemonitor", "livemonitor-1@conference.example.orgspan.com/x"),
        ("jid_acd_gjoll", "acd-1@GJOLL.example.orgspan.com/x"),
    ]:
        write("jmi", name, jid)

    # ---- sdp_over_xmpp: §7 examples and the module tests.
    write_const("sdp_over_xmpp", "offer_iq_tests", "signaling/sdp_over_xmpp.rs", "OFFER")
    write_const("sdp_over_xmpp", "fragment_tests", "signaling/sdp_over_xmpp.rs", "CANDIDATE_FRAGMENT")
    line = rust_const("signaling/sdp_over_xmpp.rs", "CANDIDATE_LINE")
    if line is not None:
        write("sdp_over_xmpp", "mid_and_line", "0\n" + line)
    write("sdp_over_xmpp", "offer_iq_protocol", (
        '<iq type="set" id="7f3e…" from="7d2c…@gjoll.example.orgspan.com/gjoll-1" to="alice@example.orgspan.com/3f2b…">\n'
        '  <genesys-webrtc xmlns="genesys">{"jsonrpc":"2.0","id":"0b6c…","method":"offer","params":{"sessionId":"9b8e2a10-…","conversationId":"c0a8017e-…","sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n…","reinvite":false}}</genesys-webrtc>\n'
        "</iq>"))
    cand_json = ('{"jsonrpc":"2.0","id":"…","method":"iceCandidate","params":{"sessionId":"9b8e2a10-…","sdp":"m=0 9 RTP/AVP 0\\r\\n'
                 'a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Zq3r network-id 1\\r\\n"}}')
    write("sdp_over_xmpp", "ice_candidate_json", cand_json)
    write("sdp_over_xmpp", "ice_candidate_iq", f'<iq type="set" id="c1" from="7d2c01@gjoll.example.orgspan.com/gjoll-1"><genesys-webrtc xmlns="genesys">{cand_json}</genesys-webrtc></iq>')
    write("sdp_over_xmpp", "end_of_candidates_json", '{"jsonrpc":"2.0","id":7,"method":"iceCandidate","params":{"sessionId":"s","sdp":"a=end-of-candidates\\r\\n"}}')
    write("sdp_over_xmpp", "end_of_candidates", "a=end-of-candidates\r\n")
    write("sdp_over_xmpp", "terminate_json", '{"jsonrpc":"2.0","id":"t1","method":"terminate","params":{"sessionId":"9b8e2a10-5f4c","reason":"success"}}')
    write("sdp_over_xmpp", "info_json", '{"jsonrpc":"2.0","id":"i1","method":"info","params":{"sessionId":"s","status":"active"}}')
    write("sdp_over_xmpp", "mute_json", '{"jsonrpc":"2.0","id":"m1","method":"mute","params":{"sessionId":"s","type":"video"}}')
    write("sdp_over_xmpp", "answer_json", '{"jsonrpc":"2.0","id":"j","method":"answer","params":{"sessionId":"s","sdp":"v=0\\r\\n"}}')
    write("sdp_over_xmpp", "unknown_json", '{"jsonrpc":"2.0","id":null,"method":"ping","params":[]}')
    write("sdp_over_xmpp", "reinvite_json", '{"method":"offer","params":{"sessionId":"s","sdp":"v=0","reinvite":1}}')

    # ---- sdp_jingle: SDP offers and Jingle stanzas from the module tests and §8.
    write_const("sdp_jingle", "chrome_offer", "signaling/sdp.rs", "CHROME_OFFER")
    write_const("sdp_jingle", "offer_audio_video_data", "signaling/sdp_jingle.rs", "OFFER")
    write_const("sdp_jingle", "accept_iq", "signaling/jingle.rs", "ACCEPT_EXAMPLE")
    write_const("sdp_jingle", "trickle", "signaling/jingle.rs", "TRICKLE_EXAMPLE")
    write_const("sdp_jingle", "accept_jingle", "signaling/sdp_jingle.rs", "ACCEPT_EXAMPLE")
    write("sdp_jingle", "terminate", '<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="9b8e2a10-…"><reason><success/></reason></jingle>')
    write("sdp_jingle", "gathering_complete", '<jingle xmlns="urn:xmpp:jingle:1" action="transport-info" sid="s"><content creator="initiator" name="0"><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq3r"><gathering-complete/></transport></content></jingle>')
    write("sdp_jingle", "session_info_active", '<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><active xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle>')
    write("sdp_jingle", "ice_lite_initiate", '<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s"><content creator="initiator" name="a" senders="initiator"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000" maxptime="60"/><payload-type id="8" name="PCMA" clockrate="8000" maxptime="40"/></description><transport xmlns="urn:xmpp:jingle:transports:ice:0"><ice-lite/></transport></content></jingle>')
    write("sdp_jingle", "sctp_initiate", (
        '<iq type="set" id="1"><jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s" initiator="7d2c@gjoll.x/g">'
        '<content creator="initiator" name="data"><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p">'
        '<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AA:BB</fingerprint>'
        '<sctpmap xmlns="urn:xmpp:jingle:transports:dtls-sctp:1" number="5000" protocol="webrtc-datachannel" streams="1024"/>'
        '<candidate component="1" foundation="1" ip="192.0.2.1" port="1" priority="1" protocol="udp" type="srflx" rel-addr="10.0.0.1" rel-port="2" generation="0" network="1" id="c"/>'
        '<remote-candidate component="1" ip="192.0.2.2" port="3"/></transport></content>'
        '<group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE"><content name="data"/></group></jingle></iq>'))

    # ---- candidate: candidate lines from the offers above and §7.4.
    for name, cand in [
        ("host", "candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 network-id 1"),
        ("host_ufrag", "a=candidate:1467250027 1 udp 2122260223 192.0.2.10 46243 typ host generation 0 ufrag Zq3r network-id 1\r\n"),
        ("srflx_tcp", "candidate:435653019 1 tcp 1845501695 198.51.100.7 9 typ srflx raddr 192.0.2.10 rport 46243 tcptype active generation 0 ufrag Zq3r network-id 1 network-cost 10"),
        ("relay", "candidate:9 1 udp 41885439 203.0.113.5 3478 typ relay raddr 198.51.100.7 rport 5000"),
        ("ipv6_host", "candidate:2 2 UDP 2122252543 2001:db8::7 50000 typ host"),
        ("value_only", "1 1 udp 1 192.0.2.1 1 typ host"),
    ]:
        write("candidate", name, cand)

    # ---- rtp_payloads: telephone-event payloads (RFC 4733), record streams, G.711 and Opus bytes.
    write("rtp_payloads", "dtmf_5_start", bytes([5, 0x0A, 0x00, 0xA0]))
    write("rtp_payloads", "dtmf_end_reserved", bytes([11, 0xCA, 0x03, 0x20]))
    # 6-byte records (timestamp step, payload): digit 1 start, continuation, 3 end packets, digit #.
    recs = b""
    for step, payload in [(0, [1, 10, 0, 160]), (0, [1, 10, 1, 64]), (0, [1, 0x8A, 3, 32]), (0, [1, 0x8A, 3, 32]),
                          (20, [11, 10, 0, 160]), (0, [11, 0x8A, 1, 64]), (1, [16, 10, 0, 160])]:
        recs += step.to_bytes(2, "big") + bytes(payload)
    write("rtp_payloads", "dtmf_records", recs)
    # Jitter script (see fuzz_jitter): config byte, then relative pushes and pulls.
    jit = bytes([0x41])
    for i in range(12):
        jit += bytes([0x11, 1, 0, 4]) + bytes([i, 2, 3, 4])
        if i % 2:
            jit += bytes([0x04])
    jit += bytes([0x05, 0, 0, 0]) * 3 + bytes([0x15, 0xF0, 0x10, 2, 9, 9]) + bytes([0x04]) * 6
    write("rtp_payloads", "jitter_stream", jit)
    write("rtp_payloads", "g711_silence", bytes([0xFF, 0x7F, 0xD5, 0x55] * 40))
    # Opus TOC-only (DTX) packets, length-prefixed, for the decoder (mono then stereo config).
    write("rtp_payloads", "opus_toc", bytes([0, 1, 0xF8, 1, 0x78, 3, 0xFC, 0x01, 0x02, 0xC1, 0x4B]))
    write("rtp_payloads", "opus_stereo", bytes([1, 2, 0xFC, 0x00, 0x42, 1, 0x7C]))

    # ---- stun: Binding success/error responses, a request.
    txid = bytes(range(1, 13))
    write("stun", "binding_success", stun_message(0x0101, txid, [(0x0020, xor_mapped_v4("198.51.100.7", 50000))], fingerprint=True))
    write("stun", "binding_success_mapped", stun_message(0x0101, txid, [(0x0001, b"\0\x01" + (3478).to_bytes(2, "big") + bytes([192, 0, 2, 1])), (0x8022, b"test")]))
    write("stun", "binding_error", stun_message(0x0111, txid, [(0x0009, b"\0\0\x04\x01Unauthorized")]))
    write("stun", "binding_request", stun_message(0x0001, txid, [(0x0006, b"Zq3r:abcd"), (0x0024, b"\x6e\x7f\x1e\xff"), (0x8029, bytes(8))]))

    # ---- turn: steps of (flags, 16-bit length, datagram) from the TURN server (fuzz_turn).
    def turn_step(flags, datagram):
        return bytes([flags]) + len(datagram).to_bytes(2, "big") + datagram

    unauthorized = stun_message(0x0113, bytes(12), [
        (0x0009, b"\0\0\x04\x01Unauthorized"),
        (0x0015, b"obMatJos2wAAAb1wN9iWECigm7tfY"),
        (0x0014, b"fake.genesys.test"),
        (0x8002, b"\x00\x02\x00\x00\x00\x01\x00\x00"),
    ])
    stale = stun_message(0x0113, bytes(12), [(0x0009, b"\0\0\x04\x26Stale Nonce"), (0x0015, b"c3RhbGUtbm9uY2U")])
    success = stun_message(0x0103, bytes(12), [
        (0x0016, b"\0\x01" + (30000 ^ 0x2112).to_bytes(2, "big") + bytes([127 ^ 0x21, 0 ^ 0x12, 0 ^ 0xA4, 1 ^ 0x42])),
        (0x000D, (1800).to_bytes(4, "big")),
        (0x0008, bytes(20)),
    ])
    write("turn", "allocate_401", turn_step(0x10, unauthorized))
    write("turn", "allocate_401_then_stale_nonce", turn_step(0x10, unauthorized) + turn_step(0x11, stale))
    write("turn", "allocate_401_then_unverified_success", turn_step(0x10, unauthorized) + turn_step(0x31, success) + turn_step(0x40, b"rtp"))
    write("turn", "channel_data_and_close", turn_step(0x00, b"\x40\x00\x00\x04abcd") + turn_step(0x85, b""))

    # ---- engine_call: scripted call flows after the automatic login (see fuzz_engine_call).
    stun_req = stun_message(0x0001, bytes(range(20, 32)), [(0x0006, b"abcd:Zq3r"), (0x0025, b"")], fingerprint=True)
    sdp_call = [
        b"\x08\x00\x03",                # propose sess 0, sdp-over-xmpp + autoanswer
        b"\x0f\x00\x00",                # accept_pending_session
        b"\x09\x00",                    # offer sess 0 from the softphone peer
        b"\x0a\x00\x01\x02\x03\x04\x05\x06\x00\x07",  # iceCandidate
        b"\x0a\x04",                    # end-of-candidates
        b"\x10\x00" + stun_req,         # a STUN request from the peer's candidate
        b"\x11\x05",                    # 5 audio ticks
        b"\x0f\x05\x00123#",            # DTMF
        b"\x0f\x84\x00",                # mute
        b"\x0f\x04\x00",                # unmute
        b"\x10\x02" + bytes([0x80, 0x6F, 0, 1, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF]) + b"payload",
        b"\x04",
        b"\x0b\x00",                    # terminate
    ]
    write("engine_call", "sdp_over_xmpp_call", call_script(False, sdp_call))
    jingle_call = [
        b"\x08\x00\x00",                # propose (Jingle)
        b"\x0f\x00\x00",                # accept_pending_session: proceed
        b"\x0c\x00",                    # session-initiate
        b"\x0d\x00\x7e\x00\x00\x01\x0a\x14\x00\x05",  # transport-info candidate
        b"\x0d\x04",                    # gathering complete
        b"\x0d\x40\x01\x02\x03\x04\x05\x06\x01\x02",  # new ufrag (remote ICE restart)
        b"\x11\x03",
        b"\x0f\x03\x00",                # end_session
        b"\x0e\x00",                    # session-terminate
    ]
    write("engine_call", "jingle_call", call_script(False, jingle_call))
    write("engine_call", "reinvite_and_end", call_script(False, [
        b"\x09\x40",
        b"\x09\x44" + sdp_edit(10, 0, b"a=ice-ufrag:N3wu") + b"\0" + sdp_edit(11, 0, b"a=ice-pwd:n3wpwdn3wpwdn3wpwdn3wp"),
        b"\x09\x44" + sdp_edit(10, 0, b"a=ice-ufrag:N3wu") + b"\0" + sdp_edit(11, 0, b"a=ice-pwd:n3wpwdn3wpwdn3wpwdn3wp"),
        b"\x0f\x09\x00",                # end by conversation id conv-0
        b"\x04", b"\x04",
    ]))
    write("engine_call", "hostile_signaling", call_script(False, [
        b"\x09\x80v=0\r\nnonsense",    # unusable offer SDP
        b"\x09\x01" + sdp_edit(6, 0, b"m=video 9 UDP/TLS/RTP/SAVPF 96") + b"\0" + sdp_edit(15, 2),
        b"\x09\x28",                    # offer from an unknown peer
        b"\x0c\x82<jingle xmlns=\"urn:xmpp:jingle:1\" action=\"session-initiate\" sid=\"9b8e2a10-2\"/>",
        b"\x0c\x03" + sdp_edit(15, 2),  # Jingle initiate without a=mid
        b"\x0d\x01\x00",                # transport-info for a session never started
        b"\x0e\x10",                    # terminate from another peer
        b"\x0a\x40m=0\\a=candidate:x",
        b"\x10\x03garbage",
        b"\x10\x04garbage",
        b"\x0f\x02\x80", b"\x0f\x07", b"\x0f\x08\x00", b"\x0f\x86\x00\x01\x02\x03",
        b"\x08\x05\x00", b"\x08\x3a\x00",
    ]))
    write("engine_call", "guest_screen_share", call_script(True, [
        b"\x09\x10",                    # offer from the acd- conference JID
        b"\x11\x02",
        b"\x0f\x03\x00",
    ]))


if __name__ == "__main__":
    main()
