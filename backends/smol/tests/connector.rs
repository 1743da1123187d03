//! The smol connector and UDP stack against real loopback sockets: a TLS echo server with a
//! certificate from a CA generated here, a closed port, malformed PEM, and UDP datagrams.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::time::Duration;

use genesys_webrtc_hal::embedded_io_async::{Read, Write};
use genesys_webrtc_hal::{
    Connector, Endpoint, Error as _, ErrorKind, Security, UdpSocket as _, UdpStack,
};
use genesys_webrtc_smol::{RootsError, SmolConnector, SmolPlatform, SmolUdp, TlsRoots};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct TestPki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    test_pki_for(&["localhost", "127.0.0.1"])
}

fn test_pki_for(names: &[&str]) -> TestPki {
    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smol backend test CA");
    let ca = ca_params.self_signed(&ca_key).expect("self-sign CA");

    let leaf_key = KeyPair::generate().expect("generate leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let leaf_params = CertificateParams::new(names).expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("sign leaf");
    TestPki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

mod server {
    //! The echo server uses the `futures` I/O traits; the tests use the HAL's.
    use super::*;
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    /// Starts a TLS echo server on 127.0.0.1 that serves `connections` connections, each echoing
    /// until the client closes. Returns its port.
    pub(crate) fn start_echo_server(pki: &super::TestPki, connections: usize) -> u16 {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(pki.chain.clone(), pki.key.clone_key())
            .expect("server cert");
        let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        std::thread::spawn(move || {
            smol::block_on(async move {
                let listener = async_net::TcpListener::try_from(listener).expect("async listener");
                for _ in 0..connections {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    // A failed handshake (client does not trust us) just ends this connection.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        continue;
                    };
                    let mut buf = [0u8; 4096];
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tls.write_all(&buf[..n]).await.is_err()
                                    || tls.flush().await.is_err()
                                {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = tls.close().await;
                }
            });
        });
        port
    }
}
use server::start_echo_server;

async fn read_exactly(stream: &mut impl Read<Error = std::io::Error>, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = stream.read(&mut out[filled..]).await.expect("read");
        assert!(n > 0, "unexpected EOF after {filled} bytes");
        filled += n;
    }
    out
}

#[test]
fn tls_echo_with_the_test_ca_trusted() {
    let pki = test_pki();
    let port = start_echo_server(&pki, 2);
    let platform = SmolPlatform::with_extra_roots_pem(pki.ca_pem.as_bytes()).expect("roots");
    smol::block_on(async {
        for host in ["127.0.0.1", "localhost"] {
            let mut stream = platform
                .connector()
                .connect(Endpoint {
                    host,
                    port,
                    security: Security::Tls,
                })
                .await
                .expect("connect");
            assert!(stream.is_tls());
            assert_eq!(stream.peer_addr().expect("peer").port(), port);

            let small = b"hello over TLS".to_vec();
            stream.write_all(&small).await.expect("write");
            stream.flush().await.expect("flush");
            assert_eq!(read_exactly(&mut stream, small.len()).await, small);

            // Larger than one TLS record, both ways.
            let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            for chunk in big.chunks(16_000) {
                stream.write_all(chunk).await.expect("write big");
                stream.flush().await.expect("flush big");
                assert_eq!(read_exactly(&mut stream, chunk.len()).await, chunk);
            }
            stream.shutdown().await.expect("close_notify");
            let mut buf = [0u8; 16];
            assert_eq!(stream.read(&mut buf).await.expect("read after close"), 0);
        }
    });
}

#[test]
fn tls_without_the_test_ca_is_a_tls_error() {
    let pki = test_pki();
    let port = start_echo_server(&pki, 2);
    for roots in [TlsRoots::webpki(), TlsRoots::empty()] {
        let connector = SmolConnector::new(&roots);
        let err = smol::block_on(connector.connect(Endpoint {
            host: "127.0.0.1",
            port,
            security: Security::Tls,
        }))
        .expect_err("an untrusted certificate must be rejected");
        assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
        assert!(
            matches!(
                err.tls_error(),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        );
    }
}

#[test]
fn tls_with_a_name_not_in_the_certificate_is_a_tls_error() {
    let pki = test_pki_for(&["api.fake.genesys.test"]);
    let port = start_echo_server(&pki, 1);
    let platform = SmolPlatform::with_extra_roots_pem(pki.ca_pem.as_bytes()).expect("roots");
    let err = smol::block_on(platform.connector().connect(Endpoint {
        host: "127.0.0.1",
        port,
        security: Security::Tls,
    }))
    .expect_err("a certificate for another name must be rejected");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert!(
        matches!(
            err.tls_error(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
}

#[test]
fn plain_tcp_works_for_explicit_plain_endpoints() {
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut tcp, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 5];
        tcp.read_exact(&mut buf).expect("read");
        tcp.write_all(&buf).expect("write");
    });
    smol::block_on(async {
        let mut stream = SmolConnector::default()
            .connect(Endpoint {
                host: "127.0.0.1",
                port,
                security: Security::Plain,
            })
            .await
            .expect("connect");
        assert!(!stream.is_tls());
        stream.write_all(b"plain").await.expect("write");
        stream.flush().await.expect("flush");
        assert_eq!(read_exactly(&mut stream, 5).await, b"plain");
    });
    server.join().expect("server thread");
}

#[test]
fn closed_port_is_connection_refused() {
    // Bind then drop to find a port nobody listens on.
    let port = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    for security in [Security::Plain, Security::Tls] {
        let err = smol::block_on(SmolConnector::default().connect(Endpoint {
            host: "127.0.0.1",
            port,
            security,
        }))
        .expect_err("nothing listens there");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
    }
}

#[test]
fn invalid_host_names() {
    let connector = SmolConnector::default();
    let err = smol::block_on(connector.connect(Endpoint {
        host: "no such host.invalid",
        port: 443,
        security: Security::Tls,
    }))
    .expect_err("not resolvable");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[test]
fn handshake_timeout_is_timed_out() {
    // A listener that accepts but never answers the ClientHello.
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connector = SmolConnector::default().with_connect_timeout(Some(Duration::from_millis(200)));
    let err = smol::block_on(connector.connect(Endpoint {
        host: "127.0.0.1",
        port,
        security: Security::Tls,
    }))
    .expect_err("server never answers");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
    drop(listener);
}

#[test]
fn malformed_extra_roots_are_typed_errors() {
    assert!(matches!(
        SmolPlatform::with_extra_roots_pem(b"hello"),
        Err(RootsError::NoCertificate)
    ));
    assert!(matches!(
        SmolPlatform::with_extra_roots_pem(
            b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n"
        ),
        Err(RootsError::Pem(_))
    ));
    assert!(matches!(
        SmolPlatform::with_extra_roots_pem(
            b"-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n"
        ),
        Err(RootsError::BadCertificate { index: 0, .. })
    ));
    // A key alone is not a certificate.
    let key = KeyPair::generate().expect("key").serialize_pem();
    assert!(matches!(
        SmolPlatform::with_extra_roots_pem(key.as_bytes()),
        Err(RootsError::NoCertificate)
    ));
    // A good CA is accepted, and so is a file holding it.
    let pki = test_pki();
    let mut roots = TlsRoots::empty();
    assert_eq!(roots.add_pem(pki.ca_pem.as_bytes()).expect("good CA"), 1);
    let path = std::env::temp_dir().join(format!("smol-test-ca-{}.pem", std::process::id()));
    std::fs::write(&path, &pki.ca_pem).expect("write CA file");
    let platform = SmolPlatform::with_extra_roots_file(&path);
    let _ = std::fs::remove_file(&path);
    assert!(platform.is_ok());
}

#[test]
fn udp_send_and_receive_on_loopback() {
    let udp = SmolUdp::new().with_loopback(true);
    smol::block_on(async {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let a = udp.bind(loopback).await.expect("bind a");
        let b = udp.bind(loopback).await.expect("bind b");
        let a_addr = a.local_addr().expect("a addr");
        let b_addr = b.local_addr().expect("b addr");
        assert_ne!(a_addr.port(), 0);

        a.send_to(b"ping", b_addr).await.expect("send");
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await.expect("recv");
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a_addr);

        b.send_to(b"pong!", a_addr).await.expect("send back");
        let (n, from) = a.recv_from(&mut buf).await.expect("recv back");
        assert_eq!(&buf[..n], b"pong!");
        assert_eq!(from, b_addr);

        // A datagram longer than the buffer is truncated, not an error.
        a.send_to(&[7u8; 100], b_addr).await.expect("send long");
        let mut small = [0u8; 10];
        let (n, _) = b.recv_from(&mut small).await.expect("recv truncated");
        assert_eq!(n, 10);
    });
    let addrs = udp.local_addresses().expect("interfaces");
    assert!(addrs.iter().any(|ip| ip.is_loopback()), "{addrs:?}");
}

#[test]
fn binding_a_port_in_use_is_busy() {
    let udp = SmolUdp::new();
    smol::block_on(async {
        let a = udp
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind");
        let err = udp
            .bind(a.local_addr().expect("addr"))
            .await
            .expect_err("port in use");
        assert_eq!(err.kind(), ErrorKind::Busy, "{err:?}");
    });
}

/// The futures can be spawned on multi-threaded executors.
#[test]
fn futures_and_types_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SmolPlatform>();
    assert_send_sync::<genesys_webrtc_smol::SmolStream>();
    assert_send_sync::<genesys_webrtc_smol::SmolUdpSocket>();
    assert_send_sync::<genesys_webrtc_smol::ConnectError>();
    assert_send_sync::<genesys_webrtc_smol::UdpError>();

    let platform = SmolPlatform::new();
    let connect = platform.connector().connect(Endpoint {
        host: "127.0.0.1",
        port: 1,
        security: Security::Tls,
    });
    assert_send(&connect);
    let sleep = genesys_webrtc_hal::Clock::sleep_until(platform.clock(), std::time::Instant::now());
    assert_send(&sleep);
    let bind = platform
        .udp()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    assert_send(&bind);
    smol::block_on(async {
        let socket = bind.await.expect("bind");
        let mut buf = [0u8; 8];
        assert_send(&socket.recv_from(&mut buf));
        assert_send(&socket.send_to(b"x", SocketAddr::from((Ipv4Addr::LOCALHOST, 9))));
    });
}
