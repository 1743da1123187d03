//! Host-name resolution for ICE servers (names come from XEP-0215 discovery).

use genesys_webrtc_hal::{Error as _, ErrorKind, UdpStack};
use genesys_webrtc_smol::SmolUdp;

#[test]
fn localhost_resolves_to_loopback() {
    let addrs = smol::block_on(SmolUdp::new().resolve("localhost")).unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
}

#[test]
fn an_invalid_name_is_not_found() {
    // A name with an empty label is refused by the resolver library before any query is sent.
    let err = smol::block_on(SmolUdp::new().resolve("bad..name")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
